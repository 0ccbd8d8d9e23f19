"""The topic query language: lexer, parser and syntax tree.

Grammar, from loosest to tightest binding (operators are upper case; ``and``/``or`` are words)::

    query    := or_expr END
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := implied ("AND" implied)*
    implied  := unary unary*                       # juxtaposition is AND
    unary    := "NOT" unary | near
    near     := primary ("NEAR/n" primary)*
    primary  := [field ":"] ( term | "=" term | '"phrase"' ["~n"] | "/regex/" [i] | "@alias" | "(" or_expr ")" )

Every error is a :class:`~monitor.errors.QueryError` with the 1-based column and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..errors import QueryError
from .document import DEFAULT_FIELDS, FIELDS
from .words import WORD_RE, is_case_sensitive, words_of

__all__ = [
    "MAX_DISTANCE",
    "Alias",
    "And",
    "Node",
    "Not",
    "Near",
    "Or",
    "Regex",
    "Term",
    "Word",
    "parse_query",
]

MAX_DISTANCE = 100  # the largest n of NEAR/n and of "phrase"~n
Mode = Literal["i", "c", "x"]


# ---------------------------------------------------------------------------- syntax tree

@dataclass(frozen=True, slots=True)
class Word:
    """One word of a term or phrase. ``mode``: i = ignore case, c = case-sensitive, x = exact form."""

    text: str
    mode: Mode


@dataclass(frozen=True, slots=True)
class Term:
    """A word, or a phrase: words at consecutive places (up to ``slop`` extra words between, in order)."""

    words: tuple[Word, ...]
    fields: tuple[str, ...] = DEFAULT_FIELDS
    slop: int = 0
    quoted: bool = False
    col: int = field(default=0, compare=False)

    def __str__(self) -> str:
        text = " ".join(("=" if w.mode == "x" else "") + w.text for w in self.words)
        if self.quoted or len(self.words) > 1:
            text = '"' + text.replace("=", "") + '"' + (f"~{self.slop}" if self.slop else "")
            if any(w.mode == "x" for w in self.words):
                text = "=" + text
        return _with_fields(self.fields, text)


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: str
    flags: str = ""
    fields: tuple[str, ...] = DEFAULT_FIELDS
    col: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return _with_fields(self.fields, f"/{self.pattern}/{self.flags}")


@dataclass(frozen=True, slots=True)
class Alias:
    """``@name``: an OR of the alias's entries (and of its name, when the name is one word)."""

    name: str
    body: Or
    col: int = field(default=0, compare=False)

    def __str__(self) -> str:
        return "@" + self.name


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " AND ".join(map(str, self.children)) + ")"


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " OR ".join(map(str, self.children)) + ")"


@dataclass(frozen=True, slots=True)
class Not:
    child: Node

    def __str__(self) -> str:
        return f"NOT {self.child}"


@dataclass(frozen=True, slots=True)
class Near:
    left: Node
    right: Node
    distance: int

    def __str__(self) -> str:
        return f"({self.left} NEAR/{self.distance} {self.right})"


Node = Term | Regex | Alias | And | Or | Not | Near


def _with_fields(fields: tuple[str, ...], text: str) -> str:
    return text if fields == DEFAULT_FIELDS else f"{fields[0]}:{text}"


# ---------------------------------------------------------------------------- lexer

@dataclass(frozen=True, slots=True)
class Lexeme:
    kind: str  # ( ) AND OR NOT NEAR TERM EXACT PHRASE REGEX ALIAS FIELD END
    text: str  # as written in the query
    col: int
    value: str = ""
    number: int = 0
    exact: bool = False


_FIELD_RE = re.compile(r"([A-Za-z]+):")
_ALIAS_RE = re.compile(r"[\w.-]*[\w-]")
_NEAR_RE = re.compile(r"NEAR(?:/(.*))?")
_LOWER_NEAR_RE = re.compile(r"near/.*", re.IGNORECASE)  # "near" alone is a word; "near/4" a slip
_BARE_STOP = ' \t\r\n()"'


class _Lexer:
    def __init__(self, query: str, fail: _Fail) -> None:
        self.q = query
        self.fail = fail

    def lexemes(self) -> list[Lexeme]:
        q, i, out = self.q, 0, []
        while i < len(q):
            ch = q[i]
            if ch.isspace():
                i += 1
            elif ch in "()":
                out.append(Lexeme(ch, ch, i + 1))
                i += 1
            elif ch == '"':
                i = self._phrase(i, out)
            elif ch == "=" and q.startswith('"', i + 1):  # ="exact phrase"
                i = self._phrase(i + 1, out)
                last = out.pop()
                out.append(Lexeme("PHRASE", "=" + last.text, last.col - 1, last.value,
                                  last.number, exact=True))
            elif ch == "/":
                i = self._regex(i, out)
            elif ch == "@":
                m = _ALIAS_RE.match(q, i + 1)
                if not m:
                    raise self.fail("expected an alias name after @", i + 2)
                out.append(Lexeme("ALIAS", q[i: m.end()], i + 1, m.group()))
                i = m.end()
            elif (m := _FIELD_RE.match(q, i)) and not q.startswith("NEAR", i):
                out.append(Lexeme("FIELD", m.group(), i + 1, m.group(1)))
                i = m.end()
            else:
                i = self._bare(i, out)
        out.append(Lexeme("END", "the end of the query", len(q) + 1))
        return out

    def _phrase(self, i: int, out: list[Lexeme]) -> int:
        close = self.q.find('"', i + 1)
        if close < 0:
            raise self.fail('unterminated quote: expected a closing "', i + 1)
        end, slop = close + 1, 0
        if self.q.startswith("~", end):
            m = re.compile(r"\d*").match(self.q, end + 1)
            digits = m.group() if m else ""
            if not digits or int(digits) > MAX_DISTANCE:
                raise self.fail(f"bad slop: expected ~n with n a whole number from 0 to {MAX_DISTANCE}",
                                end + 1)
            slop, end = int(digits), end + 1 + len(digits)
        out.append(Lexeme("PHRASE", self.q[i:end], i + 1, self.q[i + 1: close], slop))
        return end

    def _regex(self, i: int, out: list[Lexeme]) -> int:
        j = i + 1
        while j < len(self.q) and self.q[j] != "/":
            j += 2 if self.q[j] == "\\" else 1
        if j >= len(self.q):
            raise self.fail("unterminated regular expression: expected a closing /", i + 1)
        pattern = self.q[i + 1: j]
        k = j + 1
        while k < len(self.q) and self.q[k].isalpha():
            k += 1
        flags = self.q[j + 1: k]
        if flags.strip("i"):
            raise self.fail(f"unknown regular expression flag {flags!r}: expected i (ignore case) or none",
                            j + 2)
        if not pattern:
            raise self.fail("empty regular expression: expected a pattern between the slashes", i + 1)
        try:
            re.compile(pattern, re.IGNORECASE if flags else 0)
        except re.error as exc:
            raise self.fail(f"invalid regular expression: {exc.msg}", i + 2 + (exc.pos or 0)) from None
        out.append(Lexeme("REGEX", self.q[i:k], i + 1, pattern, 1 if flags else 0))
        return k

    def _bare(self, i: int, out: list[Lexeme]) -> int:
        j = i
        while j < len(self.q) and self.q[j] not in _BARE_STOP:
            j += 1
        text = self.q[i:j]
        if text in ("AND", "OR", "NOT"):
            out.append(Lexeme(text, text, i + 1))
        elif _LOWER_NEAR_RE.fullmatch(text) and not text.startswith("NEAR"):
            raise self.fail(f"operators are upper case: write {text.upper()!r}", i + 1)
        elif m := _NEAR_RE.fullmatch(text):
            n = m.group(1)
            if n is None or not n.isdigit() or not 1 <= int(n) <= MAX_DISTANCE:
                raise self.fail(f"bad {text}: expected NEAR/n with n a whole number from 1 to {MAX_DISTANCE}",
                                i + 1)
            out.append(Lexeme("NEAR", text, i + 1, number=int(n)))
        elif text.startswith("="):
            if not WORD_RE.search(text):
                raise self.fail("expected a word after =", i + 2)
            out.append(Lexeme("EXACT", text, i + 1, text[1:]))
        else:
            if not WORD_RE.search(text):
                raise self.fail(f"expected a term: {text!r} has no letters or digits", i + 1)
            out.append(Lexeme("TERM", text, i + 1, text))
        return j


# ---------------------------------------------------------------------------- parser

class _Fail:
    def __init__(self, topic: str | None, field_name: str) -> None:
        self.topic = topic
        self.field = field_name

    def __call__(self, message: str, col: int | None) -> QueryError:
        return QueryError(message, topic=self.topic, field=self.field, col=col)


_STARTS_PRIMARY = frozenset({"(", "TERM", "EXACT", "PHRASE", "REGEX", "ALIAS", "FIELD"})
_STARTS_UNARY = _STARTS_PRIMARY | {"NOT"}


class _Parser:
    def __init__(self, query: str, aliases: Mapping[str, Sequence[str]], fail: _Fail) -> None:
        self.lex = _Lexer(query, fail).lexemes()
        self.pos = 0
        self.aliases = aliases
        self.fail = fail

    @property
    def cur(self) -> Lexeme:
        return self.lex[self.pos]

    def _take(self) -> Lexeme:
        lexeme = self.lex[self.pos]
        self.pos += 1
        return lexeme

    def parse(self) -> Node:
        if self.cur.kind == "END":
            raise self.fail("empty query: expected a term, phrase or group", 1)
        node = self._or()
        if self.cur.kind == ")":
            raise self.fail("unbalanced parentheses: ')' has no matching '('", self.cur.col)
        if self.cur.kind != "END":  # pragma: no cover - every other lexeme starts or joins an expression
            raise self.fail(f"unexpected {self.cur.text!r}", self.cur.col)
        return node

    def _or(self) -> Node:
        children = [self._and()]
        while self.cur.kind == "OR":
            op = self._take()
            children.append(self._and(after=op))
        return _flat(Or, children)

    def _and(self, after: Lexeme | None = None) -> Node:
        children = [self._implied(after)]
        while self.cur.kind == "AND":
            op = self._take()
            children.append(self._implied(op))
        return _flat(And, children)

    def _implied(self, after: Lexeme | None) -> Node:
        children = [self._unary(after)]
        while self.cur.kind in _STARTS_UNARY:
            children.append(self._unary(None))
        return _flat(And, children)

    def _unary(self, after: Lexeme | None) -> Node:
        if self.cur.kind == "NOT":
            op = self._take()
            return Not(self._unary(op))
        return self._near(after)

    def _near(self, after: Lexeme | None) -> Node:
        start = self.cur
        node = self._primary(after, DEFAULT_FIELDS)
        while self.cur.kind == "NEAR":
            op = self._take()
            if isinstance(node, Not):
                raise self.fail(f"expected a term, phrase or group before {op.text}: NOT cannot be used "
                                "inside NEAR", start.col)
            if self.cur.kind == "NOT":
                raise self.fail(f"expected a term, phrase or group after {op.text}: NOT cannot be used "
                                "inside NEAR", self.cur.col)
            right = self.cur
            node = Near(node, self._primary(op, DEFAULT_FIELDS), op.number)
            if isinstance(node.right, Not):
                raise self.fail(f"expected a term, phrase or group after {op.text}: NOT cannot be used "
                                "inside NEAR", right.col)
        return node

    def _expected(self, after: Lexeme | None) -> QueryError:
        cur = self.cur
        if after is None:
            if cur.kind in ("AND", "OR", "NEAR"):
                return self.fail(f"expected a term before {cur.text}", cur.col)
            if cur.kind == ")":
                return self.fail("unbalanced parentheses: ')' has no matching '('", cur.col)
            return self.fail("expected a term, phrase or group", cur.col)
        found = "" if cur.kind == "END" else f", found {cur.text!r}"
        what = "a term" if after.kind != "FIELD" else "a term, phrase or group"
        return self.fail(f"expected {what} after {after.text}{found}", cur.col)

    def _primary(self, after: Lexeme | None, fields: tuple[str, ...]) -> Node:
        lex = self.cur
        if lex.kind == "FIELD":
            if lex.value not in FIELDS:
                raise self.fail(f"unknown field {lex.value!r}: expected one of {', '.join(FIELDS)}", lex.col)
            self._take()
            if self.cur.kind not in _STARTS_PRIMARY or self.cur.kind == "FIELD":
                raise self._expected(lex)
            return self._primary(lex, (lex.value,))
        if lex.kind == "(":
            self._take()
            if self.cur.kind == ")":
                raise self.fail("empty group: expected a term inside ( )", self.cur.col)
            inner = self._or()
            if self.cur.kind != ")":
                raise self.fail("unbalanced parentheses: '(' is never closed: expected ')'", lex.col)
            self._take()
            return _refield(inner, fields) if fields != DEFAULT_FIELDS else inner
        if lex.kind in ("TERM", "EXACT", "PHRASE"):
            self._take()
            return self._term(lex, fields)
        if lex.kind == "REGEX":
            self._take()
            return Regex(lex.value, "i" if lex.number else "", fields, lex.col)
        if lex.kind == "ALIAS":
            self._take()
            return self._alias(lex, fields)
        raise self._expected(after)

    def _term(self, lex: Lexeme, fields: tuple[str, ...]) -> Term:
        words = words_of(lex.value)
        if not words:
            raise self.fail(f"empty phrase: expected words between the quotes of {lex.text}", lex.col)
        exact = lex.kind == "EXACT" or lex.exact
        return Term(tuple(_word(w, exact) for w in words), fields, lex.number, lex.kind == "PHRASE", lex.col)

    def _alias(self, lex: Lexeme, fields: tuple[str, ...]) -> Alias:
        entries = self.aliases.get(lex.value)
        if entries is None:
            known = ", ".join("@" + k for k in sorted(self.aliases)) or "none are defined"
            raise self.fail(f"unknown alias @{lex.value}: expected one of the aliases ({known})", lex.col)
        return Alias(lex.value, alias_body(lex.value, entries, fields, lex.col), lex.col)


def _word(text: str, exact: bool) -> Word:
    return Word(text, "x" if exact else "c" if is_case_sensitive(text) else "i")


def alias_body(name: str, entries: Sequence[str], fields: tuple[str, ...], col: int = 0) -> Or:
    """An alias as an OR of its entries; the name itself comes first when it is one word (``@DPRK``)."""
    terms: list[Node] = []
    if WORD_RE.fullmatch(name):
        terms.append(Term((_word(name, False),), fields, col=col))
    for n, entry in enumerate(entries, 1):
        words = words_of(entry) if isinstance(entry, str) else []
        if not words:
            raise QueryError(f"entry {n} ({entry!r}) has no words: expected a word or phrase",
                             field=f"aliases.{name}")
        term = Term(tuple(_word(w, False) for w in words), fields, quoted=len(words) > 1, col=col)
        if term not in terms:
            terms.append(term)
    return Or(tuple(terms))


def _flat(kind: type[And] | type[Or], children: list[Node]) -> Node:
    if len(children) == 1:
        return children[0]
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, kind) else (child,))
    return kind(tuple(flat))


def _refield(node: Node, fields: tuple[str, ...]) -> Node:
    """``title:(a OR "b c")``: the field applies to every term inside, unless one names its own."""
    if isinstance(node, Term | Regex):
        return node if node.fields != DEFAULT_FIELDS else _replace_fields(node, fields)
    if isinstance(node, Alias):
        return Alias(node.name, Or(tuple(_refield(c, fields) for c in node.body.children)), node.col)
    if isinstance(node, And | Or):
        return type(node)(tuple(_refield(c, fields) for c in node.children))
    if isinstance(node, Not):
        return Not(_refield(node.child, fields))
    return Near(_refield(node.left, fields), _refield(node.right, fields), node.distance)


def _replace_fields(node: Term | Regex, fields: tuple[str, ...]) -> Term | Regex:
    if isinstance(node, Term):
        return Term(node.words, fields, node.slop, node.quoted, node.col)
    return Regex(node.pattern, node.flags, fields, node.col)


def parse_query(query: str, *, aliases: Mapping[str, Sequence[str]] | None = None, topic: str | None = None,
                field: str = "query") -> Node:
    """Parse a topic query into its syntax tree. Raises QueryError (naming ``topic``, ``field``, column)."""
    fail = _Fail(topic, field)
    if not isinstance(query, str):
        raise fail("expected a query string", None)
    return _Parser(query, aliases or {}, fail).parse()
