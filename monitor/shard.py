"""The worker side of ``monitor fetch --workers N`` (:mod:`monitor.workers` is the parent's side).

A worker process owns some hosts for the whole run and fetches nothing else: :class:`ShardFetcher`
raises :class:`~monitor.pipeline.Handoff` before any request to another host (a redirect, or a
robots.txt that redirects away), and a chain of redirects taken up from another process keeps
counting toward ``fetch.max_redirects`` and reports its failures as a one-process fetch of the
link would. Between rounds the worker waits for the parent's next :class:`Round` on a pipe and
answers with a :class:`Result`: per-source counts and error lines, the links and redirects for
other workers, the sources whose discovery needs the parent, and its hosts' politeness state.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

import httpx

from .config import Config, FetchConfig, SourceConfig
from .errors import FetchError
from .fetch import Fetcher, GateState
from .logs import config_secrets, register_secrets, setup_logging
from .models import Link, Page, SourceReport
from .pipeline import Discovery, Handoff, Job, Pipeline, host_of, trusted_hosts
from .robots import Robots, RobotsAnswer, origin_of
from .store import Store
from .topics import TopicMatcher
from .walls import consent_redirect

__all__ = ["Result", "Round", "ShardFetcher", "Spec", "tune_gc", "worker_main"]

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.2  # seconds between a worker's progress messages
# Extraction makes and drops many containers per page, freed by reference counting: the cyclic
# collector's default (a pass every 700 new ones) cost about 7 % of a batch run's CPU; every
# 10,000 it costs under 1 %, for a few MB.
GC_THRESHOLD = 10_000


def tune_gc() -> None:
    """Collector settings for a process that extracts pages in bulk (``monitor fetch``, workers)."""
    gc.set_threshold(GC_THRESHOLD, 10, 10)


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
class Spec:
    cfg: Config
    db_path: str
    index: int
    spawned: bool
    log_level: int
    log_format: str
    matcher: TopicMatcher | None = None  # the parent's, when forked (else compiled in the worker)


@dataclass
class Round:
    jobs: list[tuple[str, Job]]
    hosts: frozenset[str]
    gates: dict[str, GateState]
    robots: dict[str, Robots]
    discover: list[str] = field(default_factory=list)  # sources whose discovery starts here


@dataclass
class Result:
    reports: dict[str, SourceReport]
    handoffs: list[tuple[str, Job, bool]]
    gates: dict[str, GateState]
    robots: dict[str, Robots]
    found: list[Discovery] = field(default_factory=list)  # the sources discovered here (links left out)
    rediscover: list[str] = field(default_factory=list)  # sources whose discovery needs the parent


# ---------------------------------------------------------------------------- the worker process

def worker_main(conn: Connection, spec: Spec) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt stops
    tune_gc()
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


async def _serve(conn: Connection, spec: Spec) -> None:
    cfg = spec.cfg
    store = Store.open(spec.db_path, migrate=False)
    fetcher = ShardFetcher(cfg.fetch, trusted_hosts=trusted_hosts(cfg))
    fetcher.robots.memory = store
    pipe = _WorkerPipeline(cfg, store, fetcher, spec.matcher)
    progress = _ProgressSender(conn)
    pipe.progress = progress.add
    pipe.on_links = progress.links
    gc.freeze()  # what exists now lives as long as the worker: the collector need not look at it again
    try:
        while True:
            message = conn.recv()  # between rounds this process has nothing else to do
            if message[0] == "stop":
                return
            work: Round = message[1]
            fetcher.owned = work.hosts
            fetcher.take_politeness(work.gates, work.robots)
            pipe.handoffs = []
            result = Result({}, pipe.handoffs, {}, {})
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
            result.gates, result.robots = fetcher.politeness(work.hosts)
            conn.send(("done", result))
    finally:
        await fetcher.aclose()
        store.close()


async def _discover_here(pipe: _WorkerPipeline, source: SourceConfig, hosts: frozenset[str], result: Result) -> None:
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
