"""Why a topic matched an article or not, clause by clause, as readable lines.

Example (``monitor explain URL``)::

    japan-trip: MATCHED (1 hit, min_hits 1)
    query: (Japan OR Tokyo) NEAR/4 (trip OR visit)
    ✓ (Japan OR Tokyo) NEAR/4 (trip OR visit): 1 pair within 4 words: "Japan trip"
      ✓ (Japan OR Tokyo): 4 finds
        ✓ Japan: 3 finds: "Japan's", "Japan", "Japan"
        ✓ Tokyo: 1 find: "Tokyo"
      ✓ (trip OR visit): 15 finds
        ...
    snippets:
      - Lee's decision to visit China before his confirmed **Japan trip** in mid-January ...

Every clause is evaluated (no short cut), so a failed AND shows all the parts that are missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .program import AND, LEAF, NEAR, NOT, OR, CNode
from .query import Alias
from .scan import Scan, Span

if TYPE_CHECKING:
    from .matcher import CompiledTopic, TopicMatcher

__all__ = ["Explanation", "explain_topic"]

YES, NO = "✓", "✗"
MAX_SHOWN = 3  # finds quoted per clause
MAX_LABEL = 90


@dataclass(frozen=True)
class Explanation:
    topic: str
    matched: bool
    reason: str
    hits: int = 0
    lines: list[str] = field(default_factory=list)
    snippets: tuple[str, ...] = ()

    def render(self) -> str:
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return self.render()


def explain_topic(matcher: TopicMatcher, scan: Scan, topic: CompiledTopic) -> Explanation:
    outcome = matcher.outcome(scan, topic)
    verdict = "MATCHED" if outcome.matched else "NOT MATCHED"
    lines = [f"{topic.name}: {verdict} ({outcome.reason})", f"query: {_label(topic.query, full=True)}"]
    doc = scan.tokens.document
    lines.append(f"{YES if topic.accepts_source(doc.source) else NO} sources: "
                 + (", ".join(sorted(topic.sources)) if topic.sources is not None else "any")
                 + f" (article: {doc.source or 'none'})")
    lines.append(f"{YES if topic.accepts_lang(doc.lang) else NO} lang: "
                 + (", ".join(topic.langs) if topic.langs else "any")
                 + f" (article: {doc.lang or 'unknown'})")
    _Tracer(scan, lines).trace(topic.root, 0)
    if topic.veto is not None:
        at = len(lines)
        vetoed = _Tracer(scan, lines).trace(topic.veto, 1) is not None
        verdict = "holds: vetoes the match" if vetoed else "does not hold: no veto"
        lines.insert(at, f"exclude: {_label(topic.exclude, full=True)}: {verdict}")
    if outcome.snippets:
        lines.append("snippets:")
        lines.extend(f"  - {s}" for s in outcome.snippets)
    return Explanation(topic.name, outcome.matched, outcome.reason, len(outcome.hits), lines,
                       outcome.snippets)


def _label(node: object, full: bool = False) -> str:
    """A clause as query text, outer parentheses dropped, cut to MAX_LABEL characters unless ``full``."""
    text = str(node)
    if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1]
    return text if full or len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _balanced(text: str) -> bool:
    """True when the parentheses of ``text`` pair up (quotes and regexes aside, close enough for labels)."""
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class _Tracer:
    def __init__(self, scan: Scan, lines: list[str]) -> None:
        self.scan = scan
        self.lines = lines

    def trace(self, node: CNode, depth: int) -> list[Span] | None:
        pad = "  " * depth
        label = _label(node.src)
        if isinstance(node.src, Alias):
            label += " = " + _label(node.src.body)
        if node.kind == LEAF:
            spans = self.scan.leaf(node.leaf)
            detail = f"{plural(len(spans), 'find')}: {self._quote(spans)}" if spans else "not found"
            self._line(pad, bool(spans), label, detail)
            return spans or None
        at = len(self.lines)  # the clause's line goes above its children's
        results = [self.trace(c, depth + 1) for c in node.children]
        if node.kind == NOT:
            held = results[0] is None
            self._insert(at, pad, held, label, "absent, as required" if held else "present: vetoes")
            return [] if held else None
        if node.kind == AND:
            missing = sum(r is None for r in results)
            held = missing == 0
            detail = "all parts hold" if held else f"{missing} of {len(results)} parts fail"
            self._insert(at, pad, held, label, detail)
            return sorted({s for r in results if r for s in r}) if held else None
        if node.kind == OR:
            held = any(r is not None for r in results)
            total = sorted({s for r in results if r for s in r})
            self._insert(at, pad, held, label, plural(len(total), "find") if held else "no part holds")
            return total if held else None
        assert node.kind == NEAR
        left, right = results
        pairs, closest = self.scan.near(left or [], right or [], node.distance)
        if pairs:
            detail = f"{plural(len(pairs), 'pair')} within {node.distance} words: {self._quote(pairs)}"
        elif left and right:
            detail = (f"no pair within {node.distance} words"
                      + (f" (closest {closest} apart)" if closest is not None else " (never in one paragraph)"))
        else:
            detail = "a side is missing"
        self._insert(at, pad, bool(pairs), label, detail)
        return pairs or None

    def _line(self, pad: str, held: bool, label: str, detail: str) -> None:
        self.lines.append(f"{pad}{YES if held else NO} {label}: {detail}")

    def _insert(self, at: int, pad: str, held: bool, label: str, detail: str) -> None:
        self.lines.insert(at, f"{pad}{YES if held else NO} {label}: {detail}")

    def _quote(self, spans: list[Span]) -> str:
        """The first finds as written, with their field: ``text "Japan trip", title "Japan"``."""
        tokens = self.scan.tokens
        shown = [f'{tokens.segments[tokens.seg[a]].field} "{tokens.surface(a, b)}"' for a, b in spans[:MAX_SHOWN]]
        more = f" and {len(spans) - MAX_SHOWN} more" if len(spans) > MAX_SHOWN else ""
        return ", ".join(shown) + more
