"""The daemon's scheduling rules (pure functions, table-driven) and, in-process against loopback
parts, backoff of a failing source and the operator alerts of a broken one."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import SourceConfig, load_config
from monitor.daemon import Daemon
from monitor.demo.httpd import Response
from monitor.demo.receivers import WebhookReceiver
from monitor.schedule import backoff_interval, broken_reason, first_run_time
from monitor.store import Store

from .conftest import Site, listing_html, make_config
from .daemon_process import Recorder, article_html

NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
HTML = {"content-type": "text/html; charset=utf-8"}


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).isoformat()


def source(**kw: Any) -> SourceConfig:
    return SourceConfig(name="s", url="https://example.org/", **kw)


# ---------------------------------------------------------------------------- when to run first
@pytest.mark.parametrize("what, src, last, until, earliest, latest", [
    ("never ran: now, within the jitter", {"every": 600}, None, None, 0, 60),
    ("ran two intervals ago: now, once", {"every": 600}, ago(1200), None, 0, 60),
    ("ran a day ago: still now, once", {"every": 600}, ago(86400), None, 0, 60),
    ("ran 100 s ago: when its interval is over", {"every": 600}, ago(100), None, 500, 500),
    ("backing off: when the backoff ends", {"every": 600}, ago(100), (NOW + timedelta(seconds=3000)).isoformat(),
     3000, 3000),
    ("backoff over while down: now", {"every": 600}, ago(5000), ago(1000), 0, 60),
    ("short interval: jitter is 10 % of it", {"every": 10}, ago(30), None, 0, 1),
])
def test_first_run_time(what: str, src: dict[str, Any], last: str | None, until: str | None, earliest: float,
                        latest: float) -> None:
    for seed in range(20):
        when = first_run_time(source(**src), last, NOW, random.Random(seed), backoff_until=until)
        assert when is not None
        assert earliest <= (when - NOW).total_seconds() <= latest, what


@pytest.mark.parametrize("what, last, expected", [
    ("never ran: the crontab decides", None, None),
    ("fire times passed while down (11:45, 12:00): now, once", "2026-03-02T11:40:00+00:00", "now"),
    ("ran after the last fire time (12:00): the crontab decides", "2026-03-02T12:01:00+00:00", None),
])
def test_first_run_time_cron(what: str, last: str | None, expected: str | None) -> None:
    src = source(cron="*/15 * * * *", every=900)
    now = NOW + timedelta(minutes=7)
    when = first_run_time(src, last, now, random.Random(1))
    if expected is None:
        assert when is None, what
    else:
        assert when is not None and 0 <= (when - now).total_seconds() <= 60, what


@pytest.mark.parametrize("every, failures, cap, expected", [
    (900, 0, 21600, 900),
    (900, 1, 21600, 1800),
    (900, 2, 21600, 3600),
    (900, 4, 21600, 14400),
    (900, 5, 21600, 21600),  # capped
    (900, 500, 21600, 21600),  # no overflow
    (900, 3, 600, 900),  # a cap below the interval never shortens it
    (1, 2, 4, 4),
])
def test_backoff_interval(every: float, failures: int, cap: float, expected: float) -> None:
    assert backoff_interval(every, failures, cap) == expected


@pytest.mark.parametrize("what, src, state, watched, fragment", [
    ("healthy", {}, {"consecutive_failures": 0, "last_new": ago(60)}, ago(9999), None),
    ("two failures of three allowed", {}, {"consecutive_failures": 2, "last_error": "HTTP 503"}, None, None),
    ("three failures", {}, {"consecutive_failures": 3, "last_error": "HTTP 503", "failing_since": ago(3600)}, None,
     "failed 3 runs in a row (since 2026-03-02 11:00:00 UTC): HTTP 503"),
    ("custom threshold", {"alert_after_failures": 1}, {"consecutive_failures": 1, "last_error": "timeout"}, None,
     "failed 1 runs in a row"),
    ("no expect_every: silence is fine", {}, {"consecutive_failures": 0, "last_new": ago(86400 * 30)}, None, None),
    ("new article within expect_every", {"expect_every": 86400}, {"last_new": ago(3600)}, ago(86400 * 9), None),
    ("silent for longer than expect_every", {"expect_every": 86400}, {"last_new": ago(2 * 86400)}, ago(86400 * 9),
     "no new article for 2d (expected one every 1d)"),
    ("never had an article, watched for long enough", {"expect_every": 3600}, {"last_new": None}, ago(7200),
     "no article yet for 2h"),
    ("never had an article, just started", {"expect_every": 3600}, {"last_new": None}, ago(60), None),
])
def test_broken_reason(what: str, src: dict[str, Any], state: dict[str, Any], watched: str | None,
                       fragment: str | None) -> None:
    reason = broken_reason(source(**src), state, NOW, watched)
    if fragment is None:
        assert reason is None, what
    else:
        assert reason is not None and fragment in reason, (what, reason)


# ---------------------------------------------------------------------------- in-process daemon
def serve(config: Path, scenario: Callable[[Daemon], Awaitable[None]]) -> Daemon:
    """Run a Daemon in this process (no signal handlers) while ``scenario`` runs; then stop it."""

    async def main() -> Daemon:
        daemon = Daemon(load_config(config), config_path=str(config), handle_signals=False)
        serving = asyncio.create_task(daemon.serve())
        try:
            await asyncio.wait([serving, asyncio.create_task(daemon.running.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            assert daemon.running.is_set(), serving.exception() if serving.done() else "not started"
            await scenario(daemon)
        finally:
            daemon.request_stop("test")
            assert await asyncio.wait_for(serving, 15) == 0
        return daemon

    return asyncio.run(main())


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
    return value


def state_of(daemon: Daemon, name: str) -> dict[str, Any]:
    row = daemon.store.source_state(name)
    assert row is not None
    return row


def test_failing_source_backs_off_alerts_once_and_recovers(tmp_path: Path, site: Site,
                                                            webhook: WebhookReceiver) -> None:
    down = Recorder(Response(503, b"<h1>maintenance</h1>", HTML))
    site.routes["/down"] = down
    config = make_config(tmp_path, [{"name": "flaky", "url": site.url + "/down", "kind": "listing", "every": "1s",
                                     "backoff_max": "4s", "alert_after_failures": 2}],
                         webhook=webhook, topics=[], ops_channels=["hook"])

    async def scenario(daemon: Daemon) -> None:
        # Runs at 0, +2 s (every x 2), +4 s (x 4 = the cap): not every second.
        await until(lambda: down.count >= 3, 12, "three failing runs")
        gaps = [b - a for a, b in zip(down.times, down.times[1:], strict=False)]
        assert 1.4 < gaps[0] < 2.9 and 3.4 < gaps[1] < 4.9, gaps  # (the first run also asked for robots.txt)
        await until(lambda: state_of(daemon, "flaky")["consecutive_failures"] == 3, 3, "the third run's record")
        row = state_of(daemon, "flaky")
        assert (row["consecutive_failures"], row["interval"], row["state"]) == (3, 4.0, "failing")
        assert row["backoff_until"] and "HTTP 503" in (row["ops_alert"] or "")
        # One operator alert, not one per failure.
        await until(lambda: webhook.successful, 5, "the operator alert")
        await asyncio.sleep(0.5)
        [broken] = webhook.successful
        assert broken.payload["type"] == "source.broken"
        assert broken.payload["subject"] == "source flaky is broken"
        assert broken.payload["details"]["source"] == "flaky"
        assert "failed 2 runs in a row" in broken.payload["text"] and "HTTP 503" in broken.payload["text"]
        metrics = daemon.metrics
        assert metrics.ops_alerts.labels("flaky", "broken")._value.get() == 1

        # The site comes back: the next (backed-off) run succeeds, and it is every second again.
        down.response = Response(200, listing_html().encode(), HTML)
        await until(lambda: len(webhook.successful) >= 2, 8, "the recovery alert")
        recovered = webhook.successful[1].payload
        assert recovered["type"] == "source.recovered" and recovered["subject"] == "source flaky recovered"
        first_ok = down.count
        await until(lambda: down.count >= first_ok + 2, 5, "runs at the normal interval")
        assert down.times[-1] - down.times[-2] < 1.7
        row = state_of(daemon, "flaky")
        assert (row["consecutive_failures"], row["interval"], row["backoff_until"], row["ops_alert"]) == \
            (0, 1.0, None, None)
        assert len(webhook.successful) == 2

    serve(config, scenario)


WALL = ("<html><head><title>Before you continue</title></head><body><div id='consent'><h1>We value your privacy</h1>"
        "<p>We and our partners use cookies to store and access information on your device. By clicking Accept all "
        "you consent to our use of cookies and similar technologies for personalised ads and content.</p>"
        "<button>Accept all</button><button>Reject all</button></div></body></html>")
GOOD = ["The harbour authority said on Tuesday that the new container terminal would open in May, two years later "
        "than planned, after a dispute over dredging permits.",
        "Shipping lines have already moved part of their traffic to the neighbouring port, where fees are lower and "
        "the channel is deeper at low tide."]


def test_silent_breakage_alerts_once_and_recovery_once(tmp_path: Path, site: Site, webhook: WebhookReceiver) -> None:
    """The source keeps "working" (its listing answers) but its new pages are a consent wall and an
    empty shell: no new article for longer than expect_every raises one alert; a real article ends it."""
    a, wall, empty = "/news/2026/port/p.html", "/news/2026/ferry/p.html", "/news/2026/empty/p.html"
    site.page(a, article_html("Port opening delayed", GOOD))
    site.page(wall, WALL)
    site.page(empty, "<html><body><nav><a href='/'>Home</a></nav></body></html>")
    site.page("/l", listing_html(site.url + a, site.url + wall, site.url + empty))
    config = make_config(tmp_path, [{"name": "quiet", "url": site.url + "/l", "kind": "listing", "every": "1s",
                                     "expect_every": "2.5s", "alert_after_failures": 100}],
                         webhook=webhook, topics=[], ops_channels=["hook"])

    async def scenario(daemon: Daemon) -> None:
        await until(lambda: webhook.successful, 10, "the silent-breakage alert")
        [broken] = webhook.successful
        text = broken.payload["text"]
        assert broken.payload["type"] == "source.broken"
        assert "no new article for" in text and "expected one every 2.5s" in text
        assert "consent_wall" in text and "no article text found" in text, text
        assert state_of(daemon, "quiet")["consecutive_failures"] == 0  # it never "failed"
        await asyncio.sleep(2.5)
        assert len(webhook.successful) == 1  # one alert, however long it lasts
        site.page(wall, article_html("Ferry strike called off", GOOD[::-1]))
        await until(lambda: len(webhook.successful) >= 2, 8, "the recovery alert")
        assert webhook.successful[1].payload["type"] == "source.recovered"
        await asyncio.sleep(1.5)
        assert len(webhook.successful) == 2
        assert state_of(daemon, "quiet")["ops_alert"] is None

    serve(config, scenario)


def test_no_ops_channels_still_tracks_and_logs(tmp_path: Path, site: Site, caplog: pytest.LogCaptureFixture) -> None:
    site.routes["/down"] = Response(404, b"gone", HTML)
    config = make_config(tmp_path, [{"name": "gone", "url": site.url + "/down", "kind": "listing", "every": "1s",
                                     "alert_after_failures": 1}], topics=[])

    async def scenario(daemon: Daemon) -> None:
        await until(lambda: (daemon.store.source_state("gone") or {}).get("ops_alert"), 8, "the broken state")

    with caplog.at_level("ERROR", logger="monitor.daemon"):
        daemon = serve(config, scenario)
    broken = [r for r in caplog.records if r.getMessage().startswith("SOURCE BROKEN")]
    assert len(broken) == 1 and getattr(broken[0], "source", None) == "gone"
    with Store.open(daemon.cfg.database_path, migrate=False) as store:
        assert store.query("SELECT id FROM alerts") == []
