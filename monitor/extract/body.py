"""The article body: score the blocks, pick the main container, read its paragraphs in order.

Scoring follows the idea readability made known: every paragraph-like block with enough text
gives points (length, commas) to its container and, less, to the containers above it; a
container's points shrink with its link density and grow or shrink with its class words. The
best container is then widened to its siblings that look like the same article (split bodies,
paragraphs interrupted by an ad slot). Inside, each paragraph is kept unless it is mostly links,
a known furniture line ("Advertisement", "Read more: ..."), the title again, or a byline/date line.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import accumulate

from .clean import Drops
from .layout import Flag, Layout, squash
from .vocab import VOCAB, Kind

__all__ = ["Body", "find_body", "read_parts"]

LEAF_BLOCKS = frozenset({"p", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dd", "dt", "blockquote",
                         "tr", "address", "figcaption", "caption", "summary", "legend", "br"})
TAG_BONUS = {"div": 5.0, "article": 8.0, "main": 5.0, "section": 3.0, "td": 3.0, "pre": 3.0,
             "blockquote": 3.0, "form": -3.0, "ol": -3.0, "ul": -3.0, "dl": -3.0, "li": -3.0,
             "dd": -3.0, "dt": -3.0, "h1": -5.0, "h2": -5.0, "h3": -5.0, "h4": -5.0, "th": -5.0}
LEVEL_WEIGHTS = (1.0, 0.5, 1 / 6, 1 / 9, 1 / 12)
CLASS_BONUS = 25.0
CLASS_BONUS_CHARS = 500  # the class bonus counts in full for a container with this much text
MIN_BLOCK_CHARS = 25
META_CLIMB = 8  # a byline or date element sits this close above its text
SUMMARY_CLIMB = 3  # a summary box's class sits this close above its text
SUMMARY_EXTRA_CHARS = 60
SIBLING_MAX_LINKS = 0.25  # a sibling this full of links is a teaser list, not more of the article
_SENTENCE_END = re.compile(r"[.!?。！？…\"'”’»)]\s*$")


@dataclass(slots=True)
class Body:
    paragraphs: list[str] = field(default_factory=list)
    container: int = 0  # the element the body was read from
    parts: list[int] = field(default_factory=list)  # that element and the siblings added to it
    headings: list[int] = field(default_factory=list)


class _Kept:
    """The kept size of any subtree: its text minus the dropped subtrees inside it, in O(log n)."""

    __slots__ = ("chars", "links", "roots")

    def __init__(self, lay: Layout, drops: Drops) -> None:
        self.roots = roots = drops.roots
        seq, stop, cum, cum_link = lay.seq, lay.stop, lay.cum, lay.cum_link
        self.chars = [0, *accumulate(cum[stop[r]] - cum[seq[r]] for r in roots)]
        self.links = [0, *accumulate(cum_link[stop[r]] - cum_link[seq[r]] for r in roots)]

    def size(self, lay: Layout, node: int) -> tuple[int, int]:
        """(kept characters, kept link characters) under ``node``."""
        a = bisect_left(self.roots, node)
        b = bisect_left(self.roots, lay.end[node], a)
        return (lay.text_len(node) - (self.chars[b] - self.chars[a]),
                lay.link_len(node) - (self.links[b] - self.links[a]))


def _score(lay: Layout, drops: Drops, kept: _Kept) -> tuple[dict[int, float], dict[int, float]]:
    """(scores, direct scores): the second counts only paragraphs that are children of the node."""
    scores: dict[int, float] = {}
    direct: dict[int, float] = {}
    parent, tags, dropped, nested = lay.parent, lay.tags, drops.body, lay.nested
    block_links, block_commas = lay.block_links, lay.block_commas
    for b, chars in lay.block_chars.items():
        if chars < MIN_BLOCK_CHARS or dropped[b] or block_links.get(b, 0) > 0.5 * chars:
            continue
        points = 1.0 + block_commas.get(b, 0) + min(chars / 100.0, 3.0)
        # a paragraph gives its points to its container; a block with text beside inner blocks
        # (text broken by <br>, a div with loose text) is a container itself
        node = parent[b] if (tags[b] in LEAF_BLOCKS or b not in nested) else b
        direct[node] = direct.get(node, 0.0) + points
        for weight in LEVEL_WEIGHTS:
            if node < 0:
                break
            if not dropped[node]:
                scores[node] = scores.get(node, 0.0) + points * weight
            node = parent[node]
    for node, value in scores.items():
        size, links = kept.size(lay, node)
        density = links / size if size else 0.0
        scores[node] = (value + _initial(lay, node, size)) * (1.0 - density)
    return scores, direct


def _initial(lay: Layout, node: int, size: int) -> float:
    value = TAG_BONUS.get(lay.tags[node], 0.0)
    kind = lay.kind_of(node)
    weight = min(1.0, size / CLASS_BONUS_CHARS)
    if kind & Kind.CONTENT:
        value += CLASS_BONUS * weight
    if kind & (Kind.STRONG_BOILER | Kind.WEAK_BOILER):
        value -= CLASS_BONUS
    return value


def _children(lay: Layout, node: int) -> list[int]:
    out = []
    j = node + 1
    stop = lay.end[node]
    while j < stop:
        out.append(j)
        j = lay.end[j]
    return out


def _widen(lay: Layout, drops: Drops, best: int, scores: dict[int, float], direct: dict[int, float],
           kept: _Kept) -> list[int]:
    """The best container plus the siblings that continue the same article.

    The search climbs first through wrappers that add (almost) no text of their own, so a body
    split into sections ("text, embed, text") is found at the level where it splits."""
    node = best
    size = kept.size(lay, best)[0]
    while True:
        up = lay.parent[node]
        if up <= 0 or lay.tags[up] in ("body", "html") or drops.body[up]:
            break
        if kept.size(lay, up)[0] > size * 1.1 + 50:
            break
        node = up
    parent = lay.parent[node]
    if parent < 0:
        return [best]
    top = scores.get(best, 0.0)
    threshold = max(10.0, top * 0.2)
    names = lay.attrs[node].get("class") or ""
    inner = sorted(direct)
    parts = []
    for sib in _children(lay, parent):
        if sib == node:
            parts.append(best)
            continue
        if drops.body[sib] or not kept.size(lay, sib)[0]:
            continue
        if names and (lay.attrs[sib].get("class") or "") == names:
            parts.append(sib)
            continue
        # a sibling that continues the text holds paragraphs itself, not a list of teaser cards
        chars, links = kept.size(lay, sib)
        if links < SIBLING_MAX_LINKS * chars and _best_direct(inner, direct, sib, lay.end[sib]) >= threshold:
            parts.append(sib)
            continue
        own = lay.block_chars.get(sib)
        if own is not None and lay.tags[sib] == "p":
            density = lay.block_links.get(sib, 0) / own if own else 1.0
            text = lay.text(sib, 40) if own < 80 else ""
            if (own >= 80 and density < 0.25) or (density == 0 and _SENTENCE_END.search(text)):
                parts.append(sib)
    return parts


def _best_direct(inner: list[int], direct: dict[int, float], start: int, stop: int) -> float:
    """The highest direct score of a container in ``[start, stop)``."""
    k = bisect_left(inner, start)
    best = 0.0
    while k < len(inner) and inner[k] < stop:
        best = max(best, direct[inner[k]])
        k += 1
    return best


def find_body(lay: Layout, drops: Drops, title: str | None, description: str | None = None) -> Body:
    if not len(lay):
        return Body()
    kept = _Kept(lay, drops)
    scores, direct = _score(lay, drops, kept)
    if scores:
        best = max(scores, key=scores.__getitem__)
    else:
        best = 0
    parts = _widen(lay, drops, best, scores, direct, kept) if best else [0]
    return read_parts(lay, drops, parts, title, description)


def read_parts(lay: Layout, drops: Drops, parts: list[int], title: str | None,
               description: str | None = None) -> Body:
    """The paragraphs of the given elements, in document order."""
    parts = sorted(parts)
    body = Body(container=parts[0] if parts else 0, parts=parts)
    for part in parts:
        body.paragraphs.extend(_paragraphs(lay, drops, part, title, description))
    return body


def _paragraphs(lay: Layout, drops: Drops, root: int, title: str | None, description: str | None) -> list[str]:
    """The kept text under ``root``: runs of pieces in one block make a paragraph."""
    out: list[str] = []
    pieces, owner, block, dropped = lay.pieces, lay.owner, lay.block, drops.body
    cum, cum_link = lay.cum, lay.cum_link
    keys = (_key(title) if title else None, _key(description) if description else None)
    current = -1
    buf: list[str] = []
    chars = links = 0
    for k in range(lay.seq[root], lay.seq_end(root)):
        o = owner[k]
        if dropped[o]:
            continue
        b = block[o]
        if b != current:
            if buf:
                _flush(lay, out, buf, current, root, chars, links, keys)
            current = b
            buf = []
            chars = links = 0
        buf.append(pieces[k])
        chars += cum[k + 1] - cum[k]
        links += cum_link[k + 1] - cum_link[k]
    if buf:
        _flush(lay, out, buf, current, root, chars, links, keys)
    return out


def _flush(lay: Layout, out: list[str], buf: list[str], b: int, root: int, chars: int, links: int,
           keys: tuple[str | None, str | None]) -> None:
    text = squash("".join(buf))
    if text and _keep(lay, b, root, text, chars, links, keys):
        out.append(text)


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _keep(lay: Layout, b: int, root: int, text: str, chars: int, links: int,
          keys: tuple[str | None, str | None]) -> bool:
    """A paragraph is body text unless it is mostly links, furniture, the title again, a byline or
    date line, or a summary box that repeats the page's description."""
    title_key, description_key = keys
    if chars and links > 0.6 * chars and chars < 600:
        return False
    low = text.lower()
    if len(low) < 60:
        bare = low.rstrip(" .:!›»>→")
        if bare in VOCAB.junk_exact:
            return False
        if title_key and low == title_key:
            return False
    if len(low) < 200:
        if low.startswith(VOCAB.junk_prefix):
            return False
        if _in_meta_block(lay, b, root):
            return False
    if lay.flag[b] & Flag.HEADING and lay.tags[b] == "h1" and title_key and _key(text) == title_key:
        return False
    if description_key and len(low) <= len(description_key) + 2 and _key(text).rstrip(" .…") == \
            description_key.rstrip(" .…") and _in_summary_box(lay, b, root, chars):
        return False
    return True


def _in_summary_box(lay: Layout, b: int, root: int, size: int) -> bool:
    """Block ``b`` sits in a summary box: an element close above it whose class says so and that
    holds this text and little else (a body field named "text-with-summary" is no summary box)."""
    node = b
    for _ in range(SUMMARY_CLIMB):
        if node <= root or lay.text_len(node) > size + SUMMARY_EXTRA_CHARS:
            return False
        if lay.kind[node] and lay.kind_of(node) & Kind.SUMMARY:
            return True
        node = lay.parent[node]
    return False


def _in_meta_block(lay: Layout, b: int, root: int) -> bool:
    """The block sits in a byline or date element below the container."""
    node = b
    for _ in range(META_CLIMB):
        if node <= root:
            break
        kind = lay.kind_of(node) if lay.kind[node] else 0
        if kind & (Kind.BYLINE | Kind.DATE) and not kind & Kind.CONTENT:
            return lay.text_len(node) < 300
        node = lay.parent[node]
    return False
