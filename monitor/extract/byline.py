"""Authors and visible dates.

Authors come from JSON-LD, then ``<meta name=author>`` and its kin, then microdata
``itemprop=author``, then ``rel=author`` links, then the visible byline: a short element whose
class says byline/author/writer, or a short line that starts "By ..." (or "Par", "Von", "Por"...) or
reads "CGTN's Jane Doe". Visible date lines ("Updated 16:25, 03-Jan-2026") fill in dates that
no machine-readable source gave, in the page's own time zone when it states one elsewhere.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from .clean import Drops
from .dates import parse_date
from .layout import Layout
from .meta import AUTHOR_KEYS, HeadMeta, is_name
from .vocab import VOCAB, Kind

__all__ = ["article_region", "clean_byline", "find_authors", "split_names", "strip_byline_lines", "visible_dates"]

MAX_BYLINE_CHARS = 160
SEARCH_ELEMENTS = 4000  # how far into the page visible bylines and dates are looked for
_SPLIT = re.compile(r"\s*(?:,|;|\||/|&|\(|\)|\band\b|\bavec\b|\bcon\b|\bund\b|\bet\b|\by\b|\be\b|\bi\b|\bmit\b|\bwith\b|、|，|和)\s*",
                    re.I)
_PREFIX = re.compile(
    r"^\s*(?:" + "|".join(re.escape(p) for p in VOCAB.byline_prefixes) + r")(?:\s*[:：]\s*|\s+)(?=\S)", re.I)
_POSSESSIVE = re.compile(r"^([A-Z][\w&.-]{1,20})(?:'s|’s)\s+((?:[A-Z][\w'’.-]+\s?){2,4})\s*$")
_TRAILER = re.compile(
    r"\s*(?:[|•·–—-]\s*|\b(?:updated|published|posted|last updated|on)\b[:\s]*)?"
    r"(?:\d{1,2}[:.]\d{2}|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|(?:mon|tue|wed|thu|fri|sat|sun)(?:day|sday|nesday|rsday|urday)?\b[.,]|"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d).*$", re.I)
_SEPARATOR = re.compile(r"\s+[|•·—–]\s+")
_URL = re.compile(r"\(?\s*(?:https?://|www\.)\S*\s*\)?")
_NAME_CHARS = re.compile(r"[^\W\d_]", re.UNICODE)
# "(R.J.)" or "(Bill)" between a given name and a capitalised surname: part of the name
_NICKNAME = re.compile(r"(\w\s)\(([^()]{1,24})\)(?=\s[A-Z\u00c0-\u024f])")
_OPEN, _CLOSE = "\ue000", "\ue001"  # brackets kept out of the split while names are split
_NOISE = frozenset({"staff", "admin", "administrator", "editor", "editors", "guest", "unknown", "anonymous",
                    "follow", "author", "authors", "by", "more", "view profile", "contributor"})


def split_names(text: str) -> list[str]:
    """"Jane Doe and John Roe" -> ["Jane Doe", "John Roe"]; "Doe, Jane" stays one name, and so does
    "Richard (R.J.) Eskow" (a nickname or initials between given name and surname); "Jane Doe
    (Reuters)" is two."""
    text = " ".join(text.split())
    if "(" in text:
        text = _NICKNAME.sub(lambda m: f"{m.group(1)}{_OPEN}{m.group(2)}{_CLOSE}", text)
    parts = [p.strip(" .,-–—").replace(_OPEN, "(").replace(_CLOSE, ")")
             for p in _SPLIT.split(text) if p and p.strip(" .,-–—")]
    if len(parts) > 1 and "," in text and not re.search(r"\band\b|&|;|\|", text, re.I):
        if any(len(p.split()) == 1 for p in parts):
            return [text.strip(" .,")]
    return parts


def clean_byline(text: str) -> str:
    """A visible byline without its "By", its date and its trailing furniture."""
    text = " ".join(text.split())
    for _ in range(2):
        text = _PREFIX.sub("", text)
    m = _SEPARATOR.search(text)
    if m and any(c.isdigit() for c in text[m.end():]):
        text = text[:m.start()]  # "Jane Doe | 3 février 2026"
    text = _TRAILER.sub("", text)
    words = text.split()
    while words and any(c.isdigit() for c in words[-1]):
        words.pop()  # "Lucas Nolan 22" (a date split over elements)
    return " ".join(words).strip(" |•·–—-:,")


def _good(name: str) -> bool:
    """A person's or an organisation's name: letters, at most six words, no digits (a handle such
    as "CC7567" or a date is not a name)."""
    low = name.lower()
    return (is_name(name) and low not in _NOISE and bool(_NAME_CHARS.search(name))
            and len(name.split()) <= 6 and not low.startswith(("http", "www"))
            and not any(c.isdigit() for c in name))


def _names(values: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        value = _URL.sub("", value).strip()
        if not is_name(value):
            continue
        for name in split_names(clean_byline(value)):
            if _good(name) and name.lower() not in seen:
                seen.add(name.lower())
                out.append(name)
    return out


def find_authors(head: HeadMeta, lay: Layout, drops: Drops, region: tuple[int, int],
                 site_words: set[str]) -> list[str]:
    """Authors, best source first (see the module docstring)."""
    for source in (head.ld.authors, head.ld.organisations, head.all(AUTHOR_KEYS)):
        names = _names(source)
        if names:
            return names
    visible = _visible_byline(lay, drops, region, site_words)
    if visible:
        return visible
    micro = head.microdata()
    return _names(micro.itemprop_authors) or _names(micro.rel_authors)


def _visible_byline(lay: Layout, drops: Drops, region: tuple[int, int], site_words: set[str]) -> list[str]:
    """The first byline in the article region: an element whose class says byline/author, that
    microdata or ``rel=author`` marks, or a short line reading "By ..." or "CGTN's Jane Doe"."""
    i, stop = region
    while i < stop:
        if drops.hard[i]:
            i = lay.end[i]
            continue
        size = lay.text_len(i)
        if 0 < size <= MAX_BYLINE_CHARS and (
                (lay.kind[i] and lay.kind_of(i) & Kind.BYLINE) or _marked_author(lay.attrs[i])):
            names = _names([lay.spaced_text(i)])
            if names:
                return names
            i = lay.end[i]
            continue
        if lay.block[i] == i and 0 < size <= MAX_BYLINE_CHARS and i + 1 >= lay.end[i] - 3:
            text = lay.text(i)
            m = _POSSESSIVE.match(text)
            if m and m.group(1).lower() in site_words:
                return [m.group(2).strip()]
            if _PREFIX.match(text) and text[:1].isalpha():
                names = _names([text])
                if names and all(n[:1].isupper() or not n[:1].isascii() for n in names):
                    return names
        i += 1
    return []


def strip_byline_lines(paragraphs: list[str], authors: list[str], site_words: set[str]) -> list[str]:
    """The body without its byline line ("By Jane Doe", "CGTN's Li Wen") at the top or the end."""
    if not authors or not paragraphs:
        return paragraphs
    names = [a.lower() for a in authors]
    last = len(paragraphs) - 2
    out = []
    for k, text in enumerate(paragraphs):
        if (k < 3 or k >= last) and len(text) <= MAX_BYLINE_CHARS and _is_byline_line(text, names, site_words):
            continue
        out.append(text)
    return out


def _is_byline_line(text: str, names: list[str], site_words: set[str]) -> bool:
    low = text.lower()
    if not any(name in low for name in names):
        return False
    m = _POSSESSIVE.match(text)
    if m and m.group(1).lower() in site_words:
        return True
    if _PREFIX.match(text):
        return True
    return clean_byline(text).lower() in (", ".join(names), " and ".join(names))


def _marked_author(attrs: dict[str, str | None]) -> bool:
    """Microdata or a link says so: itemprop=author/creator, rel=author."""
    prop = attrs.get("itemprop")
    if prop and ("author" in prop.lower() or "creator" in prop.lower()):
        return True
    rel = attrs.get("rel")
    return bool(rel and "author" in rel.lower())


def article_region(lay: Layout, scope: int, heading: int) -> tuple[int, int]:
    """Where bylines and date lines are looked for: from the headline (or the article element
    around the body) to the end of the body's surroundings."""
    start = scope
    node = scope
    for _ in range(3):
        if node <= 0:
            break
        node = lay.parent[node]
        start = max(node, 0)
        if lay.tags[node] == "article":
            break
    if 0 <= heading < start and start - heading < SEARCH_ELEMENTS:
        start = heading
    stop = min(max(lay.end[start], lay.end[scope]), start + SEARCH_ELEMENTS)
    return start, stop


def visible_dates(lay: Layout, drops: Drops, region: tuple[int, int],
                  tz: tzinfo | None) -> tuple[datetime | None, datetime | None]:
    """(published, modified) from date lines near the article ("Updated 16:25, 03-Jan-2026")."""
    start, stop = region
    published: datetime | None = None
    modified: datetime | None = None
    i = start
    while i < stop:
        if drops.hard[i]:
            i = lay.end[i]
            continue
        size = lay.text_len(i)
        if 0 < size <= 120 and (lay.tags[i] == "time" or (lay.kind[i] and lay.kind_of(i) & Kind.DATE)):
            text = lay.text(i)
            when = parse_date(text, tz)
            if when is not None:
                if re.search(r"updat|modif|aktualisiert|mis à jour|actualiz|aggiorn", text, re.I):
                    modified = modified or when
                else:
                    published = published or when
                i = lay.end[i]
                continue
        i += 1
        if published and modified:
            break
    return published, modified
