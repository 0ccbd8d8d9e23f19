"""Storage through the whole pipeline: real fetches from loopback sites, the real extractor and
topic matcher, and a webhook receiver that verifies signatures (issue 5's acceptance list)."""

from __future__ import annotations

import asyncio
import html as htmlmod
import json
from pathlib import Path
from typing import Any

from monitor.app import Monitor
from monitor.config import load_config
from monitor.demo.receivers import WebhookReceiver
from monitor.store import Store

from .conftest import Site, listing_html, make_config, run_cli
from .test_dedup import (
    BOILERPLATE,
    FILL_A,
    FILL_B,
    SAME_TOPIC_BODY,
    SEED_PARAGRAPHS,
    SEED_TITLE,
    SHORT_A,
    SHORT_B,
    SYNDICATED_PARAGRAPHS,
    TEMPLATE,
)

ARTICLE = "/news/2026-01-03/Seoul-kicks-off-2026-with-Beijing-visit-to-rebuild-ties"


def page(title: str, paragraphs: list[str], *, canonical: str | None = None, og_url: str | None = None,
         byline: str = "Gabriela Bernal") -> str:
    head = f"<title>{htmlmod.escape(title)}</title>"
    if canonical:
        head += f'<link rel="canonical" href="{canonical}">'
    if og_url:
        head += f'<meta property="og:url" content="{og_url}">'
    body = "".join(f"<p>{htmlmod.escape(p)}</p>" for p in paragraphs)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>{head}</head><body>"
            f"<nav><a href='/'>Home</a> <a href='/opinions'>Opinions</a></nav><main><article>"
            f"<h1>{htmlmod.escape(title)}</h1><p class='byline'>By {byline}</p>{body}</article></main>"
            f"<footer>Contact us</footer></body></html>")


def fetch(config: Path, sources: list[str] | None = None) -> Any:
    async def go() -> Any:
        async with Monitor(load_config(config)) as mon:
            return await mon.fetch(sources)

    return asyncio.run(go())


def rows(config: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with Store.open(load_config(config).database_path) as store:
        return store.query(sql, params or [])


def delivered_topics(webhook: WebhookReceiver) -> list[list[str]]:
    assert all(d.verified for d in webhook.deliveries)
    return [sorted(m["topic"] for m in d.payload["matches"]) for d in webhook.deliveries]


def test_one_article_by_four_urls_is_one_record(tmp_path: Path, site: Site, webhook: WebhookReceiver) -> None:
    """Tracking parameters, the AMP page, a trailing slash and plain http: one record, one alert."""
    stated = site.url.replace("http://", "https://") + ARTICLE  # the page states its https address
    site.page(ARTICLE, page(SEED_TITLE, SEED_PARAGRAPHS, canonical=stated))
    site.page(ARTICLE + "/", page(SEED_TITLE, SEED_PARAGRAPHS, canonical=stated))
    site.page(ARTICLE + "/amp", page(SEED_TITLE, SEED_PARAGRAPHS, og_url=stated))
    four = [site.url + ARTICLE + "?utm_source=twitter&utm_medium=social&fbclid=IwAR0abc",
            site.url + ARTICLE + "/amp", site.url + ARTICLE + "/", site.url + ARTICLE]
    listing = site.page("/opinions", listing_html(*four))
    config = make_config(tmp_path, [{"name": "s", "url": listing, "kind": "listing"}], webhook=webhook)
    summary = fetch(config)
    [report] = summary.reports
    assert (report.links, report.fetched, report.new, report.unchanged) == (4, 4, 1, 3), report.errors
    assert all(site.hits(p) >= 1 for p in (ARTICLE, ARTICLE + "/", ARTICLE + "/amp"))
    [article] = rows(config, "SELECT * FROM articles")
    assert article["url"] == stated  # the address as the page gives it
    assert len(delivered_topics(webhook)) == 1
    fetched = rows(config, "SELECT url, article_id FROM urls WHERE url != ?", [listing])
    assert sorted(r["url"] for r in fetched) == sorted(four)
    assert {r["article_id"] for r in fetched} == {article["id"]}


def test_four_urls_without_canonical_tags_are_one_record(tmp_path: Path, site: Site) -> None:
    for path in (ARTICLE, ARTICLE + "/", ARTICLE + "/amp"):
        site.page(path, page(SEED_TITLE, SEED_PARAGRAPHS))
    listing = site.page("/opinions", listing_html(site.url + ARTICLE + "?utm_campaign=x&gclid=1",
                                                  site.url + ARTICLE + "/amp", site.url + ARTICLE + "/",
                                                  site.url + ARTICLE))
    config = make_config(tmp_path, [{"name": "s", "url": listing, "kind": "listing"}])
    [report] = fetch(config).reports
    assert (report.new, report.unchanged, report.failed) == (1, 3, 0), report.errors
    assert len(rows(config, "SELECT id FROM articles")) == 1


def _two_outlets(tmp_path: Path, site: Site, webhook: WebhookReceiver, copy_canonical: bool) -> tuple[Path, Site, str]:
    original = site.page(ARTICLE, page(SEED_TITLE, SEED_PARAGRAPHS))
    outlet = Site()
    copy_path = "/analysis/2026/01/lee-heads-to-beijing-to-rebuild-ties"
    outlet.page(copy_path, page("Lee heads to Beijing to rebuild ties", SYNDICATED_PARAGRAPHS, byline="Wire staff",
                                canonical=original if copy_canonical else None))
    sources = [{"name": "cgtn", "url": site.page("/opinions", listing_html(original)), "kind": "listing"},
               {"name": "wire", "url": outlet.page("/analysis", listing_html(outlet.url + copy_path)), "kind": "listing"}]
    return make_config(tmp_path, sources, webhook=webhook), outlet, outlet.url + copy_path


def test_syndicated_copy_joins_the_story_and_sends_no_second_alert(tmp_path: Path, site: Site,
                                                                    webhook: WebhookReceiver) -> None:
    config, outlet, copy_url = _two_outlets(tmp_path, site, webhook, copy_canonical=False)
    try:
        fetch(config, ["cgtn"])
        assert delivered_topics(webhook) == [["dprk-talks", "japan-trip", "mou"]]
        [report] = fetch(config, ["wire"]).reports
        assert report.new == 1
    finally:
        outlet.server.stop()
    assert len(webhook.deliveries) == 1
    articles = rows(config, "SELECT id, source, story_id FROM articles ORDER BY id")
    assert [a["source"] for a in articles] == ["cgtn", "wire"]
    assert len({a["story_id"] for a in articles}) == 1
    assert len(rows(config, "SELECT id FROM alerts")) == 1
    # the copy's record says where else the story was seen
    shown = run_cli("show", copy_url, "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    assert "also seen at" in shown.stdout and site.url + ARTICLE in shown.stdout
    record = json.loads(run_cli("show", copy_url, "--json", "--config", str(config)).stdout)
    assert [o["source"] for o in record["also_seen_at"]] == ["cgtn"]
    assert [a["status"] for a in record["alerts"]] == ["sent"]


def test_copy_naming_the_original_as_canonical_is_its_own_record(tmp_path: Path, site: Site,
                                                                  webhook: WebhookReceiver) -> None:
    """A page on another site claiming the original's URL neither overwrites it nor alerts again."""
    config, outlet, _copy_url = _two_outlets(tmp_path, site, webhook, copy_canonical=True)
    try:
        fetch(config, ["cgtn"])
        fetch(config, ["wire"])
    finally:
        outlet.server.stop()
    articles = rows(config, "SELECT source, title, revisions, story_id FROM articles ORDER BY id")
    assert [(a["source"], a["revisions"]) for a in articles] == [("cgtn", 0), ("wire", 0)]
    assert articles[0]["title"] == SEED_TITLE
    assert articles[0]["story_id"] == articles[1]["story_id"]
    assert rows(config, "SELECT count(*) AS n FROM revisions")[0]["n"] == 0
    assert len(webhook.deliveries) == 1


def test_articles_sharing_boilerplate_a_template_or_a_topic_stay_apart(tmp_path: Path, site: Site,
                                                                       webhook: WebhookReceiver) -> None:
    pages = {
        "seed": (SEED_TITLE, SEED_PARAGRAPHS),
        "same-topic": ("Lee lands in Beijing for talks with Xi", SAME_TOPIC_BODY.split("\n\n")),
        "results-a": ("Northwind Traders beats estimates", [p.format(**FILL_A) for p in TEMPLATE]),
        "results-b": ("Contoso Pharmaceuticals misses estimates", [p.format(**FILL_B) for p in TEMPLATE]),
        "night-buses": ("Council extends night buses", [SHORT_A, *BOILERPLATE]),
        "bread-prize": ("Bakery wins the regional bread prize", [SHORT_B, *BOILERPLATE]),
    }
    links = []
    for slug, (title, paragraphs) in pages.items():
        links.append(site.page(f"/news/2026-01-05/{slug}-story-text", page(title, paragraphs)))
    listing = site.page("/opinions", listing_html(*links))
    config = make_config(tmp_path, [{"name": "s", "url": listing, "kind": "listing"}], webhook=webhook)
    [report] = fetch(config).reports
    assert report.new == 6, report.errors
    assert rows(config, "SELECT count(DISTINCT story_id) AS n FROM articles")[0]["n"] == 6
    # both articles on the topic alert: one is not a copy of the other
    titles = sorted(d.payload["article"]["title"] for d in webhook.deliveries)
    assert titles == sorted([SEED_TITLE, "Lee lands in Beijing for talks with Xi"])


def test_edits_make_revisions_and_alert_only_a_new_topic(tmp_path: Path, site: Site, webhook: WebhookReceiver) -> None:
    v1 = [SEED_PARAGRAPHS[i] for i in (1, 2, 3, 4, 10, 11)]  # a visit to China and Japan: japan-trip only
    site.page(ARTICLE, page(SEED_TITLE, v1))
    listing = site.page("/opinions", listing_html(site.url + ARTICLE))
    config = make_config(tmp_path, [{"name": "s", "url": listing, "kind": "listing"}], webhook=webhook)
    fetch(config)
    assert delivered_topics(webhook) == [["japan-trip"]]

    v2 = [*v1[:3], v1[3].replace("Sunday", "Saturday"), *v1[4:]]
    site.page(ARTICLE, page(SEED_TITLE, v2))
    [report] = fetch(config).reports
    assert report.updated == 1
    assert len(webhook.deliveries) == 1  # an edit is not news

    v3 = [*v2, SEED_PARAGRAPHS[5]]  # now it mentions memoranda of understanding
    site.page(ARTICLE, page(SEED_TITLE, v3))
    [report] = fetch(config).reports
    assert report.updated == 1
    assert delivered_topics(webhook) == [["japan-trip"], ["mou"]]  # only the new topic

    revisions = rows(config, "SELECT * FROM revisions ORDER BY id")
    assert len(revisions) == 2
    assert "-Lee will arrive in Beijing on Sunday" in revisions[0]["diff"]
    assert "+Lee will arrive in Beijing on Saturday" in revisions[0]["diff"]
    assert "+South Korea said various memoranda" in revisions[1]["diff"]
    [article] = rows(config, "SELECT * FROM articles")
    assert article["revisions"] == 2 and "memoranda" in article["text"]
    shown = run_cli("show", site.url + ARTICLE, "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    assert "revisions (2)" in shown.stdout and "Saturday" in shown.stdout and "alerts (2)" in shown.stdout


def test_stored_html_is_reextracted(tmp_path: Path, site: Site) -> None:
    site.page(ARTICLE, page(SEED_TITLE, SEED_PARAGRAPHS))
    listing = site.page("/opinions", listing_html(site.url + ARTICLE))
    config = make_config(tmp_path, [{"name": "s", "url": listing, "kind": "listing"}], store_html=True)
    fetch(config)
    [row] = rows(config, "SELECT id, html IS NOT NULL AS kept, text FROM articles")
    assert row["kept"]
    # an older extractor stored a worse text; reextract repairs it from the stored page
    with Store.open(load_config(config).database_path) as store, store.write() as db:
        db.execute("UPDATE articles SET text = ?, content_hash = 'old' WHERE id = ?", [SEED_PARAGRAPHS[1], row["id"]])
    result = run_cli("reextract", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "1 changed" in result.stdout
    [after] = rows(config, "SELECT text, revisions FROM articles")
    assert after["text"] == row["text"] and after["revisions"] == 1
    assert rows(config, "SELECT reason FROM revisions") == [{"reason": "reextract"}]
    again = run_cli("reextract", "--config", str(config))
    assert "0 changed, 1 unchanged" in again.stdout


def test_retention_runs_after_a_source_run(tmp_path: Path, site: Site) -> None:
    from datetime import UTC, datetime, timedelta

    site.page(ARTICLE, page(SEED_TITLE, SEED_PARAGRAPHS))
    listing = site.page("/opinions", listing_html(site.url + ARTICLE))
    config = make_config(tmp_path, [{"name": "s", "url": listing, "kind": "listing"}], retention="7d",
                         store_html=True)
    start = datetime.now(UTC)

    async def run_at(when: datetime) -> Any:
        async with Monitor(load_config(config), clock=lambda: when) as mon:
            return await mon.fetch()

    asyncio.run(run_at(start))
    asyncio.run(run_at(start + timedelta(days=3)))
    assert rows(config, "SELECT text IS NOT NULL AS kept FROM articles") == [{"kept": 1}]
    asyncio.run(run_at(start + timedelta(days=8)))
    [row] = rows(config, "SELECT title, text, html, text_cleared FROM articles")
    assert (row["title"], row["text"], row["html"]) == (SEED_TITLE, None, None) and row["text_cleared"]
    found = run_cli("search", "Seoul", "--json", "--config", str(config))
    assert [json.loads(x)["title"] for x in found.stdout.splitlines()] == [SEED_TITLE]
    assert run_cli("search", "memoranda", "--config", str(config)).returncode == 1
