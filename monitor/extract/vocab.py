"""The heuristics of extraction as data: ``boilerplate.yaml`` loaded once into frozen tuples and sets.

Code elsewhere only walks these. :func:`classify` turns an element's class and id into the kinds it
names (boilerplate, content, caption, byline, date, consent), cached per distinct string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["VOCAB", "Kind", "Vocabulary", "classify", "tokens_of"]

_DATA = Path(__file__).with_name("boilerplate.yaml")


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


@dataclass(frozen=True, slots=True)
class Vocabulary:
    strip_tags: tuple[str, ...]
    skip_tags: frozenset[str]
    block_tags: frozenset[str]
    cell_tags: frozenset[str]
    drop_roles: frozenset[str]
    strong_tokens: frozenset[str]
    strong_parts: re.Pattern[str] | None
    weak_tokens: frozenset[str]
    weak_parts: re.Pattern[str] | None
    content_tokens: frozenset[str]
    content_parts: re.Pattern[str] | None
    caption_tokens: frozenset[str]
    caption_parts: re.Pattern[str] | None
    byline_tokens: frozenset[str]
    byline_parts: re.Pattern[str] | None
    date_tokens: frozenset[str]
    date_parts: re.Pattern[str] | None
    consent_parts: re.Pattern[str] | None
    byline_prefixes: tuple[str, ...]
    junk_exact: frozenset[str]
    junk_prefix: tuple[str, ...]
    consent_words: re.Pattern[str]
    consent_buttons: frozenset[str]
    wall_phrases: re.Pattern[str]


def _alternation(words: list[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)))


def _words(words: list[str]) -> re.Pattern[str]:
    """Match any of ``words`` as a phrase (word-bounded at its ends where it starts/ends with a letter)."""
    parts = []
    for w in sorted(set(words), key=len, reverse=True):
        esc = re.escape(w)
        if w[:1].isascii() and w[:1].isalpha():
            esc = r"(?<![a-z])" + esc
        parts.append(esc)
    return re.compile("|".join(parts))


def _load(path: Path) -> Vocabulary:
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    bp, ct, cap = raw["boilerplate"], raw["content"], raw["caption"]
    by, dl, cs, junk = raw["byline"], raw["dateline"], raw["consent"], raw["junk_lines"]
    return Vocabulary(
        strip_tags=tuple(raw["strip_tags"]),
        skip_tags=frozenset(raw["skip_tags"]),
        block_tags=frozenset(raw["block_tags"]),
        cell_tags=frozenset(raw["cell_tags"]),
        drop_roles=frozenset(raw["drop_roles"]),
        strong_tokens=frozenset(bp["strong_tokens"]),
        strong_parts=_alternation(bp["strong_parts"]),
        weak_tokens=frozenset(bp["weak_tokens"]),
        weak_parts=_alternation(bp["weak_parts"]),
        content_tokens=frozenset(ct["tokens"]),
        content_parts=_alternation(ct["parts"]),
        caption_tokens=frozenset(cap["tokens"]),
        caption_parts=_alternation(cap["parts"]),
        byline_tokens=frozenset(by["tokens"]),
        byline_parts=_alternation(by["parts"]),
        date_tokens=frozenset(dl["tokens"]),
        date_parts=_alternation(dl["parts"]),
        consent_parts=_alternation(cs["parts"]),
        byline_prefixes=tuple(sorted(raw["byline_prefixes"], key=len, reverse=True)),
        junk_exact=frozenset(junk["exact"]),
        junk_prefix=tuple(junk["prefix"]),
        consent_words=_words(cs["words"]),
        consent_buttons=frozenset(cs["buttons"]),
        wall_phrases=_words(raw["wall_phrases"]),
    )


VOCAB = _load(_DATA)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")


def tokens_of(names: str) -> frozenset[str]:
    """The words of a class/id string: "news-picture shareBar" -> {news, picture, share, bar, sharebar}."""
    out: set[str] = set()
    for name in names.split():
        low = name.lower()
        out.add(low)
        out.update(t for t in _SPLIT.split(_CAMEL.sub("-", name).lower()) if t)
    return frozenset(out)


def _hit(tokens: frozenset[str], words: frozenset[str], parts: re.Pattern[str] | None, low: str) -> bool:
    if not tokens.isdisjoint(words):
        return True
    return parts is not None and parts.search(low) is not None


@lru_cache(maxsize=4096)
def classify(names: str) -> int:
    """The :class:`Kind` flags of an element whose class and id together read ``names``."""
    if not names:
        return Kind.NONE
    v = VOCAB
    low = names.lower()
    toks = tokens_of(names)
    kind = Kind.NONE
    if _hit(toks, v.strong_tokens, v.strong_parts, low):
        kind |= Kind.STRONG_BOILER
    elif _hit(toks, v.weak_tokens, v.weak_parts, low):
        kind |= Kind.WEAK_BOILER
    if _hit(toks, v.content_tokens, v.content_parts, low):
        kind |= Kind.CONTENT
    if _hit(toks, v.caption_tokens, v.caption_parts, low):
        kind |= Kind.CAPTION
    if _hit(toks, v.byline_tokens, v.byline_parts, low):
        kind |= Kind.BYLINE
    if _hit(toks, v.date_tokens, v.date_parts, low):
        kind |= Kind.DATE
    if v.consent_parts is not None and v.consent_parts.search(low):
        kind |= Kind.CONSENT
    return kind
