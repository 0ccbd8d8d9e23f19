"""Feeds, sitemaps and listing pages -> Links.

Discovery never fetches: it reads a :class:`~monitor.models.Page` the fetch stage got and returns
the article links it names, with what the feed, sitemap or teaser says of them (title, date,
authors, keywords). Feeds are read by feedparser and sitemaps by defusedxml, both on bytes we
fetched ourselves; listing pages by selectolax.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from .config import SourceConfig
from .errors import DiscoverError
from .models import Link, Page

__all__ = ["ARTICLE_PATH_HINTS", "NOT_ARTICLE_PATHS", "detect_kind", "discover", "site_of"]

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
SITEMAP_NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
              "news": "http://www.google.com/schemas/sitemap-news/0.9"}
MAX_SITEMAP_CHILDREN = 50


def detect_kind(page: Page) -> Kind:
    """feed, sitemap or listing, from the content type and the first bytes."""
    ctype = page.content_type.split(";", 1)[0].strip().lower()
    head = page.text[:2048].lstrip("\ufeff \t\r\n")
    if ctype in ("application/feed+json",) or (head.startswith("{") and "jsonfeed.org" in head):
        return "feed"
    if head.startswith("<?xml") or ctype.endswith("xml") and not ctype.endswith("xhtml+xml"):
        lowered = head.lower()
        if "<urlset" in lowered or "<sitemapindex" in lowered:
            return "sitemap"
        if "<rss" in lowered or "<feed" in lowered or "<rdf:rdf" in lowered:
            return "feed"
        if "<html" not in lowered:
            return "feed"
    return "listing"


def discover(page: Page, source: SourceConfig, *, kind: Kind | None = None,
             now: datetime | None = None) -> tuple[list[Link], list[str]]:
    """Links on a page of the source's kind (detected when not given). Returns (links, child
    sitemap URLs to read next). Raises DiscoverError when the page is not what it claims."""
    kind = kind or source.kind or detect_kind(page)
    if kind == "feed":
        return _feed(page, source), []
    if kind == "sitemap":
        return _sitemap(page, source, now or datetime.now(UTC))
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

def _feed(page: Page, source: SourceConfig) -> list[Link]:
    import feedparser

    parsed: Any = feedparser.parse(page.body or page.text.encode("utf-8"),
                                   response_headers={"content-type": page.content_type or "application/xml",
                                                     "content-location": page.final_url})
    entries = parsed.get("entries") or []
    if not entries and parsed.get("bozo"):
        reason = parsed.get("bozo_exception")
        raise DiscoverError(f"not a readable feed: {reason}", url=page.final_url)
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
    return _dedupe(links)[: source.max_links]


# ---------------------------------------------------------------------------- sitemaps

def _sitemap(page: Page, source: SourceConfig, now: datetime) -> tuple[list[Link], list[str]]:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(page.body or page.text.encode("utf-8"))
    except (DefusedXmlException, SyntaxError, ValueError) as exc:
        raise DiscoverError(f"not a readable sitemap: {exc}", url=page.final_url) from None
    tag = root.tag.rsplit("}", 1)[-1]
    oldest = now - timedelta(seconds=source.max_age)
    if tag == "sitemapindex":
        children = []
        for node in root.iter():
            if node.tag.rsplit("}", 1)[-1] != "sitemap":
                continue
            loc = _child_text(node, "loc")
            lastmod = _parse_w3c(_child_text(node, "lastmod"))
            if loc and (lastmod is None or lastmod >= oldest):
                children.append(urljoin(page.final_url, loc))
        return [], children[:MAX_SITEMAP_CHILDREN]
    if tag != "urlset":
        raise DiscoverError(f"not a sitemap: the root element is <{tag}>", url=page.final_url)
    links = []
    for node in root:
        if node.tag.rsplit("}", 1)[-1] != "url":
            continue
        loc = _child_text(node, "loc")
        if not loc:
            continue
        url = urljoin(page.final_url, loc)
        news = next((c for c in node if c.tag.rsplit("}", 1)[-1] == "news"), None)
        published = _parse_w3c(_child_text(news, "publication_date")) if news is not None else None
        when = published or _parse_w3c(_child_text(node, "lastmod"))
        if when is not None and when < oldest:
            continue
        if not _keep(url, source):
            continue
        title = _child_text(news, "title") if news is not None else None
        keywords = tuple(k.strip() for k in (_child_text(news, "keywords") or "").split(",") if k.strip()) \
            if news is not None else ()
        links.append(Link(url=url, source=source.name, title=title, published=when, keywords=keywords,
                          via=page.final_url))
    links.sort(key=lambda lk: lk.published or datetime.min.replace(tzinfo=UTC), reverse=True)
    return _dedupe(links)[: source.max_links], []


def _child_text(node: Any, name: str) -> str | None:
    if node is None:
        return None
    for child in node.iter():
        if child.tag.rsplit("}", 1)[-1] == name and child.text:
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

def site_of(host: str) -> str:
    """The site a host belongs to, roughly its registered domain (news.cgtn.com -> cgtn.com)."""
    host = host.lower().split(":", 1)[0]
    if re.fullmatch(r"[\d.]+|\[.*\]", host):
        return host
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in ("co", "com", "net", "org", "gov", "ac", "edu"):
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


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
