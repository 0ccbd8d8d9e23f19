"""One walk over the page body into flat arrays that every later step reads.

Elements are numbered in document order (pre-order), so an element's subtree is the index range
``[i, end[i])`` and its text is ``pieces[seq[i]:seq[end[i]]]``. Text lengths and link-text lengths
are prefix sums, so the size and link density of any subtree cost O(1). Nothing walks the tree again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from selectolax.lexbor import LexborNode

from .vocab import VOCAB, classify

__all__ = ["RULE_BODY", "RULE_CAPTION", "Flag", "Layout", "build_layout", "squash"]

_ASCII_SPACE = str.maketrans("\t\n\r\f\v", "     ")


def squash(text: str) -> str:
    """Runs of white space -> one space, ends trimmed. No-break spaces are text: kept."""
    if "\xa0" not in text:
        return " ".join(text.split())
    return " ".join(filter(None, text.translate(_ASCII_SPACE).split(" ")))

_COMMAS = re.compile(r"[,，、،;]")
RULE_BODY = "data-monitor-rule-body"  # set by site rules before the walk
RULE_CAPTION = "data-monitor-rule-caption"
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
    PRUNE = 128  # hidden, or a navigation/search/footer landmark: its insides are not walked


@dataclass(slots=True)
class Layout:
    # per element (read-only columns are tuples)
    attrs: tuple[dict[str, str | None], ...] = ()  # each element's attributes
    tags: tuple[str, ...] = ()
    parent: tuple[int, ...] = ()
    kind: list[int] = field(default_factory=list)  # vocab.Kind of class and id; -1: ask kind_of()
    flag: tuple[int, ...] = ()  # Flag of the element itself
    block: tuple[int, ...] = ()  # nearest block element (itself or an ancestor)
    in_link: tuple[bool, ...] = ()
    nested: set[int] = field(default_factory=set)  # block elements with a block element inside
    block_chars: dict[int, int] = field(default_factory=dict)  # per block: its own text (not inner blocks')
    block_links: dict[int, int] = field(default_factory=dict)  # ... of which inside links
    block_commas: dict[int, int] = field(default_factory=dict)  # ... commas in it (sentence signal)
    end: list[int] = field(default_factory=list)  # one past the last element of the subtree
    seq: tuple[int, ...] = ()  # first text piece at or after the element
    stop: list[int] = field(default_factory=list)  # one past the last text piece of the subtree
    pieces: tuple[str, ...] = ()  # text nodes in document order; "\n" for <br>
    owner: tuple[int, ...] = ()  # element each piece sits in
    cum: list[int] = field(default_factory=list)  # prefix sums of stripped piece lengths
    cum_link: list[int] = field(default_factory=list)  # the same, for text inside links
    buttons: list[tuple[int, str]] = field(default_factory=list)  # (element, value) of inputs
    names: dict[int, tuple[str, str]] = field(default_factory=dict)  # (class, id) not classified yet
    # what the head (and microdata anywhere) says, gathered on the same walk
    metas: list[dict[str, str | None]] = field(default_factory=list)
    links: list[dict[str, str | None]] = field(default_factory=list)
    title: str | None = None  # the text of the first <title>
    html_lang: str | None = None
    h1s: list[int] = field(default_factory=list)
    headings: list[int] = field(default_factory=list)  # h1-h6
    ld_scripts: list[LexborNode] = field(default_factory=list)  # <script type="application/ld+json">
    rule_body: list[int] = field(default_factory=list)  # elements a site rule marked as the body
    clickables: list[int] = field(default_factory=list)  # buttons and script links
    images: list[int] = field(default_factory=list)  # <img> elements
    figures: list[int] = field(default_factory=list)  # elements flagged FIGURE or CAPTION_TAG

    def __len__(self) -> int:
        return len(self.tags)

    def seq_end(self, i: int) -> int:
        return self.stop[i]

    def text_len(self, i: int) -> int:
        return self.cum[self.stop[i]] - self.cum[self.seq[i]]

    def link_len(self, i: int) -> int:
        return self.cum_link[self.stop[i]] - self.cum_link[self.seq[i]]

    def text(self, i: int, limit: int = 0) -> str:
        """The subtree text of element ``i``, white space collapsed (at most ``limit`` pieces if set)."""
        a, b = self.seq[i], self.stop[i]
        if limit and b - a > limit:
            b = a + limit
        return squash("".join(self.pieces[a:b]))

    def spaced_text(self, i: int) -> str:
        """The subtree text of element ``i`` with a space between text nodes (for short labels whose
        parts sit in separate elements: "By <a>Jane Doe</a><time>3 May</time>")."""
        return squash(" ".join(self.pieces[self.seq[i]:self.stop[i]]))

    def kind_of(self, i: int) -> int:
        """The vocab.Kind flags of element ``i``'s class and id (classified on first use)."""
        kind = self.kind[i]
        if kind < 0:
            cls, ident = self.names.pop(i)
            kind = (_kind(cls) if cls else 0) | (_kind(ident) if ident else 0)
            self.kind[i] = kind
        return kind

    def attr(self, i: int, name: str) -> str | None:
        return self.attrs[i].get(name)

    def contains(self, outer: int, inner: int) -> bool:
        return outer <= inner < self.end[outer]


_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_SPECIAL = frozenset({"script", "button", "input", "figure", "figcaption", "meta", "link", "title", "html",
                      *_HEADINGS})
# Containers whose white-space-only text is mostly indentation between child elements: it is not
# walked, and a space is put back between two inline children instead.
_LAYOUT_ONLY = frozenset({"html", "head", "body", "ul", "ol", "dl", "table", "tbody", "thead", "tfoot", "tr",
                          "section", "article", "main", "header", "figure", "picture", "form", "div"})
# Inline formatting whose attributes never matter here (not read: it saves a call per element).
_PLAIN = frozenset({"b", "strong", "i", "em", "u", "s", "sup", "sub", "big", "mark", "code", "q", "kbd", "var",
                    "dfn", "bdi", "bdo", "wbr", "tt", "strike", "del", "font", "br", "hr"})
_NO_ATTRS: dict[str, str | None] = {}
_VOID = frozenset({"img", "br", "hr", "input", "meta", "link", "source", "wbr", "area", "col", "embed",
                   "param", "track", "base"})
# Landmarks whose insides are never text (a dialog is walked: its buttons tell a consent banner).
_PRUNE_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "menu",
                          "menubar", "toolbar", "tablist", "tooltip"})
_KEEP_HIDDEN = frozenset({"html", "body", "main", "article"})  # hidden by a script that shows them later
MAX_ELEMENTS = 250_000  # the walk stops descending here: memory and time stay bounded
MAX_HEAD_ELEMENTS = 5_000
_CLASS_CACHE: dict[str, int] = {}
_CACHE_LIMIT = 50_000


def _kind(names: str) -> int:
    kind = _CLASS_CACHE.get(names)
    if kind is None:
        if len(_CLASS_CACHE) > _CACHE_LIMIT:
            _CLASS_CACHE.clear()
        kind = _CLASS_CACHE[names] = classify(names)
    return kind


_TEXT_ID = 2  # lexbor's tag id of text nodes
_LAST_STANDARD_ID = 0xC4  # ids above are the page's own (custom elements): not cached across pages


class _T:
    """What a tag is, as bits (one dictionary lookup per element instead of a set lookup per question)."""

    BLOCK = 1
    PLAIN = 2  # attributes never read
    SKIP = 4
    SPECIAL = 8
    LEAF = 16  # children never walked (pruned or void)
    LAYOUT = 32  # white space between children is indentation
    A = 64
    CELL = 128  # <br>, <td>, <th>: a separator piece of their own
    IMG = 256
    KEEP_HIDDEN = 512
    IGNORE = 1024  # comments, doctype, processing instructions
    HEAD = 2048  # read by _read_head, not walked


_TAG_INFO: dict[int, tuple[str, int]] = {}


def _tag_info(node: LexborNode, tid: int) -> tuple[str, int]:
    tag = node.tag or "-"
    props = 0
    if tag[0] in "-!":
        props = _T.IGNORE
    else:
        for names, bit in ((VOCAB.block_tags, _T.BLOCK), (_PLAIN, _T.PLAIN), (VOCAB.skip_tags, _T.SKIP),
                           (_SPECIAL, _T.SPECIAL), (VOCAB.prune_tags | _VOID, _T.LEAF), (_LAYOUT_ONLY, _T.LAYOUT),
                           ({"a"}, _T.A), ({"br", "td", "th"}, _T.CELL), ({"img"}, _T.IMG),
                           (_KEEP_HIDDEN, _T.KEEP_HIDDEN), ({"head"}, _T.HEAD)):
            if tag in names:
                props |= bit
    info = (tag, props)
    if tid < _LAST_STANDARD_ID:
        _TAG_INFO[tid] = info
    return info


def build_layout(root: LexborNode, marked: bool = False) -> Layout:
    """Walk the document once, depth first with an explicit stack (deep nesting cannot overflow).
    ``marked``: site rules put :data:`RULE_BODY` / :data:`RULE_CAPTION` attributes on elements.

    Rows are gathered as tuples and turned into columns at the end: one append per node."""
    lay = Layout()
    rows: list[tuple[str, int, int, int, int, int, bool, dict[str, str | None]]] = []
    prows: list[tuple[str, int, int, int]] = []  # (text, owner, length, length inside links)
    end: list[int] = []
    stop: list[int] = []  # per element: the number of pieces when its subtree closed
    bchars, blinks, bcommas, nested = lay.block_chars, lay.block_links, lay.block_commas, lay.nested
    add_row, add_piece = rows.append, prows.append
    cache_get = _CLASS_CACHE.get
    drop_roles = VOCAB.drop_roles
    names = lay.names
    tag_info = _TAG_INFO
    t_block, t_plain, t_skip, t_special, t_leaf = _T.BLOCK, _T.PLAIN, _T.SKIP, _T.SPECIAL, _T.LEAF
    t_layout, t_a, t_cell, t_img, t_keep = _T.LAYOUT, _T.A, _T.CELL, _T.IMG, _T.KEEP_HIDDEN
    t_head = _T.HEAD
    # flags as locals: attribute lookups in this loop add up
    skip, hidden, prune, clickable, link_flag = Flag.SKIP, Flag.HIDDEN | Flag.PRUNE, Flag.PRUNE, Flag.CLICKABLE, Flag.LINK
    figure, caption_tag = Flag.FIGURE, Flag.CAPTION_TAG
    figure_like = figure | caption_tag
    # one frame per open element: (children, element number, its block, inside a link, its white
    # space is skipped)
    stack: list[tuple[Iterator[LexborNode], int, int, bool, bool]] = [(iter((root,)), -1, -1, False, False)]
    n_el = 0
    last_owner = -1
    spaced = True  # the last piece ends with white space (or there is none yet)
    while stack:
        children, p, p_block, p_link, p_skips = stack[-1]
        for node in children:
            tid = node.tag_id
            if tid == _TEXT_ID:
                text = node.text_content
                if not text or p < 0:
                    continue
                n = len(text.strip())
                if n:
                    bchars[p_block] = bchars.get(p_block, 0) + n
                    if p_link:
                        blinks[p_block] = blinks.get(p_block, 0) + n
                    if text.isascii():
                        if "," in text:
                            bcommas[p_block] = bcommas.get(p_block, 0) + text.count(",") + text.count(";")
                    else:
                        bcommas[p_block] = bcommas.get(p_block, 0) + len(_COMMAS.findall(text))
                    add_piece((text, p, n, n if p_link else 0))
                    spaced = text[-1].isspace()
                else:
                    add_piece((" ", p, 0, 0))
                    spaced = True
                last_owner = p
                continue
            tag, props = tag_info.get(tid) or _tag_info(node, tid)
            if props & _T.IGNORE:
                continue
            i = n_el
            n_el += 1
            is_block = props & t_block
            if not spaced and p >= 0 and (is_block or (last_owner != p and p_skips)):
                # a block starts, or the white space skipped between two inline children
                add_piece((" ", p, 0, 0))
                spaced = True
                last_owner = p
            attrs = _NO_ATTRS if props & t_plain else node.attributes
            flag = skip if props & t_skip else 0
            kind = 0
            if attrs:
                # classes are classified when first asked for (most never are); cached ones now
                cls = attrs.get("class")
                ident = attrs.get("id")
                if cls:
                    kind = cache_get(cls, -1)
                if ident and kind >= 0:
                    k = cache_get(ident, -1)
                    kind = kind | k if k >= 0 else -1
                if kind < 0:
                    names[i] = (cls or "", ident or "")
                if len(attrs) > (cls is not None) + (ident is not None):  # more than a class and an id
                    role = attrs.get("role")
                    if role:
                        role = role.lower()
                        if role in drop_roles:
                            flag |= skip | (prune if role in _PRUNE_ROLES else 0)
                        if role == "button":
                            flag |= clickable
                    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
                        flag |= hidden
                    style = attrs.get("style")
                    if style and ("none" in style or "hidden" in style) and _HIDDEN_STYLE.search(style):
                        flag |= hidden
                    if "data-caption" in attrs:
                        flag |= figure
                    if marked:
                        if RULE_BODY in attrs:
                            lay.rule_body.append(i)
                        if RULE_CAPTION in attrs:
                            flag |= caption_tag
            if props & t_a:
                href = attrs.get("href")
                if href is None:
                    flag |= clickable
                elif not href or href[0] == "#" or href.startswith("javascript"):
                    flag |= link_flag | clickable
                else:
                    flag |= link_flag
            elif props & t_special:
                flag |= _special(lay, i, tag, attrs, node)
            if flag & clickable:
                lay.clickables.append(i)
            if flag & figure_like:
                lay.figures.append(i)
            if props & t_img:
                lay.images.append(i)
            link = p_link or bool(flag & link_flag)
            if is_block or p < 0:
                block = i
                if p_block >= 0 and tag != "br":
                    nested.add(p_block)
            else:
                block = p_block
            add_row((tag, p, kind, flag, len(prows), block, link, attrs))
            end.append(0)
            stop.append(0)
            if props & t_cell:
                add_piece(("\n" if tag == "br" else " ", i, 0, 0))
                spaced = True
                last_owner = i
            if props & (t_leaf | t_head) or n_el >= MAX_ELEMENTS or (flag & prune and not props & t_keep):
                if props & t_head:
                    _read_head(lay, node)
                end[i] = n_el  # no children, never article text, or past the cap: not walked
                stop[i] = len(prows)
                continue
            layout = bool(props & t_layout)
            stack.append((node.iter(include_text=True, skip_empty=layout), i, block, link, layout))
            break
        else:
            stack.pop()
            if p >= 0:
                end[p] = n_el
                if p_block == p and not spaced:
                    add_piece((" ", p, 0, 0))  # a block ends
                    spaced = True
                    last_owner = p
                stop[p] = len(prows)
    _columns(lay, rows, prows, end, stop)
    return lay


def _columns(lay: Layout, rows: list[tuple[str, int, int, int, int, int, bool, dict[str, str | None]]],
             prows: list[tuple[str, int, int, int]], end: list[int], stop: list[int]) -> None:
    if rows:
        kind: tuple[int, ...]
        lay.tags, lay.parent, kind, lay.flag, lay.seq, lay.block, lay.in_link, lay.attrs = zip(*rows, strict=True)
        lay.kind = list(kind)
    lens: tuple[int, ...] = ()
    link_lens: tuple[int, ...] = ()
    if prows:
        lay.pieces, lay.owner, lens, link_lens = zip(*prows, strict=True)
    lay.end = end
    lay.stop = stop
    lay.cum = [0, *accumulate(lens)]
    lay.cum_link = [0, *accumulate(link_lens)]


def _read_head(lay: Layout, head: LexborNode) -> None:
    """The head's metadata, read without making elements of it (nothing in it is text); at most
    :data:`MAX_HEAD_ELEMENTS` of its children (time and memory stay bounded)."""
    for count, node in enumerate(head.iter()):
        if count >= MAX_HEAD_ELEMENTS:
            break
        tag = node.tag
        if tag == "meta":
            lay.metas.append(node.attributes)
        elif tag == "link":
            lay.links.append(node.attributes)
        elif tag == "title":
            if lay.title is None:
                lay.title = squash(node.text())
        elif tag == "script":
            if "ld+json" in (node.attributes.get("type") or "").lower():
                lay.ld_scripts.append(node)


def _special(lay: Layout, i: int, tag: str, attrs: dict[str, str | None], node: LexborNode) -> int:
    """Flags (and head records) of the tags that need more than their class and id read."""
    if tag == "script":
        if "ld+json" in (attrs.get("type") or "").lower():
            lay.ld_scripts.append(node)
        return Flag.SKIP
    if tag in _HEADINGS:
        lay.headings.append(i)
        if tag == "h1":
            lay.h1s.append(i)
        return Flag.HEADING
    if tag == "figure":
        return Flag.FIGURE
    if tag == "figcaption":
        return Flag.CAPTION_TAG
    if tag == "button":
        return Flag.CLICKABLE
    if tag == "input":
        value = attrs.get("value")
        if value and (attrs.get("type") or "").lower() in _CLICKABLE_INPUTS:
            lay.buttons.append((i, value))
        return Flag.SKIP
    if tag == "meta":
        lay.metas.append(attrs)
        return Flag.SKIP
    if tag == "link":
        lay.links.append(attrs)
        return Flag.SKIP
    if tag == "title":
        if lay.title is None:
            lay.title = squash(node.text())
        return Flag.SKIP
    if tag == "html":
        lay.html_lang = attrs.get("lang") or attrs.get("xml:lang")
    return 0
