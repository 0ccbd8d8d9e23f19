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
from typing import TYPE_CHECKING

from selectolax.lexbor import LexborHTMLParser

from ..errors import ExtractError
from ..models import Article
from .body import Body, find_body, read_parts
from .byline import (
    article_region,
    clean_byline,
    find_authors,
    split_names,
    strip_byline_lines,
    visible_dates,
)
from .clean import Drops, decide_drops, find_consent_banners, find_related_boxes
from .dates import parse_date
from .decode import to_text
from .guard import defuse
from .layout import Layout, build_layout
from .media import collect_media
from .meta import canonical_url, description, machine_dates, page_language, read_head, site_name, tags
from .rules import apply_drops, mark, rule_body, rule_text, rule_texts
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
    text = defuse(to_text(html, url), url)
    tree = LexborHTMLParser(text, scripting=True)
    apply_drops(tree, rules, url)
    root = tree.root
    if root is None:
        raise ExtractError("the page has no document element", url=url)
    lay = build_layout(root, marked=mark(tree, rules, url))
    scripts = lay.ld_scripts or tree.css('script[type="application/ld+json" i]')
    head = read_head(lay, tree, [node.text() for node in scripts])
    drops = decide_drops(lay, find_consent_banners(lay), find_related_boxes(lay))
    site = site_name(head)
    words = site_words(site, url)
    h1_at = [i for i in lay.h1s if not drops.hard[i]][:5]
    h1s = [lay.text(i) for i in h1_at]
    title = pick_title(head, h1s, words)
    heading = next((i for i, text in zip(h1_at, h1s, strict=True) if text == title), -1)
    title = rule_text(tree, rules.title if rules else None, url) or title
    parts = rule_body(lay)
    summary = description(head)
    body = read_parts(lay, drops, parts, title, summary) if parts else find_body(lay, drops, title, summary)
    scope = _scope(lay, body)
    region = article_region(lay, scope, heading)
    captions, images = collect_media(lay, drops, *_media_spans(lay, region, scope, body, heading),
                                     url or canonical_url(head, None))
    if rules is not None and rules.captions:
        captions = rule_texts(tree, rules.captions, url)
    authors = find_authors(head, lay, drops, region, words)
    ruled = rule_text(tree, rules.byline if rules else None, url)
    if ruled:
        authors = split_names(clean_byline(ruled)) or authors
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
        description=summary,
        tags=tags(head),
        paragraphs=strip_byline_lines(body.paragraphs, authors, words),
        captions=captions,
        images=images,
    )
    article.is_consent_wall = _is_wall(drops, article)
    return article


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


def _media_spans(lay: Layout, region: tuple[int, int], scope: int, body: Body,
                 heading: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(where captions are looked for, the article itself): the byline region widened to the whole
    body (a long body has more elements than the byline search reads), and the body's scope from
    the headline on (its lead photo) to the end of the body's last part."""
    if not len(lay):
        return (0, 0), (0, 0)
    end = lay.end[scope]
    lead = heading if region[0] <= heading < scope else scope
    last = max((lay.end[part] for part in body.parts), default=end)
    return (region[0], max(region[1], end)), (lead, min(last, end))


def _is_wall(drops: Drops, article: Article) -> bool:
    """A consent wall, paywall or bot check instead of an article: (almost) nothing but a consent
    banner, or a short page whose title or text says so ("Before you continue", "Subscribe to
    continue reading", "Checking your browser")."""
    size = sum(len(p) for p in article.paragraphs)
    if size >= WALL_MAX_CHARS:
        return False
    if drops.consent and size < WALL_MAX_CHARS / 3:
        return True
    sample = " ".join([article.title, *article.paragraphs[:6]]).lower()
    return VOCAB.wall_phrases.search(sample) is not None
