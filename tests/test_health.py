"""The HTTP endpoint over real HTTP on loopback (/healthz, /readyz, /metrics, /status) against a real
database, and `monitor health` as Docker's HEALTHCHECK runs it."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.health import DaemonState, HealthApp, HealthServer
from monitor.metrics import DatabaseCollector, Metrics
from monitor.store import Store, utcnow

from .conftest import make_config, run_cli
from .daemon_process import free_port


@dataclass
class Endpoint:
    server: HealthServer
    state: DaemonState
    store: Store
    metrics: Metrics

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.server.url + path, timeout=10, trust_env=False)


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    db = str(tmp_path / "monitor.db")
    store = Store.open(db)
    state = DaemonState(scheduler_running=True, jobs=lambda: [("cgtn", utcnow() + timedelta(minutes=5))])
    metrics = Metrics()
    collector = DatabaseCollector(lambda: Store.open(db, migrate=False))
    metrics.registry.register(collector)
    app = HealthApp(db_path=db, state=state, registry=metrics.registry, max_alert_age=3600)
    server = HealthServer(app, "127.0.0.1", 0).start()
    yield Endpoint(server, state, store, metrics)
    server.stop()
    collector.close()
    store.close()


def add_alert(store: Store, *, age: float, status: str = "pending", kind: str = "article") -> None:
    created = (utcnow() - timedelta(seconds=age)).isoformat()
    with store.write() as db:
        db.execute("INSERT INTO alerts (message_id, channel, topics, kind, status, created, next_attempt) "
                   "VALUES (?, 'hook', '[\"mou\"]', ?, ?, ?, ?)", [f"msg_{time.monotonic_ns()}", kind, status,
                                                                  created, created])


def test_healthz_follows_the_heartbeat(endpoint: Endpoint) -> None:
    ok = endpoint.get("/healthz")
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    endpoint.state.heartbeat = time.monotonic() - 120
    stalled = endpoint.get("/healthz")
    assert stalled.status_code == 503
    assert "no heartbeat from the event loop for 120s" in stalled.json()["detail"]


def test_readyz_checks_scheduler_database_and_alert_age(endpoint: Endpoint) -> None:
    ready = endpoint.get("/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert {k: v["ok"] for k, v in checks.items()} == {"loop": True, "scheduler": True, "database": True,
                                                       "alerts": True}
    assert checks["scheduler"]["detail"] == "running, 1 sources scheduled"
    # The probe really wrote.
    assert endpoint.store.one("SELECT probed FROM daemon WHERE id = 1")["probed"]  # type: ignore[index]

    add_alert(endpoint.store, age=60)
    assert endpoint.get("/readyz").json()["checks"]["alerts"]["detail"] == "1 pending; the oldest is 60s old"
    add_alert(endpoint.store, age=7200)
    stale = endpoint.get("/readyz")
    assert stale.status_code == 503
    assert stale.json()["checks"]["alerts"] == {
        "ok": False, "detail": "2 pending; the oldest is 7200s old (limit 3600s): is a channel down?"}
    with endpoint.store.write() as db:
        db.execute("UPDATE alerts SET status = 'sent'")

    endpoint.state.stopping = True
    stopping = endpoint.get("/readyz")
    assert stopping.status_code == 503 and stopping.json()["checks"]["scheduler"] == {"ok": False,
                                                                                      "detail": "stopping"}
    endpoint.state.stopping = False
    assert endpoint.get("/readyz").status_code == 200


def test_readyz_fails_while_the_database_cannot_be_written(endpoint: Endpoint, tmp_path: Path) -> None:
    holder = sqlite3.connect(tmp_path / "monitor.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock for longer than the probe waits
    try:
        blocked = endpoint.get("/readyz")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert blocked.status_code == 503
    database = blocked.json()["checks"]["database"]
    assert database["ok"] is False and "locked" in database["detail"]
    assert endpoint.get("/readyz").status_code == 200


def test_metrics_are_prometheus_text_with_database_gauges(endpoint: Endpoint) -> None:
    add_alert(endpoint.store, age=30)
    add_alert(endpoint.store, age=10, status="sent")
    add_alert(endpoint.store, age=10, status="dead")
    endpoint.store.record_source_run("cgtn", "https://www.cgtn.com/opinions", ok=True, new_articles=2)
    endpoint.store.record_source_run("down", "https://down.example/", ok=False, error="HTTP 503")
    endpoint.metrics.fetched("cgtn", "ok", 0.2)
    endpoint.metrics.fetched("cgtn", "not_modified", 0.05)
    endpoint.metrics.matched("cgtn", ["mou", "japan-trip"])
    response = endpoint.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(response.text) for s in f.samples}
    assert samples[("monitor_fetches_total", (("outcome", "ok"), ("source", "cgtn")))] == 1
    assert samples[("monitor_fetches_total", (("outcome", "not_modified"), ("source", "cgtn")))] == 1
    assert samples[("monitor_matches_total", (("topic", "japan-trip"),))] == 1
    assert samples[("monitor_alerts", (("status", "pending"),))] == 1
    assert samples[("monitor_alerts", (("status", "dead"),))] == 1
    assert samples[("monitor_alerts_due", ())] == 1
    assert 25 < samples[("monitor_oldest_pending_alert_age_seconds", ())] < 60
    assert samples[("monitor_source_consecutive_failures", (("source", "down"),))] == 1
    assert abs(samples[("monitor_source_last_success_timestamp_seconds", (("source", "cgtn"),))] - time.time()) < 30
    assert ("monitor_source_last_success_timestamp_seconds", (("source", "down"),)) not in samples
    assert samples[("process_resident_memory_bytes", ())] > 0
    assert not any(name.endswith("_created") for name, _ in samples)


def test_status_page_escapes_what_pages_said(endpoint: Endpoint) -> None:
    now = utcnow().isoformat()
    endpoint.store.record_source_run("cgtn", "https://www.cgtn.com/opinions", ok=True, new_articles=1)
    with endpoint.store.write() as db:
        db.execute("INSERT INTO articles (url, url_key, source, title, first_seen, last_seen) VALUES (?,?,?,?,?,?)",
                   ["javascript:alert(1)", "k1", "cgtn", "<script>alert('x')</script> Seoul visit", now, now])
        db.execute("INSERT INTO articles (url, url_key, source, title, first_seen, last_seen) VALUES (?,?,?,?,?,?)",
                   ["https://news.cgtn.com/a", "k2", "cgtn", "Tokyo trip", now, now])
    add_alert(endpoint.store, age=5, kind="source.broken")
    page = endpoint.get("/status")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert "<td>cgtn" in html and "healthy" in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Seoul visit" in html and "<script>" not in html
    assert 'href="javascript:' not in html and 'href="https://news.cgtn.com/a"' in html
    assert "source.broken" in html and "pending: 1" in html


def test_unknown_paths_and_methods(endpoint: Endpoint) -> None:
    assert endpoint.get("/nope").status_code == 404
    post = httpx.post(endpoint.server.url + "/readyz", timeout=5, trust_env=False)
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"


def test_endpoint_answers_while_the_event_loop_is_busy(endpoint: Endpoint) -> None:
    """It serves from threads of its own: a long request does not hold others back."""
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(endpoint.get("/status").status_code))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [200] * 8


# ---------------------------------------------------------------------------- monitor health
def test_monitor_health_exit_codes(endpoint: Endpoint, tmp_path: Path) -> None:
    url = endpoint.server.url
    ok = run_cli("health", "--url", url)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok: " + url + "/readyz answered 200 ready" in ok.stdout and "ok  database: writable" in ok.stdout

    endpoint.state.scheduler_running = False
    bad = run_cli("health", "--url", url)
    assert bad.returncode == 1
    assert "NOT OK" in bad.stdout and "BAD scheduler: not running" in bad.stdout
    live = run_cli("health", "--url", url, "--live")
    assert live.returncode == 0, "the process lives even when it is not ready"

    nobody = run_cli("health", "--url", f"http://127.0.0.1:{free_port()}")
    assert nobody.returncode == 1 and "cannot reach" in nobody.stderr and "Traceback" not in nobody.stderr


def test_monitor_health_finds_the_endpoint(endpoint: Endpoint, tmp_path: Path) -> None:
    port = endpoint.server.address[1]
    # $MONITOR_LISTEN as the container sets it (0.0.0.0 is reached through 127.0.0.1).
    assert run_cli("health", env={"MONITOR_LISTEN": f"0.0.0.0:{port}"}).returncode == 0
    # The config's server.listen.
    config = make_config(tmp_path, [], server={"listen": f"127.0.0.1:{port}"})
    assert run_cli("health", "--config", str(config), env={"MONITOR_LISTEN": ""}).returncode == 0
    # Nowhere to look: a clear message and 1 (Docker reads anything but 0 as unhealthy).
    plain = make_config(tmp_path, [])
    missing = run_cli("health", "--config", str(plain), env={"MONITOR_LISTEN": ""})
    assert missing.returncode == 1 and "no endpoint to check" in missing.stderr
    broken = run_cli("health", "--config", str(tmp_path / "nope.yaml"), env={"MONITOR_LISTEN": ""})
    assert broken.returncode == 1 and "config file not found" in broken.stderr
