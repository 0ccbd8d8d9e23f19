"""Page metadata: ``<meta>`` (OpenGraph, Twitter, Dublin Core, article:*, parsely, sailthru),
``<link rel=canonical>``, ``<html lang>``, ``<title>``, JSON-LD, microdata ``itemprop`` and ``<time>``.

:func:`read_head` reads everything once, before the tree is cleaned; the ``pick_*`` functions then
choose among the sources, best first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .dates import parse_date
from .jsonld import LinkedData, read_jsonld
from .layout import Layout

__all__ = ["HeadMeta", "read_head"]

# Meta keys, best first, for each field.
TITLE_KEYS = ("dc:title", "dcterm:title", "dcterms:title", "dc.title", "dcterms.title", "og:title",
              "twitter:title", "parsely-title", "sailthru.title", "title", "headline")
AUTHOR_KEYS = ("dc:creator", "dcterm:creator", "dcterms:creator", "dc.creator", "dcterms.creator", "author",
               "article:author", "og:article:author", "parsely-author", "sailthru.author", "byl", "byline", "creator",
               "citation_author", "article:author_name", "cxenseparse:author", "dc.contributor")
PUBLISHED_KEYS = ("article:published_time", "og:article:published_time", "published_time",
                  "datepublished", "parsely-pub-date", "sailthru.date", "dc.date.issued", "dc.date",
                  "dcterms.date", "dcterms.created", "date", "pubdate", "publishdate", "publish-date",
                  "article.published", "citation_publication_date", "cxenseparse:recs:publishtime",
                  "og:published_time", "published-date", "article:published", "displaydate",
                  "originalpublicationdate", "dc.date.created", "publication_date", "release_date")
MODIFIED_KEYS = ("article:modified_time", "og:updated_time", "article:modified", "datemodified",
                 "dcterms.modified", "dc.date.modified", "lastmod", "last-modified", "modified_time",
                 "og:article:modified_time", "revised", "updated_time")
SITE_KEYS = ("og:site_name", "application-name", "al:android:app_name", "al:ios:app_name",
             "twitter:site", "publisher", "dc.publisher", "copyright")
DESCRIPTION_KEYS = ("og:description", "description", "twitter:description", "dc.description",
                    "dcterms.description")
TAG_KEYS = ("article:tag", "news_keywords", "keywords", "parsely-tags", "sailthru.tags", "og:article:tag")
LANG_KEYS = ("content-language", "og:locale", "language", "dc.language", "lang")

MICRODATA = '[itemprop~="author" i], [itemprop~="creator" i], [itemprop~="datePublished" i], ' \
    '[itemprop~="dateModified" i], a[rel~="author" i], time'
MAX_MICRODATA = 200
_NOT_A_NAME = re.compile(r"https?://|www\.|^@|@\w+\.|\.(?:php|html?|aspx?)\b|[?=]|^\W*$")


@dataclass(slots=True)
class Microdata:
    itemprop_authors: list[str] = field(default_factory=list)
    rel_authors: list[str] = field(default_factory=list)
    times: list[tuple[str, str]] = field(default_factory=list)  # (datetime attribute, text) of <time>
    itemprop_dates: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class HeadMeta:
    meta: dict[str, list[str]] = field(default_factory=dict)
    title_tag: str | None = None
    canonical: str | None = None
    html_lang: str | None = None
    ld: LinkedData = field(default_factory=LinkedData)
    tree: LexborHTMLParser | None = None
    _micro: Microdata | None = None

    def microdata(self) -> Microdata:
        """Microdata, ``rel=author`` and ``<time>``, read (once) only when the head did not say."""
        if self._micro is None:
            self._micro = Microdata()
            if self.tree is not None:
                for node in self.tree.css(MICRODATA)[:MAX_MICRODATA]:
                    _microdata(self._micro, node)
        return self._micro

    def first(self, keys: tuple[str, ...]) -> str | None:
        for key in keys:
            for value in self.meta.get(key, ()):
                if value:
                    return value
        return None

    def all(self, keys: tuple[str, ...]) -> list[str]:
        return [v for key in keys for v in self.meta.get(key, ()) if v]


def read_head(lay: Layout, tree: LexborHTMLParser, ld_scripts: list[str]) -> HeadMeta:
    """The metadata gathered on the layout walk, the page's JSON-LD blocks, and microdata
    (``itemprop``), ``rel=author`` links and ``<time>`` elements wherever they sit."""
    out = HeadMeta()
    meta = out.meta
    for attrs in lay.metas:
        content = attrs.get("content")
        if content is None:
            continue
        content = " ".join(content.split())
        for attr in ("property", "name", "itemprop", "http-equiv"):
            key = attrs.get(attr)
            if key:
                for k in key.lower().split():
                    meta.setdefault(k, []).append(content)
    out.title_tag = lay.title or None
    for attrs in lay.links:
        rel = (attrs.get("rel") or "").lower().split()
        if "canonical" in rel and not out.canonical and attrs.get("href"):
            out.canonical = (attrs.get("href") or "").strip()
    out.html_lang = lay.html_lang
    out.ld = read_jsonld(ld_scripts)
    out.tree = tree
    return out


def _microdata(out: Microdata, node: LexborNode) -> None:
    attrs = node.attributes
    tag = node.tag
    if tag == "time":
        if len(out.times) < 20:
            out.times.append((attrs.get("datetime") or "", " ".join(node.text().split())))
        if not attrs.get("itemprop"):
            return
    if tag == "a" and "author" in (attrs.get("rel") or "").lower().split():
        value = " ".join(node.text().split())
        if value and len(value) < 80:
            out.rel_authors.append(value)
        return
    words = (attrs.get("itemprop") or "").lower().split()
    if "author" in words or "creator" in words:
        name = node.css_first('[itemprop~="name"]')
        found = (name.attributes.get("content") or name.text()) if name is not None else None
        value = " ".join((found or attrs.get("content") or node.text()).split())
        if value and len(value) < 80 and value not in out.itemprop_authors:
            out.itemprop_authors.append(value)
    elif ("datepublished" in words or "datemodified" in words) and tag != "meta":
        key = "datemodified" if "datemodified" in words else "datepublished"
        value = attrs.get("datetime") or attrs.get("content") or node.text()
        out.itemprop_dates.setdefault(key, value or "")


def canonical_url(head: HeadMeta, url: str | None) -> str | None:
    """``<link rel=canonical>``, then og:url, then the URL given; relative ones resolved against it."""
    for candidate in (head.canonical, head.first(("og:url",)), url):
        if not candidate:
            continue
        candidate = candidate.strip()
        if candidate.startswith(("https://", "http://")) and " " not in candidate:
            return candidate  # absolute already (joining would return it as it is)
        resolved = urljoin(url, candidate) if url else candidate
        if urlsplit(resolved).scheme in ("http", "https"):
            return resolved
    return url


def is_name(value: str) -> bool:
    return bool(value) and len(value) <= 100 and not _NOT_A_NAME.search(value)


def page_language(head: HeadMeta) -> str | None:
    for value in (head.html_lang, head.ld.language, head.first(LANG_KEYS)):
        if value:
            value = value.strip().replace("_", "-")
            if 2 <= len(value) <= 20 and re.fullmatch(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*", value):
                return value
    return None


def site_name(head: HeadMeta) -> str | None:
    value = head.first(("og:site_name",)) or head.ld.publisher or head.first(SITE_KEYS)
    if value and value.startswith("@"):
        value = value[1:]
    return value or None


def description(head: HeadMeta) -> str | None:
    return head.first(DESCRIPTION_KEYS) or head.ld.description


def tags(head: HeadMeta) -> list[str]:
    seen: dict[str, str] = {}
    values = head.meta.get("article:tag") or head.ld.keywords or head.all(TAG_KEYS)
    for value in values:
        for tag in re.split(r"[,;]", value) if "," in value or ";" in value else [value]:
            tag = " ".join(tag.split())
            if tag and len(tag) < 80 and tag.lower() not in seen:
                seen[tag.lower()] = tag
    return list(seen.values())[:50]


def machine_dates(head: HeadMeta) -> tuple[datetime | None, datetime | None, tzinfo | None]:
    """(published, modified, the page's own time zone) from JSON-LD, meta, itemprop and <time>."""
    pub_raw = head.ld.published or head.first(PUBLISHED_KEYS)
    mod_raw = head.ld.modified or head.first(MODIFIED_KEYS)
    time_attrs: list[str] = []
    if not pub_raw:
        micro = head.microdata()
        pub_raw = micro.itemprop_dates.get("datepublished")
        mod_raw = mod_raw or micro.itemprop_dates.get("datemodified")
        time_attrs = [a for a, _ in micro.times if a]
        if not pub_raw and time_attrs:
            pub_raw = time_attrs[0]
    tz = None
    for raw in (pub_raw, mod_raw, *time_attrs):
        parsed = parse_date(raw) if raw else None
        if parsed is not None and _has_offset(raw or ""):
            tz = parsed.tzinfo
            break
    published = parse_date(pub_raw, tz) if pub_raw else None
    modified = parse_date(mod_raw, tz) if mod_raw else None
    return published, modified, tz


_OFFSET_AT_END = re.compile(r"(?:Z|[+-]\d{2}:?\d{2}|GMT|UTC|[+-]\d{2})\s*$", re.I)


def _has_offset(raw: str) -> bool:
    return bool(_OFFSET_AT_END.search(raw.strip()))
