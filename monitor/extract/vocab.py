"""The heuristics of extraction as data: ``boilerplate.yaml`` loaded once into frozen sets and tables.

Code elsewhere only walks these. :func:`classify` turns an element's class or id into the kinds it
names (boilerplate, content, caption, byline, date, consent). A word of a "tokens" list matches a
whole word of the name ("share" in "share-bar", "shareBar"); a word of a "parts" list also matches
the start or end of one ("sharebar" and "socialshare" hold "share"). Results are cached per name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["VOCAB", "Kind", "Vocabulary", "classify"]

_DATA = Path(__file__).with_name("boilerplate.yaml")
MIN_STEM = 4  # shorter "parts" only match whole words ("ad" must not match "head")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")


class Kind:
    """Bit flags for what an element's class and id say it is."""

    NONE = 0
    STRONG_BOILER = 1
    WEAK_BOILER = 2
    CONTENT = 4
    CAPTION = 8
    BYLINE = 16
    DATE = 32
    CONSENT = 64
    CREDIT = 128
    SUMMARY = 256


@dataclass(frozen=True, slots=True)
class Vocabulary:
    skip_tags: frozenset[str]
    prune_tags: frozenset[str]
    block_tags: frozenset[str]
    drop_roles: frozenset[str]
    words: dict[str, int]  # whole word -> Kind flags
    exact: dict[str, int]  # whole class name or id -> Kind flags
    stems: dict[str, int]  # start or end of a word -> Kind flags
    byline_prefixes: tuple[str, ...]
    junk_exact: frozenset[str]
    junk_prefix: tuple[str, ...]
    related_headings: frozenset[str]
    consent_words: re.Pattern[str]
    consent_buttons: frozenset[str]
    wall_phrases: re.Pattern[str]
    credit_labels: tuple[str, ...]  # longest first
    bare_credits: frozenset[str]


def _phrases(words: list[str]) -> re.Pattern[str]:
    """Match any of ``words``; those starting with a Latin letter only at the start of a word."""
    parts = []
    for w in sorted(set(words), key=len, reverse=True):
        esc = re.escape(w)
        if w[:1].isascii() and w[:1].isalpha():
            esc = r"(?<![a-z])" + esc
        parts.append(esc)
    return re.compile("|".join(parts))


def _tables(groups: list[tuple[dict[str, list[str]], int]]
            ) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    words: dict[str, int] = {}
    stems: dict[str, int] = {}
    exact: dict[str, int] = {}
    for group, kind in groups:
        for word in group.get("names") or []:
            exact[word] = exact.get(word, 0) | kind
        for word in group.get("tokens") or group.get("strong_tokens") or []:
            words[word] = words.get(word, 0) | kind
        for word in group.get("parts") or []:
            bare = "".join(_SPLIT.split(word.lower()))
            for w in {word, bare}:
                words[w] = words.get(w, 0) | kind
            if len(bare) >= MIN_STEM:
                stems[bare] = stems.get(bare, 0) | kind
    return words, stems, exact


def _load(path: Path) -> Vocabulary:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: 6x quicker start
    raw: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    bp, cs, junk = raw["boilerplate"], raw["consent"], raw["junk_lines"]
    words, stems, exact = _tables([
        ({"tokens": bp["strong_tokens"], "parts": bp["strong_parts"]}, Kind.STRONG_BOILER),
        ({"tokens": bp["weak_tokens"], "parts": bp["weak_parts"]}, Kind.WEAK_BOILER),
        (raw["content"], Kind.CONTENT),
        (raw["caption"], Kind.CAPTION),
        (raw["credit"], Kind.CREDIT),
        (raw["summary"], Kind.SUMMARY),
        (raw["byline"], Kind.BYLINE),
        (raw["dateline"], Kind.DATE),
        ({"parts": cs["parts"]}, Kind.CONSENT),
    ])
    return Vocabulary(
        skip_tags=frozenset(raw["skip_tags"]),
        prune_tags=frozenset(raw["prune_tags"]),
        block_tags=frozenset(raw["block_tags"]),
        drop_roles=frozenset(raw["drop_roles"]),
        words=words,
        stems=stems,
        exact=exact,
        byline_prefixes=tuple(sorted(raw["byline_prefixes"], key=len, reverse=True)),
        junk_exact=frozenset(junk["exact"]),
        junk_prefix=tuple(junk["prefix"]),
        related_headings=frozenset(raw["related_headings"]),
        consent_words=_phrases(cs["words"]),
        consent_buttons=frozenset(cs["buttons"]),
        wall_phrases=_phrases(raw["wall_phrases"]),
        credit_labels=tuple(sorted(raw["credit_labels"], key=len, reverse=True)),
        bare_credits=frozenset(raw["bare_credits"]),
    )


VOCAB = _load(_DATA)
_CACHE: dict[str, int] = {}
_CACHE_LIMIT = 50_000


def _index(stems: dict[str, int], cut: slice) -> dict[str, tuple[tuple[str, int], ...]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for stem, kind in stems.items():
        out.setdefault(stem[cut], []).append((stem, kind))
    return {key: tuple(value) for key, value in out.items()}


# stems by their first and by their last MIN_STEM letters: a word is checked against a handful
_BY_HEAD = _index(VOCAB.stems, slice(None, MIN_STEM))
_BY_TAIL = _index(VOCAB.stems, slice(-MIN_STEM, None))


def _stem_hit(word: str) -> int:
    kind = 0
    for stem, k in _BY_HEAD.get(word[:MIN_STEM], ()):
        if word.startswith(stem):
            kind |= k
    for stem, k in _BY_TAIL.get(word[-MIN_STEM:], ()):
        if word.endswith(stem):
            kind |= k
    return kind


_WORDS = VOCAB.words
_EXACT = VOCAB.exact
_TOKEN_CACHE: dict[str, int] = {}
# the first token of a pair or triple that can spell a word ("article" of "article-body")
_STARTS = frozenset(w[:k] for w in _WORDS for k in range(1, len(w)))
_TOKEN = re.compile(r"[a-z0-9]+")


def _token_kind(token: str) -> int:
    """A whole word of a name: the word itself, or a stem at its start or end."""
    kind = _TOKEN_CACHE.get(token)
    if kind is None:
        kind = _WORDS.get(token, 0)
        if len(token) > MIN_STEM:
            kind |= _stem_hit(token)
        if len(_TOKEN_CACHE) > _CACHE_LIMIT:
            _TOKEN_CACHE.clear()
        _TOKEN_CACHE[token] = kind
    return kind


def _name_kind(name: str) -> int:
    kind = _CACHE.get(name)
    if kind is not None:
        return kind
    low = name.lower()
    kind = _WORDS.get(low, 0) | _EXACT.get(low, 0)
    if low == name and low.isalnum():
        if len(low) > MIN_STEM:
            kind |= _stem_hit(low)
    else:
        tokens = _TOKEN.findall(_CAMEL.sub("-", name).lower() if low != name else low)
        known = _TOKEN_CACHE.get
        for token in tokens:
            k = known(token)
            kind |= _token_kind(token) if k is None else k
        n = len(tokens)
        if n > 1:
            # parts written with separators: "l-article-body-segment" holds "article-body"
            starts, words = _STARTS, _WORDS
            for k in range(n - 1):
                first = tokens[k]
                if first in starts:
                    pair = first + tokens[k + 1]
                    kind |= words.get(pair, 0)
                    if k + 2 < n and pair in starts:
                        kind |= words.get(pair + tokens[k + 2], 0)
            joined = "".join(tokens)
            kind |= _WORDS.get(joined, 0)
            for stem, k in _BY_HEAD.get(joined[:MIN_STEM], ()):
                if joined.startswith(stem):
                    kind |= k
            for stem, k in _BY_TAIL.get(joined[-MIN_STEM:], ()):
                if joined.endswith(stem):
                    kind |= k
    if len(_CACHE) > _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[name] = kind
    return kind


def classify(names: str) -> int:
    """The :class:`Kind` flags of an element whose class (or id) reads ``names``.

    A strong boilerplate word outweighs a weak one (the weak flag is then dropped)."""
    kind = 0
    for name in names.split():
        kind |= _name_kind(name)
    if kind & Kind.STRONG_BOILER:
        kind &= ~Kind.WEAK_BOILER
    return kind
