"""`monitor topics test`, `monitor topics backfill` and `monitor explain`, over a database filled by
the real pipeline from the demo site served on loopback (monitor/demo), with real receivers."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.app import Monitor
from monitor.config import load_config
from monitor.demo import DemoEnvironment, demo_config
from monitor.demo.httpd import Response
from monitor.errors import QueryError, StoreError
from monitor.store import Store
from monitor.topics import compile_topics, parse_query, plain
from monitor.topics.retro import backfill, open_readonly, parse_since, retro_match

from .conftest import Site, listing_html, run_cli

MANIFEST_TOPICS = ("mou", "japan-trip", "dprk-talks")
LATE_ARTICLE = """<html lang="en"><head><title>Premier plans Tokyo trip in spring</title></head><body>
<nav><a href="/">Home</a></nav><article><h1>Premier plans Tokyo trip in spring</h1><p class="byline">By Ana Ruiz</p>
<p>The premier will make a three-day trip to Tokyo in April, officials said on Tuesday, the first visit by a
head of government in six years.</p>
<p>Trade and fisheries are expected to top the agenda, along with a long-delayed agreement on student
exchanges and research funding.</p>
<p>Officials said the schedule was still being finalised and that further stops in Osaka were possible if
the trade package goes well.</p></article></body></html>"""


# ---------------------------------------------------------------------------- helpers
@pytest.fixture
def demo() -> Iterator[DemoEnvironment]:
    env = DemoEnvironment().start()
    yield env
    env.stop()


def write_config(tmp_path: Path, env: DemoEnvironment, topics: list[str] | None = None,
                 extra_topics: list[dict[str, Any]] | None = None,
                 extra_sources: list[dict[str, Any]] | None = None, channels: bool = True) -> Path:
    """The demo config, with only the named demo topics, plus extra topics and sources."""
    cfg = demo_config(env, str(tmp_path / "monitor.db"))
    if not channels:
        cfg["channels"] = []
    cfg["alerts"] = {"retry": ["0s", "0.2s", "0.2s"], "fetch_grace": "5s"}
    cfg["topics"] = [t for t in cfg["topics"] if topics is None or t["name"] in topics] + (extra_topics or [])
    cfg["sources"] += extra_sources or []
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), "utf-8")
    return path


def fetch(config: Path, clock: Any = None) -> Any:
    async def go() -> Any:
        kwargs = {"clock": clock} if clock else {}
        async with Monitor(load_config(config), **kwargs) as mon:
            return await mon.fetch()

    return asyncio.run(go())


def rows(config: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with Store.open(load_config(config).database_path) as store:
        return store.query(sql, params or [])


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def expected(env: DemoEnvironment, topic: str) -> set[str]:
    """Titles of the demo articles (phase 1) the demo's manifest says ``topic`` matches."""
    return {a["title"] for a in env.site.manifest["articles"] if topic in a["expect_topics"]}


def cli(config: Path, *args: str) -> Any:
    result = run_cli(*args, "--config", str(config))
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def webhook_topics(env: DemoEnvironment) -> list[tuple[str, list[str]]]:
    assert env.webhook is not None
    return [(d.payload["article"]["title"], d.payload["topics"]) for d in env.webhook.deliveries]


# ---------------------------------------------------------------------------- --since
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "want"), [
    ("2026-01-03", datetime(2026, 1, 3, tzinfo=UTC)),
    ("2026-01-03T08:30", datetime(2026, 1, 3, 8, 30, tzinfo=UTC)),
    ("2026-01-03T08:30:00+02:00", datetime(2026, 1, 3, 6, 30, tzinfo=UTC)),
    ("2026-01-03T08:30:00Z", datetime(2026, 1, 3, 8, 30, tzinfo=UTC)),
    ("24h", NOW - timedelta(hours=24)),
    ("7d", NOW - timedelta(days=7)),
    (" 90m ", NOW - timedelta(minutes=90)),
    ("2w", NOW - timedelta(weeks=2)),
])
def test_since_accepts_dates_times_and_ages(text: str, want: datetime) -> None:
    got = parse_since(text, NOW)
    assert got == want and got.tzinfo is not None


@pytest.mark.parametrize("text", ["yesterday", "7", "7x", "", "2026-13-01", "-1d"])
def test_since_refuses_the_rest(text: str) -> None:
    with pytest.raises(ValueError, match="not a date, time or age"):
        parse_since(text, NOW)


# ---------------------------------------------------------------------------- topics test
def test_topics_test_prints_matches_with_snippets_and_writes_nothing(tmp_path: Path, demo: DemoEnvironment) -> None:
    config = write_config(tmp_path, demo)
    fetch(config)
    db = load_config(config).database_path
    before = digest(db)
    stored = len(rows(config, "SELECT id FROM articles"))
    assert stored == len(demo.site.manifest["articles"])

    result = cli(config, "topics", "test", "japan-trip")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    titles = expected(demo, "japan-trip")
    for title in titles:
        assert f"MATCHED {title}" in text
    assert text.count("MATCHED ") == len(titles)
    # Snippets keep their **hit** markers when the output is not a terminal.
    snippet = "Lee's decision to visit China before his confirmed **Japan trip** in mid-January"
    assert snippet in text
    assert f"{len(titles)} of {stored} stored articles match japan-trip ({len(titles)} matched when stored, 0 new)." \
        in text
    assert "Weak yen" not in text

    # --source, --limit, --since narrow it; none of them writes.
    mou = cli(config, "topics", "test", "mou", "--source", "asia-policy-wire")
    assert mou.returncode == 0
    assert mou.stdout.count("MATCHED ") == 1 and "asia-policy-wire" in mou.stdout
    limited = cli(config, "topics", "test", "japan-trip", "--limit", "1")
    assert limited.stdout.count("MATCHED ") == 1 and f"... and {len(titles) - 1} more" in limited.stdout
    future = cli(config, "topics", "test", "japan-trip", "--since", "2999-01-01")
    assert "no match: 0 of 0 stored articles match japan-trip." in future.stdout
    recent = cli(config, "topics", "test", "japan-trip", "--since", "1h")
    assert recent.stdout.count("MATCHED ") == len(titles)
    found = [json.loads(line) for line in cli(config, "topics", "test", "japan-trip", "--json").stdout.splitlines()]
    assert sorted(f["title"] for f in found) == sorted(titles)
    assert all(f["matched_when_stored"] is True and f["hits"] >= 1 and f["snippets"] for f in found)
    assert any("**Japan trip**" in s for f in found for s in f["snippets"])
    adhoc = [json.loads(x) for x in cli(config, "topics", "test", "--query", "Pyongyang", "--json").stdout.splitlines()]
    assert adhoc and all(f["matched_when_stored"] is None for f in adhoc)
    assert digest(db) == before

    # Retro-matching the stored text reproduces what the pipeline matched at store time, for every topic.
    cfg = load_config(config)
    with open_readonly(db) as store:
        for topic in cfg.topics:
            again = retro_match(store, compile_topics([topic], cfg.aliases), stored_as=topic.name)
            stored_ids = {r["article_id"] for r in store.query("SELECT article_id FROM matches WHERE topic = ?",
                                                               [topic.name])}
            assert {h.article.id for h in again.hits} == stored_ids and stored_ids, topic.name
            assert all(h.stored for h in again.hits) and again.lost == []


def test_topics_test_since_uses_first_seen(tmp_path: Path, demo: DemoEnvironment) -> None:
    config = write_config(tmp_path, demo, channels=False)  # alerts signed 10 days ago would be refused
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    fetch(config, clock=lambda: ten_days_ago)
    with open_readonly(load_config(config).database_path) as store:
        cfg = load_config(config)
        matcher = compile_topics([t for t in cfg.topics if t.name == "dprk-talks"], cfg.aliases)
        week = retro_match(store, matcher, since=datetime.now(UTC) - timedelta(days=7), stored_as="dprk-talks")
        fortnight = retro_match(store, matcher, since=datetime.now(UTC) - timedelta(days=14), stored_as="dprk-talks")
    assert (week.scanned, week.hits) == (0, [])
    assert {h.article.title for h in fortnight.hits} == expected(demo, "dprk-talks")
    assert all(h.stored for h in fortnight.hits)
    assert "no match" in cli(config, "topics", "test", "dprk-talks", "--since", "7d").stdout
    assert "MATCHED" in cli(config, "topics", "test", "dprk-talks", "--since", "14d").stdout


def test_ad_hoc_query_and_query_errors(tmp_path: Path, demo: DemoEnvironment) -> None:
    config = write_config(tmp_path, demo)
    fetch(config)
    adhoc = cli(config, "topics", "test", "--query", '"weak yen" OR =yen')
    assert adhoc.returncode == 0, adhoc.stderr
    assert "MATCHED Japan's weak yen is a symptom, not the cure" in adhoc.stdout
    assert "matched when stored" not in adhoc.stdout and "**weak yen**" in adhoc.stdout
    assert adhoc.stdout.startswith('query: "weak yen" OR =yen\n')
    assert f"1 of {len(demo.site.manifest['articles'])} stored articles match the query." in adhoc.stdout

    # With NAME, --query replaces NAME's query and the hits are compared with NAME's stored matches.
    narrower = cli(config, "topics", "test", "mou", "--query", "MoU NEAR/3 green")
    assert narrower.returncode == 0
    assert narrower.stdout.startswith("new query for mou: MoU NEAR/3 green\n")
    assert "matched mou when stored and do not match now:" in narrower.stdout
    assert "Seoul kicks off 2026 with Beijing visit to rebuild ties" in narrower.stdout

    for query, col in [("(Japan OR Tokyo) NEAR/4", 24), ("Japan AND (trip", None), ("", 1)]:
        result = cli(config, "topics", "test", "--query", query)
        assert result.returncode == 2, query
        with pytest.raises(QueryError) as caught:
            parse_query(query, field="--query")
        assert f"query error: {caught.value}" in result.stderr
        if col is not None:
            assert f"--query: col {col}: " in result.stderr
            assert result.stderr.splitlines()[-1] == "  " + " " * (col - 1) + "^"
    assert "expected a term after NEAR/4" in cli(config, "topics", "test", "-q", "Japan NEAR/4").stderr

    unknown = cli(config, "topics", "test", "no-such-topic")
    assert unknown.returncode == 2 and "no topic named 'no-such-topic'; topics: mou, japan-trip" in unknown.stderr
    assert cli(config, "topics", "test").returncode == 2  # neither NAME nor --query
    bad_since = cli(config, "topics", "test", "mou", "--since", "last week")
    assert bad_since.returncode == 2 and "not a date, time or age: 'last week'" in bad_since.stderr


def test_read_only_commands_need_a_database(tmp_path: Path, demo: DemoEnvironment) -> None:
    config = write_config(tmp_path, demo)
    result = cli(config, "topics", "test", "mou")
    assert result.returncode == 1 and "no database at" in result.stderr
    assert not Path(load_config(config).database_path).exists()
    fetch(config)
    with open_readonly(load_config(config).database_path) as store, pytest.raises(Exception, match="readonly"):
        with store.write() as db:
            db.execute("DELETE FROM articles")
    with pytest.raises(StoreError, match="no database"):
        open_readonly(str(tmp_path / "missing.db"))


# ---------------------------------------------------------------------------- explain
def test_explain_a_stored_article(tmp_path: Path, demo: DemoEnvironment) -> None:
    config = write_config(tmp_path, demo)
    fetch(config)
    db = load_config(config).database_path
    before = digest(db)
    [seoul] = rows(config, "SELECT * FROM articles WHERE title LIKE 'Seoul kicks off%'")
    result = cli(config, "explain", seoul["url"] + "?utm_source=newsletter&utm_medium=email")  # same canonical URL
    assert result.returncode == 0, result.stderr
    text = result.stdout
    lines = text.splitlines()
    assert lines[0] == seoul["title"]
    assert f"article {seoul['id']} · story {seoul['story_id']} · source cgtn-opinions" in text
    assert any(line.startswith("fetched    last ") and ": ok (HTTP 200)" in line for line in lines)
    assert "extracted  title 'Seoul kicks off 2026 with Beijing visit to rebuild ties', by Gabriela Bernal" in text
    assert f"{len(seoul['text']):,} characters of text, 2 captions, published 2026-01-03T14:02:00+08:00" in text
    assert "stored     first seen " in text and "0 revisions" in text
    assert "matched    mou, japan-trip, dprk-talks (" in text
    assert "alerted    newsroom-hook: sent " in text and "desk-email: sent " in text
    assert "[mou, japan-trip, dprk-talks]" in text
    # Every topic, clause by clause.
    assert "japan-trip: MATCHED (1 hit, min_hits 1)" in text
    assert '  ✓ (Japan OR Tokyo) NEAR/4 (trip OR visit): 1 pair within 4 words: text "Japan trip"' in text
    assert "dprk-talks: MATCHED" in text and "mou: MATCHED" in text
    assert "**Japan trip**" in text
    assert digest(db) == before

    [yen] = rows(config, "SELECT url FROM articles WHERE title LIKE 'Japan''s weak yen%'")
    result = cli(config, "explain", yen["url"], "--topic", "japan-trip")
    assert "japan-trip: NOT MATCHED (the query does not hold)" in result.stdout
    assert "✗ trip OR visit: no part holds" in result.stdout
    assert "mou:" not in result.stdout  # --topic limits the topics explained
    assert "matched    no topic matched when it was stored" in result.stdout
    assert "alerted    no alert for this article" in result.stdout


def test_explain_shows_the_story_and_its_other_outlet(tmp_path: Path, demo: DemoEnvironment) -> None:
    config = write_config(tmp_path, demo)
    fetch(config)
    copies = rows(config, "SELECT a.* FROM articles a JOIN (SELECT story_id FROM articles GROUP BY story_id "
                          "HAVING count(*) > 1) s ON s.story_id = a.story_id ORDER BY a.id")
    assert {c["source"] for c in copies} == {"cgtn-opinions", "asia-policy-wire"}
    first, second = copies  # the first stored copy got the story's alerts
    result = cli(config, "explain", second["url"])
    assert result.returncode == 0
    by_id = cli(config, "explain", str(second["id"]))  # the id that search and show give
    assert by_id.returncode == 0 and by_id.stdout == result.stdout
    missing = cli(config, "explain", "99999")
    assert missing.returncode == 1 and "no stored article has that id" in missing.stdout
    assert f"also at {first['source']}: {first['url']}" in result.stdout
    assert "alerted    no alert for this article" in result.stdout
    assert (f"the story was alerted for its copy at {first['source']} (article {first['id']}) on newsroom-hook: "
            "[mou] sent") in result.stdout


def test_explain_urls_that_were_never_stored(tmp_path: Path, site: Site) -> None:
    site.routes["/story/gone"] = Response(404, b"<h1>gone</h1>", {"content-type": "text/html"})
    site.page("/story/empty", "<html><head><title>Menu</title></head><body><nav><a href='/'>Home</a></nav></body></html>")
    site.page("/story/wall", "<html><head><title>Before you continue</title></head><body><div class='consent'>"
              "<h1>Before you continue</h1><p>We use cookies and data to deliver and maintain our services. Accept "
              "all or reject all to continue.</p><button>Accept all</button></div></body></html>")
    listing = site.page("/list", listing_html(*(site.url + p for p in ("/story/gone", "/story/empty", "/story/wall"))))
    cfg = {"database": str(tmp_path / "m.db"), "fetch": {"per_host_delay": 0, "retries": 0},
           "sources": [{"name": "s", "url": listing, "kind": "listing", "follow": "/story/"}], "topics": [], "channels": []}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg), "utf-8")
    fetch(config)

    never = cli(config, "explain", site.url + "/never-linked")
    assert never.returncode == 1
    assert never.stdout.startswith(f"never fetched: {site.url}/never-linked")

    gone = cli(config, "explain", site.url + "/story/gone?utm_campaign=x")  # found by its canonical form
    assert gone.returncode == 1
    assert gone.stdout.startswith(f"not stored: {site.url}/story/gone")
    assert "every recorded fetch of it failed:" in gone.stdout
    assert "http_error" in gone.stdout and "HTTP 404" in gone.stdout and f"{site.url}/story/gone " in gone.stdout

    empty = cli(config, "explain", site.url + "/story/empty")
    assert empty.returncode == 1
    assert "it was fetched, but no article was stored from it" in empty.stdout
    assert "ok             HTTP 200" in empty.stdout

    wall = cli(config, "explain", site.url + "/story/wall")
    assert wall.returncode == 1
    assert "a consent, paywall or bot-check page came instead of the article" in wall.stdout
    assert "consent_wall" in wall.stdout


# ---------------------------------------------------------------------------- backfill
def test_topic_added_later_matches_only_new_articles_until_backfill(tmp_path: Path, demo: DemoEnvironment,
                                                                     site: Site) -> None:
    assert demo.webhook is not None and demo.smtp is not None
    early = write_config(tmp_path, demo, topics=["mou", "dprk-talks"])
    fetch(early)
    first = len(demo.webhook.deliveries)
    assert first > 0 and all("japan-trip" not in t for _, t in webhook_topics(demo))

    # japan-trip is added, with a new source: the pipeline matches it on what it fetches from now on...
    site.page("/late/tokyo-trip.html", LATE_ARTICLE)
    listing = site.page("/late", listing_html(site.url + "/late/tokyo-trip.html"))
    config = write_config(tmp_path, demo, extra_sources=[{"name": "late", "url": listing, "kind": "listing"}])
    fetch(config)
    assert webhook_topics(demo)[first:] == [("Premier plans Tokyo trip in spring", ["japan-trip"])]
    # ... and not on what was stored before (unchanged pages are not matched again).
    matched = {r["title"] for r in rows(config, "SELECT a.title FROM matches m JOIN articles a ON a.id = m.article_id "
                                                "WHERE m.topic = 'japan-trip'")}
    assert matched == {"Premier plans Tokyo trip in spring"}
    before_backfill = len(demo.webhook.deliveries)

    # topics test shows what backfill would add.
    tried = cli(config, "topics", "test", "japan-trip")
    old = expected(demo, "japan-trip")
    assert f"{len(old) + 1} of " in tried.stdout and f"(1 matched when stored, {len(old)} new)" in tried.stdout
    assert tried.stdout.count("· new: not matched when stored") == len(old)

    # A dry run writes nothing and says what a real run then does.
    alerts_before = rows(config, "SELECT count(*) AS n FROM alerts")[0]["n"]
    dry = cli(config, "topics", "backfill", "japan-trip", "--since", "1h", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    want = f"would queue {2 * len(old)} alerts (newsroom-hook {len(old)}, desk-email {len(old)})."
    assert want in dry.stdout and "dry run: nothing was written." in dry.stdout
    assert rows(config, "SELECT count(*) AS n FROM alerts")[0]["n"] == alerts_before
    assert len(rows(config, "SELECT * FROM matches WHERE topic = 'japan-trip'")) == 1

    real = cli(config, "topics", "backfill", "japan-trip", "--since", "1h")
    assert real.returncode == 0, real.stderr
    assert f"stored {len(old)} new matches; queued {2 * len(old)} alerts" in real.stdout
    assert f"alerts: {2 * len(old)} sent, 0 failed attempts, 0 dead, 0 pending" in real.stdout
    for title in old:
        assert f"QUEUED  {title} -> newsroom-hook, desk-email" in real.stdout
    assert "SKIPPED Premier plans Tokyo trip in spring" in real.stdout
    # Each old story gets one alert naming only the new topic, signed, with its snippets.
    new = demo.webhook.deliveries[before_backfill:]
    assert sorted((d.payload["article"]["title"], d.payload["topics"]) for d in new) == \
        sorted((t, ["japan-trip"]) for t in old)
    assert all(d.verified and d.status == 200 for d in new)
    assert any("**Japan trip**" in s for d in new for m in d.payload["matches"] for s in m["snippets"])
    assert sum("japan-trip" in m["Subject"] for m in demo.smtp.messages) == len(old) + 1
    matched = {r["title"] for r in rows(config, "SELECT a.title FROM matches m JOIN articles a ON a.id = m.article_id "
                                                "WHERE m.topic = 'japan-trip'")}
    assert matched == old | {"Premier plans Tokyo trip in spring"}

    # A second backfill queues nothing, and neither does one of a topic matched at store time.
    again = cli(config, "topics", "backfill", "japan-trip", "--since", "1h")
    assert "stored 0 new matches; queued 0 alerts (newsroom-hook 0, desk-email 0)." in again.stdout
    mou = cli(config, "topics", "backfill", "mou", "--since", "1h")
    assert "queued 0 alerts" in mou.stdout and "QUEUED" not in mou.stdout
    assert len(demo.webhook.deliveries) == before_backfill + len(old)

    # explain now agrees with the stored matches.
    [seoul] = rows(config, "SELECT url FROM articles WHERE title LIKE 'Seoul kicks off%'")
    explained = cli(config, "explain", seoul["url"], "-t", "japan-trip").stdout
    assert "japan-trip: MATCHED" in explained and "note:" not in explained
    assert "[japan-trip] queued" in explained


def test_backfill_alerts_a_story_once_per_channel(tmp_path: Path, demo: DemoEnvironment) -> None:
    """A topic matching both copies of a syndicated story alerts the story once per channel; the
    webhook-only topic alerts only the webhook; --no-deliver leaves them in the outbox."""
    assert demo.webhook is not None
    fetch(write_config(tmp_path, demo))
    green = {"name": "green", "query": '"green energy" OR ASEAN'}
    hook_only = {"name": "asean-hook", "query": "ASEAN", "channels": ["newsroom-hook"]}
    config = write_config(tmp_path, demo, extra_topics=[green, hook_only])
    cfg = load_config(config)
    db = cfg.database_path
    matcher = compile_topics([t for t in cfg.topics if t.name == "green"], cfg.aliases)
    with open_readonly(db) as store:
        dry = backfill(store, matcher, channels=cfg.topic_channels(cfg.topics[-2]),
                       since=parse_since("1h", datetime.now(UTC)), dry_run=True)
    stories = {i.article.story_id for i in dry.items}
    assert len(dry.items) > len(stories) >= 1  # the syndicated copies are one story
    assert dry.per_channel() == {"newsroom-hook": len(stories), "desk-email": len(stories)}

    sent_before = len(demo.webhook.deliveries)
    result = cli(config, "topics", "backfill", "green", "--since", "1h", "--no-deliver")
    assert result.returncode == 0, result.stderr
    assert f"queued {dry.queued} alerts (newsroom-hook {len(stories)}, desk-email {len(stories)})." in result.stdout
    assert "left in the outbox" in result.stdout
    queued = rows(config, "SELECT story_id, channel, status, topics FROM alerts WHERE topics = '[\"green\"]'")
    assert sorted((r["story_id"], r["channel"]) for r in queued) == \
        sorted((s, c) for s in stories for c in ("newsroom-hook", "desk-email"))
    assert {r["status"] for r in queued} == {"pending"}
    assert len(demo.webhook.deliveries) == sent_before
    skipped = [i for i in dry.items if not i.queued]
    assert result.stdout.count("story already alerted (or queued) for green on newsroom-hook, desk-email") \
        == len(skipped) == len(dry.items) - len(stories)

    hook = cli(config, "topics", "backfill", "asean-hook", "--since", "1h")
    assert "(newsroom-hook " in hook.stdout and "desk-email" not in hook.stdout.split("alerts (")[-1]
    # Delivery sends everything due, the pending green alerts included, as `monitor fetch` would.
    new = [(d.payload["article"]["story_id"], d.payload["topics"]) for d in demo.webhook.deliveries[sent_before:]]
    assert sorted(new) == sorted([(s, ["green"]) for s in stories] + [(s, ["asean-hook"]) for s in stories])
    assert rows(config, "SELECT count(*) AS n FROM alerts WHERE status != 'sent'")[0]["n"] == 0
    assert all(plain(s) for d in demo.webhook.deliveries[sent_before:] for m in d.payload["matches"]
               for s in m["snippets"])
    assert json.loads(rows(config, "SELECT snippets FROM matches WHERE topic = 'green' LIMIT 1")[0]["snippets"])
