"""``monitor run``: the long-running service.

APScheduler 3 (AsyncIOScheduler) runs each source on its own interval or cron schedule, with jitter,
coalescing, one instance at a time and a misfire grace of one interval; the first run after a
start is placed from the source's last run in the database, so a restart neither refetches
everything at once nor skips what fell due while it was down. Alerts are delivered as they fall
due. SIGTERM/SIGINT stop it in a known order within 10 seconds; SIGHUP reloads the config.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .app import Monitor
from .config import Config, SourceConfig, load_config
from .errors import MonitorError
from .pipeline import Pipeline
from .store import Clock, utcnow

__all__ = ["Daemon", "first_run_time"]

log = logging.getLogger(__name__)

STOP_BUDGET = 10.0  # seconds from the signal to the exit
DELIVERY_TICK = 1.0
JITTER_SHARE = 0.1  # of the interval, at most 60 s


def first_run_time(source: SourceConfig, last_attempt: str | None, now: datetime,
                   rng: random.Random | None = None) -> datetime:
    """When a source should first run after a start: one interval after its last run, or now if
    that time has passed (once, however many intervals were missed), or soon if it never ran."""
    spread = min(60.0, source.every * JITTER_SHARE)
    jitter = timedelta(seconds=(rng or random).uniform(0, spread))
    if not last_attempt:
        return now + jitter
    due = datetime.fromisoformat(last_attempt) + timedelta(seconds=source.every)
    return max(due, now) + (jitter if due <= now else timedelta())


class Daemon:
    def __init__(self, cfg: Config, *, config_path: str | None = None, db_path: str | None = None,
                 clock: Clock = utcnow) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.db_path = db_path
        self.clock = clock
        self.stop_event = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.monitor: Monitor | None = None
        self.pipeline: Pipeline | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self._delivering = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle
    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        if hasattr(signal, "SIGHUP"):
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        async with Monitor(self.cfg, db_path=self.db_path, clock=self.clock) as mon:
            self.monitor = mon
            self.pipeline = mon.pipeline()
            self.scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
            self._schedule_all()
            self.scheduler.start()
            log.info("monitor started: %d sources, %d topics, %d channels", len(self.cfg.sources),
                     len(self.cfg.topics), len(self.cfg.channels))
            delivery = asyncio.create_task(self._delivery_loop())
            await self.stop_event.wait()
            started = loop.time()
            log.info("stopping: no new runs; finishing the article in hand")
            self.scheduler.shutdown(wait=False)
            self.pipeline.stopping.set()
            await self._drain(budget=STOP_BUDGET * 0.4)
            delivery.cancel()
            left = STOP_BUDGET - 1.5 - (loop.time() - started)
            if left > 0:
                try:
                    await asyncio.wait_for(mon.deliverer.deliver_due(), left)
                except TimeoutError:
                    log.warning("stopped delivering: out of time; what is pending stays in the outbox")
            log.info("monitor stopped")
        return 0

    def request_stop(self, why: str = "request") -> None:
        log.info("received %s", why)
        self.stop_event.set()

    def request_reload(self) -> None:
        asyncio.get_running_loop().create_task(self.reload())

    async def reload(self) -> None:
        """Read the config again; a bad one is reported and the old one keeps running."""
        if not self.config_path or self.monitor is None or self.scheduler is None:
            return
        try:
            cfg = load_config(self.config_path)
        except MonitorError as exc:
            log.error("config reload failed, keeping the running config: %s", exc)
            return
        self.cfg = cfg
        self.monitor.cfg = cfg
        self.monitor.deliverer.cfg = cfg
        self.pipeline = self.monitor.pipeline()
        for job in self.scheduler.get_jobs():
            job.remove()
        self._schedule_all()
        log.info("config reloaded: %d sources, %d topics", len(cfg.sources), len(cfg.topics))

    async def _drain(self, budget: float) -> None:
        if not self._tasks:
            return
        done, pending = await asyncio.wait(self._tasks, timeout=budget)
        for task in pending:
            task.cancel()  # requests in flight run again next time
        if pending:
            await asyncio.wait(pending, timeout=1.0)

    # ------------------------------------------------------------------ jobs
    def _schedule_all(self) -> None:
        assert self.scheduler is not None and self.monitor is not None
        now = self.clock()
        for source in self.cfg.sources:
            if not source.enabled:
                continue
            state = self.monitor.store.source_state(source.name)
            trigger: IntervalTrigger | CronTrigger
            if source.cron:
                trigger = CronTrigger.from_crontab(source.cron, timezone=source.timezone)
                trigger.jitter = int(min(60.0, source.every * JITTER_SHARE))
                first = None
            else:
                trigger = IntervalTrigger(seconds=source.every, timezone=UTC,
                                          jitter=int(min(60.0, source.every * JITTER_SHARE)) or None)
                first = first_run_time(source, state["last_attempt"] if state else None, now)
            self.scheduler.add_job(self._run_source, trigger, args=[source.name], id=f"source:{source.name}",
                                   name=source.name, coalesce=True, max_instances=1,
                                   misfire_grace_time=max(1, int(source.every)), next_run_time=first,
                                   replace_existing=True)

    async def _run_source(self, name: str) -> None:
        task = asyncio.current_task()
        if task is None or self.stop_event.is_set() or self.pipeline is None:
            return
        self._tasks.add(task)
        try:
            source = self.cfg.source(name)
            report = await self.pipeline.run_source(source)
            log.info("run done: %d links, %d new, %d updated, %d failed%s", report.links, report.new,
                     report.updated, report.failed, f" ({report.error})" if report.error else "",
                     extra={"source": name})
        except asyncio.CancelledError:
            log.info("run cancelled by shutdown", extra={"source": name})
        except Exception:  # noqa: BLE001 - the daemon outlives any one run; the log keeps the trace
            log.exception("run crashed", extra={"source": name})
        finally:
            self._tasks.discard(task)

    async def _delivery_loop(self) -> None:
        assert self.monitor is not None
        while not self.stop_event.is_set():
            try:
                await self.monitor.deliverer.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("delivery pass failed")
            try:
                await asyncio.wait_for(self.stop_event.wait(), DELIVERY_TICK)
            except TimeoutError:
                pass
