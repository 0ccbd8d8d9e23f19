"""``monitor fetch --workers N``: one run spread over worker processes, each owning some hosts.

A page is fetched, extracted, matched and stored in the process that fetched it: only URLs and
counts travel between processes, never pages. The run has three phases:

1. **Discover** (this process, with its own polite fetcher): every source's listing, feed or
   sitemaps are read into links, as :meth:`Pipeline.discover_source` does for ``monitor run``.
   With fewer than two hosts to visit, or one worker, the links are processed here and the run
   ends as a one-process run would.
2. **Process** (N worker processes, forked when nothing but the main thread runs here, spawned
   otherwise): every host is owned by one worker for the whole run (hosts are dealt out by how
   many links they have, largest first, to the least-loaded worker), and every link goes to the
   owner of its host. A worker has its own fetcher, extractor, matcher and database connection,
   and writes in batches (:class:`~monitor.store_batch.BatchWriter`); politeness (one request at
   a time per host, the host's delay, robots.txt, ``Retry-After`` pauses) holds because a host is
   only ever fetched by one process at a time, and the time its next request may start is handed
   on with it. A redirect to a host another worker owns is handed back (:class:`Handoff`) and
   goes on, in a further round, in the owner; so does a page whose robots.txt could only be read
   through another worker's host (this process reads it between rounds).
3. **Finish** (this process): the workers' counts and error lines are added to each source's
   report, source runs are recorded, retention runs, and the alerts are delivered exactly as
   after a one-process run (:meth:`Monitor.deliver`).

Stories and alerts stay deduplicated across workers: each batch is one ``BEGIN IMMEDIATE``
transaction, which sees every batch another worker committed before it, and within a batch each
save sees the rows the earlier ones wrote.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkContext, SpawnContext
from typing import Any

import httpx

from .app import FetchSummary, Monitor
from .config import Config, FetchConfig, SourceConfig
from .errors import FetchError
from .fetch import Fetcher, _Gate
from .logs import JsonFormatter, config_secrets, register_secrets, setup_logging
from .models import Link, Page, SourceReport
from .pipeline import Discovery, Handoff, Job, Pipeline, Progress, host_of, trusted_hosts
from .robots import Robots, RobotsAnswer, origin_of
from .store import Store, utcnow
from .topics import TopicMatcher, compile_topics
from .walls import consent_redirect

__all__ = ["ShardFetcher", "fetch_in_workers", "worker_count"]

log = logging.getLogger(__name__)

GateState = tuple[float, float, float, int | None]  # next_ok, crawl_delay, paused_until, paused_status
PROGRESS_EVERY = 0.2  # seconds between a worker's progress messages
STOP_WAIT = 10.0  # seconds a worker gets to exit after "stop"


def worker_count(cfg: Config, requested: int | None = None) -> int:
    """``--workers``, else the config's ``workers``, else the number of cores."""
    return max(1, requested or cfg.workers or os.cpu_count() or 1)


# ---------------------------------------------------------------------------- the worker's fetcher

@dataclass
class _Chain:
    """One job's fetch in a worker: where its redirects stand."""

    hops: int  # redirects followed (elsewhere) before this process took the chain up
    seen: int = 0  # hops of it this process checked
    in_robots: bool = False  # robots.txt of the current hop is being read


_CHAIN: ContextVar[_Chain | None] = ContextVar("monitor_worker_chain", default=None)


class _TooManyRedirects(Exception):  # noqa: N818 - turned into the FetchError a one-process run gives
    pass


class ShardFetcher(Fetcher):
    """A worker's fetcher: it requests only URLs of the hosts in ``owned``. A redirect (or a
    robots.txt redirect) to any other host raises :class:`Handoff` before any request to it, and
    a chain taken up from another process keeps counting toward ``fetch.max_redirects``."""

    def __init__(self, cfg: FetchConfig, **kwargs: Any) -> None:
        super().__init__(cfg, **kwargs)
        self.owned: frozenset[str] = frozenset()
        self.robots_elsewhere: set[str] = set()  # origins whose robots.txt redirects to a host not owned here

    async def fetch_job(self, job: Job, *, source: SourceConfig | None, etag: str | None,
                        last_modified: str | None) -> Page:
        """Fetch ``job``: its link, or from where another process left its redirects, reporting
        the page and any failure as a one-process fetch of the link would."""
        link = job.link.url
        token = _CHAIN.set(_Chain(job.hops))
        try:
            page = await self.fetch(job.start or link, source=source, etag=etag, last_modified=last_modified)
        except _TooManyRedirects:
            raise FetchError(f"more than {self.cfg.max_redirects} redirects", url=link,
                             outcome="too_many_redirects") from None
        except FetchError as exc:
            if job.start is None or job.start == link:
                raise
            reason = str(exc).removeprefix(f"{exc.url}: ").removesuffix(f" (redirected from {job.start})")
            raise FetchError(f"{reason} (redirected from {link})", url=exc.url, outcome=exc.outcome,
                             status=exc.status) from None
        finally:
            _CHAIN.reset(token)
        if job.start is None or job.start == link:
            return page
        wall = consent_redirect(link, page.final_url)
        if wall and page.outcome == "ok":
            raise FetchError(f"{wall} came instead of the page", url=page.final_url, outcome="consent_wall",
                             status=page.status)
        return replace(page, url=link)

    async def _check_url(self, url: str) -> None:
        chain = _CHAIN.get()
        if chain is not None:
            if not chain.in_robots:
                hop = chain.hops + chain.seen
                chain.seen += 1
                if hop > self.cfg.max_redirects:
                    raise _TooManyRedirects
                if host_of(url) not in self.owned:
                    raise Handoff(url, hop)
            elif host_of(url) not in self.owned:
                raise Handoff(url, 0, robots=True)
        await super()._check_url(url)

    async def _check_robots(self, url: str, client: Any) -> None:
        chain = _CHAIN.get()
        if chain is None:
            await super()._check_robots(url, client)
            return
        chain.in_robots = True
        try:
            await super()._check_robots(url, client)
        except Handoff:  # robots.txt of this hop redirects to another worker's host: the parent reads it
            self.robots_elsewhere.add(origin_of(url))
            raise Handoff(url, chain.hops + chain.seen - 1, robots=True) from None
        finally:
            chain.in_robots = False

    async def _load_robots(self, robots_url: str, client: httpx.AsyncClient | None = None) -> RobotsAnswer:
        if origin_of(robots_url) in self.robots_elsewhere:  # known already (a fetch that waited for the
            raise Handoff(robots_url, 0, robots=True)      # first one's answer): not asked again
        return await super()._load_robots(robots_url, client)


def export_state(fetcher: Fetcher, hosts: set[str] | None = None) -> tuple[dict[str, GateState], dict[str, Robots]]:
    """The fetcher's per-host politeness state and its robots.txt answers (for the next process
    that fetches these hosts)."""
    gates = {host: (g.next_ok, g.crawl_delay, g.paused_until, g.paused_status)
             for host, g in fetcher._gates.items() if hosts is None or host in hosts}
    robots = {origin: entry for origin, entry in fetcher.robots._entries.items()
              if hosts is None or host_of(origin) in hosts}
    return gates, robots


def seed_state(fetcher: Fetcher, gates: dict[str, GateState], robots: dict[str, Robots]) -> None:
    """Take over what another process knew of these hosts: a request never starts before the
    host's turn, robots.txt is not asked for again."""
    for host, (next_ok, crawl_delay, paused_until, paused_status) in gates.items():
        gate = fetcher._gates.setdefault(host, _Gate())
        gate.next_ok = max(gate.next_ok, next_ok)
        gate.crawl_delay = crawl_delay
        if paused_until > gate.paused_until:
            gate.paused_until, gate.paused_status = paused_until, paused_status
    for origin, entry in robots.items():
        fetcher.robots._entries.setdefault(origin, entry)


class _WorkerPipeline(Pipeline):
    """A worker's pipeline: every fetch checked against the hosts it owns. A source's discovery
    writes nothing until it is over: one that leads to another worker's host is dropped here and
    read again by the parent, as if this process had never started it."""

    def __init__(self, cfg: Config, store: Store, fetcher: ShardFetcher, matcher: TopicMatcher | None) -> None:
        super().__init__(cfg, store, fetcher, matcher=matcher)
        self.shard = fetcher
        self._held: dict[str, list[tuple[str, Callable[[], object], str]]] = {}

    async def _get(self, source: SourceConfig, url: str, job: Job | None, etag: str | None,
                   modified: str | None) -> Page:
        return await self.shard.fetch_job(job or Job(Link(url, source.name)), source=source, etag=etag,
                                          last_modified=modified)

    async def discover_here(self, source: SourceConfig) -> Discovery | None:
        """:meth:`discover_source`, or None when it needs a host this process does not own."""
        self._held[source.name] = []
        try:
            found = await self.discover_source(source)
        except Handoff:
            del self._held[source.name]  # nothing of it written
            return None
        self._release(source)
        return found

    def _write_later(self, source: SourceConfig, url: str, op: Callable[[], object], what: str) -> None:
        held = self._held.get(source.name)
        if held is None:
            super()._write_later(source, url, op, what)
        else:
            held.append((url, op, what))

    def _release(self, source: SourceConfig) -> None:
        for url, op, what in self._held.pop(source.name, ()):
            super()._write_later(source, url, op, what)

    async def process_links(self, source: SourceConfig, jobs: Sequence[Job], report: SourceReport, *,
                            page: Page | None = None) -> None:
        self._release(source)  # (a single page's discovery ends here)
        await super().process_links(source, jobs, report, page=page)


# ---------------------------------------------------------------------------- messages

@dataclass
class _Spec:
    cfg: Config
    db_path: str
    index: int
    spawned: bool
    log_level: int
    log_format: str
    matcher: TopicMatcher | None = None  # the parent's, when forked (else compiled in the worker)


@dataclass
class _Round:
    jobs: list[tuple[str, Job]]
    hosts: frozenset[str]
    gates: dict[str, GateState]
    robots: dict[str, Robots]
    discover: list[str] = field(default_factory=list)  # sources whose discovery starts here


@dataclass
class _Result:
    reports: dict[str, SourceReport]
    handoffs: list[tuple[str, Job, bool]]
    gates: dict[str, GateState]
    robots: dict[str, Robots]
    found: list[Discovery] = field(default_factory=list)  # the sources discovered here (links left out)
    rediscover: list[str] = field(default_factory=list)  # sources whose discovery needs the parent


# ---------------------------------------------------------------------------- the worker process

def _worker_main(conn: Connection, spec: _Spec) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt stops
    if spec.spawned:
        setup_logging(spec.log_level, spec.log_format)
        register_secrets(config_secrets(spec.cfg))
    try:
        asyncio.run(_serve(conn, spec))
    except BaseException:  # noqa: BLE001 - the parent reports it and counts this worker's links as failed
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
        raise SystemExit(1) from None
    finally:
        conn.close()


class _ProgressSender:
    """Progress (links done, links found per source) to the parent, a few times a second."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.done: Counter[str] = Counter()
        self.found: dict[str, int] = {}
        self.sent_at = time.monotonic()

    def add(self, source: str, n: int) -> None:
        self.done[source] += n
        if time.monotonic() - self.sent_at >= PROGRESS_EVERY:
            self.flush()

    def links(self, source: str, n: int) -> None:
        self.found[source] = n
        self.flush()

    def flush(self) -> None:
        if self.done or self.found:
            self.conn.send(("progress", (dict(self.done), dict(self.found))))
            self.done.clear()
            self.found.clear()
        self.sent_at = time.monotonic()


async def _serve(conn: Connection, spec: _Spec) -> None:
    cfg = spec.cfg
    store = Store.open(spec.db_path, migrate=False)
    fetcher = ShardFetcher(cfg.fetch, trusted_hosts=trusted_hosts(cfg))
    pipe = _WorkerPipeline(cfg, store, fetcher, spec.matcher)
    progress = _ProgressSender(conn)
    pipe.progress = progress.add
    pipe.on_links = progress.links
    try:
        while True:
            message = conn.recv()  # between rounds this process has nothing else to do
            if message[0] == "stop":
                return
            work: _Round = message[1]
            fetcher.owned = work.hosts
            seed_state(fetcher, work.gates, work.robots)
            pipe.handoffs = []
            result = _Result({}, pipe.handoffs, {}, {})
            by_source: dict[str, list[Job]] = {}
            for name, job in work.jobs:
                by_source.setdefault(name, []).append(job)
            for name in by_source:
                result.reports[name] = SourceReport(source=name)

            await asyncio.gather(*(_discover_here(pipe, cfg.source(name), work.hosts, result) for name in work.discover),
                                 *(pipe.process_links(cfg.source(name), jobs, result.reports[name])
                                   for name, jobs in by_source.items()))
            pipe.writes.flush()
            progress.flush()
            log.debug("worker %d: %d batches written, %d tries found the write lock taken", spec.index,
                      pipe.writes.batches, pipe.writes.busy)
            result.gates, result.robots = export_state(fetcher, set(work.hosts))
            conn.send(("done", result))
    finally:
        await fetcher.aclose()
        store.close()


async def _discover_here(pipe: _WorkerPipeline, source: SourceConfig, hosts: frozenset[str], result: _Result) -> None:
    """A source's discovery in a worker, then its links on hosts this worker owns; the others go
    back to the parent (and so does the source, when its discovery needs another worker's host)."""
    found = await pipe.discover_here(source)
    if found is None:
        result.rediscover.append(source.name)
        return
    mine = [Job(link) for link in found.links if host_of(link.url) in hosts]
    pipe.handoffs.extend((source.name, Job(link), False) for link in found.links if host_of(link.url) not in hosts)
    found.links = []
    result.found.append(found)
    await pipe.process_links(found.source, mine, found.report)


# ---------------------------------------------------------------------------- the parent

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
        mon.store.maybe_apply_retention(cfg.retention)
        return await mon.deliver(reports)


async def _read_here(cfg: Config, db_path: str, gates: dict[str, GateState], robots: dict[str, Robots],
                     robots_of: Sequence[str], sources: Sequence[SourceConfig]
                     ) -> tuple[dict[str, GateState], dict[str, Robots], list[Discovery]]:
    """While the workers wait between rounds: robots.txt of the origins of ``robots_of`` (it
    redirects to another worker's host), and the discovery of ``sources`` (it led to one)."""
    async with Fetcher(cfg.fetch, trusted_hosts=trusted_hosts(cfg)) as fetcher:
        seed_state(fetcher, gates, robots)
        await asyncio.gather(*(fetcher.robots_for(url) for url in {origin_of(u): u for u in robots_of}.values()))
        found: list[Discovery] = []
        if sources:
            with Store.open(db_path, migrate=False) as store:
                pipe = Pipeline(cfg, store, fetcher)
                found = list(await asyncio.gather(*(pipe.discover_source(s) for s in sources)))
                pipe.writes.flush()
        return (*export_state(fetcher), found)


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
        root_handlers = logging.getLogger().handlers
        fmt = "json" if root_handlers and isinstance(root_handlers[0].formatter, JsonFormatter) else "text"
        level = logging.getLogger("monitor").getEffectiveLevel()
        for i in range(self.workers):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, name=f"monitor-worker-{i}", daemon=True,
                               args=(theirs, _Spec(self.cfg, self.db_path, i, spawned, level, fmt, matcher)))
            proc.start()
            theirs.close()
            self.procs.append(proc)
            self.conns.append(mine)
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
            work: dict[int, _Round] = {}
            for name, job in jobs:
                work.setdefault(owners.of[job.host], _Round([], frozenset(), {}, {})).jobs.append((name, job))
            for source in discover:
                work.setdefault(owners.of[host_of(source.url)], _Round([], frozenset(), {}, {})).discover.append(
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
                    _add(found[name].report, part_report)
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

    def _lost(self, found: dict[str, Discovery], work: _Round, why: str) -> None:
        for name, job in work.jobs:
            found[name].report.failed += 1
            found[name].report.errors.append(f"{job.link.url}: {why}")
        for name in work.discover:
            if name not in found:
                found[name] = Discovery(self.cfg.source(name), SourceReport(source=name), self.started)
            found[name].report.error = why

    def _collect(self, work: dict[int, _Round]) -> dict[int, _Result | str]:
        """Each busy worker's answer (or why it has none), passing progress on as it comes."""
        conns, procs = self.conns, self.procs
        results: dict[int, _Result | str] = {}
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


def _add(report: SourceReport, part: SourceReport) -> None:
    report.fetched += part.fetched
    report.new += part.new
    report.updated += part.updated
    report.unchanged += part.unchanged
    report.failed += part.failed
    report.skipped += part.skipped
    report.errors += part.errors
