"""The storage commands as a user runs them (`python -m monitor ...` in a subprocess): db migrate,
info, vacuum, backup; search; show; export; reextract; and the `retention` config rule."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import parse_config
from monitor.errors import ConfigError
from monitor.models import Article, Match
from monitor.store import Store

from .conftest import make_config, run_cli
from .test_dedup import SAME_TOPIC_BODY, SEED_PARAGRAPHS, SEED_TITLE, SHORT_A, SYNDICATED_PARAGRAPHS


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 3, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = make_config(tmp_path, [])
    clock = Clock()
    with Store.open(tmp_path / "monitor.db", clock=clock) as store:
        def put(url: str, title: str, paragraphs: list[str], source: str, topics: tuple[str, ...] = ()) -> None:
            store.save_article(source=source, article=Article(url=url, title=title, paragraphs=paragraphs),
                               fetched_url=url, matches=[Match(t, (f"a **{t}** passage",), 1) for t in topics],
                               routes={})
            clock.now = clock.now.replace(day=clock.now.day + 1)

        put("https://a.example/seed", SEED_TITLE, SEED_PARAGRAPHS, "cgtn", ("mou",))
        put("https://b.example/copy", "Lee heads to Beijing", SYNDICATED_PARAGRAPHS, "wire")
        put("https://c.example/topic", "Lee lands in Beijing for talks", SAME_TOPIC_BODY.split("\n\n"), "wire")
        put("https://d.example/buses", "Night buses", [SHORT_A], "local")
    return path


def ok(*args: str) -> str:
    result = run_cli(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_db_migrate_and_info(tmp_path: Path, config: Path) -> None:
    fresh = tmp_path / "fresh" / "new.db"
    out = ok("db", "migrate", "--db", str(fresh))
    assert "applied 001_initial" in out and "applied 003_store_dedup_index" in out and "up to date" in out
    assert "applied" not in ok("db", "migrate", "--db", str(fresh))
    out = ok("db", "info", "--config", str(config))
    assert "schema version" in out and "articles" in out and "journal mode wal" in out
    info = json.loads(ok("db", "info", "--json", "--config", str(config)))
    assert info["counts"]["articles"] == 4 and info["counts"]["stories"] == 3
    assert info["pending"] == [] and info["full_text"] == 4 and info["size"] > 0


def test_commands_on_a_missing_database_say_so(tmp_path: Path) -> None:
    for args in (("db", "info"), ("search", "x"), ("show", "https://a.example/"), ("export",), ("db", "vacuum")):
        result = run_cli(*args, "--db", str(tmp_path / "none.db"))
        assert result.returncode == 1, args
        assert "no database at" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_search_prints_ranked_hits_with_snippets(config: Path) -> None:
    out = ok("search", "Beijing", "--config", str(config))
    titles = [line.split(". ", 1)[1] for line in out.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    assert titles[0] in ("Lee heads to Beijing", "Lee lands in Beijing for talks")  # title hits first
    assert SEED_TITLE in titles and len(titles) == 3
    assert "story" in out and "2 outlets" in out  # the seed and its copy are one story
    hits = [json.loads(line) for line in ok("search", "memoranda", "--json", "--config", str(config)).splitlines()]
    assert hits and all("**memoranda" in h["snippet"].lower() for h in hits)
    assert {h["source"] for h in hits} == {"cgtn", "wire"}
    only = [json.loads(x) for x in ok("search", "memoranda", "--source", "cgtn", "--json", "--config", str(config)).splitlines()]
    assert [h["source"] for h in only] == ["cgtn"]
    later = [json.loads(x) for x in ok("search", "Beijing", "--since", "2026-01-05", "--json", "--config",
                                       str(config)).splitlines()]
    assert [h["title"] for h in later] == ["Lee lands in Beijing for talks"]
    assert len(ok("search", "Beijing", "-n", "1", "--json", "--config", str(config)).splitlines()) == 1
    none = run_cli("search", "zeppelin", "--config", str(config))
    assert none.returncode == 1 and "no articles match" in none.stderr
    bad = run_cli("search", "x", "--since", "someday", "--config", str(config))
    assert bad.returncode == 1 and "--since" in bad.stderr and "Traceback" not in bad.stderr
    literal = run_cli("search", "Jae-Myung (", "--config", str(config))
    assert literal.returncode == 0 and "searched for the words as written" in literal.stderr


def test_search_by_story_lists_each_story_once_with_its_other_outlets(config: Path) -> None:
    plain = [json.loads(x) for x in ok("search", "Beijing", "--json", "--config", str(config)).splitlines()]
    assert len(plain) == 3 and len({h["story_id"] for h in plain}) == 2  # the seed and its copy: one story
    hits = [json.loads(x) for x in ok("search", "Beijing", "--by-story", "--json", "--config", str(config)).splitlines()]
    assert len(hits) == 2 and len({h["story_id"] for h in hits}) == 2
    best = {h["story_id"]: h for h in plain if h["score"] == min(p["score"] for p in plain
                                                                  if p["story_id"] == h["story_id"])}
    assert {h["id"] for h in hits} == {h["id"] for h in best.values()}  # each story's best-ranked article
    [shared] = [h for h in hits if h["outlets"] == 2]
    [other] = [p for p in plain if p["story_id"] == shared["story_id"] and p["id"] != shared["id"]]
    assert shared["other_outlets"] == [{"source": other["source"], "url": other["url"]}]
    assert [h["other_outlets"] for h in hits if h["outlets"] == 1] == [[]]
    text = ok("search", "Beijing", "--by-story", "--config", str(config))
    assert f"also: {other['source']}" in text
    assert len(ok("search", "Beijing", "--by-story", "-n", "1", "--json", "--config", str(config)).splitlines()) == 1


def test_show_prints_the_record_story_and_unknown_urls_fail(config: Path) -> None:
    out = ok("show", "https://b.example/copy?utm_source=x", "--config", str(config))
    assert "Lee heads to Beijing" in out and "also seen at" in out and "https://a.example/seed" in out
    assert "revisions (0)" in out
    missing = run_cli("show", "https://nowhere.example/x", "--config", str(config))
    assert missing.returncode == 1 and "no stored article for https://nowhere.example/x" in missing.stderr


def test_export_jsonl_and_csv(tmp_path: Path, config: Path) -> None:
    lines = [json.loads(x) for x in ok("export", "--config", str(config)).splitlines()]
    assert [r["url"] for r in lines] == ["https://a.example/seed", "https://b.example/copy",
                                         "https://c.example/topic", "https://d.example/buses"]
    assert lines[0]["topics"] == ["mou"] and lines[0]["story_id"] == lines[1]["story_id"]
    target = tmp_path / "out.csv"
    result = run_cli("export", "--format", "csv", "--since", "2026-01-05", "-o", str(target), "--config", str(config))
    assert result.returncode == 0 and "exported 2 articles" in result.stderr
    table = list(csv.DictReader(io.StringIO(target.read_text("utf-8"))))
    assert [r["url"] for r in table] == ["https://c.example/topic", "https://d.example/buses"]
    bad = run_cli("export", "--format", "xml", "--config", str(config))
    assert bad.returncode == 2


def test_backup_vacuum_and_reextract_without_html(tmp_path: Path, config: Path) -> None:
    target = tmp_path / "b.db"
    assert "check ok" in ok("db", "backup", str(target), "--config", str(config))
    again = run_cli("db", "backup", str(target), "--config", str(config))
    assert again.returncode == 1 and "--force" in again.stderr
    ok("db", "backup", str(target), "--force", "--config", str(config))
    assert "->" in ok("db", "vacuum", "--config", str(config))
    result = run_cli("reextract", "--config", str(config))
    assert result.returncode == 0 and "store_html is off" in result.stderr


@pytest.mark.parametrize(("value", "ok_"), [("30d", True), ("86400", True), ("30", False), ("12h", False)])
def test_retention_must_be_a_day_or_more(value: str, ok_: bool) -> None:
    text = f"retention: {value}\n"
    if ok_:
        assert parse_config(text).retention is not None
    else:
        with pytest.raises(ConfigError, match="at least 1 day") as info:
            parse_config(text, "c.yaml")
        assert "c.yaml:1: retention" in str(info.value)


@pytest.mark.parametrize(("value", "expected"), [("30d", 30 * 86400.0), ("null", None), ("12h", "error")])
def test_fetch_history_is_a_day_or_more_or_kept_forever(value: str, expected: float | str | None) -> None:
    assert parse_config("sources: []\n").fetch_history == 90 * 86400.0  # the default
    text = f"sources: []\nfetch_history: {value}\n"
    if expected == "error":
        with pytest.raises(ConfigError, match="at least 1 day") as info:
            parse_config(text, "c.yaml")
        assert "c.yaml:2: fetch_history" in str(info.value)
    else:
        assert parse_config(text).fetch_history == expected
