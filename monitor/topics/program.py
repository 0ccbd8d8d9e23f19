"""Queries compiled for matching: shared atoms and leaves, per-topic boolean trees, the term index.

An *atom* is one query word with its lookup keys (see :mod:`.words`); a *leaf* is a word, a phrase or
a regex, restricted to some fields. Both are shared by every topic that uses them, so the index from
key to atoms covers all topics at once and a document is looked up once for all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .document import field_mask
from .query import Alias, And, Node, Not, Or, Regex, Term
from .words import STOPWORDS, query_keys

__all__ = ["AND", "LEAF", "NEAR", "NOT", "OR", "CNode", "Leaf", "Program"]

LEAF, AND, OR, NOT, NEAR = range(5)


@dataclass(frozen=True, slots=True)
class Leaf:
    atoms: tuple[int, ...]  # one per word of a phrase; empty for a regex
    mask: int  # field bits
    slop: int = 0
    regex: re.Pattern[str] | None = None


class CNode:
    """A compiled query node. ``src`` is the syntax-tree node it came from (for explain).

    ``slow``: a regex is in the subtree (a regex is run over every segment's text, word leaves are
    looked up). ``plan``: the children in the order matching evaluates them, those without a regex
    first, so an AND or NEAR that fails on its words never runs its regex (explain keeps ``children``).
    """

    __slots__ = ("children", "distance", "kind", "leaf", "plan", "slow", "src")

    def __init__(self, kind: int, src: Node, children: tuple[CNode, ...] = (), leaf: int = -1,
                 distance: int = 0, slow: bool = False) -> None:
        self.kind = kind
        self.src = src
        self.children = children
        self.leaf = leaf
        self.distance = distance
        self.slow: bool = slow or any(c.slow for c in children)
        self.plan: tuple[CNode, ...] = tuple(c for c in children if not c.slow) + tuple(c for c in children if c.slow)


class Program:
    """Everything the matcher shares between topics: atoms, leaves and the key -> atoms index."""

    def __init__(self) -> None:
        self.atoms: dict[frozenset[str], int] = {}
        self.atom_word: list[str] = []
        self.leaves: list[Leaf] = []
        self.leaf_ids: dict[tuple[object, ...], int] = {}
        self.index: dict[str, list[int]] = {}

    def atom(self, text: str, mode: str) -> int:
        keys = query_keys(text, mode)
        found = self.atoms.get(keys)
        if found is not None:
            return found
        atom_id = self.atoms[keys] = len(self.atom_word)
        self.atom_word.append(text)
        for key in keys:
            self.index.setdefault(key, []).append(atom_id)
        return atom_id

    def leaf(self, node: Term | Regex) -> int:
        if isinstance(node, Term):
            atoms = tuple(self.atom(w.text, w.mode) for w in node.words)
            key: tuple[object, ...] = ("t", atoms, field_mask(node.fields), node.slop)
            made = Leaf(atoms, field_mask(node.fields), node.slop)
        else:
            flags = re.IGNORECASE if node.flags else 0
            key = ("r", node.pattern, flags, field_mask(node.fields))
            made = Leaf((), field_mask(node.fields), regex=re.compile(node.pattern, flags))
        found = self.leaf_ids.get(key)
        if found is None:
            found = self.leaf_ids[key] = len(self.leaves)
            self.leaves.append(made)
        return found

    def compile(self, node: Node) -> CNode:
        if isinstance(node, Term | Regex):
            return CNode(LEAF, node, leaf=self.leaf(node), slow=isinstance(node, Regex))
        if isinstance(node, Alias):
            inner = self.compile(node.body)
            return CNode(inner.kind, node, inner.children, inner.leaf, inner.distance, inner.slow)
        if isinstance(node, And):
            return CNode(AND, node, tuple(self.compile(c) for c in node.children))
        if isinstance(node, Or):
            return CNode(OR, node, tuple(self.compile(c) for c in node.children))
        if isinstance(node, Not):
            return CNode(NOT, node, (self.compile(node.child),))
        return CNode(NEAR, node, (self.compile(node.left), self.compile(node.right)), distance=node.distance)

    # -------------------------------------------------------------- static analysis

    def atom_cost(self, atom_id: int) -> float:
        """How common a word is likely to be: a topic is triggered by its rarest necessary words."""
        word = self.atom_word[atom_id].lower()
        if word in STOPWORDS:
            return 50.0
        return 5.0 if len(word) <= 3 else 1.0

    def trigger(self, node: CNode) -> frozenset[int] | None:
        """Atoms of which at least one must be in a document for ``node`` to match (None: cannot tell)."""
        if node.kind == LEAF:
            leaf = self.leaves[node.leaf]
            if not leaf.atoms:
                return None
            return frozenset({min(leaf.atoms, key=lambda a: (self.atom_cost(a), -len(self.atom_word[a])))})
        if node.kind == OR:
            out: set[int] = set()
            for child in node.children:
                sub = self.trigger(child)
                if sub is None:
                    return None
                out |= sub
            return frozenset(out)
        if node.kind in (AND, NEAR):
            options = [t for c in node.children if c.kind != NOT and (t := self.trigger(c)) is not None]
            if not options:
                return None
            return min(options, key=lambda t: sum(self.atom_cost(a) for a in t))
        return None

    def requirements(self, node: CNode) -> list[frozenset[int]] | None:
        """Groups of atoms such that a document matching ``node`` has at least one atom of every
        group (None: no such condition can be told). Finer than :meth:`trigger`: every conjunct of
        an AND or NEAR and every non-stop word of a phrase is a group, so a topic is evaluated only
        when all its necessary words are there, not just its rarest one."""
        if node.kind == LEAF:
            leaf = self.leaves[node.leaf]
            if not leaf.atoms:
                return None
            words = [a for a in leaf.atoms if self.atom_word[a].lower() not in STOPWORDS] or list(leaf.atoms)
            return [frozenset({a}) for a in dict.fromkeys(words)]
        if node.kind == OR:
            union: set[int] = set()
            for child in node.children:
                sub = self.requirements(child)
                if not sub:
                    return None
                union |= min(sub, key=len)
            return [frozenset(union)]
        if node.kind in (AND, NEAR):
            groups = [g for c in node.children if c.kind != NOT and (sub := self.requirements(c)) for g in sub]
            return groups or None
        return None

    def positive_leaves(self, node: CNode, out: list[int] | None = None) -> list[int]:
        """Leaves not under a NOT: the ones whose finds are marked in snippets."""
        out = [] if out is None else out
        if node.kind == LEAF:
            if node.leaf not in out:
                out.append(node.leaf)
        elif node.kind != NOT:
            for child in node.children:
                self.positive_leaves(child, out)
        return out


def matches_nothing_needed(node: CNode) -> bool:
    """True when ``node`` matches a document that has none of its words (``NOT a``, ``a OR NOT b``)."""
    if node.kind == NOT:
        return True
    if node.kind == AND:
        return all(matches_nothing_needed(c) for c in node.children)
    if node.kind == OR:
        return any(matches_nothing_needed(c) for c in node.children)
    return False
