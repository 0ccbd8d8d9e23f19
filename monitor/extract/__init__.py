"""Extraction: one HTML page -> one :class:`~monitor.models.Article`.

The page is parsed once (selectolax's lexbor parser). Metadata is read from the head and JSON-LD;
the body is walked once into flat arrays (:mod:`.layout`); boilerplate, consent banners and
captions are decided on those arrays (:mod:`.clean`); the main container is found by scoring
blocks (:mod:`.body`); captions and images (:mod:`.media`), authors and dates (:mod:`.byline`,
:mod:`.dates`) and the title (:mod:`.title`) come last. The heuristics are data in
``boilerplate.yaml``. Optional :class:`~monitor.config.SiteRules` CSS selectors override them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..errors import ExtractError
from ..models import Article
from .body import Body, find_body, read_parts
from .byline import article_region, clean_byline, find_authors, split_names, visible_dates
from .clean import Drops, decide_drops, find_consent_banners, find_related_boxes
from .dates import parse_date
from .decode import to_text
from .layout import Layout, build_layout, index_of
from .media import collect_media
from .meta import canonical_url, description, machine_dates, page_language, read_head, site_name, tags
from .title import pick_title, site_words
from .vocab import VOCAB

if TYPE_CHECKING:
    from ..config import SiteRules

__all__ = ["extract", "parse_date"]

log = logging.getLogger(__name__)

WALL_MAX_CHARS = 700  # a page whose body is shorter than this and that says wall words is a wall
SCOPE_CLIMB = 3


def extract(html: str | bytes, url: str | None = None, rules: SiteRules | None = None) -> Article:
    """Extract the article of one page. Raises :class:`ExtractError` for empty or binary input."""
    text = to_text(html, url)
    tree = LexborHTMLParser(text, scripting=True)
    ld_scripts = [s.text() for s in tree.css('script[type="application/ld+json" i]')]
    tree.strip_tags(list(VOCAB.strip_tags))
    if rules is not None:
        for selector in rules.drop:
            for node in _select(tree, selector, url):
                node.decompose()
    root = tree.root
    if root is None:
        raise ExtractError("the page has no document element", url=url)
    lay = build_layout(root)
    head = read_head(lay, tree, ld_scripts)
    drops = decide_drops(lay, find_consent_banners(lay), find_related_boxes(lay))
    site = site_name(head)
    h1_at = [i for i, tag in enumerate(lay.tags) if tag == "h1" and not drops.hard[i]][:5]
    h1s = [lay.text(i) for i in h1_at]
    title = pick_title(head, h1s, site, url)
    heading = next((i for i, text in zip(h1_at, h1s, strict=True) if text == title), -1)
    if rules is not None and rules.title:
        found = _select(tree, rules.title, url)
        if found:
            title = " ".join(found[0].text().split()) or title
    body = _rule_body(tree, lay, drops, rules, url, title) or find_body(lay, drops, title)
    scope = _scope(lay, body)
    base = url or canonical_url(head, None)
    region = article_region(lay, scope, heading)
    captions, images = collect_media(lay, drops, region, base)
    if rules is not None and rules.captions:
        captions = _unique(" ".join(n.text().split()) for n in _select(tree, rules.captions, url))
    authors = find_authors(head, lay, drops, region, site_words(site, url))
    if rules is not None and rules.byline:
        found = _select(tree, rules.byline, url)
        if found:
            authors = split_names(clean_byline(found[0].text())) or authors
    published, modified, tz = machine_dates(head)
    if published is None or modified is None:
        seen_pub, seen_mod = visible_dates(lay, drops, region, tz)
        published = published or seen_pub
        modified = modified or seen_mod
    article = Article(
        url=canonical_url(head, url),
        title=title,
        byline=", ".join(authors),
        authors=authors,
        published=published,
        modified=modified,
        lang=page_language(head),
        site_name=site,
        description=description(head),
        tags=tags(head),
        paragraphs=body.paragraphs,
        captions=captions,
        images=images,
    )
    article.is_consent_wall = _is_wall(lay, drops, article)
    return article


def _select(tree: LexborHTMLParser, selector: str, url: str | None) -> list[LexborNode]:
    try:
        return list(tree.css(selector))
    except (ValueError, SyntaxError) as exc:
        raise ExtractError(f"site rule selector {selector!r} is invalid: {exc}", url=url) from None


def _rule_body(tree: LexborHTMLParser, lay: Layout, drops: Drops, rules: SiteRules | None,
               url: str | None, title: str) -> Body | None:
    if rules is None or not rules.body:
        return None
    index = index_of(lay)
    parts = [index[n.mem_id] for n in _select(tree, rules.body, url) if n.mem_id in index]
    if not parts:
        log.warning("site rule body selector %r matched nothing; using heuristics", rules.body,
                    extra={"url": url})
        return None
    top = [p for p in parts if not any(q != p and lay.contains(q, p) for q in parts)]
    return read_parts(lay, drops, top, title)


def _scope(lay: Layout, body: Body) -> int:
    """The element around all of the body's parts, widened to take in a lead figure between the
    headline and the text (up to the article element, or three levels)."""
    if not len(lay):
        return 0
    node = body.container
    while node > 0 and not all(lay.contains(node, part) for part in body.parts):
        node = lay.parent[node]
    for _ in range(SCOPE_CLIMB):
        if lay.tags[node] == "article" or node <= 0:
            return max(node, 0)
        up = lay.parent[node]
        if up <= 0 or lay.text_len(up) > 1.5 * max(lay.text_len(node), 1) + 400:
            break
        node = up
    return node


def _is_wall(lay: Layout, drops: Drops, article: Article) -> bool:
    size = sum(len(p) for p in article.paragraphs)
    if size >= WALL_MAX_CHARS or not len(lay):
        return False
    if drops.consent and size < WALL_MAX_CHARS / 2:
        return True
    sample = (article.title + " " + lay.text(0, 400)).lower()
    return VOCAB.wall_phrases.search(sample) is not None


def _unique(texts: Iterable[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for text in texts:
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
    return out
