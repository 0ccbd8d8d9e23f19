"""`monitor run` as a real process against loopback parts (issue 8's acceptance list): new
articles appear and alerts arrive, /metrics and /readyz answer over HTTP, SIGHUP applies a changed
config (and keeps the running one when the new one is bad), SIGTERM exits 0 within 10 seconds with
nothing pending lost; and a restart runs a source that fell due while it was down once."""

from __future__ import annotations

import signal
import socket
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from monitor.demo.httpd import LocalServer, Request, Response
from monitor.demo.receivers import WebhookReceiver
from monitor.store import Store, utcnow

from .conftest import SECRET, SEED_HTML, Site, listing_html, make_config
from .daemon_process import DaemonProcess, Recorder, article_html, metric, wait_until

SEED = "/news/2026-01-03/seoul-beijing/p.html"
TALKS = ["Officials in Pyongyang said on Monday that they were open to talks with Seoul about the border, a shift "
         "from months of silence and missile tests along the coast.",
         "Analysts said the dialogue could resume within weeks if both governments agree on an agenda for the first "
         "round of meetings in the spring."]
CLIMATE = ["Ministers from forty countries met in Nairobi to discuss climate finance and the cost of adaptation for "
           "coastal cities that flood every year.",
           "The draft text asks richer economies to triple their contributions before the next summit, a demand that "
           "several delegations called unrealistic."]
GLACIER = ["Scientists measuring the Rhone glacier reported the fastest retreat in a century, with the ice front "
           "moving back more than sixty metres since last summer.",
           "Local guides said routes that were safe a decade ago now cross bare rock and meltwater channels that did "
           "not exist before."]


class SlowReceiver:
    """A webhook endpoint that takes ``delay`` seconds to answer (it records the request at once)."""

    def __init__(self, delay: float) -> None:
        self.requests: list[Request] = []
        self.delay = delay
        self.server = LocalServer(self._handle).start()

    def _handle(self, request: Request) -> Response:
        self.requests.append(request)
        return Response(200, b"{}", {"content-type": "application/json"}, delay=self.delay)

    @property
    def url(self) -> str:
        return self.server.url + "/hooks/slow"


def write_config(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")


def alerts(db: Path) -> list[dict[str, Any]]:
    with Store.open(db, migrate=False) as store:
        return store.query("SELECT id, channel, kind, topics, status FROM alerts ORDER BY id")


def test_daemon_end_to_end(tmp_path: Path, site: Site, webhook: WebhookReceiver) -> None:
    slow = SlowReceiver(delay=30)
    slow_pages = Site()  # another host: its slow page holds no other request back
    try:
        _end_to_end(tmp_path, site, webhook, slow, slow_pages)
    finally:
        slow.server.stop()
        slow_pages.server.stop()


def _end_to_end(tmp_path: Path, site: Site, webhook: WebhookReceiver, slow: SlowReceiver, slow_pages: Site) -> None:
    site.page(SEED, SEED_HTML.read_bytes())
    site.page("/opinions", listing_html(site.url + SEED))
    config = make_config(tmp_path, [{"name": "opinions", "url": site.url + "/opinions", "kind": "listing",
                                     "every": "1s"}], webhook=webhook)
    data = yaml.safe_load(config.read_text("utf-8"))
    data["channels"].append({"name": "slow", "type": "webhook", "url": slow.url, "secret": SECRET, "timeout": "60s"})
    for topic in data["topics"]:
        topic["channels"] = ["hook"]
    write_config(config, data)
    db = tmp_path / "monitor.db"

    with DaemonProcess(config) as daemon:
        daemon.wait_up()
        # The seed article arrives as one signed webhook naming its three topics.
        first = wait_until(lambda: webhook.successful, what="the seed article's webhook")
        assert set(first[0].payload["topics"]) == {"mou", "japan-trip", "dprk-talks"}

        # A page published while it runs is found on the next run and alerted.
        site.page("/news/talks/p.html", article_html("Pyongyang signals it is open to talks", TALKS))
        site.page("/opinions", listing_html(site.url + SEED, site.url + "/news/talks/p.html"))
        wait_until(lambda: len(webhook.successful) >= 2, what="the second article's webhook")
        second = webhook.successful[1].payload
        assert second["article"]["title"] == "Pyongyang signals it is open to talks"
        assert second["topics"] == ["dprk-talks"]

        # /readyz and /metrics over HTTP.
        ready = daemon.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert {k: v["ok"] for k, v in ready.json()["checks"].items()} == {
            "loop": True, "scheduler": True, "database": True, "alerts": True}
        # (counters move when a run or a delivery pass ends: wait for the pass that sent the webhook)
        m = wait_until(lambda: (m := daemon.metrics()) and metric(m, "monitor_alert_delivery_latency_seconds_count")
                       == 2 and metric(m, "monitor_articles_total", source="opinions", status="new") == 2 and m,
                       what="the counters of the second article")
        assert metric(m, "monitor_articles_total", source="opinions", status="new") == 2
        assert metric(m, "monitor_fetches_total", source="opinions", outcome="ok") >= 3
        assert metric(m, "monitor_matches_total", topic="dprk-talks") == 2
        assert metric(m, "monitor_alerts", status="sent") == 2
        assert metric(m, "monitor_alerts", status="pending") == 0
        assert metric(m, "monitor_alert_delivery_latency_seconds_count") == 2
        assert metric(m, "monitor_source_runs_total", source="opinions", result="ok") >= 2
        assert time.time() - metric(m, "monitor_source_last_success_timestamp_seconds", source="opinions") < 30
        assert metric(m, "monitor_articles_stored") == 2
        assert metric(m, "process_resident_memory_bytes") > 10_000_000
        assert "<td>opinions" in daemon.get("/status").text

        # SIGHUP with a new topic and a new source: applied without a restart.
        data["topics"].append({"name": "climate", "query": "climate OR emissions", "channels": ["hook"]})
        data["topics"].append({"name": "glaciers", "query": "glacier", "channels": ["slow"]})
        data["sources"].append({"name": "more", "url": site.url + "/more", "kind": "listing", "every": "1s"})
        site.page("/more", listing_html())
        write_config(config, data)
        mark = len(daemon.log_lines())
        daemon.signal(signal.SIGHUP)
        daemon.wait_log("config reloaded: 2 sources, 5 topics", after=mark)
        site.page("/news/climate/p.html", article_html("Ministers argue over climate finance", CLIMATE))
        site.page("/more", listing_html(site.url + "/news/climate/p.html"))
        wait_until(lambda: len(webhook.successful) >= 3, what="the new topic's webhook from the new source")
        third = webhook.successful[2].payload
        assert third["topics"] == ["climate"] and third["article"]["source"] == "more"
        assert site.hits("/more") >= 1

        # A bad config is reported and the running one kept.
        config.write_text(config.read_text("utf-8").replace("every: 1s", "every: often"), "utf-8")
        mark = len(daemon.log_lines())
        daemon.signal(signal.SIGHUP)
        failed = daemon.wait_log("config reload failed", after=mark)
        assert failed["level"] == "error" and "not a duration" in failed["message"]
        assert daemon.get("/readyz").status_code == 200
        runs_before = site.hits("/more")
        wait_until(lambda: site.hits("/more") > runs_before + 1, what="runs going on under the old config")
        assert metric(daemon.metrics(), "monitor_config_reloads_total", result="failed") == 1

        # SIGTERM while an alert is with a slow receiver and a page is being fetched: exit 0 within
        # 10 s; the alert stays pending in the outbox (nothing lost), the page is fetched next time.
        slow_pages.routes["/slow/p.html"] = Response(200, article_html("Slow", TALKS).encode(),
                                                     {"content-type": "text/html"}, delay=30)
        site.page("/news/glacier/p.html", article_html("The Rhone glacier retreats faster than ever", GLACIER))
        site.page("/more", listing_html(site.url + "/news/climate/p.html", site.url + "/news/glacier/p.html",
                                        slow_pages.url + "/slow/p.html"))
        wait_until(lambda: slow.requests and slow_pages.hits("/slow/p.html"), what="the slow receiver and page")
        code, seconds = daemon.stop()
        log = daemon.log_text()
        assert code == 0, log
        assert seconds < 10, f"took {seconds:.1f}s to stop"
        assert "Traceback" not in log
        assert "run cancelled by shutdown" in log

    rows = alerts(db)
    assert {r["status"] for r in rows} <= {"sent", "pending"}
    assert [(r["channel"], r["status"]) for r in rows if r["channel"] == "slow"] == [("slow", "pending")]
    assert sum(r["status"] == "sent" for r in rows) == 3
    with Store.open(db, migrate=False) as store:
        titles = {r["title"] for r in store.query("SELECT title FROM articles")}
    assert "The Rhone glacier retreats faster than ever" in titles and "Slow" not in titles

    # The next start sends the pending alert again, with the same webhook-id, and fetches the page
    # whose run was cancelled.
    slow.delay = 0
    write_config(config, data)  # the good config again
    slow_pages.routes["/slow/p.html"] = Response(200, article_html("Slow", TALKS).encode(),
                                                 {"content-type": "text/html"})
    with DaemonProcess(config, log_name="restart.log") as daemon:
        daemon.wait_up()
        wait_until(lambda: [r["status"] for r in alerts(db) if r["channel"] == "slow"] == ["sent"],
                   what="the pending alert sent after the restart")
        assert len({r.headers["webhook-id"] for r in slow.requests}) == 1 and len(slow.requests) == 2
        wait_until(lambda: slow_pages.hits("/slow/p.html") >= 2, what="the cancelled page fetched again")
        assert daemon.stop()[0] == 0


def test_restart_runs_a_source_that_fell_due_once(tmp_path: Path, site: Site) -> None:
    """The database says `missed` last ran two intervals ago and `recent` one second ago: a start runs
    `missed` at once and then on its interval (once, not twice), and `recent` when it falls due."""
    every = 4.0
    missed, recent = Recorder(Response(200, listing_html().encode(), {"content-type": "text/html"})), \
        Recorder(Response(200, listing_html().encode(), {"content-type": "text/html"}))
    site.routes["/missed"], site.routes["/recent"] = missed, recent
    config = make_config(tmp_path, [
        {"name": "missed", "url": site.url + "/missed", "kind": "listing", "every": f"{every}s"},
        {"name": "recent", "url": site.url + "/recent", "kind": "listing", "every": f"{every}s"}])
    db = tmp_path / "monitor.db"
    now = utcnow()
    t0 = time.monotonic()
    for name, ago in (("missed", 2 * every), ("recent", 1.0)):
        with Store.open(db, clock=lambda ago=ago: now - timedelta(seconds=ago)) as store:
            store.record_source_run(name, site.url + "/" + name, ok=True)

    with DaemonProcess(config) as daemon:
        up = daemon.wait_up()
        first = wait_until(lambda: missed.times[0] if missed.times else None, timeout=5, what="the missed run")
        assert first - up < 2.0, "a source that fell due while the daemon was down runs at the start"
        # Nothing more for `missed` until its next interval: once, not twice.
        time.sleep(max(0.0, first + every - 0.6 - time.monotonic()))
        assert missed.count == 1, missed.times
        # `recent` ran one second before `t0`: due at t0 + 3 s, not at the start and not skipped.
        wait_until(lambda: recent.count >= 1, timeout=every + 3, what="the recent source's run")
        assert recent.times[0] - t0 > every - 1.0 - 0.5, "a source that is not due yet waits for its time"
        wait_until(lambda: missed.count >= 2, timeout=every + 2, what="the next regular run")
        assert missed.times[1] - missed.times[0] > every - 0.6
        code, seconds = daemon.stop()
        assert code == 0 and seconds < 10


def test_restart_picks_up_where_the_database_left_off(tmp_path: Path, site: Site) -> None:
    """A second start right after a stop does not run a source again before its interval is over."""
    listing = Recorder(Response(200, listing_html().encode(), {"content-type": "text/html"}))
    site.routes["/l"] = listing
    config = make_config(tmp_path, [{"name": "l", "url": site.url + "/l", "kind": "listing", "every": "10s"}])
    db = tmp_path / "monitor.db"

    def recorded() -> list[tuple[int, float]]:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT runs, interval FROM sources WHERE name = 'l'").fetchall()

    with DaemonProcess(config) as daemon:
        daemon.wait_up()
        assert wait_until(recorded, what="the first run's record") == [(1, 10.0)]
        assert daemon.stop()[0] == 0
    with DaemonProcess(config, log_name="second.log") as daemon:
        daemon.wait_up()
        time.sleep(2.5)  # longer than the jitter (10% of 10 s) a due source would get
        assert listing.count == 1
        assert recorded() == [(1, 10.0)]
        assert daemon.stop()[0] == 0


def test_stop_does_not_wait_for_a_stuck_smtp_send(tmp_path: Path, site: Site) -> None:
    """An SMTP server that accepts and never answers holds a send in its thread for the channel's
    whole timeout (30 s): SIGTERM still exits 0 within 10 s, and the alert stays pending."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    accepted: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                accepted.append(silent.accept()[0])  # and never greet
        except OSError:
            return

    threading.Thread(target=accept, daemon=True).start()
    site.page(SEED, SEED_HTML.read_bytes())
    site.page("/opinions", listing_html(site.url + SEED))
    config = make_config(tmp_path, [{"name": "s", "url": site.url + "/opinions", "kind": "listing", "every": "1s"}])
    data = yaml.safe_load(config.read_text("utf-8"))
    data["channels"] = [{"name": "mail", "type": "email", "host": "127.0.0.1", "port": silent.getsockname()[1],
                         "security": "none", "from": "m@localhost", "to": ["d@localhost"]}]
    write_config(config, data)
    try:
        with DaemonProcess(config) as daemon:
            daemon.wait_up()
            wait_until(lambda: accepted, what="the SMTP connection")
            code, seconds = daemon.stop()
            assert code == 0 and seconds < 10, (code, seconds)
            assert "exiting without waiting for 1 send(s) in progress" in daemon.log_text()
    finally:
        silent.close()
        for conn in accepted:
            conn.close()
    assert [r["status"] for r in alerts(tmp_path / "monitor.db")] == ["pending"]
