"""Prometheus metrics of the daemon (prometheus_client): counters kept as things happen, and
gauges read from the database when ``/metrics`` is scraped.

Counted in the process (they start at 0 with each start, as Prometheus expects of counters)::

    monitor_fetches_total{source,outcome}            every HTTP fetch, by how it ended
    monitor_fetch_seconds{source}                    how long fetches took (histogram)
    monitor_articles_total{source,status}            articles processed: new, updated, unchanged, failed, skipped
    monitor_matches_total{topic}                     topic matches on new or edited articles
    monitor_source_runs_total{source,result}         runs: ok, failed, cancelled, crashed
    monitor_source_run_seconds{source}               how long runs took (histogram)
    monitor_alerts_delivered_total{result}           delivery attempts: sent, failed, dead
    monitor_alert_delivery_latency_seconds           from queueing to sent (histogram)
    monitor_ops_alerts_total{source,event}           operator alerts: broken, recovered
    monitor_config_reloads_total{result}             SIGHUP reloads: ok, failed

Read from the database at each scrape (so they are right across restarts and other processes)::

    monitor_alerts{status}                           alerts in the outbox by status
    monitor_alerts_due                               pending alerts due now (the delivery queue)
    monitor_oldest_pending_alert_age_seconds
    monitor_articles_stored                          articles in the database
    monitor_source_last_success_timestamp_seconds{source}
    monitor_source_last_attempt_timestamp_seconds{source}
    monitor_source_consecutive_failures{source}
    monitor_source_interval_seconds{source}          the interval in use (longer while backing off)
    monitor_source_broken{source}                    1 while an operator alert is open

plus ``monitor_runs_in_progress``, ``monitor_scheduled_sources``, ``monitor_up`` and the standard
``process_*`` metrics (resident memory, CPU, open files).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .alerts import DeliveryReport
    from .models import SourceReport
    from .store import Store

__all__ = ["DatabaseCollector", "Metrics"]

LATENCY_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400)
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60)
RUN_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)


class Metrics:
    """The daemon's counters on their own registry. It is also the pipeline's observer
    (``fetched``, ``matched``)."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they double the output and nobody reads them here
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        if process:
            ProcessCollector(registry=r)
        self.fetches = Counter("monitor_fetches", "HTTP fetches by outcome", ["source", "outcome"], registry=r)
        self.fetch_seconds = Histogram("monitor_fetch_seconds", "Fetch duration", ["source"],
                                       buckets=FETCH_BUCKETS, registry=r)
        self.articles = Counter("monitor_articles", "Articles processed by result", ["source", "status"],
                                registry=r)
        self.matches = Counter("monitor_matches", "Topic matches on new or edited articles", ["topic"], registry=r)
        self.runs = Counter("monitor_source_runs", "Source runs by result", ["source", "result"], registry=r)
        self.run_seconds = Histogram("monitor_source_run_seconds", "Source run duration", ["source"],
                                     buckets=RUN_BUCKETS, registry=r)
        self.delivered = Counter("monitor_alerts_delivered", "Alert delivery attempts by result", ["result"],
                                 registry=r)
        self.latency = Histogram("monitor_alert_delivery_latency_seconds", "From queueing an alert to sending it",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.ops_alerts = Counter("monitor_ops_alerts", "Operator alerts raised", ["source", "event"], registry=r)
        self.reloads = Counter("monitor_config_reloads", "Config reloads (SIGHUP)", ["result"], registry=r)
        self.in_progress = Gauge("monitor_runs_in_progress", "Source runs in progress", registry=r)
        self.scheduled = Gauge("monitor_scheduled_sources", "Sources on the schedule", registry=r)
        self.up = Gauge("monitor_up", "1 while the scheduler runs", registry=r)

    # ------------------------------------------------------------------ the pipeline's observer
    def fetched(self, source: str, outcome: str, seconds: float) -> None:
        self.fetches.labels(source, outcome).inc()
        self.fetch_seconds.labels(source).observe(seconds)

    def matched(self, source: str, topics: Sequence[str]) -> None:
        for topic in topics:
            self.matches.labels(topic).inc()

    # ------------------------------------------------------------------ the daemon
    def run_done(self, report: SourceReport, seconds: float) -> None:
        self.runs.labels(report.source, "ok" if report.ok else "failed").inc()
        self.run_seconds.labels(report.source).observe(seconds)
        for status in ("new", "updated", "unchanged", "failed", "skipped"):
            n = getattr(report, status)
            if n:
                self.articles.labels(report.source, status).inc(n)

    def delivery_done(self, report: DeliveryReport, latencies: Sequence[float]) -> None:
        for result in ("sent", "failed", "dead"):
            n = getattr(report, result)
            if n:
                self.delivered.labels(result).inc(n)
        for seconds in latencies:
            self.latency.observe(max(0.0, seconds))


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time, through a connection of its own
    (``open_store`` is called once, lazily, in the scraping thread; reads are serialised)."""

    def __init__(self, open_store: Callable[[], Store], clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._open = open_store
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._clock = clock

    def store(self) -> Store:
        if self._store is None:
            self._store = self._open()
        return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def describe(self) -> Iterator[Metric]:
        return iter(())  # unknown until collected; keeps registration from querying the database

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            yield from self._collect(self.store())

    def _collect(self, store: Store) -> Iterator[Metric]:
        now = self._clock()
        alerts = GaugeMetricFamily("monitor_alerts", "Alerts in the outbox by status", labels=["status"])
        counts = {r["status"]: r["n"] for r in store.query("SELECT status, count(*) AS n FROM alerts GROUP BY status")}
        for status in sorted({"pending", "sent", "dead", *counts}):
            alerts.add_metric([status], counts.get(status, 0))
        yield alerts
        due = store.one("SELECT count(*) AS n, min(created) AS oldest FROM alerts WHERE status = 'pending' "
                        "AND next_attempt <= ?", [now.isoformat()]) or {}
        yield GaugeMetricFamily("monitor_alerts_due", "Pending alerts due now", value=due.get("n") or 0)
        oldest = store.one("SELECT min(created) AS t FROM alerts WHERE status = 'pending'") or {}
        age = (now - datetime.fromisoformat(oldest["t"])).total_seconds() if oldest.get("t") else 0.0
        yield GaugeMetricFamily("monitor_oldest_pending_alert_age_seconds", "Age of the oldest pending alert",
                                value=max(0.0, age))
        n = store.one("SELECT count(*) AS n FROM articles") or {}
        yield GaugeMetricFamily("monitor_articles_stored", "Articles in the database", value=n.get("n") or 0)
        families = {
            "last_success": GaugeMetricFamily("monitor_source_last_success_timestamp_seconds",
                                              "Last successful run (Unix time)", labels=["source"]),
            "last_attempt": GaugeMetricFamily("monitor_source_last_attempt_timestamp_seconds",
                                              "Last run (Unix time)", labels=["source"]),
            "consecutive_failures": GaugeMetricFamily("monitor_source_consecutive_failures",
                                                      "Failed runs in a row", labels=["source"]),
            "interval": GaugeMetricFamily("monitor_source_interval_seconds",
                                          "Interval in use (longer while backing off)", labels=["source"]),
            "ops_alert": GaugeMetricFamily("monitor_source_broken", "1 while an operator alert is open",
                                           labels=["source"]),
        }
        for row in store.query("SELECT name, last_success, last_attempt, consecutive_failures, interval, ops_alert "
                               "FROM sources ORDER BY name"):
            for key in ("last_success", "last_attempt"):
                if row[key]:
                    families[key].add_metric([row["name"]], datetime.fromisoformat(row[key]).timestamp())
            families["consecutive_failures"].add_metric([row["name"]], row["consecutive_failures"] or 0)
            if row["interval"] is not None:
                families["interval"].add_metric([row["name"]], row["interval"])
            families["ops_alert"].add_metric([row["name"]], 1 if row["ops_alert"] else 0)
        yield from families.values()
