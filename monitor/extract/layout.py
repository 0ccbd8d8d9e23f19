"""One walk over the page body into flat arrays that every later step reads.

Elements are numbered in document order (pre-order), so an element's subtree is the index range
``[i, end[i])`` and its text is ``pieces[seq[i]:seq[end[i]]]``. Text lengths and link-text lengths
are prefix sums, so the size and link density of any subtree cost O(1). Nothing walks the tree again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborNode

from .vocab import VOCAB, Kind, classify

__all__ = ["Flag", "Layout", "build_layout", "squash"]

_ASCII_SPACE = str.maketrans("\t\n\r\f\v", "     ")


def squash(text: str) -> str:
    """Runs of ASCII white space -> one space, ends trimmed. No-break spaces are text: kept."""
    return " ".join(filter(None, text.translate(_ASCII_SPACE).split(" ")))

_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_CLICKABLE_INPUTS = frozenset({"button", "submit"})


class Flag:
    """What an element is, from its tag, role and attributes (not inherited)."""

    SKIP = 1  # furniture tag or role, or hidden: never article text
    HIDDEN = 2
    LINK = 4  # an <a> with an href
    CLICKABLE = 8  # button, role=button, link: a consent banner's accept button is one
    HEADING = 16
    FIGURE = 32  # <figure> or an element with data-caption
    CAPTION_TAG = 64  # <figcaption>


@dataclass(slots=True)
class Layout:
    nodes: list[LexborNode] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)  # vocab.Kind of the element's own class and id
    flag: list[int] = field(default_factory=list)  # Flag of the element itself
    block: list[int] = field(default_factory=list)  # nearest block element (itself or an ancestor)
    in_link: list[bool] = field(default_factory=list)
    end: list[int] = field(default_factory=list)  # one past the last element of the subtree
    seq: list[int] = field(default_factory=list)  # first text piece at or after the element
    pieces: list[str] = field(default_factory=list)  # text nodes in document order; "\n" for <br>
    owner: list[int] = field(default_factory=list)  # element each piece sits in
    cum: list[int] = field(default_factory=list)  # prefix sums of stripped piece lengths
    cum_link: list[int] = field(default_factory=list)  # the same, for text inside links
    buttons: list[tuple[int, str]] = field(default_factory=list)  # (element, value) of inputs
    index: dict[int, int] = field(default_factory=dict)  # node.mem_id -> element number

    def __len__(self) -> int:
        return len(self.tags)

    def seq_end(self, i: int) -> int:
        e = self.end[i]
        return self.seq[e] if e < len(self.seq) else len(self.pieces)

    def text_len(self, i: int) -> int:
        return self.cum[self.seq_end(i)] - self.cum[self.seq[i]]

    def link_len(self, i: int) -> int:
        return self.cum_link[self.seq_end(i)] - self.cum_link[self.seq[i]]

    def text(self, i: int, limit: int = 0) -> str:
        """The subtree text of element ``i``, white space collapsed (at most ``limit`` pieces if set)."""
        a, b = self.seq[i], self.seq_end(i)
        if limit and b - a > limit:
            b = a + limit
        return squash("".join(self.pieces[a:b]))

    def ancestors(self, i: int) -> list[int]:
        out = []
        p = self.parent[i]
        while p >= 0:
            out.append(p)
            p = self.parent[p]
        return out

    def contains(self, outer: int, inner: int) -> bool:
        return outer <= inner < self.end[outer]


def build_layout(body: LexborNode) -> Layout:
    """Walk ``body`` once (iteratively: deep nesting cannot overflow the stack)."""
    lay = Layout()
    tags, parent, kinds, flags = lay.tags, lay.parent, lay.kind, lay.flag
    blocks, in_link, seq, nodes = lay.block, lay.in_link, lay.seq, lay.nodes
    pieces, owner, cum, cum_link = lay.pieces, lay.owner, lay.cum, lay.cum_link
    index = lay.index
    block_tags, cell_tags, skip_tags = VOCAB.block_tags, VOCAB.cell_tags, VOCAB.skip_tags
    drop_roles = VOCAB.drop_roles
    total = link_total = 0
    cum.append(0)
    cum_link.append(0)
    for node in body.traverse(include_text=True):
        tag = node.tag
        if tag == "-text":
            up = node.parent
            pi = index.get(up.mem_id, -1) if up is not None else -1
            if pi < 0:
                continue
            text = node.text_content or ""
            n = len(text.strip())
            pieces.append(text if n else " ")
            owner.append(pi)
            total += n
            if in_link[pi]:
                link_total += n
            cum.append(total)
            cum_link.append(link_total)
            continue
        if tag is None or tag.startswith("-") or tag.startswith("!"):
            continue
        i = len(tags)
        index[node.mem_id] = i
        up = node.parent
        p = index.get(up.mem_id, -1) if (up is not None and i) else -1
        attrs = node.attributes
        names = ""
        cls = attrs.get("class")
        ident = attrs.get("id")
        if cls:
            names = cls
        if ident:
            names = f"{names} {ident}" if names else ident
        flag = 0
        if tag in skip_tags:
            flag |= Flag.SKIP
        role = attrs.get("role")
        if role and role.lower() in drop_roles:
            flag |= Flag.SKIP
        if "hidden" in attrs or attrs.get("aria-hidden") == "true":
            flag |= Flag.HIDDEN
        style = attrs.get("style")
        if style and _HIDDEN_STYLE.search(style):
            flag |= Flag.HIDDEN
        if tag == "a":
            if "href" in attrs:
                flag |= Flag.LINK | Flag.CLICKABLE
        elif tag == "button" or role == "button":
            flag |= Flag.CLICKABLE
        elif tag == "input":
            value = attrs.get("value")
            if value and (attrs.get("type") or "").lower() in _CLICKABLE_INPUTS:
                lay.buttons.append((i, value))
        elif tag == "figure" or "data-caption" in attrs:
            flag |= Flag.FIGURE
        elif tag == "figcaption":
            flag |= Flag.CAPTION_TAG
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            flag |= Flag.HEADING
        tags.append(tag)
        parent.append(p)
        kinds.append(classify(names) if names else Kind.NONE)
        flags.append(flag)
        nodes.append(node)
        seq.append(len(pieces))
        if tag in block_tags or p < 0:
            blocks.append(i)
        else:
            blocks.append(blocks[p])
        in_link.append(bool(flag & Flag.LINK) or (p >= 0 and in_link[p]))
        if tag == "br":
            pieces.append("\n")
            owner.append(i)
            cum.append(total)
            cum_link.append(link_total)
        elif tag in cell_tags:
            pieces.append(" ")
            owner.append(i)
            cum.append(total)
            cum_link.append(link_total)
    n = len(tags)
    end = list(range(1, n + 1))
    for i in range(n - 1, 0, -1):
        p = parent[i]
        if p >= 0 and end[i] > end[p]:
            end[p] = end[i]
    lay.end = end
    return lay
