"""``monitor run``: the long-running service.

APScheduler 3 (AsyncIOScheduler, UTC) runs each source on its interval (``every``) or crontab
(``cron`` in its ``timezone``), with jitter, coalescing, one instance at a time and a misfire
grace of one interval. The rules of :mod:`monitor.schedule` place the first run after a start from
the source's last run in the database (a source that fell due while the daemon was down runs once,
soon; one that did not waits for its time), back a failing source off (``every`` x 2^failures, at
most ``backoff_max``; its interval again on its first success), and tell when a source is broken
(``alert_after_failures`` failed runs in a row, or no new article for longer than
``expect_every``): one operator alert goes to ``ops_channels`` then, and one more when it recovers.

Alerts are delivered as they fall due. SIGTERM/SIGINT stop it in a known order within 10 seconds:
no new runs, runs in hand cancelled (they run again next time), due alerts delivered while time
remains (the rest stay pending in the outbox), the database closed, exit 0. SIGHUP reloads the
config; a bad one is reported and the running one kept. With ``server.listen`` (or ``--listen``)
an HTTP endpoint serves /healthz, /readyz, /metrics and /status (:mod:`monitor.health`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .alerts import DeliveryReport
from .app import Monitor
from .config import Config, SourceConfig, load_config, parse_listen
from .errors import ConfigError, MonitorError, StoreError
from .fetch import Fetcher
from .health import DaemonState, HealthApp, HealthServer
from .logs import config_secrets, register_secrets
from .metrics import DatabaseCollector, Metrics
from .models import SourceReport
from .pipeline import Pipeline
from .schedule import backoff_interval, broken_reason, first_run_time, jitter_spread, parse_time
from .store import Clock, Store, utcnow
from .units import format_duration

__all__ = ["Daemon"]

log = logging.getLogger(__name__)

STOP_BUDGET = 10.0  # seconds from the signal to the exit
STOP_MARGIN = 1.5  # kept back for closing the database and the endpoint
DELIVERY_TICK = 1.0
HEARTBEAT = 1.0
IO_THREAD = "monitor-io"  # the name of the threads blocking calls (SMTP) run on


class Daemon:
    """``await Daemon(cfg, config_path=...).serve()`` returns the exit code once stopped."""

    def __init__(self, cfg: Config, *, config_path: str | None = None, db_path: str | None = None,
                 clock: Clock = utcnow, listen: str | None = None, handle_signals: bool = True) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.db_path = db_path
        self.clock = clock
        self.listen = listen if listen is not None else cfg.server.listen
        self.handle_signals = handle_signals
        self.stop_event = asyncio.Event()
        self.running = asyncio.Event()  # set once the schedule runs (for callers that wait on it)
        self.state = DaemonState(started=clock())
        self.metrics = Metrics()
        self.monitor: Monitor | None = None
        self.pipeline: Pipeline | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self.server: HealthServer | None = None
        self._collector: DatabaseCollector | None = None
        self._tasks: dict[asyncio.Task[Any], Pipeline] = {}
        self._retired: list[Fetcher] = []
        self._background: set[asyncio.Task[Any]] = set()
        register_secrets(config_secrets(cfg))

    @property
    def store(self) -> Store:
        assert self.monitor is not None
        return self.monitor.store

    # ------------------------------------------------------------------ lifecycle
    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        signals = self._install_signals(loop)
        io = ThreadPoolExecutor(thread_name_prefix=IO_THREAD)
        loop.set_default_executor(io)
        try:
            async with Monitor(self.cfg, db_path=self.db_path, clock=self.clock) as mon:
                self.monitor = mon
                self._set_pipeline()
                self._record_start()
                if self.listen:
                    self._start_server(mon.db_path)
                self.scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
                self.scheduler.add_listener(self._on_skip, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
                self._schedule_all()
                self.scheduler.start()
                self.state.jobs = self._jobs
                self.state.scheduler_running = True
                self.metrics.up.set(1)
                self.running.set()
                log.info("monitor started: %d sources, %d topics, %d channels%s", len(self.cfg.sources),
                         len(self.cfg.topics), len(self.cfg.channels),
                         f"; status on {self.server.url}/status" if self.server else "")
                workers = [loop.create_task(self._delivery_loop()), loop.create_task(self._heartbeat())]
                await self.stop_event.wait()
                await self._stop(loop, workers)
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            if self.server is not None:
                self.server.stop()
            if self._collector is not None:
                self._collector.close()
            # A blocking send (SMTP) still in its thread must not hold the exit past the 10 seconds:
            # its alert stays pending (leased by this process, so free at once after it exits).
            io.shutdown(wait=False, cancel_futures=True)
            loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        log.info("monitor stopped")
        return 0

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        if not self.handle_signals:
            return []
        wanted = [(signal.SIGTERM, lambda: self.request_stop("SIGTERM")),
                  (signal.SIGINT, lambda: self.request_stop("SIGINT"))]
        if hasattr(signal, "SIGHUP"):
            wanted.append((signal.SIGHUP, self.request_reload))
        done: list[int] = []
        for sig, handler in wanted:
            try:
                loop.add_signal_handler(sig, handler)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
                continue
            done.append(sig)
        return done

    def _start_server(self, db_path: str) -> None:
        assert self.listen is not None
        host, port = parse_listen(self.listen)
        collector = DatabaseCollector(lambda: Store.open(db_path, migrate=False, busy_timeout=2.0))
        self.metrics.registry.register(collector)
        app = HealthApp(db_path=db_path, state=self.state, registry=self.metrics.registry,
                        max_alert_age=self.cfg.server.max_alert_age, clock=self.clock)
        self.server = HealthServer(app, host, port).start()
        self._collector = collector

    def _record_start(self) -> None:
        with self.store.write() as db:
            db.execute("INSERT INTO daemon (id, pid, host, started) VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
                       "SET pid = excluded.pid, host = excluded.host, started = excluded.started",
                       [os.getpid(), socket.gethostname(), self.store.now()])

    async def _stop(self, loop: asyncio.AbstractEventLoop, workers: list[asyncio.Task[Any]]) -> None:
        started = loop.time()
        self.state.stopping = True
        self.state.scheduler_running = False
        self.metrics.up.set(0)
        log.info("stopping: no new runs; %d in hand are cancelled (they run again next time)", len(self._tasks))
        for pipe in {*self._tasks.values(), *([self.pipeline] if self.pipeline else [])}:
            pipe.stopping.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)  # this cancels the runs it started
        await self._cancel_runs()
        for task in workers:
            task.cancel()
        await asyncio.wait(workers, timeout=1.0)
        left = STOP_BUDGET - STOP_MARGIN - (loop.time() - started)
        assert self.monitor is not None
        if left > 0:
            try:
                report = await asyncio.wait_for(self.monitor.deliverer.deliver_due(), left)
                self._observe_delivery(report)
            except TimeoutError:
                log.warning("stopped delivering: out of time; what is pending stays in the outbox")
            except (MonitorError, OSError) as exc:
                log.error("last delivery pass failed: %s; what is pending stays in the outbox", exc)
        for fetcher in self._retired:
            await fetcher.aclose()
        pending = self.store.one("SELECT count(*) AS n FROM alerts WHERE status = 'pending'")
        log.info("closing: %d alerts pending in the outbox", pending["n"] if pending else 0)

    @staticmethod
    def stuck_threads() -> list[str]:
        """Threads of ours still blocked in a send after the daemon stopped (the CLI then exits without
        waiting for them)."""
        return [t.name for t in threading.enumerate() if t.name.startswith(IO_THREAD) and t.is_alive()]

    def request_stop(self, why: str = "request") -> None:
        if self.stop_event.is_set():
            log.warning("received %s again: cancelling what is still running", why)
            for task in list(self._tasks):
                task.cancel()
            return
        log.info("received %s", why)
        self.stop_event.set()

    def request_reload(self) -> None:
        if self.stop_event.is_set():
            return
        task = asyncio.get_running_loop().create_task(self.reload())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def reload(self) -> bool:
        """Read the config again and apply it; a bad one is reported and the old one keeps running."""
        if not self.config_path or self.monitor is None or self.scheduler is None:
            return False
        try:
            cfg = load_config(self.config_path)
        except MonitorError as exc:
            self.metrics.reloads.labels("failed").inc()
            log.error("config reload failed, keeping the running config: %s", exc)
            return False
        old = self.cfg
        register_secrets(config_secrets(cfg))
        if not self.db_path and cfg.database_path != old.database_path:
            log.warning("the database changed to %s: that takes a restart; still using %s", cfg.database_path,
                        self.monitor.db_path)
        if cfg.server != old.server and self.listen == old.server.listen:
            log.warning("server settings changed: that takes a restart")
        retired = self.monitor.reconfigure(cfg)
        if retired is not None:
            self._retired.append(retired)
        self.cfg = cfg
        self._set_pipeline()
        self._schedule_all()
        self.metrics.reloads.labels("ok").inc()
        log.info("config reloaded: %d sources, %d topics, %d channels", len(cfg.sources), len(cfg.topics),
                 len(cfg.channels))
        return True

    async def _cancel_runs(self) -> None:
        """Cancel the runs in hand (what they stored is stored: every write is one transaction) and
        give them a second to unwind."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)

    def _set_pipeline(self) -> None:
        assert self.monitor is not None
        self.pipeline = self.monitor.pipeline()
        self.pipeline.observer = self.metrics

    # ------------------------------------------------------------------ the schedule
    def _jobs(self) -> list[tuple[str, datetime | None]]:
        if self.scheduler is None:
            return []
        return [(job.name, job.next_run_time) for job in self.scheduler.get_jobs()]

    def _schedule_all(self) -> None:
        assert self.scheduler is not None and self.monitor is not None
        now = self.clock()
        wanted = {s.name for s in self.cfg.sources if s.enabled}
        for job in self.scheduler.get_jobs():
            if job.name not in wanted:
                job.remove()
        for source in self.cfg.sources:
            if not source.enabled:
                continue
            state = self.store.source_state(source.name) or {}
            trigger: IntervalTrigger | CronTrigger
            if source.cron:
                trigger = CronTrigger.from_crontab(source.cron, timezone=source.timezone)
                trigger.jitter = int(jitter_spread(source.every)) or None
            else:
                trigger = IntervalTrigger(seconds=source.every, timezone=UTC,
                                          jitter=int(jitter_spread(source.every)) or None)
            first = first_run_time(source, state.get("last_attempt"), now, backoff_until=state.get("backoff_until"))
            options: dict[str, Any] = {"next_run_time": first} if first is not None else {}
            self.scheduler.add_job(self._run_source, trigger, args=[source.name], id=f"source:{source.name}",
                                   name=source.name, coalesce=True, max_instances=1,
                                   misfire_grace_time=max(1, int(self._period(source))), replace_existing=True,
                                   **options)
        self.metrics.scheduled.set(len(wanted))

    def _period(self, source: SourceConfig) -> float:
        """The source's normal interval: ``every``, or the gap between two crontab fire times."""
        if not source.cron:
            return source.every
        trigger = CronTrigger.from_crontab(source.cron, timezone=source.timezone)
        first = trigger.get_next_fire_time(None, self.clock())
        second = trigger.get_next_fire_time(first, first + timedelta(microseconds=1)) if first else None
        return (second - first).total_seconds() if first and second else source.every

    # ------------------------------------------------------------------ one run
    async def _run_source(self, name: str) -> None:
        task = asyncio.current_task()
        pipeline = self.pipeline
        if task is None or self.stop_event.is_set() or pipeline is None:
            return
        try:
            source = self.cfg.source(name)
        except ConfigError:
            return  # removed by a reload since the job fired
        loop = asyncio.get_running_loop()
        self._tasks[task] = pipeline
        self.state.running.add(name)
        self.metrics.in_progress.inc()
        started, t0 = self.clock(), loop.time()
        ctx = {"source": name, "url": source.url}
        try:
            report = await pipeline.run_source(source)
            self.metrics.run_done(report, loop.time() - t0)
            log.info("run done: %d links, %d new, %d updated, %d unchanged, %d failed%s", report.links, report.new,
                     report.updated, report.unchanged, report.failed,
                     f" ({report.error})" if report.error else "", extra=ctx)
            self._after_run(source, report, started)
        except asyncio.CancelledError:
            self.metrics.runs.labels(name, "cancelled").inc()
            log.info("run cancelled by shutdown; it runs again next time", extra=ctx)
            try:
                self.store.forget_validators(name, started.astimezone(UTC).isoformat())
            except StoreError as exc:
                log.warning("could not reset the listing's validators: %s", exc, extra=ctx)
        except MonitorError as exc:  # the database refused a write for longer than its busy timeout, ...
            self.metrics.runs.labels(name, "crashed").inc()
            log.error("run failed: %s", exc, extra=ctx)
        except Exception:  # noqa: BLE001 - the daemon outlives any one run; the log keeps the trace
            self.metrics.runs.labels(name, "crashed").inc()
            log.exception("run crashed", extra=ctx)
        finally:
            self._tasks.pop(task, None)
            self.state.running.discard(name)
            self.metrics.in_progress.dec()
            if self._retired and not self._tasks:
                self._close_retired()

    def _close_retired(self) -> None:
        """Close the fetchers a reload replaced, once no run can still be using them."""
        retired, self._retired = self._retired, []
        for fetcher in retired:
            task = asyncio.get_running_loop().create_task(fetcher.aclose())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _on_skip(self, event: JobEvent) -> None:
        name = event.job_id.removeprefix("source:")
        if event.code == EVENT_JOB_MAX_INSTANCES:
            log.info("still running from the last time: this run is skipped", extra={"source": name})
            self.metrics.runs.labels(name, "skipped").inc()
        else:
            log.warning("run missed (the daemon was busy or asleep past its grace time)", extra={"source": name})
            self.metrics.runs.labels(name, "missed").inc()

    def _after_run(self, source: SourceConfig, report: SourceReport, started: datetime) -> None:
        """Back off or recover, then raise or clear the operator alert."""
        state = self.store.source_state(source.name) or {}
        failures = int(state.get("consecutive_failures") or 0)
        period = self._period(source)
        interval = backoff_interval(period, failures, source.backoff_max)
        ctx = {"source": source.name, "url": source.url}
        until: datetime | None = None
        next_run: datetime | None = None
        job = self.scheduler.get_job(f"source:{source.name}") if self.scheduler else None
        if failures and job is not None and self.scheduler is not None:
            next_run = until = started + timedelta(seconds=interval)
            try:
                self.scheduler.modify_job(job.id, next_run_time=next_run)
            except JobLookupError:
                pass
            log.warning("failing (%d in a row): next run in %s", failures,
                        format_duration(max(0.0, (next_run - self.clock()).total_seconds())), extra=ctx)
        elif job is not None:
            next_run = job.next_run_time
        if not failures and (state.get("interval") or period) > period:
            log.info("recovered: back to every %s", format_duration(period), extra=ctx)
        self.store.record_schedule(source.name, interval=interval, backoff_until=until, next_due=next_run)
        self._check_ops(source, report, state)

    def _check_ops(self, source: SourceConfig, report: SourceReport, state: Mapping[str, Any]) -> None:
        now = self.clock()
        reason = broken_reason(source, state, now, self.store.first_fetch(source.name))
        ctx = {"source": source.name, "url": source.url}
        if reason and not state.get("ops_alert"):
            detail = self._evidence(source, state, report)
            subject = f"source {source.name} is broken"
            text = (f"{source.name} ({source.url}): {reason}.{detail}\nmonitor keeps trying it; you get one more "
                    f"message when it recovers.")
            self._ops_alert(source, reason, subject, text, "broken", {"reason": reason})
            log.error("SOURCE BROKEN: %s", reason, extra=ctx)
        elif not reason and state.get("ops_alert"):
            since = parse_time(state.get("ops_alert_since"))
            took = f" after {format_duration((now - since).total_seconds())}" if since else ""
            subject = f"source {source.name} recovered"
            text = (f"{source.name} ({source.url}) works again{took}: {report.new} new article(s) in its last run. "
                    f"It was: {state['ops_alert']}.")
            self._ops_alert(source, None, subject, text, "recovered",
                            {"was": state["ops_alert"], "broken_since": state.get("ops_alert_since")})
            log.warning("source recovered%s (was: %s)", took, state["ops_alert"], extra=ctx)

    def _evidence(self, source: SourceConfig, state: Mapping[str, Any], report: SourceReport) -> str:
        since = state.get("last_new") or state.get("failing_since") or self.store.first_fetch(source.name)
        out = ""
        if since:
            outcomes = self.store.recent_outcomes(source.name, since)
            if outcomes:
                out += " Fetches since then: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + "."
        if report.errors:
            out += " Last run: " + "; ".join(report.errors[:3]) + (" ..." if len(report.errors) > 3 else "")
        return out

    def _ops_alert(self, source: SourceConfig, reason: str | None, subject: str, text: str, event: str,
                   details: dict[str, Any]) -> None:
        """Open or close the source's operator alert and queue the message to every ops channel, in one
        transaction (type ``source.broken`` / ``source.recovered`` in the webhook)."""
        from .alerts.queue import queue_ops_alert

        now = self.store.now()
        details = {"source": source.name, "url": source.url, **details}
        with self.store.write() as db:
            self.store.set_ops_alert(source.name, reason)
            for channel in self.cfg.ops_channels:
                queue_ops_alert(db, channel, subject, text, now, kind=f"source.{event}", details=details)
        self.metrics.ops_alerts.labels(source.name, event).inc()

    # ------------------------------------------------------------------ background
    async def _heartbeat(self) -> None:
        while True:
            self.state.beat()
            await asyncio.sleep(HEARTBEAT)

    async def _delivery_loop(self) -> None:
        assert self.monitor is not None
        while not self.stop_event.is_set():
            try:
                self._observe_delivery(await self.monitor.deliverer.deliver_due())
            except asyncio.CancelledError:
                raise
            except MonitorError as exc:
                log.error("delivery pass failed: %s", exc)
            except Exception:  # noqa: BLE001 - delivery goes on at the next tick; the log keeps the trace
                log.exception("delivery pass failed")
            try:
                await asyncio.wait_for(self.stop_event.wait(), DELIVERY_TICK)
            except TimeoutError:
                pass

    def _observe_delivery(self, report: DeliveryReport) -> None:
        latencies: list[float] = []
        if report.sent_ids:
            marks = ",".join("?" * len(report.sent_ids))
            for row in self.store.query(f"SELECT created, sent_at FROM alerts WHERE id IN ({marks})",
                                        list(report.sent_ids)):
                if row["created"] and row["sent_at"]:
                    latencies.append((datetime.fromisoformat(row["sent_at"])
                                      - datetime.fromisoformat(row["created"])).total_seconds())
        self.metrics.delivery_done(report, latencies)
