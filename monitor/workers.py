"""``monitor fetch --workers N``: one run spread over worker processes, each owning some hosts.

A page is fetched, extracted, matched and stored in the process that fetched it: only URLs and
counts travel between processes, never pages. Worker processes are forked when nothing but the
main thread runs here (the CLI), spawned otherwise. Every host is owned by one worker for the
whole run (hosts are dealt out by weight, largest first, to the least-loaded worker: first by
the sources on them, then by the links found on them), and only its owner fetches it. A worker
has its own fetcher, extractor, matcher and database connection, and writes in batches
(:class:`~monitor.store_batch.BatchWriter`). The run goes in rounds; between two rounds every
worker waits for this process:

- **round one**: each worker reads the listings, feeds and sitemaps of the sources on its hosts
  (:meth:`Pipeline.discover_source`) and processes at once the links that are on its hosts; links
  to other hosts come back here. A discovery that needs a host the worker does not own (a feed
  that moved, a sitemap elsewhere) writes nothing and comes back too: this process reads it
  between rounds, while every worker waits.
- **further rounds**: each link goes to the owner of its host; a redirect to another worker's host
  is handed back (:class:`Handoff`) and goes on in the owner, counting toward
  ``fetch.max_redirects``; a robots.txt that redirects to another worker's host is read here.
- **finish** (this process): the workers' counts and error lines are added to each source's
  report, the source runs are recorded, retention runs, and the alerts are delivered as after a
  one-process run (:meth:`Monitor.deliver`).

Politeness (one request at a time per host, the host's delay, robots.txt, ``Retry-After`` pauses)
holds because a host is only ever fetched by one process at a time, and the time its next request
may start and its robots.txt are handed on with it when it changes process. With the sources on
one host only, discovery runs here and the links are shared out if they are on several hosts.

Stories and alerts stay deduplicated across workers: each batch is one ``BEGIN IMMEDIATE``
transaction, which sees every batch another worker committed before it, and within a batch each
save sees the rows the earlier ones wrote.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkContext, SpawnContext
from typing import Any

from .app import FetchSummary, Monitor
from .config import Config, SourceConfig
from .fetch import Fetcher, GateState
from .logs import JsonFormatter
from .models import SourceReport
from .pipeline import Discovery, Job, Pipeline, Progress, host_of, trusted_hosts
from .robots import Robots, origin_of
from .shard import Result, Round, Spec, worker_main
from .store import Store, utcnow
from .topics import compile_topics

__all__ = ["fetch_in_workers", "worker_count"]

log = logging.getLogger(__name__)

STOP_WAIT = 10.0  # seconds a worker gets to exit after "stop"


def worker_count(cfg: Config, requested: int | None = None) -> int:
    """``--workers``, else the config's ``workers``, else the number of cores."""
    return max(1, requested or cfg.workers or os.cpu_count() or 1)


# ---------------------------------------------------------------------------- the run

class _Owners:
    """Which worker owns each host, for the whole run: hosts are dealt out by their weight (their
    sources, then their links), largest first, each to the worker with the least so far."""

    def __init__(self, workers: int) -> None:
        self.of: dict[str, int] = {}
        self.load = [0] * workers
        self.alive = set(range(workers))

    def assign(self, weights: Counter[str]) -> None:
        for host, n in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])):
            if self.of.get(host) not in self.alive:
                self.of[host] = min(self.alive, key=lambda w: (self.load[w], w))
            self.load[self.of[host]] += n

    def hosts(self, worker: int) -> frozenset[str]:
        return frozenset(h for h, w in self.of.items() if w == worker)


def _context() -> ForkContext | SpawnContext:
    """fork when it is safe (Linux, only the main thread, no event loop running), else spawn."""
    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:
        running = False
    if sys.platform == "linux" and threading.active_count() == 1 and not running:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def fetch_in_workers(cfg: Config, *, workers: int, db_path: str | None = None, sources: Sequence[str] | None = None,
                     progress: Progress | None = None, on_links: Callable[[str, int], None] | None = None
                     ) -> FetchSummary:
    """Run the sources once over ``workers`` processes (see the module docstring) and deliver the
    alerts; the same summary as :meth:`Monitor.fetch`. Call it with no event loop running."""
    path = db_path or cfg.database_path
    chosen = Monitor(cfg).select(sources)
    n = min(workers, len({host_of(s.url) for s in chosen}))
    if n > 1:  # each worker discovers the sources of the hosts it owns
        Store.open(path).close()  # migrations, before any worker opens the file
        found = _Run(cfg, path, n, progress, on_links).run(chosen, [])
    else:  # one source host: discovered here, then shared out if its links are on several hosts
        started = asyncio.run(_discover(cfg, path, sources, workers, progress, on_links))
        if isinstance(started, FetchSummary):
            return started
        found, jobs, n = started
        found = _Run(cfg, path, n, progress, on_links).run(found, jobs)
    return asyncio.run(_finish(cfg, path, found))


async def _discover(cfg: Config, db_path: str, sources: Sequence[str] | None, workers: int,
                    progress: Progress | None, on_links: Callable[[str, int], None] | None
                    ) -> FetchSummary | tuple[list[Discovery], list[tuple[str, Job]], int]:
    async with Monitor(cfg, db_path=db_path) as mon:
        pipe = mon.pipeline(progress)
        pipe.on_links = on_links
        found = list(await asyncio.gather(*(pipe.discover_source(s) for s in mon.select(sources))))
        jobs = [(f.source.name, Job(link)) for f in found for link in f.links]
        n = min(workers, len({job.host for _name, job in jobs}))
        if n <= 1:  # nothing to share out: this process goes on, as a one-process run would
            await asyncio.gather(*(pipe.process_links(f.source, [Job(link) for link in f.links], f.report)
                                   for f in found))
            return await mon.deliver([pipe.finish_source(f) for f in found])
        pipe.writes.flush()
        for f in found:
            f.links = []
        return found, jobs, n


async def _finish(cfg: Config, db_path: str, found: list[Discovery]) -> FetchSummary:
    async with Monitor(cfg, db_path=db_path) as mon:
        pipe = mon.pipeline()
        with mon.store.write():  # every source's record in one transaction
            reports = [pipe.finish_source(f, upkeep=False) for f in found]
        mon.store.maybe_apply_retention(cfg.retention, fetch_history=cfg.fetch_history)
        return await mon.deliver(reports)


async def _read_here(cfg: Config, db_path: str, gates: dict[str, GateState], robots: dict[str, Robots],
                     robots_of: Sequence[str], sources: Sequence[SourceConfig]
                     ) -> tuple[dict[str, GateState], dict[str, Robots], list[Discovery]]:
    """While the workers wait between rounds: robots.txt of the origins of ``robots_of`` (it
    redirects to another worker's host), and the discovery of ``sources`` (it led to one)."""
    async with Fetcher(cfg.fetch, trusted_hosts=trusted_hosts(cfg)) as fetcher:
        fetcher.take_politeness(gates, robots)
        await asyncio.gather(*(fetcher.robots_for(url) for url in {origin_of(u): u for u in robots_of}.values()))
        found: list[Discovery] = []
        if sources:
            with Store.open(db_path, migrate=False) as store:
                pipe = Pipeline(cfg, store, fetcher)
                found = list(await asyncio.gather(*(pipe.discover_source(s) for s in sources)))
                pipe.writes.flush()
        return (*fetcher.politeness(), found)


class _Run:
    """The parent's side of one run: worker processes, rounds of work, their answers."""

    def __init__(self, cfg: Config, db_path: str, workers: int, progress: Progress | None,
                 on_links: Callable[[str, int], None] | None) -> None:
        self.cfg, self.db_path, self.workers = cfg, db_path, workers
        self.progress, self.on_links = progress, on_links
        self.procs: list[Any] = []
        self.conns: list[Connection] = []
        self.started = utcnow().isoformat()

    def run(self, sources: list[SourceConfig] | list[Discovery], jobs: list[tuple[str, Job]]) -> list[Discovery]:
        """Discover ``sources`` (SourceConfigs) in the workers, or take their Discoveries and
        ``jobs`` as found here; process every link; the Discoveries, with the workers' counts."""
        found: dict[str, Discovery] = {}
        order: list[str] = []
        discover: list[SourceConfig] = []
        for item in sources:
            if isinstance(item, Discovery):
                found[item.source.name] = item
                order.append(item.source.name)
            else:
                discover.append(item)
                order.append(item.name)
        previous = None
        if threading.current_thread() is threading.main_thread():  # SIGTERM stops the workers too
            previous = signal.signal(signal.SIGTERM, _terminated)
        self._start()
        try:
            self._rounds(found, discover, jobs)
        except BaseException:  # interrupted (Ctrl-C, SIGTERM) or failed: the workers stop now
            self._stop(at_once=True)
            raise
        else:
            self._stop()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        return [found[name] for name in order]

    def _start(self) -> None:
        ctx = _context()
        spawned = ctx.get_start_method() != "fork"
        matcher = None
        if not spawned:  # imported and compiled once here, shared by every forked worker
            import monitor.extract  # noqa: F401

            matcher = compile_topics(self.cfg.topics, self.cfg.aliases)
            gc.freeze()  # the collector never touches these in the workers (their pages stay shared)
        root_handlers = logging.getLogger().handlers
        fmt = "json" if root_handlers and isinstance(root_handlers[0].formatter, JsonFormatter) else "text"
        level = logging.getLogger("monitor").getEffectiveLevel()
        for i in range(self.workers):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=worker_main, name=f"monitor-worker-{i}", daemon=True,
                               args=(theirs, Spec(self.cfg, self.db_path, i, spawned, level, fmt, matcher)))
            proc.start()
            theirs.close()
            self.procs.append(proc)
            self.conns.append(mine)
        if not spawned:
            gc.unfreeze()  # (this process goes on as before)
        log.info("%d worker processes (%s)", self.workers, ctx.get_start_method())

    def _stop(self, *, at_once: bool = False) -> None:
        """Tell the workers to exit (between rounds they are waiting for work), or with ``at_once``
        terminate them in the middle of a round (what they had not committed is fetched again next run)."""
        for conn in self.conns:
            try:
                conn.send(("stop",))
            except OSError:
                pass
        deadline = time.monotonic() + (0 if at_once else STOP_WAIT)
        for proc in self.procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(2)
        for conn in self.conns:
            conn.close()

    def _rounds(self, found: dict[str, Discovery], discover: list[SourceConfig], jobs: list[tuple[str, Job]]) -> None:
        cfg = self.cfg
        owners = _Owners(self.workers)
        owners.assign(Counter(host_of(s.url) for s in discover))
        gates: dict[str, GateState] = {}
        robots: dict[str, Robots] = {}
        while jobs or discover:
            owners.assign(Counter(job.host for _name, job in jobs))
            work: dict[int, Round] = {}
            for name, job in jobs:
                work.setdefault(owners.of[job.host], Round([], frozenset(), {}, {})).jobs.append((name, job))
            for source in discover:
                work.setdefault(owners.of[host_of(source.url)], Round([], frozenset(), {}, {})).discover.append(
                    source.name)
            for worker, part in work.items():
                part.hosts = owners.hosts(worker)
                part.gates = {h: s for h, s in gates.items() if h in part.hosts}
                part.robots = {o: r for o, r in robots.items() if host_of(o) in part.hosts}
                self.conns[worker].send(("round", part))
            jobs, discover, need_robots = [], [], []
            for worker, result in self._collect(work).items():
                if isinstance(result, str):  # the worker died: its work of this round failed
                    owners.alive.discard(worker)
                    self._lost(found, work[worker], result)
                    for host in owners.hosts(worker):  # whatever it sent last: wait a full delay
                        gates[host] = (time.monotonic() + cfg.fetch.per_host_delay, *gates.get(host, (0, 0, 0, None))[1:])
                    continue
                for f in result.found:
                    found[f.source.name] = f
                for name, part_report in result.reports.items():
                    found[name].report.add(part_report)
                gates.update(result.gates)
                robots.update(result.robots)
                discover += [cfg.source(name) for name in result.rediscover]
                for name, job, for_robots in result.handoffs:
                    jobs.append((name, job))
                    if for_robots and job.start:
                        need_robots.append(job.start)
            if not owners.alive:
                for name, job in jobs:
                    found[name].report.failed += 1
                    found[name].report.errors.append(f"{job.link.url}: no worker process left")
                break
            if discover:  # discoveries that led to another worker's host: read here, all workers waiting
                log.info("%d source(s) discovered here: they lead to hosts of more than one worker", len(discover))
            if need_robots:
                log.info("robots.txt read here for %d origin(s): it redirects to another worker's host",
                         len({origin_of(u) for u in need_robots}))
            if discover or need_robots:
                gates, robots, again = asyncio.run(_read_here(cfg, self.db_path, gates, robots, need_robots, discover))
                for f in again:
                    found[f.source.name] = f
                    jobs += [(f.source.name, Job(link)) for link in f.links]
                    f.links = []
                    if self.on_links:
                        self.on_links(f.source.name, f.report.links)
                discover = []
            if jobs:
                log.info("%d link(s) go on in the worker that owns their host", len(jobs))

    def _lost(self, found: dict[str, Discovery], work: Round, why: str) -> None:
        for name, job in work.jobs:
            found[name].report.failed += 1
            found[name].report.errors.append(f"{job.link.url}: {why}")
        for name in work.discover:
            if name not in found:
                found[name] = Discovery(self.cfg.source(name), SourceReport(source=name), self.started)
            found[name].report.error = why

    def _collect(self, work: dict[int, Round]) -> dict[int, Result | str]:
        """Each busy worker's answer (or why it has none), passing progress on as it comes."""
        conns, procs = self.conns, self.procs
        results: dict[int, Result | str] = {}
        busy = {conns[w]: w for w in work}
        sentinels = {procs[w].sentinel: w for w in work}
        while busy:
            for ready in wait([*busy, *(s for s, w in sentinels.items() if conns[w] in busy)]):
                if isinstance(ready, int):
                    worker = sentinels[ready]
                    conn = conns[worker]
                    if conn in busy and not conn.poll():
                        del busy[conn]
                        results[worker] = f"worker process {worker} ended (exit code {procs[worker].exitcode})"
                    continue
                assert isinstance(ready, Connection)
                worker = busy.get(ready, -1)
                if worker < 0:
                    continue
                try:
                    kind, payload = ready.recv()
                except (EOFError, OSError):
                    del busy[ready]
                    results[worker] = f"worker process {worker} ended (exit code {procs[worker].exitcode})"
                    continue
                if kind == "progress":
                    done, links = payload
                    for name, k in links.items():
                        if self.on_links:
                            self.on_links(name, k)
                    for name, k in done.items():
                        if self.progress:
                            self.progress(name, k)
                elif kind == "done":
                    del busy[ready]
                    results[worker] = payload
                    log.debug("worker %d done with its round (%d links, %d sources to discover)", worker,
                              len(work[worker].jobs), len(work[worker].discover))
                else:  # "error": its traceback
                    log.error("worker process %d failed:\n%s", worker, payload)
                    del busy[ready]
                    results[worker] = f"worker process {worker} failed: {payload.strip().splitlines()[-1]}"
        return results


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
