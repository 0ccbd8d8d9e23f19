"""Discovery on pages as the fetcher hands them over: feeds of every kind, sitemaps, listing pages,
kind detection, what a home page advertises; and hostile XML refused quickly."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import SourceConfig
from monitor.discover import advertised, detect_kind, discover
from monitor.encoding import decode
from monitor.errors import DiscoverError
from monitor.models import Link, Page

NOW = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
BASE = "https://news.example.com"


def page(body: str | bytes, content_type: str = "application/xml", url: str = BASE + "/feed") -> Page:
    data = body.encode("utf-8") if isinstance(body, str) else body
    text, encoding = decode(data, content_type)
    return Page(url, url, 200, content_type, data, text, encoding)


def source(**kw: object) -> SourceConfig:
    return SourceConfig.model_validate({"name": "src", "url": BASE + "/", **kw})


def links(p: Page, **kw: object) -> list[Link]:
    found, children = discover(p, source(**kw), now=NOW)
    assert children == []
    return found


# ---------------------------------------------------------------------------- feeds

RSS091 = """<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
  "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>Old news</title><link>https://news.example.com/</link>
<description>d</description><language>en</language>
<item><title>Caf&eacute; opens</title><link>https://news.example.com/2025/12/30/cafe-opens</link>
<description>d&nbsp;x</description></item>
</channel></rss>"""
RSS092 = """<rss version="0.92"><channel><title>t</title><link>https://news.example.com/</link><description>d</description>
<item><title>Ninety-two</title><link>https://news.example.com/a/92</link></item></channel></rss>"""
RSS10 = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://news.example.com/"><title>t</title><link>https://news.example.com/</link><description>d</description>
<items><rdf:Seq><rdf:li resource="https://news.example.com/rdf/1"/></rdf:Seq></items></channel>
<item rdf:about="https://news.example.com/rdf/1"><title>RDF item</title><link>https://news.example.com/rdf/1</link>
<dc:date>2026-01-02T08:00:00+08:00</dc:date><dc:creator>Ana Lee</dc:creator><dc:subject>Trade</dc:subject></item>
</rdf:RDF>"""
RSS20 = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>
<link>https://news.example.com/</link><description>d</description>
<item><title>Seoul kicks off 2026 with Beijing visit</title><link>https://news.example.com/news/2026-01-03/seoul?utm_source=rss</link>
<pubDate>Sat, 03 Jan 2026 06:02:00 GMT</pubDate><dc:creator>Gabriela Bernal</dc:creator>
<category>Asia</category><category>Diplomacy</category></item>
<item><title>No link</title><description>skipped</description></item>
<item><title>Duplicate</title><link>https://news.example.com/news/2026-01-03/seoul?utm_source=rss</link></item>
<item><title>Relative</title><link>/news/relative-item</link></item>
</channel></rss>"""
ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://news.example.com/atom/">
<title>t</title><id>urn:x</id><updated>2026-01-03T00:00:00Z</updated>
<entry><title type="html">Markets &lt;b&gt;rally&lt;/b&gt;</title><id>urn:1</id>
<link rel="alternate" href="markets-rally"/><link rel="enclosure" href="https://cdn.example.com/a.mp3"/>
<updated>2026-01-02T10:00:00Z</updated><published>2026-01-02T09:00:00+01:00</published>
<author><name>Kim Park</name></author><author><name>Jo Smith</name></author><category term="markets"/></entry>
</feed>"""
JSONFEED11 = {
    "version": "https://jsonfeed.org/version/1.1", "title": "t", "authors": [{"name": "Desk"}],
    "items": [
        {"id": "1", "url": "https://news.example.com/j/1", "title": "JSON one", "date_published": "2026-01-02T10:00:00Z",
         "authors": [{"name": "Ana Lee"}], "tags": ["economy"]},
        {"id": "2", "external_url": "https://elsewhere.example.org/story", "title": "Linked out"},
        {"id": "3", "content_text": "no url at all"},
        "not an object",
    ],
}
JSONFEED10 = {"version": "https://jsonfeed.org/version/1", "title": "t",
              "items": [{"id": "a", "url": "/j/relative", "author": {"name": "Old Style"},
                         "date_modified": "2026-01-01T00:00:00+09:00"}]}


def test_rss_091_with_its_dtd_and_html_entities() -> None:
    [link] = links(page(RSS091.encode("iso-8859-1"), "application/rss+xml"))
    assert (link.url, link.title) == (BASE + "/2025/12/30/cafe-opens", "Café opens")


def test_rss_092() -> None:
    assert [lk.title for lk in links(page(RSS092, "text/xml"))] == ["Ninety-two"]


def test_rss_10_rdf() -> None:
    [link] = links(page(RSS10, "application/rdf+xml"))
    assert link.url == BASE + "/rdf/1" and link.authors == ("Ana Lee",) and link.keywords == ("Trade",)
    assert link.published == datetime(2026, 1, 2, 0, 0, tzinfo=UTC)


def test_rss_20() -> None:
    found = links(page(RSS20, "application/rss+xml"))
    assert [lk.url for lk in found] == [BASE + "/news/2026-01-03/seoul?utm_source=rss", BASE + "/news/relative-item"]
    first = found[0]
    assert first.title == "Seoul kicks off 2026 with Beijing visit" and first.authors == ("Gabriela Bernal",)
    assert first.published == datetime(2026, 1, 3, 6, 2, tzinfo=UTC) and first.keywords == ("Asia", "Diplomacy")
    assert first.via == BASE + "/feed" and first.source == "src"


def test_atom() -> None:
    [link] = links(page(ATOM, "application/atom+xml"))
    assert link.url == BASE + "/atom/markets-rally"
    assert link.authors == ("Kim Park", "Jo Smith") and link.keywords == ("markets",)
    assert link.published == datetime(2026, 1, 2, 8, 0, tzinfo=UTC)
    assert "rally" in (link.title or "")


def test_json_feed_11_and_10() -> None:
    found = links(page(json.dumps(JSONFEED11), "application/feed+json"))
    assert [(lk.url, lk.title) for lk in found] == [(BASE + "/j/1", "JSON one"),
                                                    ("https://elsewhere.example.org/story", "Linked out")]
    assert found[0].authors == ("Ana Lee",) and found[1].authors == ("Desk",)  # the feed's authors by default
    assert found[0].keywords == ("economy",) and found[0].published == datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    [old] = links(page(json.dumps(JSONFEED10), "application/json"))
    assert old.url == BASE + "/j/relative" and old.authors == ("Old Style",)
    assert old.published == datetime(2025, 12, 31, 15, 0, tzinfo=UTC)


def test_follow_and_max_links_apply_to_feeds() -> None:
    assert [lk.url for lk in links(page(RSS20), follow=r"/news/\d{4}-")] == [BASE + "/news/2026-01-03/seoul?utm_source=rss"]
    assert len(links(page(RSS20), max_links=1)) == 1


@pytest.mark.parametrize("body, content_type, phrase", [
    ("<html><body><p>This is a web page, not a feed.</p></body></html>", "application/rss+xml", "not"),
    ("just some words", "application/rss+xml", "not"),
    (b"\x00\x01garbage", "application/xml", "not"),
    ('{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "application/feed+json", "'items' is not a list"),
    ('{"version": "https://jsonfeed.org/version/1.1", "items": [', "application/feed+json", "not a readable JSON Feed"),
    ('{"hello": "world"}', "application/json", "no jsonfeed.org version"),
])
def test_malformed_feeds_are_clear_errors(body: str | bytes, content_type: str, phrase: str) -> None:
    with pytest.raises(DiscoverError) as info:
        discover(page(body, content_type), source(kind="feed"), now=NOW)
    assert phrase in str(info.value) and str(info.value).startswith(BASE + "/feed: ")


def test_a_truncated_feed_keeps_what_it_could_read() -> None:
    cut = RSS20[: RSS20.index("<item><title>No link")]
    assert [lk.title for lk in links(page(cut))] == ["Seoul kicks off 2026 with Beijing visit"]


def test_feed_bytes_are_never_opened_as_a_file(tmp_path: Path) -> None:
    """feedparser, handed bytes, tries them as a file name first; a body naming a local file must
    not make us read it."""
    local = tmp_path / "local-feed.xml"
    local.write_text(RSS20, "utf-8")
    with pytest.raises(DiscoverError):
        discover(page(str(local).encode(), "application/rss+xml"), source(kind="feed"), now=NOW)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
""" + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10)) + """]>
{root}"""
XXE = """<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>{root}"""


@pytest.mark.parametrize("kind, root", [
    ("feed", "<rss version='2.0'><channel><title>&lol9;</title><item><title>&lol9;</title>"
             "<link>https://news.example.com/a/1</link></item></channel></rss>"),
    ("sitemap", "<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'><url><loc>https://news.example.com/&lol9;"
                "</loc></url></urlset>"),
])
@pytest.mark.parametrize("bomb", [BILLION_LAUGHS, XXE])
def test_entity_bombs_and_external_entities_are_refused_quickly(kind: str, root: str, bomb: str) -> None:
    body = bomb.replace("{root}", root.replace("&lol9;", "&xxe;") if "xxe" in bomb else root)
    tracemalloc.start()
    try:
        with pytest.raises(DiscoverError) as info:
            discover(page(body, "application/xml"), source(kind=kind), now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "declares entities" in str(info.value)
    assert peak < 5_000_000  # 10^9 "lol"s were never expanded


# ---------------------------------------------------------------------------- sitemaps

SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
<url><image:image><image:loc>https://cdn.example.com/pic.jpg</image:loc></image:image>
  <loc>https://news.example.com/news/2026-01-03/fresh</loc>
  <news:news><news:publication><news:name>Example</news:name><news:language>en</news:language></news:publication>
  <news:publication_date>2026-01-03T08:10:00+08:00</news:publication_date>
  <news:title>Seoul and Beijing sign MoU</news:title><news:keywords>Korea, China , diplomacy,</news:keywords></news:news></url>
<url><loc>https://news.example.com/news/2025-12-01/old</loc><lastmod>2025-12-01</lastmod></url>
<url><loc>https://news.example.com/news/2026-01-02/dated</loc><lastmod>2026-01-02T10:00:00Z</lastmod></url>
<url><loc>https://news.example.com/news/undated</loc></url>
<url><loc>   </loc></url>
</urlset>"""
INDEX = """<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://news.example.com/sitemap-2025-11.xml</loc><lastmod>2025-11-30</lastmod></sitemap>
<sitemap><loc>https://news.example.com/sitemap-2026-01.xml</loc><lastmod>2026-01-03T00:00:00Z</lastmod></sitemap>
<sitemap><loc>/sitemap-undated.xml</loc></sitemap>
<sitemap><loc>https://news.example.com/sitemap-2025-12.xml</loc><lastmod>2025-12-31</lastmod></sitemap>
</sitemapindex>"""


def test_news_sitemap_keeps_news_fields_and_drops_old_entries() -> None:
    found = links(page(SITEMAP, url=BASE + "/sitemap-news.xml"))
    assert [lk.url for lk in found] == [BASE + "/news/2026-01-03/fresh", BASE + "/news/2026-01-02/dated",
                                        BASE + "/news/undated"]
    fresh = found[0]
    assert fresh.title == "Seoul and Beijing sign MoU" and fresh.keywords == ("Korea", "China", "diplomacy")
    assert fresh.published == datetime(2026, 1, 3, 0, 10, tzinfo=UTC)
    assert found[2].published is None  # undated entries are kept
    assert len(links(page(SITEMAP), max_age="60d")) == 4


def test_sitemap_index_lists_recent_children_newest_first() -> None:
    found, children = discover(page(INDEX, url=BASE + "/sitemap.xml"), source(), now=NOW)
    assert found == []
    assert children == [BASE + "/sitemap-2026-01.xml", BASE + "/sitemap-2025-12.xml", BASE + "/sitemap-undated.xml"]


def test_not_a_sitemap() -> None:
    with pytest.raises(DiscoverError, match="root element is <html>"):
        discover(page("<html><body/></html>"), source(kind="sitemap"), now=NOW)
    with pytest.raises(DiscoverError, match="not a readable sitemap"):
        discover(page("<urlset><url>"), source(kind="sitemap"), now=NOW)


# ---------------------------------------------------------------------------- listing pages

LISTING = """<html><head><title>Opinions</title><base href="https://news.example.com/opinions/"></head><body>
<header><a href="/news/2026-01-01/header-story-in-the-banner-area">Banner</a></header>
<nav><a href="/">Home</a><a href="/news/2026-01-02/a-nav-story-with-long-slug">Nav story</a></nav>
<ul class="list">
 <li><a href="/news/2026-01-03/Seoul-kicks-off-2026-with-Beijing-visit-1JqXyZ3kBz2/p.html">Seoul kicks off 2026</a>
     <span class="date">13:34, 30-Dec-2025</span></li>
 <li><article><a href="../news/2025-12-29/japan-weak-yen-symptom"><h3>Japan's weak yen</h3></a>
     <time datetime="2025-12-29T09:00:00+09:00">Dec 29</time></article></li>
 <li><a href="https://news.example.com/news/2025-12-29/japan-weak-yen-symptom#comments">same story again</a></li>
 <li><a href="https://www.example.com/news/2025-12-28/sister-site-story-here">Sister host</a></li>
 <li><a href="https://other.example.org/news/2025-12-28/someone-elses-story">Elsewhere</a></li>
 <li><a href="/tag/korea">Korea</a> <a href="/category/asia">Asia</a> <a href="/opinions?page=2">Next</a>
     <a href="/author/gabriela-bernal">Gabriela Bernal</a> <a href="/news/photo.jpg">photo</a>
     <a href="mailto:desk@example.com">mail</a> <a href="javascript:void(0)">js</a> <a href="#top">top</a></li>
 <li><a href="/about-us">About</a> <a href="/video/some-video-clip-here">Video</a></li>
</ul>
<footer><a href="/news/2026-01-01/footer-story-in-the-footer-area">Footer</a></footer>
</body></html>"""


def test_listing_finds_article_links_with_teaser_dates() -> None:
    found = links(page(LISTING, "text/html", url=BASE + "/opinions"))
    assert [lk.url for lk in found] == [
        BASE + "/news/2026-01-03/Seoul-kicks-off-2026-with-Beijing-visit-1JqXyZ3kBz2/p.html",
        BASE + "/news/2025-12-29/japan-weak-yen-symptom",
        "https://www.example.com/news/2025-12-28/sister-site-story-here",
    ]
    assert found[0].title == "Seoul kicks off 2026" and found[0].published == datetime(2025, 12, 30, 13, 34, tzinfo=UTC)
    assert found[1].title == "Japan's weak yen"
    assert found[1].published == datetime(2025, 12, 29, 0, 0, tzinfo=UTC)
    assert all(lk.via == BASE + "/opinions" for lk in found)


def test_listing_follow_regex_and_links_selector() -> None:
    p = page(LISTING, "text/html", url=BASE + "/opinions")
    assert [lk.url for lk in links(p, follow=r"example\.org/")] == ["https://other.example.org/news/2025-12-28/someone-elses-story"]
    chosen = links(p, links="ul.list article")
    assert [lk.url for lk in chosen] == [BASE + "/news/2025-12-29/japan-weak-yen-symptom"]
    assert [lk.title for lk in links(p, links="nav a")] == ["Home", "Nav story"]


# ---------------------------------------------------------------------------- kinds, adverts

@pytest.mark.parametrize("body, content_type, kind", [
    (RSS20, "application/rss+xml", "feed"), (RSS20, "text/html", "feed"), (ATOM, "text/xml", "feed"),
    (RSS10, "application/xml", "feed"), (RSS092, "application/octet-stream", "feed"),
    (json.dumps(JSONFEED11), "application/json", "feed"), (json.dumps(JSONFEED11), "text/plain", "feed"),
    (SITEMAP, "application/xml", "sitemap"), (INDEX, "text/xml", "sitemap"),
    (LISTING, "text/html", "listing"),
    ("<html><head><meta property='og:type' content='article'></head><body><p>x</p></body></html>", "text/html", "page"),
    ('<html><head><meta content="website" property="og:type"></head></html>', "text/html", "listing"),
    ("<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'><body/></html>", "application/xhtml+xml",
     "listing"),
])
def test_kind_is_detected_from_the_response(body: str, content_type: str, kind: str) -> None:
    assert detect_kind(page(body, content_type)) == kind


def test_advertised_feeds() -> None:
    home = """<html><head><base href="https://news.example.com/">
    <link rel="alternate" type="application/rss+xml" title="All  news" href="/rss.xml">
    <link rel="alternate" type="application/atom+xml" href="atom.xml">
    <link rel="alternate feed" type="application/feed+json" href="https://news.example.com/feed.json">
    <link rel="alternate" type="application/rss+xml" href="/rss.xml">
    <link rel="alternate" hreflang="de" href="https://news.example.com/de/">
    <link rel="stylesheet" type="text/css" href="/x.css">
    <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
    </head><body><a href="/other.rss">not advertised in the head</a></body></html>"""
    ads = advertised(page(home, "text/html", url=BASE + "/"))
    assert [(a.url, a.format, a.title) for a in ads] == [
        (BASE + "/rss.xml", "RSS", "All news"), (BASE + "/atom.xml", "Atom", None),
        (BASE + "/feed.json", "JSON Feed", None)]
    assert all(a.kind == "feed" and a.found_in == BASE + "/" for a in ads)


def test_recent_means_max_age_from_now() -> None:
    recent = NOW - timedelta(days=1)
    body = SITEMAP.replace("2026-01-02T10:00:00Z", recent.isoformat())
    assert BASE + "/news/2026-01-02/dated" in [lk.url for lk in links(page(body), max_age="2d")]
    assert BASE + "/news/2026-01-02/dated" not in [lk.url for lk in links(page(body), max_age="12h")]



def test_feed_entries_older_than_max_age_are_not_followed() -> None:
    # RSS20's dated entry is 2026-01-03 06:02 UTC; an undated entry is always kept.
    dated = BASE + "/news/2026-01-03/seoul?utm_source=rss"
    recent = links(page(RSS20, "application/rss+xml"), max_age="7d")
    assert dated in [lk.url for lk in recent]
    old = links(page(RSS20, "application/rss+xml"), max_age="1h")  # NOW is 12:00, the entry 06:02
    assert dated not in [lk.url for lk in old] and BASE + "/news/relative-item" in [lk.url for lk in old]
