"""JSON-LD (schema.org) in ``<script type="application/ld+json">``: the article object and its fields.

Handles ``@graph``, top-level lists, ``mainEntity``/``mainEntityOfPage`` nesting, ``@id`` references
to authors and publishers elsewhere in the graph, and the small syntax slips real pages make
(trailing commas, raw newlines in strings, HTML comments or CDATA around the JSON).
"""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ARTICLE_TYPES", "LinkedData", "read_jsonld"]

log = logging.getLogger(__name__)

ARTICLE_TYPES = frozenset({
    "article", "newsarticle", "reportagenewsarticle", "opinionnewsarticle", "analysisnewsarticle",
    "backgroundnewsarticle", "reviewnewsarticle", "askpublicnewsarticle", "blogposting",
    "liveblogposting", "socialmediaposting", "techarticle", "scholarlyarticle", "report",
    "satiricalarticle", "advertisercontentarticle", "medicalscholarlyarticle", "posting", "review",
})
PAGE_TYPES = frozenset({"webpage", "itempage", "aboutpage", "collectionpage", "medicalwebpage"})
PERSON_TYPES = frozenset({"person"})
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_OPENERS = re.compile(r"(?:<!--|<!\[CDATA\[|//\s*<!\[CDATA\[)\s*")
_CLOSERS = ("-->", "]]>")
MAX_SCRIPT = 400_000
MAX_NODES = 2000


@dataclass(slots=True)
class LinkedData:
    headline: str | None = None
    authors: list[str] = field(default_factory=list)
    organisations: list[str] = field(default_factory=list)
    published: str | None = None
    modified: str | None = None
    publisher: str | None = None
    description: str | None = None
    keywords: list[str] = field(default_factory=list)
    section: str | None = None
    language: str | None = None
    url: str | None = None
    images: list[str] = field(default_factory=list)
    types: set[str] = field(default_factory=set)


def _unwrap(raw: str) -> str:
    """The JSON without an HTML comment or CDATA section around it (looked for at the ends only:
    a pattern searched through the whole block would cost more than parsing it)."""
    raw = raw.strip()
    if raw[:1] in ("<", "/"):
        m = _OPENERS.match(raw)
        if m:
            raw = raw[m.end():]
    if raw.endswith(_CLOSERS):
        raw = raw[:-3].rstrip()
        if raw.endswith("//"):
            raw = raw[:-2].rstrip()
    return raw


def _loads(raw: str) -> Any:
    raw = _unwrap(raw)
    try:
        return json.loads(raw, strict=False)
    except ValueError:
        pass
    try:
        return json.loads(_TRAILING_COMMA.sub(r"\1", raw), strict=False)
    except ValueError:
        log.debug("unreadable JSON-LD block (%d chars)", len(raw))
        return None


def _types(obj: dict[str, Any]) -> set[str]:
    t = obj.get("@type")
    if isinstance(t, str):
        return {t.rsplit("/", 1)[-1].lower()}
    if isinstance(t, list):
        return {x.rsplit("/", 1)[-1].lower() for x in t if isinstance(x, str)}
    return set()


def _walk(data: Any) -> Iterator[dict[str, Any]]:
    """Every dict in the data, breadth first, at most MAX_NODES of them."""
    queue: deque[Any] = deque((data,))
    seen = 0
    while queue and seen < MAX_NODES:
        item = queue.popleft()
        if isinstance(item, list):
            queue.extend(item)
        elif isinstance(item, dict):
            seen += 1
            yield item
            for key in ("@graph", "mainEntity", "mainEntityOfPage", "hasPart", "itemListElement", "item",
                        "about", "subjectOf"):
                child = item.get(key)
                if isinstance(child, dict | list):
                    queue.append(child)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return " ".join(value.split()) or None
    if isinstance(value, list) and value:
        return _text(value[0])
    if isinstance(value, dict):
        return _text(value.get("@value") or value.get("name"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _names(value: Any, ids: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(people, organisations) named by an author/creator value."""
    people: list[str] = []
    orgs: list[str] = []
    items = value if isinstance(value, list) else [value]
    for item in items[:20]:
        if isinstance(item, str):
            if item.strip() and "://" not in item:
                people.append(" ".join(item.split()))
            continue
        if not isinstance(item, dict):
            continue
        if set(item) <= {"@id", "@type"} and isinstance(item.get("@id"), str):
            item = ids.get(item["@id"], item)
        name = _text(item.get("name"))
        if not name:
            given, family = _text(item.get("givenName")), _text(item.get("familyName"))
            name = " ".join(x for x in (given, family) if x) or None
        if not name or "://" in name:
            continue
        if "organization" in _types(item) or "newsmediaorganization" in _types(item):
            orgs.append(name)
        else:
            people.append(name)
    return people, orgs


def _keywords(value: Any) -> list[str]:
    if isinstance(value, str):
        return [k.strip() for k in re.split(r"[,;]", value) if k.strip()]
    if isinstance(value, list):
        return [k for v in value for k in _keywords(v)]
    return []


def _image_urls(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items[:10]:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            url = item.get("url") or item.get("contentUrl")
            if isinstance(url, str):
                out.append(url)
    return out


def read_jsonld(scripts: list[str]) -> LinkedData:
    """The article described by the page's JSON-LD blocks (empty fields when there is none)."""
    objects: list[dict[str, Any]] = []
    for raw in scripts:
        if len(raw) > MAX_SCRIPT:
            continue
        data = _loads(raw)
        if data is not None:
            objects.extend(_walk(data))
    out = LinkedData()
    if not objects:
        return out
    ids = {o["@id"]: o for o in objects if isinstance(o.get("@id"), str)}
    articles = [o for o in objects if _types(o) & ARTICLE_TYPES]
    pages = [o for o in objects if _types(o) & PAGE_TYPES]
    best = next((a for a in articles if a.get("headline")), articles[0] if articles else None)
    if best is None:
        best = next((p for p in pages if p.get("datePublished") or p.get("author")), None)
    if best is None:
        _fill_site(out, objects)
        return out
    out.types = _types(best)
    out.headline = _text(best.get("headline")) or _text(best.get("name"))
    people, orgs = _names(best.get("author") or best.get("creator"), ids)
    out.authors, out.organisations = people, orgs
    out.published = _text(best.get("datePublished")) or _text(best.get("dateCreated"))
    out.modified = _text(best.get("dateModified"))
    publisher = best.get("publisher")
    if isinstance(publisher, dict) and set(publisher) <= {"@id", "@type"}:
        publisher = ids.get(str(publisher.get("@id")), publisher)
    out.publisher = _text(publisher.get("name")) if isinstance(publisher, dict) else _text(publisher)
    out.description = _text(best.get("description"))
    out.keywords = _keywords(best.get("keywords"))
    out.section = _text(best.get("articleSection"))
    out.language = _text(best.get("inLanguage"))
    url = best.get("url") or best.get("mainEntityOfPage")
    if isinstance(url, dict):
        url = url.get("@id") or url.get("url")
    out.url = url if isinstance(url, str) else None
    out.images = _image_urls(best.get("image"))
    if not out.publisher:
        _fill_site(out, objects)
    return out


def _fill_site(out: LinkedData, objects: list[dict[str, Any]]) -> None:
    for o in objects:
        if _types(o) & {"website", "newsmediaorganization", "organization"}:
            name = _text(o.get("name"))
            if name:
                out.publisher = name
                return
