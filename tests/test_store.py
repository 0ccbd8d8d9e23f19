"""The store on a real SQLite file: migrations, identity by URL key, stories, revisions, retention,
search, export, backup and vacuum (in-process; the CLI and two-process tests are elsewhere)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor import dedup
from monitor.errors import StoreError
from monitor.models import Article, Match
from monitor.schema import MIGRATIONS
from monitor.store import Store
from monitor.store_maint import backup, db_info, vacuum
from monitor.store_read import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    article_record,
    export_rows,
    parse_since,
    search,
    write_export,
)

from .test_dedup import (
    FILL_A,
    FILL_B,
    SAME_TOPIC_BODY,
    SEED_PARAGRAPHS,
    SEED_TITLE,
    SHORT_A,
    SHORT_B,
    SYNDICATED_PARAGRAPHS,
    boilerplate_body,
    template_body,
)

ROUTES = {"mou": ["hook"], "japan-trip": ["hook"], "dprk-talks": ["hook"]}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 3, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    s = Store.open(tmp_path / "monitor.db", clock=clock)
    yield s
    s.close()


def art(url: str | None, title: str, body: str | list[str], **kw: Any) -> Article:
    paragraphs = body if isinstance(body, list) else body.split("\n\n")
    return Article(url=url, title=title, paragraphs=list(paragraphs), **kw)


def save(store: Store, a: Article, fetched: str, *, source: str = "s", matches: tuple[str, ...] = (),
         final: str | None = None) -> Any:
    return store.save_article(source=source, article=a, fetched_url=fetched, final_url=final,
                              matches=[Match(t, (f"about **{t}**",), 1) for t in matches], routes=ROUTES)


# ---------------------------------------------------------------------------- schema

def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with Store.open(path) as s:
        assert s.pending_migrations() == []
        assert s.schema_version == len(MIGRATIONS)
        names = [r["name"] for r in s.query("SELECT name FROM _migrations ORDER BY rowid")]
        assert names == [n for n, _ in MIGRATIONS]
        assert s.one("PRAGMA journal_mode")["journal_mode"] == "wal"  # type: ignore[index]
        assert s.one("PRAGMA busy_timeout")["timeout"] >= 5000  # type: ignore[index]
    with Store.open(path) as s:
        assert s.migrate() == []


def test_datasette_finds_the_search_index(store: Store) -> None:
    """Datasette offers search on a table when sqlite-utils' rule finds its FTS table (content="...")."""
    import sqlite_utils

    assert sqlite_utils.Database(store.conn)["articles"].detect_fts() == "articles_fts"


def test_upgrade_from_the_first_schema_rebuilds_the_dedup_index(tmp_path: Path) -> None:
    """A database made before 003_store_dedup_index keeps its rows, and they become findable."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, fn in MIGRATIONS[:2]:
        fn(db)
        db.execute("INSERT INTO _migrations VALUES (?, '2026-01-01T00:00:00+00:00')", [name])
    db.execute("INSERT INTO stories (id, title, created) VALUES (1, 't', 'x')")
    db.execute("INSERT INTO articles (url, url_key, source, story_id, title, text, content_hash, simhash, first_seen, "
               "last_seen) VALUES ('https://a.example/1', 'https://a.example/1', 's', 1, ?, ?, 'h', 0, "
               "'2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')", [SEED_TITLE, "\n\n".join(SEED_PARAGRAPHS)])
    conn.close()
    with Store.open(path) as s:
        assert "003_store_dedup_index" in [r["name"] for r in s.query("SELECT name FROM _migrations")]
        assert s.one("SELECT count(*) AS n FROM simhash_bands")["n"] == 4  # type: ignore[index]
        assert s.one("SELECT count(*) AS n FROM paragraph_hashes")["n"] >= 10  # type: ignore[index]
        found = s.find_story("\n\n".join(SYNDICATED_PARAGRAPHS), "a copy")
        assert found is not None and found.story_id == 1 and found.how == "near"


# ---------------------------------------------------------------------------- identity

def test_one_record_per_key_and_the_stated_url_kept(store: Store) -> None:
    a = art("https://www.example.com/news/lee-visit", SEED_TITLE, SEED_PARAGRAPHS)
    first = save(store, a, "http://www.example.com/news/lee-visit?utm_source=rss")
    assert first.status == "new"
    for fetched in ("https://example.com/news/lee-visit/", "https://m.example.com/news/lee-visit/amp",
                    "http://www.example.com/news/lee-visit#top"):
        assert save(store, art(None, SEED_TITLE, SEED_PARAGRAPHS), fetched).status == "unchanged"
    [row] = store.query("SELECT * FROM articles")
    assert row["url"] == "https://www.example.com/news/lee-visit"  # as the page states it
    assert row["url_key"] == "https://example.com/news/lee-visit"
    assert store.article_by_url("https://example.com/news/lee-visit?fbclid=x")["id"] == row["id"]  # type: ignore[index]


def test_a_canonical_on_another_site_does_not_take_over_a_record(store: Store) -> None:
    original = save(store, art("https://paper.example/a/lee-visit", SEED_TITLE, SEED_PARAGRAPHS),
                    "https://paper.example/a/lee-visit")
    # another site names the original as its canonical but carries a different text
    hijack = save(store, art("https://paper.example/a/lee-visit", "Buy cheap watches", SAME_TOPIC_BODY),
                  "https://spam.example/x/1")
    assert hijack.status == "new" and hijack.article_id != original.article_id
    assert hijack.story_id != original.story_id
    kept = store.one("SELECT title, revisions FROM articles WHERE id = ?", [original.article_id])
    assert kept == {"title": SEED_TITLE, "revisions": 0}
    # a syndicated copy naming the original joins its story, as its own record
    copy = save(store, art("https://paper.example/a/lee-visit", SEED_TITLE, SYNDICATED_PARAGRAPHS),
                "https://wire.example/story/99")
    assert copy.status == "new" and copy.article_id != original.article_id
    assert copy.story_id == original.story_id


def test_same_site_canonical_to_the_front_page_or_another_article_is_not_trusted(store: Store) -> None:
    one = save(store, art("https://site.example/", "Council extends night buses", boilerplate_body(SHORT_A)),
               "https://site.example/city/night-buses")
    two = save(store, art("https://site.example/", "Bakery wins bread prize", boilerplate_body(SHORT_B)),
               "https://site.example/food/bread-prize")
    assert one.article_id != two.article_id
    three = save(store, art("https://site.example/city/night-buses", "Rail strike called off", SAME_TOPIC_BODY),
                 "https://site.example/city/rail-strike")
    assert three.status == "new" and three.article_id not in (one.article_id, two.article_id)
    # while a same-site canonical to the same article (an AMP page) is one record
    amp = save(store, art("https://site.example/city/rail-strike", "Rail strike called off", SAME_TOPIC_BODY),
               "https://site.example/amp-pages/rail-strike-amp")
    assert amp.article_id == three.article_id and amp.status == "unchanged"


# ---------------------------------------------------------------------------- stories

def test_stories_join_copies_and_keep_others_apart(store: Store) -> None:
    seed = save(store, art("https://a.example/seed", SEED_TITLE, SEED_PARAGRAPHS), "https://a.example/seed",
                matches=("mou", "japan-trip"))
    assert seed.alerts == 1
    copy = save(store, art("https://b.example/copy", "Lee heads to Beijing", SYNDICATED_PARAGRAPHS),
                "https://b.example/copy", matches=("mou", "japan-trip"))
    assert (copy.status, copy.story_id, copy.alerts) == ("new", seed.story_id, 0)
    topic = save(store, art("https://c.example/t", "Lee lands in Beijing", SAME_TOPIC_BODY), "https://c.example/t",
                 matches=("mou",))
    assert topic.story_id != seed.story_id and topic.alerts == 1
    t1 = save(store, art("https://d.example/1", "Northwind results", template_body(FILL_A)), "https://d.example/1")
    t2 = save(store, art("https://d.example/2", "Contoso results", template_body(FILL_B)), "https://d.example/2")
    assert t1.story_id != t2.story_id
    b1 = save(store, art("https://e.example/1", "Night buses", boilerplate_body(SHORT_A)), "https://e.example/1")
    b2 = save(store, art("https://e.example/2", "Bread prize", boilerplate_body(SHORT_B)), "https://e.example/2")
    assert b1.story_id != b2.story_id
    assert store.one("SELECT count(*) AS n FROM stories")["n"] == 6  # type: ignore[index]


def test_a_sites_template_paragraphs_are_not_evidence(store: Store) -> None:
    """A paragraph that leaked into every page of a site (here 25 pages) stops pointing at copies."""
    footer = ("About the Harbour Times: founded in 1921, the Harbour Times is the independent daily of the "
              "northern coast, with newsrooms in Port Ellen, Tarbet and Kilmory and a weekly farming supplement. "
              "Our reporters cover the councils, the courts, the ferries and the fishing fleet, and our letters "
              "page is open to every reader who signs with a name and a town.")
    tail = ("Residents can read the full council minutes at the town hall library, which opens every weekday "
            "morning and on Saturdays during the summer months, or ask for a printed copy by post.")
    for i in range(25):
        body = f"Item {i}: the harbour board met on day {i} to review mooring fees for fishing boats and yachts.\n\n{footer}"
        save(store, art(f"https://h.example/{i}", f"Harbour item {i}", body), f"https://h.example/{i}")
    body_a, body_b = f"{SHORT_A}\n\n{footer}\n\n{tail}", f"{SHORT_B}\n\n{footer}\n\n{tail}"
    assert dedup.same_story(dedup.compare(body_a, body_b))  # with the template they would look like copies
    a = save(store, art("https://h.example/a", "Night buses", body_a), "https://h.example/a")
    b = save(store, art("https://h.example/b", "Bread prize", body_b), "https://h.example/b")
    assert a.story_id != b.story_id
    common = store.query("SELECT count(*) AS n FROM paragraph_hashes WHERE hash = ?",
                         [dedup.paragraph_hashes(footer)[0]])[0]["n"]
    assert common == 27


def test_lookups_are_bounded_index_reads(store: Store) -> None:
    plans = []
    for sql in ("SELECT article_id, simhash FROM simhash_bands WHERE band = ? LIMIT 64",
                "SELECT article_id FROM paragraph_hashes WHERE hash = ? LIMIT 21",
                "SELECT story_id, id FROM articles WHERE content_hash = ? LIMIT 1",
                "SELECT * FROM articles WHERE url = ? ORDER BY id LIMIT 1",
                "SELECT id FROM articles WHERE text IS NOT NULL AND first_seen < ? ORDER BY first_seen LIMIT 9"):
        plans.append(" ".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql, [1])))
    assert all("SEARCH" in p and "SCAN" not in p for p in plans), plans


# ---------------------------------------------------------------------------- revisions

def test_an_edit_is_a_revision_with_a_diff(store: Store, clock: Clock) -> None:
    first = save(store, art("https://a.example/seed", SEED_TITLE, SEED_PARAGRAPHS), "https://a.example/seed",
                 matches=("japan-trip",))
    clock.now += timedelta(hours=2)
    edited = [*SEED_PARAGRAPHS[:5], SEED_PARAGRAPHS[5].replace("various", "six"), *SEED_PARAGRAPHS[6:]]
    second = save(store, art("https://a.example/seed", SEED_TITLE + " (updated)", edited), "https://a.example/seed",
                  matches=("japan-trip",))
    assert (second.status, second.article_id, second.alerts) == ("updated", first.article_id, 0)
    third = save(store, art("https://a.example/seed", SEED_TITLE + " (updated)", edited), "https://a.example/seed",
                 matches=("japan-trip", "mou"))
    assert third.status == "unchanged" and third.alerts == 0
    [rev] = store.query("SELECT * FROM revisions")
    assert rev["text"] == "\n\n".join(SEED_PARAGRAPHS) and rev["reason"] == "edit"
    assert "-South Korea said various memoranda" in rev["diff"] and "+South Korea said six memoranda" in rev["diff"]
    assert rev["diff"].startswith(f"- title: {SEED_TITLE}\n+ title: {SEED_TITLE} (updated)")
    row = store.one("SELECT revisions, updated, text FROM articles")
    assert row is not None and row["revisions"] == 1 and "six memoranda" in row["text"]
    # the index follows the new text: exactly one article's rows, findable by the new wording
    assert store.one("SELECT count(*) AS n FROM simhash_bands")["n"] == 4  # type: ignore[index]
    assert [h.id for h in search(store, '"six memoranda"')[0]] == [first.article_id]
    assert search(store, '"various memoranda"')[0] == []


def test_an_edit_that_brings_a_new_topic_alerts_only_that_topic(store: Store) -> None:
    save(store, art("https://a.example/x", "A visit", SEED_PARAGRAPHS[:4]), "https://a.example/x",
         matches=("japan-trip",))
    edited = save(store, art("https://a.example/x", "A visit", SEED_PARAGRAPHS[:6]), "https://a.example/x",
                  matches=("japan-trip", "mou"))
    assert edited.status == "updated" and edited.alerts == 1
    topics = [json.loads(r["topics"]) for r in store.query("SELECT topics FROM alerts ORDER BY id")]
    assert topics == [["japan-trip"], ["mou"]]


# ---------------------------------------------------------------------------- retention

def test_retention_keeps_metadata_and_the_story_index(store: Store, clock: Clock) -> None:
    old = save(store, art("https://a.example/seed", SEED_TITLE, SEED_PARAGRAPHS), "https://a.example/seed",
               matches=("mou",))
    save(store, art("https://a.example/seed", SEED_TITLE, SEED_PARAGRAPHS[:-1]), "https://a.example/seed")
    clock.now += timedelta(days=40)
    fresh = save(store, art("https://a.example/new", "Bread prize", boilerplate_body(SHORT_B)), "https://a.example/new")
    assert store.apply_retention(30 * 86400, batch=1) == 1
    row = store.one("SELECT * FROM articles WHERE id = ?", [old.article_id])
    assert row is not None and row["text"] is None and row["html"] is None and row["text_cleared"]
    assert row["title"] == SEED_TITLE and row["content_hash"]
    assert store.one("SELECT text, diff FROM revisions") == {"text": None, "diff": None}
    assert store.one("SELECT text FROM articles WHERE id = ?", [fresh.article_id])["text"]  # type: ignore[index]
    assert store.query("SELECT topic FROM matches") == [{"topic": "mou"}]
    # search no longer finds the body, still finds the title
    assert search(store, "memoranda")[0] == []
    assert [h.id for h in search(store, "Seoul kicks")[0]] == [old.article_id]
    # a later copy still joins the story, judged on the index
    copy = save(store, art("https://b.example/copy", "Copy", SYNDICATED_PARAGRAPHS), "https://b.example/copy")
    assert copy.story_id == old.story_id
    assert store.apply_retention(30 * 86400) == 0
    # the FTS index is consistent with the table
    store.conn.execute("INSERT INTO articles_fts(articles_fts) VALUES ('integrity-check')")


def test_retention_runs_at_most_every_ten_minutes(store: Store, clock: Clock) -> None:
    save(store, art("https://a.example/seed", SEED_TITLE, SEED_PARAGRAPHS), "https://a.example/seed")
    clock.now += timedelta(days=2)
    assert store.maybe_apply_retention(None) == 0
    assert store.maybe_apply_retention(86400) == 1
    save(store, art("https://a.example/b", "Bread", boilerplate_body(SHORT_B)), "https://a.example/b")
    clock.now += timedelta(days=2)
    assert store.maybe_apply_retention(86400) == 0  # too soon after the last pass


def test_fetch_history_older_than_its_limit_is_deleted(store: Store, clock: Clock) -> None:
    for day in range(10):  # one fetch record a day for ten days, then five more today
        store.record_fetch(source="s", url=f"https://a.example/{day}", outcome="ok", status=200)
        clock.now += timedelta(days=1)
    for n in range(5):
        store.record_fetch(source="s", url=f"https://a.example/today-{n}", outcome="not_modified", status=304)
    # kept: the last 3 days (days 7, 8, 9) and today's five; in steps of two rows
    assert store.prune_fetches(3.5 * 86400, batch=2) == 7
    left = [r["url"] for r in store.query("SELECT url FROM fetches ORDER BY id")]
    assert left == [f"https://a.example/{d}" for d in (7, 8, 9)] + [f"https://a.example/today-{n}" for n in range(5)]
    assert store.prune_fetches(3.5 * 86400) == 0
    # the URLs' validators are not fetch history: they stay
    assert store.one("SELECT count(*) AS n FROM urls")["n"] == 15  # type: ignore[index]


def test_upkeep_prunes_fetch_history_without_retention(store: Store, clock: Clock) -> None:
    store.record_fetch(source="s", url="https://a.example/old", outcome="ok", status=200)
    clock.now += timedelta(days=100)
    store.record_fetch(source="s", url="https://a.example/new", outcome="ok", status=200)
    assert store.maybe_apply_retention(None, fetch_history=90 * 86400) == 0  # no article text cleared
    assert [r["url"] for r in store.query("SELECT url FROM fetches")] == ["https://a.example/new"]


# ---------------------------------------------------------------------------- search

@pytest.fixture
def corpus(store: Store, clock: Clock) -> dict[str, int]:
    ids = {}
    ids["seed"] = save(store, art("https://a.example/seed", SEED_TITLE, SEED_PARAGRAPHS, byline="Gabriela Bernal"),
                       "https://a.example/seed", source="cgtn").article_id
    clock.now += timedelta(days=1)
    ids["topic"] = save(store, art("https://b.example/t", "Lee lands in Beijing", SAME_TOPIC_BODY,
                                   captions=["Lee Jae Myung at the airport"]), "https://b.example/t", source="wire").article_id
    clock.now += timedelta(days=1)
    ids["buses"] = save(store, art("https://c.example/b", "Night buses to the airport", boilerplate_body(SHORT_A)),
                        "https://c.example/b", source="local").article_id
    return ids


def test_search_ranks_highlights_and_filters(store: Store, corpus: dict[str, int]) -> None:
    hits, literal = search(store, "Beijing")
    assert not literal
    assert [h.id for h in hits] == [corpus["topic"], corpus["seed"]]  # the title hit ranks first
    assert f"{HIGHLIGHT_START}Beijing{HIGHLIGHT_END}" in hits[0].snippet
    assert hits[0].score <= hits[1].score
    assert [h.id for h in search(store, "airport")[0]][0] == corpus["buses"]
    assert [h.id for h in search(store, "Beijing", source="cgtn")[0]] == [corpus["seed"]]
    since = parse_since("2026-01-04", datetime(2026, 2, 1, tzinfo=UTC))
    assert [h.id for h in search(store, "Beijing", since=since)[0]] == [corpus["topic"]]
    assert [h.id for h in search(store, "Bernal")[0]] == [corpus["seed"]]  # byline
    assert [h.id for h in search(store, "airport", limit=1)[0]] == [corpus["buses"]]
    assert [h.id for h in search(store, '"state visit" NOT Shanghai')[0]] == []
    assert [h.id for h in search(store, '"state visit" NOT tourism')[0]] == [corpus["seed"]]


def test_search_by_story_keeps_each_storys_best_hit(store: Store, corpus: dict[str, int], clock: Clock) -> None:
    clock.now += timedelta(days=1)
    copy = save(store, art("https://d.example/copy", "Lee heads to Beijing", SYNDICATED_PARAGRAPHS),
                "https://d.example/copy", source="agency").article_id
    seed_story = store.one("SELECT story_id FROM articles WHERE id = ?", [corpus["seed"]])["story_id"]  # type: ignore[index]
    assert store.one("SELECT story_id FROM articles WHERE id = ?", [copy])["story_id"] == seed_story  # type: ignore[index]
    every = [h.id for h in search(store, "Beijing")[0]]
    assert set(every) == {corpus["seed"], corpus["topic"], copy}
    hits, _ = search(store, "Beijing", by_story=True)
    assert [h.id for h in hits] == [i for i in every if i != corpus["seed"]]  # the copy's title hit outranks the seed
    [story] = [h for h in hits if h.id == copy]
    assert story.outlets == 2 and story.others == (("cgtn", "https://a.example/seed"),)
    assert [h.others for h in hits if h.id == corpus["topic"]] == [()]
    # filters apply before grouping: within cgtn the seed is its story's best hit
    assert [(h.id, h.others) for h in search(store, "Beijing", source="cgtn", by_story=True)[0]] == [
        (corpus["seed"], (("agency", "https://d.example/copy"),))]
    assert len(search(store, "Beijing", by_story=True, limit=1)[0]) == 1
    hits, literal = search(store, "Lee Jae-Myung (", by_story=True)
    assert literal and {h.story_id for h in hits} == {seed_story, store.one(
        "SELECT story_id FROM articles WHERE id = ?", [corpus["topic"]])["story_id"]}  # type: ignore[index]


def test_search_falls_back_to_plain_words(store: Store, corpus: dict[str, int]) -> None:
    hits, literal = search(store, "Lee Jae-Myung (")
    assert literal and {h.id for h in hits} == {corpus["seed"], corpus["topic"]}
    with pytest.raises(StoreError):
        search(store, "   ")


def test_parse_since() -> None:
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert parse_since("2026-01-03", now) == "2026-01-03T00:00:00+00:00"
    assert parse_since("2026-01-03T08:00+02:00", now) == "2026-01-03T06:00:00+00:00"
    assert parse_since("7d", now) == "2026-01-03T12:00:00+00:00"
    with pytest.raises(StoreError, match="--since"):
        parse_since("last tuesday", now)


# ---------------------------------------------------------------------------- show, export

def test_article_record_gathers_story_revisions_and_alerts(store: Store) -> None:
    seed = save(store, art("https://a.example/seed", SEED_TITLE, SEED_PARAGRAPHS), "https://a.example/seed",
                matches=("mou",))
    copy = save(store, art("https://b.example/c", "Copy", SYNDICATED_PARAGRAPHS), "https://b.example/c",
                matches=("mou", "dprk-talks"))
    rec = article_record(store, "https://b.example/c?utm_source=x")
    assert rec is not None and rec.article["id"] == copy.article_id
    assert [o["url"] for o in rec.also_seen_at] == ["https://a.example/seed"]
    assert [(json.loads(a["topics"]), a["article_id"]) for a in rec.alerts] == [
        (["mou"], seed.article_id), (["dprk-talks"], copy.article_id)]
    assert article_record(store, str(seed.article_id)) is not None
    assert article_record(store, "https://nowhere.example/") is None


def test_export_streams_jsonl_and_csv(store: Store, corpus: dict[str, int]) -> None:
    rows = export_rows(store)
    assert iter(rows) is rows  # a generator, not a list
    buf = io.StringIO()
    assert write_export(rows, buf, "jsonl") == 3
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [r["id"] for r in lines] == [corpus["seed"], corpus["topic"], corpus["buses"]]
    assert lines[1]["captions"] == ["Lee Jae Myung at the airport"] and lines[0]["byline"] == "Gabriela Bernal"
    buf = io.StringIO()
    since = parse_since("2026-01-04", datetime(2026, 2, 1, tzinfo=UTC))
    assert write_export(export_rows(store, since=since), buf, "csv") == 2
    table = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [int(r["id"]) for r in table] == [corpus["topic"], corpus["buses"]]
    assert json.loads(table[0]["captions"]) == ["Lee Jae Myung at the airport"]
    assert "\n\n" in table[0]["text"]


# ---------------------------------------------------------------------------- maintenance

def test_info_vacuum_backup(store: Store, corpus: dict[str, int], tmp_path: Path) -> None:
    info = db_info(store)
    assert info.counts["articles"] == 3 and info.full_text == 3 and info.pending == []
    assert info.schema_version == len(MIGRATIONS) and info.journal_mode == "wal"
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before, after = vacuum(store)
    assert after > 0 and before > 0
    report = backup(store, tmp_path / "copy" / "b.db")
    assert report.check == "ok" and report.articles == 3
    with Store.open(report.path) as copy:
        assert copy.one("SELECT count(*) AS n FROM articles")["n"] == 3  # type: ignore[index]
        assert [h.id for h in search(copy, "Beijing")[0]] == [corpus["topic"], corpus["seed"]]
    with pytest.raises(StoreError, match="exists"):
        backup(store, report.path)
    assert backup(store, report.path, overwrite=True).articles == 3
    with pytest.raises(StoreError, match="another file"):
        backup(store, store.path, overwrite=True)
