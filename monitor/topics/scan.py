"""One document against the compiled program: find every atom once, then evaluate topic trees.

A *span* is ``(first, last)``: word indices (inclusive) in :class:`~.document.Tokens`. A node's result
is None when it does not hold, else the spans that make it hold (empty for a ``NOT`` that holds).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from weakref import WeakKeyDictionary

from .document import Tokens
from .program import AND, LEAF, NEAR, NOT, OR, CNode, Leaf, Program
from .words import document_keys

__all__ = ["Scan", "Span", "merge_spans", "span_distance"]

Span = tuple[int, int]


WORD_CACHE_MAX = 50_000  # document words remembered per program with their atoms (~5 MB; cleared when full)


_WORD_ATOMS: WeakKeyDictionary[Program, tuple[int, dict[str, tuple[int, ...]]]] = WeakKeyDictionary()


def _word_atoms(program: Program) -> dict[str, tuple[int, ...]]:
    """The program's cache of document word -> atoms (kept while the program gains no atom)."""
    version = len(program.atom_word)
    entry = _WORD_ATOMS.get(program)
    if entry is None or entry[0] != version:
        entry = _WORD_ATOMS[program] = (version, {})
    return entry[1]


class Scan:
    """The finds of every atom in one document, and a cache of leaf results shared by all topics."""

    __slots__ = ("cache", "occ", "program", "tokens")

    def __init__(self, program: Program, tokens: Tokens) -> None:
        self.program = program
        self.tokens = tokens
        self.cache: dict[int, list[Span]] = {}
        atoms_of = _word_atoms(program)
        words = tokens.words
        unseen = set(words).difference(atoms_of)
        if len(atoms_of) + len(unseen) > WORD_CACHE_MAX:
            atoms_of.clear()
            unseen = set(words)
        index = program.index
        for word in unseen:
            found: set[int] = set()
            for key in document_keys(word):
                hit = index.get(key)
                if hit is not None:
                    found.update(hit)
            atoms_of[word] = tuple(found)
        occ: dict[int, list[int]] = {}
        for i in [i for i, word in enumerate(words) if atoms_of[word]]:  # most words are no query's
            for atom in atoms_of[words[i]]:
                if atom in occ:
                    occ[atom].append(i)
                else:
                    occ[atom] = [i]
        self.occ = occ

    # -------------------------------------------------------------- leaves

    def leaf(self, leaf_id: int) -> list[Span]:
        cached = self.cache.get(leaf_id)
        if cached is None:
            leaf = self.program.leaves[leaf_id]
            if leaf.regex is not None:
                cached = self._regex(leaf)
            elif len(leaf.atoms) == 1:
                bit = self.tokens.bit
                cached = [(i, i) for i in self.occ.get(leaf.atoms[0], ()) if bit[i] & leaf.mask]
            else:
                cached = self._phrase(leaf)
            self.cache[leaf_id] = cached
        return cached

    def _phrase(self, leaf: Leaf) -> list[Span]:
        lists = [self.occ.get(a) for a in leaf.atoms]
        if any(not lst for lst in lists):
            return []
        seg, bit = self.tokens.seg, self.tokens.bit
        out: list[Span] = []
        for first in lists[0] or ():
            if not bit[first] & leaf.mask:
                continue
            pos, budget = first, leaf.slop
            for lst in lists[1:]:
                assert lst is not None
                k = bisect_right(lst, pos)
                if k == len(lst) or lst[k] - pos - 1 > budget or seg[lst[k]] != seg[first]:
                    break
                budget -= lst[k] - pos - 1
                pos = lst[k]
            else:
                out.append((first, pos))
        return out

    def _regex(self, leaf: Leaf) -> list[Span]:
        assert leaf.regex is not None
        tokens, out = self.tokens, []
        for seg_no, segment in enumerate(tokens.segments):
            if segment.first_word == segment.end_word or not tokens.bit[segment.first_word] & leaf.mask:
                continue
            found = [m for m in leaf.regex.finditer(segment.text) if m.end() != m.start()]
            if not found:  # the words' offsets are worked out only where the pattern matched
                continue
            starts, ends = tokens.offsets(seg_no)
            for m in found:
                first = bisect_right(ends, m.start())  # first word ending after the match starts
                last = bisect_left(starts, m.end()) - 1  # last word starting before it ends
                if first <= last:
                    out.append((segment.first_word + first, segment.first_word + last))
        return out

    # -------------------------------------------------------------- trees

    def eval(self, node: CNode) -> list[Span] | None:
        kind = node.kind
        cache = self.cache
        if kind == LEAF:
            got = cache.get(node.leaf)
            return (got if got is not None else self.leaf(node.leaf)) or None
        if kind == AND:
            out: list[Span] = []
            for child in node.plan:  # regexes last: the first part that fails ends it
                if child.kind == LEAF:  # a leaf's finds read here, without a call
                    got = cache.get(child.leaf)
                    got = (got if got is not None else self.leaf(child.leaf)) or None
                else:
                    got = self.eval(child)
                if got is None:
                    return None
                out.extend(got)
            return sorted(set(out))
        if kind == OR:
            held: list[list[Span]] = []
            for child in node.children:
                if child.kind == LEAF:
                    got = cache.get(child.leaf)
                    got = (got if got is not None else self.leaf(child.leaf)) or None
                else:
                    got = self.eval(child)
                if got is not None:
                    held.append(got)
            if not held:
                return None
            if len(held) == 1:  # one branch held: its spans are sorted and distinct already
                return held[0]
            return sorted({span for spans in held for span in spans})
        if kind == NOT:
            return [] if self.eval(node.children[0]) is None else None
        assert kind == NEAR
        first = self.eval(node.plan[0])  # a regex side last; near() is the same either way round
        if not first:
            return None
        second = self.eval(node.plan[1])
        if not second:
            return None
        return self.near(first, second, node.distance)[0] or None

    def near(self, left: list[Span], right: list[Span], distance: int) -> tuple[list[Span], int | None]:
        """Spans of the pairs within ``distance`` words, and the closest distance seen (for explain)."""
        seg = self.tokens.seg
        out: set[Span] = set()
        closest: int | None = None
        for a in left:
            for b in right:
                if seg[a[0]] != seg[b[0]]:
                    continue
                gap = span_distance(a, b)
                if gap is None:
                    continue
                if closest is None or gap < closest:
                    closest = gap
                if gap <= distance:
                    out.add((min(a[0], b[0]), max(a[1], b[1])))
        return sorted(out), closest


def span_distance(a: Span, b: Span) -> int | None:
    """How far apart two spans are in word places (None when they overlap)."""
    if a[1] < b[0]:
        return b[0] - a[1]
    if b[1] < a[0]:
        return a[0] - b[1]
    return None


def merge_spans(spans: list[Span]) -> list[Span]:
    """Overlapping spans merged: each remaining span is one hit."""
    out: list[Span] = []
    for first, last in sorted(spans):
        if out and first <= out[-1][1]:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out
