"""Compile the configured topics once; match each article against all of them in one pass.

Cost grows with the article, not with topics x article: the article's words are looked up once in the
index of every topic's words, and only topics whose *trigger* words were found have their boolean tree
evaluated (a topic's trigger is a set of words one of which any match must contain; see
:meth:`Program.trigger`). Topics with a regex that cannot be reduced to words are always evaluated.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..errors import ConfigError, QueryError
from ..models import Match
from .document import Document, Tokens
from .program import CNode, Program, matches_nothing_needed
from .query import Node, _Fail, alias_body, parse_query
from .scan import Scan, Span, merge_spans
from .snippets import build_snippets

if TYPE_CHECKING:
    from .explain import Explanation

__all__ = ["CompiledTopic", "TopicMatcher", "TopicSpec", "compile_topics"]


class TopicSpec(Protocol):
    """What compile_topics reads of a topic (``monitor.config.TopicConfig`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def exclude(self) -> str | None: ...
    @property
    def min_hits(self) -> int: ...
    @property
    def sources(self) -> Sequence[str] | None: ...
    @property
    def lang(self) -> Sequence[str] | None: ...


@dataclass(frozen=True, slots=True)
class CompiledTopic:
    order: int
    name: str
    query: Node
    exclude: Node | None
    root: CNode
    veto: CNode | None
    min_hits: int
    sources: frozenset[str] | None
    langs: tuple[str, ...] | None
    marked_leaves: tuple[int, ...]

    def accepts_source(self, source: str) -> bool:
        """No ``sources`` (or an empty list): any source."""
        return self.sources is None or source in self.sources

    def accepts_lang(self, lang: str | None) -> bool:
        """An unknown language passes; ``en`` accepts ``en-GB``; ``en-GB`` accepts only ``en-GB``."""
        if self.langs is None or not lang:
            return True
        have = lang.strip().lower().replace("_", "-")
        return any(have == want or ("-" not in want and have.split("-")[0] == want) for want in self.langs)


@dataclass(frozen=True, slots=True)
class Outcome:
    """Everything matching one topic against one document found (match and explain share it)."""

    matched: bool
    reason: str
    hits: list[Span]
    snippets: tuple[str, ...] = ()


class TopicMatcher:
    """All topics, compiled. ``match`` gives a Match per matching topic, in config order."""

    def __init__(self, program: Program, topics: list[CompiledTopic]) -> None:
        self.program = program
        self.topics = topics
        self.names: list[str] = [t.name for t in topics]
        self._by_name = {t.name: t for t in topics}
        self._always: list[int] = []
        self._by_atom: dict[int, list[int]] = {}
        # what a triggered topic needs before its tree is evaluated (see Program.requirements): the
        # atoms that must all be there (one-atom groups), and the groups of which one atom must be
        self._needs: list[frozenset[int]] = []
        self._needs_one_of: list[tuple[frozenset[int], ...]] = []
        for topic in topics:
            groups = program.requirements(topic.root) or []
            self._needs.append(frozenset(a for g in groups if len(g) == 1 for a in g))
            self._needs_one_of.append(tuple(dict.fromkeys(g for g in groups if len(g) > 1)))
        for topic in topics:
            trigger = program.trigger(topic.root)
            if trigger is None:
                self._always.append(topic.order)
            else:
                for atom in trigger:
                    self._by_atom.setdefault(atom, []).append(topic.order)

    def scan(self, doc: Document) -> Scan:
        return Scan(self.program, Tokens(doc))

    def candidates(self, scan: Scan) -> list[int]:
        """Topics whose trigger words are in the document (and those that are always evaluated)."""
        found = set(self._always)
        by_atom = self._by_atom
        for atom in scan.occ:
            orders = by_atom.get(atom)
            if orders is not None:
                found.update(orders)
        return sorted(found)

    def evaluated(self, scan: Scan) -> list[int]:
        """The candidates whose necessary words are all in the document: the trees match evaluates."""
        present = set(scan.occ)
        missing = present.isdisjoint  # a group none of whose atoms is present
        needs, needs_one_of = self._needs, self._needs_one_of
        return [order for order in self.candidates(scan)
                if needs[order] <= present and not any(map(missing, needs_one_of[order]))]

    def match(self, doc: Document) -> list[Match]:
        scan = self.scan(doc)
        out: list[Match] = []
        for order in self.evaluated(scan):
            topic = self.topics[order]
            if (topic.sources is not None or topic.langs is not None) and _refusal(doc, topic):
                continue
            spans = scan.eval(topic.root)
            if spans is None:  # most evaluated trees: no Outcome made for them
                continue
            outcome = self._judge(scan, topic, spans, True)
            if outcome.matched:
                out.append(Match(topic.name, outcome.snippets, len(outcome.hits)))
        return out

    def outcome(self, scan: Scan, topic: CompiledTopic, snippets: bool = True) -> Outcome:
        refusal = _refusal(scan.tokens.document, topic)
        if refusal is not None:
            return Outcome(False, refusal, [])
        spans = scan.eval(topic.root)
        if spans is None:
            return Outcome(False, "the query does not hold", [])
        return self._judge(scan, topic, spans, snippets)

    def _judge(self, scan: Scan, topic: CompiledTopic, spans: list[Span], snippets: bool) -> Outcome:
        """The rest of :meth:`outcome` once the query holds with ``spans``: min_hits, exclude, snippets."""
        hits = merge_spans(spans)
        if len(hits) < topic.min_hits:
            return Outcome(False, f"{_hits(len(hits))}, fewer than min_hits {topic.min_hits}", hits)
        if topic.veto is not None and scan.eval(topic.veto) is not None:
            return Outcome(False, "the exclude query holds", hits)
        made = build_snippets(scan.tokens, hits, self.marks(scan, topic, hits)) if snippets else ()
        return Outcome(True, f"{_hits(len(hits))}, min_hits {topic.min_hits}", hits, made)

    def marks(self, scan: Scan, topic: CompiledTopic, hits: list[Span]) -> list[Span]:
        """The finds of the topic's words that lie inside its hits: what snippets mark."""
        out: list[Span] = []
        # hits are merged: sorted and apart, so the one hit that can hold a find starts at or before it
        starts = [a for a, _ in hits]
        for leaf_id in topic.marked_leaves:
            for first, last in scan.cache.get(leaf_id, ()):
                k = bisect_right(starts, first) - 1
                if k >= 0 and last <= hits[k][1]:
                    out.append((first, last))
        return out

    def topic(self, name: str) -> CompiledTopic:
        found = self._by_name.get(name)
        if found is None:
            raise ConfigError(f"no topic named {name!r}; topics: {', '.join(self.names) or 'none'}",
                              key="topics")
        return found

    def explain(self, doc: Document, name: str) -> Explanation:
        """Why topic ``name`` matches ``doc`` or not, clause by clause. Raises ConfigError if unknown."""
        from .explain import explain_topic

        topic = self.topic(name)
        return explain_topic(self, self.scan(doc), topic)


def _refusal(doc: Document, topic: CompiledTopic) -> str | None:
    """Why the topic does not look at this document at all (its sources or languages), else None."""
    if not topic.accepts_source(doc.source):
        return f"source {doc.source!r} is not one of {sorted(topic.sources or ())}"
    if not topic.accepts_lang(doc.lang):
        return f"language {doc.lang!r} is not one of {list(topic.langs or ())}"
    return None


def _hits(n: int) -> str:
    return f"{n} hit{'' if n == 1 else 's'}"


def compile_topics(topics: Sequence[TopicSpec], aliases: Mapping[str, Sequence[str]]) -> TopicMatcher:
    """Parse and compile every topic. Raises QueryError naming the topic and field (query/exclude)."""
    for alias, entries in aliases.items():
        if isinstance(entries, str) or not entries:
            raise QueryError("expected a list of words or phrases", field=f"aliases.{alias}")
        alias_body(alias, entries, ())
    program = Program()
    compiled: list[CompiledTopic] = []
    for order, spec in enumerate(topics):
        query = parse_query(spec.query, aliases=aliases, topic=spec.name, field="query")
        exclude = (parse_query(spec.exclude, aliases=aliases, topic=spec.name, field="exclude")
                   if spec.exclude is not None else None)
        root = program.compile(query)
        if matches_nothing_needed(root):
            raise _Fail(spec.name, "query")("the query matches articles that contain none of its terms: "
                                            "expected at least one term outside NOT", 1)
        veto = program.compile(exclude) if exclude is not None else None
        compiled.append(CompiledTopic(
            order=order, name=spec.name, query=query, exclude=exclude, root=root, veto=veto,
            min_hits=spec.min_hits,
            sources=frozenset(spec.sources) if spec.sources else None,
            langs=tuple(x.strip().lower().replace("_", "-") for x in spec.lang) if spec.lang else None,
            marked_leaves=tuple(program.positive_leaves(root)),
        ))
    return TopicMatcher(program, compiled)
