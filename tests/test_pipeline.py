"""The whole pipeline end to end, against real loopback parts (issue 2's acceptance list)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from standardwebhooks import Webhook

from monitor.app import Monitor
from monitor.config import load_config
from monitor.demo.httpd import Response
from monitor.store import Store

from .conftest import SECRET, SEED_EXPECTED, SEED_HTML, Site, listing_html, make_config, run_cli

SEED_PATH = "/news/2026-01-03/Seoul-kicks-off-2026-with-Beijing-visit-to-rebuild-ties-1JqXyZ3kBz2/p.html"


def fetch(config: Path, sources: list[str] | None = None) -> Any:
    async def go() -> Any:
        async with Monitor(load_config(config)) as mon:
            return await mon.fetch(sources)

    return asyncio.run(go())


def seed_site(site: Site) -> str:
    site.page(SEED_PATH, SEED_HTML.read_bytes())
    return site.page("/opinions", listing_html(site.url + SEED_PATH))


def rows(config: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with Store.open(load_config(config).database_path) as store:
        return store.query(sql, params or [])


def test_seed_page_stored_once_as_expected(tmp_path: Path, site: Site, webhook: Any, smtp: Any) -> None:
    listing = seed_site(site)
    config = make_config(tmp_path, [{"name": "cgtn", "url": listing, "kind": "listing"}], webhook=webhook, smtp=smtp)
    summary = fetch(config)
    assert summary.exit_code == 0
    [report] = summary.reports
    assert (report.links, report.new, report.failed) == (1, 1, 0)

    expected = json.loads(SEED_EXPECTED.read_text("utf-8"))
    [article] = rows(config, "SELECT * FROM articles")
    for key in ("url", "title", "byline", "published", "modified"):
        assert article[key] == expected[key], key
    assert json.loads(article["captions"]) == expected["captions"]
    text = article["text"]
    position = -1
    for paragraph in expected["body_paragraphs_in_order"]:
        found = text.find(paragraph)
        assert found > position, paragraph[:60]
        position = found
    for banned in expected["body_must_not_contain"]:
        assert banned not in text, banned
    for key in ("first_seen", "last_seen", "source", "id"):
        assert article[key]

    # It matches the three topics, each with the passage that makes it match.
    matches = {m["topic"]: json.loads(m["snippets"]) for m in rows(config, "SELECT * FROM matches")}
    assert set(matches) == set(expected["topics_that_must_match"])
    for topic, passage in expected["topics_that_must_match"].items():
        assert any(passage in s.replace("**", "") for s in matches[topic]), topic

    # One signed webhook naming all three topics, verified by the standardwebhooks package.
    assert len(webhook.deliveries) == 1
    delivery = webhook.deliveries[0]
    assert delivery.verified and delivery.status == 200
    payload = Webhook(SECRET).verify(json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")),
                                     delivery.headers)
    assert payload["type"] == "article.matched"
    assert {m["topic"] for m in payload["matches"]} == {"mou", "japan-trip", "dprk-talks"}
    assert payload["article"]["url"] == expected["url"]
    assert payload["article"]["captions"] == expected["captions"]
    assert set(payload) >= {"type", "timestamp", "article", "matches"}

    # One email, with plain text and HTML parts.
    assert len(smtp.messages) == 1
    msg = smtp.messages[0]
    assert msg["Subject"].startswith("[monitor] ")
    assert msg["Subject"].endswith(": " + expected["title"])
    for topic in ("mou", "japan-trip", "dprk-talks"):
        assert topic in msg["Subject"]
    assert msg["Message-ID"] and msg["Date"]
    kinds = {part.get_content_type() for part in msg.walk()}
    assert {"text/plain", "text/html"} <= kinds

    alerts = rows(config, "SELECT * FROM alerts ORDER BY channel")
    assert [(a["channel"], a["status"]) for a in alerts] == [("hook", "sent"), ("mail", "sent")]
    assert all(set(json.loads(a["topics"])) == {"mou", "japan-trip", "dprk-talks"} for a in alerts)


def test_second_fetch_is_quiet_and_tracking_params_are_one_record(tmp_path: Path, site: Site, webhook: Any) -> None:
    listing = seed_site(site)
    config = make_config(tmp_path, [{"name": "cgtn", "url": listing, "kind": "listing"}], webhook=webhook)
    fetch(config)
    assert len(webhook.deliveries) == 1

    second = fetch(config)
    assert (second.reports[0].new, second.reports[0].updated) == (0, 0)
    assert len(webhook.deliveries) == 1

    # The same article reached through a URL with tracking parameters is the same record.
    site.page("/opinions", listing_html(site.url + SEED_PATH + "?utm_source=x&utm_medium=feed"))
    third = fetch(config)
    assert third.reports[0].new == 0
    assert len(rows(config, "SELECT id FROM articles")) == 1
    assert len(webhook.deliveries) == 1
    assert len(rows(config, "SELECT id FROM alerts")) == 1


def test_failing_receiver_gets_one_webhook_id(tmp_path: Path, site: Site, webhook: Any) -> None:
    webhook.answers = [500, 500]
    listing = seed_site(site)
    config = make_config(tmp_path, [{"name": "cgtn", "url": listing, "kind": "listing"}], webhook=webhook)
    summary = fetch(config)
    assert [d.status for d in webhook.deliveries] == [500, 500, 200]
    assert len({d.webhook_id for d in webhook.deliveries}) == 1
    assert all(d.verified for d in webhook.deliveries)
    [alert] = rows(config, "SELECT * FROM alerts")
    assert (alert["status"], alert["attempts"]) == ("sent", 3)
    assert summary.delivery.sent == 1
    attempts = rows(config, "SELECT status_code FROM attempts ORDER BY id")
    assert [a["status_code"] for a in attempts] == [500, 500, 200]


def test_bad_sources_are_reported_and_the_run_goes_on(tmp_path: Path, site: Site) -> None:
    listing = seed_site(site)
    site.page("/binary", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png")
    site.routes["/gone"] = Response(404, b"<h1>gone</h1>", {"content-type": "text/html"})
    sources = [
        {"name": "good", "url": listing, "kind": "listing"},
        {"name": "unreachable", "url": "http://127.0.0.1:9/nothing", "kind": "listing"},
        {"name": "missing", "url": site.url + "/gone"},
        {"name": "not-html", "url": site.url + "/binary"},
    ]
    config = make_config(tmp_path, sources)
    result = run_cli("fetch", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    out = result.stdout
    assert "good" in out and "connection failed" in out
    assert "HTTP 404" in out
    assert "not parsed" in out or "binary" in out
    assert len(rows(config, "SELECT id FROM articles")) == 1
    states = {r["name"]: r for r in rows(config, "SELECT * FROM sources")}
    assert states["good"]["state"] == "healthy"
    assert states["unreachable"]["consecutive_failures"] == 1
    assert "404" in states["missing"]["last_error"]


def test_all_sources_failing_exits_1(tmp_path: Path) -> None:
    config = make_config(tmp_path, [{"name": "down", "url": "http://127.0.0.1:9/", "kind": "listing"}])
    result = run_cli("fetch", "--config", str(config))
    assert result.returncode == 1
    assert "connection failed" in result.stdout
    assert "Traceback" not in result.stderr


def test_config_error_names_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - name: a\n    url: https://example.org/\n    evrey: 5m\n", "utf-8")
    result = run_cli("fetch", "--config", str(bad))
    assert result.returncode == 2
    assert f"{bad}:4: sources[0].evrey: unknown key 'evrey'" in result.stderr
    assert "did you mean 'every'" in result.stderr
    assert "Traceback" not in result.stderr
    # --config before the subcommand works too, and so does $MONITOR_CONFIG.
    assert run_cli("--config", str(bad), "check").returncode == 2
    assert run_cli("check", env={"MONITOR_CONFIG": str(bad)}).returncode == 2


def test_check_prints_the_plan(tmp_path: Path) -> None:
    config = make_config(tmp_path, [{"name": "cgtn", "url": "https://www.cgtn.com/opinions", "kind": "listing"}])
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "cgtn" in result.stdout and "japan-trip" in result.stdout and "15m" in result.stdout
    assert "at once" in result.stdout


def test_check_says_when_digests_go(tmp_path: Path) -> None:
    config = make_config(tmp_path, [{"name": "cgtn", "url": "https://www.cgtn.com/opinions"}])
    data = yaml.safe_load(config.read_text())
    data["topics"][0]["digest"] = {"at": "09:00", "days": ["thu", "mon"], "timezone": "Europe/Berlin"}
    data["channels"] = [{"name": "hook", "type": "webhook", "url": "https://hooks.example.org/x",
                         "secret": "whsec_" + "A" * 32, "quiet_hours": {"days": "weekends"}}]
    config.write_text(yaml.safe_dump(data))
    result = run_cli("check", "--config", str(config), env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    assert "digest Mon, Thu 09:00 Europe/Berlin; next 20" in result.stdout
    assert "Sat, Sun UTC" in result.stdout


def test_digest_schedules_in_words() -> None:
    from monitor.alerts.schedule import describe, describe_quiet
    from monitor.config import DigestConfig, QuietHours

    assert describe(DigestConfig(at="08:00", timezone="Asia/Seoul")) == "daily 08:00 Asia/Seoul"
    assert describe(DigestConfig(at="09:00", days=["weekends"])) == "Sat, Sun 09:00 UTC"
    assert describe(DigestConfig(at="09:00", days=["weekdays", "weekends"])) == "daily 09:00 UTC"
    assert describe(DigestConfig(every=6 * 3600)) == "every 6h from 00:00 UTC"
    assert describe_quiet(QuietHours(start="22:00", end="07:00", timezone="America/New_York")) == \
        "22:00-07:00 America/New_York"
    assert describe_quiet(QuietHours(days=["sun", "sat"], start="20:00", end="08:00")) == "Sat, Sun and 20:00-08:00 UTC"


def test_shipped_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MONITOR_WEBHOOK_URL", "MONITOR_SMTP_HOST", "MONITOR_SMTP_USER", "MONITOR_SMTP_PASSWORD"):
        monkeypatch.setenv(var, "x")
    monkeypatch.setenv("MONITOR_WEBHOOK_SECRET", "whsec_" + "A" * 32)
    cfg = load_config(Path(__file__).parent.parent / "config.yaml")
    assert [s.name for s in cfg.sources] == ["cgtn-opinions"]
    assert cfg.sources[0].url == "https://www.cgtn.com/opinions"
    assert [t.name for t in cfg.topics] == ["mou", "japan-trip", "dprk-talks"]
    assert {c.type for c in cfg.channels} == {"webhook", "email"}


def test_db_option_overrides_config(tmp_path: Path, site: Site) -> None:
    listing = seed_site(site)
    config = make_config(tmp_path, [{"name": "cgtn", "url": listing, "kind": "listing"}])
    other = tmp_path / "elsewhere.db"
    result = run_cli("fetch", "--config", str(config), "--db", str(other), "--source", "cgtn")
    assert result.returncode == 0, result.stderr
    with Store.open(other) as store:
        assert len(store.query("SELECT id FROM articles")) == 1
    assert not Path(load_config(config).database_path).exists()


def test_monitor_db_environment_variable(tmp_path: Path, site: Site) -> None:
    listing = seed_site(site)
    config = make_config(tmp_path, [{"name": "cgtn", "url": listing, "kind": "listing"}])
    other = tmp_path / "from-env.db"
    result = run_cli("fetch", "--config", str(config), env={"MONITOR_DB": str(other)})
    assert result.returncode == 0, result.stderr
    with Store.open(other) as store:
        assert len(store.query("SELECT id FROM articles")) == 1
