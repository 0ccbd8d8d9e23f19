"""Feeds, sitemaps and listing pages -> Links.

Discovery never fetches: it reads a :class:`~monitor.models.Page` the fetch stage got and returns
the article links it names, with what the feed, sitemap or teaser says of them (title, date,
authors, keywords). Feeds (RSS 0.9x/1.0/2.0, Atom) are read by feedparser and sitemaps by
defusedxml, both on bytes we fetched ourselves (feedparser is handed a stream, so it can neither
fetch a URL nor open a file); JSON Feed by the json module; listing pages by selectolax. XML that
declares entities is refused before any parser expands them (an entity bomb ends as a
DiscoverError, quickly). :func:`advertised` lists the feeds a home page names, for
``monitor discover``.
"""

from __future__ import annotations

import calendar
import io
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from .config import SourceConfig
from .errors import DiscoverError
from .guard import site_of
from .models import Link, Page

__all__ = ["ARTICLE_PATH_HINTS", "FEED_TYPES", "NOT_ARTICLE_PATHS", "Advert", "advertised", "detect_kind",
           "discover", "site_of"]

log = logging.getLogger(__name__)

Kind = Literal["feed", "sitemap", "listing", "page"]

# What an article URL tends to look like, and what a section, tag or pagination URL does (data).
ARTICLE_PATH_HINTS: tuple[re.Pattern[str], ...] = (
    re.compile(r"/(19|20)\d\d[/-]\d{1,2}([/-]\d{1,2})?/"),  # a date in the path
    re.compile(r"/[^/]*\w+-\w+-\w+[^/]*(/|\.html?|$)"),  # a slug of three or more words
    re.compile(r"/\d{5,}(\.html?)?(/|$)"),  # a long numeric id
    re.compile(r"\.s?html?$"),
)
NOT_ARTICLE_PATHS: tuple[re.Pattern[str], ...] = (
    re.compile(r"/(tag|tags|topic|topics|category|categories|section|author|authors|search|page|login|"
               r"signup|subscribe|newsletter|about|about-us|contact|privacy|terms|cookies?|help|faq|"
               r"live|video|videos|photos?|gallery|podcasts?|rss|feed|sitemap)(/|$|\.)", re.IGNORECASE),
    re.compile(r"[?&](page|p|tag|category|keyword|q|s)=", re.IGNORECASE),
    re.compile(r"\.(jpe?g|png|gif|webp|svg|pdf|mp3|mp4|zip|css|js|xml|json)$", re.IGNORECASE),
)
NAV_CONTAINERS = "nav, header, footer, [role=navigation], [role=banner], [role=contentinfo]"
TEASER_CONTAINERS = ("li", "article", "div", "section")
MAX_SITEMAP_CHILDREN = 50
# <link rel="alternate" type=...> values that name a feed (data), with the kind they are.
FEED_TYPES: dict[str, str] = {
    "application/rss+xml": "RSS", "application/atom+xml": "Atom", "application/rdf+xml": "RSS 1.0",
    "application/feed+json": "JSON Feed", "application/json": "JSON Feed", "text/xml": "RSS",
    "application/xml": "RSS",
}
ARTICLE_OG_TYPES = frozenset({"article", "news", "newsarticle", "blog", "blogposting"})
_OG_TYPE = re.compile(r"""<meta\s[^>]*(?:property|name)\s*=\s*["']og:type["'][^>]*>""", re.IGNORECASE)
_CONTENT = re.compile(r"""content\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
JSON_FEED_VERSION = "jsonfeed.org/version/"
XML_ROOTS = ("<rss", "<feed", "<rdf:rdf", "<urlset", "<sitemapindex")  # feeds and sitemaps without a prolog


def detect_kind(page: Page) -> Kind:
    """feed, sitemap, page (an HTML page that says it is an article) or listing, from the content
    type and the first bytes."""
    ctype = page.content_type.split(";", 1)[0].strip().lower()
    head = page.text[:4096].lstrip("\ufeff \t\r\n")
    if ctype == "application/feed+json" or (head.startswith("{") and JSON_FEED_VERSION in head):
        return "feed"
    lowered = head.lower()
    if head.startswith("<?xml") or (ctype.endswith("xml") and ctype != "application/xhtml+xml") \
            or lowered.startswith(XML_ROOTS):
        if "<urlset" in lowered or "<sitemapindex" in lowered:
            return "sitemap"
        if "<rss" in lowered or "<feed" in lowered or "<rdf:rdf" in lowered:
            return "feed"
        if "<html" not in lowered:
            return "feed"
    og = _OG_TYPE.search(page.text[:100_000])
    if og is not None:
        content = _CONTENT.search(og.group(0))
        if content is not None and content.group(1).strip().lower() in ARTICLE_OG_TYPES:
            return "page"
    return "listing"


def discover(page: Page, source: SourceConfig, *, kind: Kind | None = None,
             now: datetime | None = None) -> tuple[list[Link], list[str]]:
    """Links on a page of the source's kind (detected when not given). Returns (links, child
    sitemap URLs to read next). Raises DiscoverError when the page is not what it claims."""
    kind = kind or source.kind or detect_kind(page)
    now = now or datetime.now(UTC)
    if kind == "feed":
        oldest = now - timedelta(seconds=source.max_age)
        return [lk for lk in _feed(page, source) if lk.published is None or lk.published >= oldest], []
    if kind == "sitemap":
        return _sitemap(page, source, now)
    if kind == "page":
        return [Link(url=page.final_url, source=source.name, via=page.url)], []
    return _listing(page, source), []


def _keep(url: str, source: SourceConfig) -> bool:
    if not url.startswith(("http://", "https://")):
        return False
    if source.follow:
        return re.search(source.follow, url) is not None
    return True


# ---------------------------------------------------------------------------- feeds

def _refuse_entities(body: bytes, url: str) -> None:
    """XML that declares entities (the billion-laughs kind, or external ones) is refused before
    any parser expands them. Only the prolog is read: declarations cannot come later."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    try:
        for _event, _elem in iterparse(io.BytesIO(body), events=("start",), forbid_dtd=False,
                                       forbid_entities=True, forbid_external=True):
            return  # the root element: the prolog is behind us
    except DefusedXmlException as exc:
        raise DiscoverError(f"XML that declares entities is refused ({type(exc).__name__})", url=url) from None
    except ParseError:
        return  # malformed XML: feedparser says how, below


def _feed(page: Page, source: SourceConfig) -> list[Link]:
    body = page.body or page.text.encode("utf-8")
    if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return _json_feed(body, page, source)
    import feedparser

    _refuse_entities(body, page.final_url)
    parsed: Any = feedparser.parse(io.BytesIO(body),  # a stream: feedparser neither fetches nor opens files
                                   response_headers={"content-type": page.content_type or "application/xml",
                                                     "content-location": page.final_url})
    entries = parsed.get("entries") or []
    if not entries and parsed.get("bozo"):
        reason = parsed.get("bozo_exception")
        raise DiscoverError(f"not a readable feed: {reason}", url=page.final_url)
    if not entries and not parsed.get("version"):
        raise DiscoverError("not a feed: no RSS, Atom or RDF root element", url=page.final_url)
    links: list[Link] = []
    for entry in entries:
        href = entry.get("link") or next((lk.get("href") for lk in entry.get("links", []) if lk.get("href")), None)
        if not href:
            continue
        url = urljoin(page.final_url, href)
        if not _keep(url, source):
            continue
        when = entry.get("published_parsed") or entry.get("updated_parsed")
        authors = tuple(a.get("name", "") for a in entry.get("authors", []) if a.get("name")) or (
            (entry.get("author"),) if entry.get("author") else ())
        tags = tuple(t.get("term", "") for t in entry.get("tags", []) if t.get("term"))
        links.append(Link(url=url, source=source.name, title=entry.get("title"),
                          published=datetime.fromtimestamp(calendar.timegm(when), UTC) if when else None,
                          authors=authors, keywords=tags, via=page.final_url))
    if not links and parsed.get("bozo"):  # broken, and nothing to follow in what could be read
        raise DiscoverError(f"not a readable feed: {parsed.get('bozo_exception')}", url=page.final_url)
    return _dedupe(links)[: source.max_links]


def _json_feed(body: bytes, page: Page, source: SourceConfig) -> list[Link]:
    """JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), which feedparser 6.0 does not read."""
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DiscoverError(f"not a readable JSON Feed: {exc}", url=page.final_url) from None
    if not isinstance(data, dict) or JSON_FEED_VERSION not in str(data.get("version", "")):
        raise DiscoverError("not a JSON Feed: no jsonfeed.org version", url=page.final_url)
    items = data.get("items")
    if not isinstance(items, list):
        raise DiscoverError("not a readable JSON Feed: 'items' is not a list", url=page.final_url)
    feed_authors = _json_authors(data)
    links: list[Link] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        href = item.get("url") or item.get("external_url")
        if not isinstance(href, str) or not href:
            continue
        url = urljoin(page.final_url, href)
        if not _keep(url, source):
            continue
        when = _parse_w3c(_str(item.get("date_published")) or _str(item.get("date_modified")))
        tags = tuple(t for t in item.get("tags") or () if isinstance(t, str) and t)
        links.append(Link(url=url, source=source.name, title=_str(item.get("title")), published=when,
                          authors=_json_authors(item) or feed_authors, keywords=tags, via=page.final_url))
    return _dedupe(links)[: source.max_links]


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _json_authors(node: dict[str, Any]) -> tuple[str, ...]:
    people: list[Any] = node["authors"] if isinstance(node.get("authors"), list) else [node.get("author")]
    return tuple(p["name"] for p in people if isinstance(p, dict) and isinstance(p.get("name"), str) and p["name"])


# ---------------------------------------------------------------------------- sitemaps

def _sitemap(page: Page, source: SourceConfig, now: datetime) -> tuple[list[Link], list[str]]:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(page.body or page.text.encode("utf-8"), forbid_dtd=False, forbid_entities=True,
                          forbid_external=True)
    except DefusedXmlException as exc:
        raise DiscoverError(f"XML that declares entities is refused ({type(exc).__name__})",
                            url=page.final_url) from None
    except (SyntaxError, ValueError) as exc:
        raise DiscoverError(f"not a readable sitemap: {exc}", url=page.final_url) from None
    tag = _local(root.tag)
    oldest = now - timedelta(seconds=source.max_age)
    if tag == "sitemapindex":
        children: list[tuple[datetime | None, str]] = []
        for node in root:
            if _local(node.tag) != "sitemap":
                continue
            loc = _child_text(node, "loc")
            lastmod = _parse_w3c(_child_text(node, "lastmod"))
            if loc and (lastmod is None or lastmod >= oldest):
                children.append((lastmod, urljoin(page.final_url, loc)))
        # Newest first (an index often lists the oldest first); undated ones after the dated.
        children.sort(key=lambda c: c[0] or datetime.min.replace(tzinfo=UTC), reverse=True)
        return [], list(dict.fromkeys(url for _, url in children))[:MAX_SITEMAP_CHILDREN]
    if tag != "urlset":
        raise DiscoverError(f"not a sitemap: the root element is <{tag}>", url=page.final_url)
    links = []
    for node in root:
        if _local(node.tag) != "url":
            continue
        loc = _child_text(node, "loc")
        if not loc:
            continue
        url = urljoin(page.final_url, loc)
        news = next((c for c in node if _local(c.tag) == "news"), None)
        published = _parse_w3c(_child_text(news, "publication_date", deep=True)) if news is not None else None
        when = published or _parse_w3c(_child_text(node, "lastmod"))
        if when is not None and when < oldest:
            continue
        if not _keep(url, source):
            continue
        title = _child_text(news, "title", deep=True) if news is not None else None
        keywords = tuple(k.strip() for k in (_child_text(news, "keywords", deep=True) or "").split(",")
                         if k.strip()) if news is not None else ()
        links.append(Link(url=url, source=source.name, title=title, published=when, keywords=keywords,
                          via=page.final_url))
    links.sort(key=lambda lk: lk.published or datetime.min.replace(tzinfo=UTC), reverse=True)
    return _dedupe(links)[: source.max_links], []


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _child_text(node: Any, name: str, *, deep: bool = False) -> str | None:
    """The text of the child element ``name`` (any namespace); ``deep`` looks at descendants (the
    news:publication block), otherwise only direct children (so an image:loc is not the loc)."""
    if node is None:
        return None
    for child in node.iter() if deep else node:
        if _local(child.tag) == name and child.text and child.text.strip():
            return str(child.text).strip()
    return None


def _parse_w3c(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------- listing pages

def _listing(page: Page, source: SourceConfig) -> list[Link]:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(page.text)
    base = page.final_url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        base = urljoin(base, base_node.attributes.get("href") or "")
    if source.links:
        anchors = tree.css(source.links)
        anchors = [a if a.tag == "a" else (a.css_first("a[href]") or a) for a in anchors]
    else:
        for node in tree.css(NAV_CONTAINERS):
            node.decompose()
        anchors = tree.css("a[href]")
    site = site_of(urlsplit(base).netloc)
    page_url = page.final_url.split("#", 1)[0]
    links = []
    for a in anchors:
        href = (a.attributes.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
            continue
        url = urljoin(base, href).split("#", 1)[0]
        if url == page_url or not _keep(url, source):
            continue
        if not source.follow and not source.links and not _article_like(url, site):
            continue
        title = " ".join(a.text(separator=" ").split()) or None
        links.append(Link(url=url, source=source.name, title=title, published=_teaser_date(a), via=page.url))
    return _dedupe(links)[: source.max_links]


def _article_like(url: str, site: str) -> bool:
    parts = urlsplit(url)
    if site_of(parts.netloc) != site:
        return False
    path_q = parts.path + ("?" + parts.query if parts.query else "")
    if any(p.search(path_q) for p in NOT_ARTICLE_PATHS):
        return False
    return any(p.search(parts.path) for p in ARTICLE_PATH_HINTS)


_DATE_HINT = re.compile(r"\d{1,2}:\d{2}|\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{1,2}-[A-Z][a-z]{2}-\d{4}|"
                        r"[A-Z][a-z]{2,8}\.? \d{1,2}, \d{4}")


def _teaser_date(anchor: Any) -> datetime | None:
    """A date printed next to a teaser link ("13:34, 30-Dec-2025"), from the nearest container."""
    node = anchor
    for _ in range(3):
        node = node.parent
        if node is None or node.tag not in TEASER_CONTAINERS:
            break
        time_node = node.css_first("time[datetime]")
        candidates = [time_node.attributes.get("datetime") or ""] if time_node is not None else []
        text = node.text(separator="\n")
        if len(text) > 2000:
            break
        candidates += [line.strip() for line in text.split("\n") if _DATE_HINT.search(line)]
        for candidate in candidates:
            when = _parse_any_date(candidate)
            if when is not None:
                return when
    return None


def _parse_any_date(text: str) -> datetime | None:
    try:
        from .extract.dates import parse_date
    except ImportError:  # pragma: no cover - the extractor ships with the package
        return _parse_w3c(text)
    return parse_date(text)


def _dedupe(links: Iterable[Link]) -> list[Link]:
    seen: set[str] = set()
    out = []
    for link in links:
        if link.url not in seen:
            seen.add(link.url)
            out.append(link)
    return out


# ---------------------------------------------------------------------------- what a site advertises

@dataclass(frozen=True, slots=True)
class Advert:
    """A feed or sitemap a site names: ``<link rel="alternate">`` or a robots.txt ``Sitemap:`` line."""

    url: str
    kind: Literal["feed", "sitemap"]
    title: str | None = None
    format: str | None = None  # RSS, Atom, JSON Feed...
    found_in: str = ""  # where it was named


def advertised(page: Page) -> list[Advert]:
    """The feeds a home page names in its ``<head>`` (``<link rel="alternate" type="...rss+xml">``
    and the like), in page order, without repeats."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(page.text)
    base = page.final_url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        base = urljoin(base, base_node.attributes.get("href") or "")
    out: list[Advert] = []
    seen: set[str] = set()
    for node in tree.css("link[rel][href]"):
        rels = (node.attributes.get("rel") or "").lower().split()
        kind = (node.attributes.get("type") or "").split(";", 1)[0].strip().lower()
        if "alternate" not in rels or kind not in FEED_TYPES:
            continue
        url = urljoin(base, (node.attributes.get("href") or "").strip())
        if not url.startswith(("http://", "https://")) or url in seen:
            continue
        seen.add(url)
        title = " ".join((node.attributes.get("title") or "").split()) or None
        out.append(Advert(url, "feed", title, FEED_TYPES[kind], found_in=page.final_url))
    return out
