"""One run of one source, stage after stage: discover -> fetch -> extract -> match -> store (with
the alert outbox). One bad link never stops the run; a bad source never stops the others.

A run has three phases, which ``monitor fetch --workers N`` (:mod:`monitor.workers`) runs in
different processes: :meth:`Pipeline.discover_source` (the listing, feed or sitemaps: links),
:meth:`Pipeline.process_links` (each link fetched, extracted, matched and stored) and
:meth:`Pipeline.finish_source` (the source's record). Links are worked through by a few
consumers per host (a host gets one request at a time anyway: one consumer fetches while the
other extracts), never by a task per link. Writes go through a :class:`BatchWriter`: many
articles per transaction, the costly fingerprints worked out before the write lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, Protocol
from urllib.parse import urlsplit

from .config import Config, SourceConfig
from .discover import detect_kind, discover
from .errors import DiscoverError, ExtractError, FetchError, MonitorError
from .fetch import Fetcher, host_of
from .models import Article, Link, Page, SourceReport, StoreResult
from .store import Store
from .store_batch import BatchWriter
from .topics import Document, TopicMatcher, compile_topics
from .walls import needs_browser

__all__ = ["Discovery", "Handoff", "Job", "Observer", "Pipeline", "host_of", "trusted_hosts"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (source name, how many links were just finished)
MAX_SITEMAPS_PER_RUN = 20
CONSUMERS_PER_HOST = 2  # one fetching while the other extracts and matches


def _source_state(report: SourceReport, failed_as: str | None, outcomes: dict[str, int]) -> str | None:
    """How a run went, when "healthy" or "failing" says too little: robots.txt keeps us out of the
    source (or of every link it gave), or consent walls / bot checks came instead of its pages."""
    if failed_as in ("skipped_robots", "consent_wall"):
        return "blocked_robots" if failed_as == "skipped_robots" else "consent_wall"
    if report.links and report.skipped == report.links and outcomes.get("skipped_robots"):
        return "blocked_robots"
    if report.links and report.failed == report.links and outcomes.get("consent_wall", 0) >= report.failed:
        return "consent_wall"
    return None


def trusted_hosts(cfg: Config) -> set[str]:
    """Hosts named in the config: the address guard trusts them."""
    hosts = set()
    for src in cfg.sources:
        host = urlsplit(src.url).hostname
        if host:
            hosts.add(host.lower())
    return hosts


class Observer(Protocol):
    """Told of each fetch and of the topics a new or edited article matched (the daemon's metrics)."""

    def fetched(self, source: str, outcome: str, seconds: float) -> None: ...
    def matched(self, source: str, topics: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class Job:
    """One link to work on. ``start`` and ``hops``: its redirects were followed elsewhere up to
    ``start`` (``hops`` of them), and the fetch goes on from there (see :mod:`monitor.workers`)."""

    link: Link
    start: str | None = None
    hops: int = 0

    @property
    def host(self) -> str:
        return host_of(self.start or self.link.url)


class Handoff(Exception):  # noqa: N818 - a signal, not an error: the link goes to another process
    """Raised by a worker's fetcher when a redirect leads to a host another worker owns (or robots.txt
    of the host could only be read through one): the fetch goes on there from ``url``."""

    def __init__(self, url: str, hops: int, *, robots: bool = False) -> None:
        super().__init__(url)
        self.url = url
        self.hops = hops
        self.robots = robots


@dataclass
class Discovery:
    """What the first phase of a source's run found, and what its last phase needs."""

    source: SourceConfig
    report: SourceReport
    started: str
    links: list[Link] = field(default_factory=list)
    failed_as: str | None = None  # the outcome the source's own fetch ended in, when it failed


@dataclass
class _Outcome:
    status: str  # new | updated | unchanged | failed | skipped | handoff
    alerts: int = 0


class Pipeline:
    """Runs sources through the stages. The fetcher, store and clock are injected."""

    def __init__(self, cfg: Config, store: Store, fetcher: Fetcher, *, matcher: TopicMatcher | None = None,
                 progress: Progress | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.fetcher = fetcher
        self.matcher = matcher or compile_topics(cfg.topics, cfg.aliases)
        self.routes = {t.name: cfg.topic_channels(t) for t in cfg.topics}
        self.progress = progress
        self.on_links: Callable[[str, int], None] | None = None
        self.observer: Observer | None = None
        self.stopping = asyncio.Event()
        self.writes = BatchWriter(store)
        self.handoffs: list[tuple[str, Job, bool]] = []  # (source name, job, needs robots.txt) for another process

    async def run(self, sources: Sequence[SourceConfig]) -> list[SourceReport]:
        """Every source once, concurrently (politeness is per host, in the fetcher)."""
        return list(await asyncio.gather(*(self.run_source(s) for s in sources)))

    async def run_source(self, source: SourceConfig) -> SourceReport:
        try:
            found = await self.discover_source(source)
            await self.process_links(source, [Job(link) for link in found.links], found.report)
            return self.finish_source(found)
        finally:
            self.writes.flush()  # a cancelled run keeps what it fetched and stored

    # ------------------------------------------------------------------ the phases
    async def discover_source(self, source: SourceConfig) -> Discovery:
        """Phase one: the source's listing, feed or sitemaps read into links (revisits added). A
        single-page source's page is processed here (it is in hand)."""
        found = Discovery(source, SourceReport(source=source.name), self.store.now())
        report = found.report
        try:
            links, page = await self._discover(source, report)
            report.links = len(links)
            if self.on_links:
                self.on_links(source.name, len(links))
            if page is not None:  # a single-page source: the page is the article
                await self.process_links(source, [Job(Link(page.final_url, source.name))], report, page=page)
            else:
                found.links = links
        except (FetchError, DiscoverError) as exc:
            report.error = str(exc)
            found.failed_as = exc.outcome if isinstance(exc, FetchError) else None
            log.warning("source failed: %s", exc, extra={"source": source.name, "url": source.url})
        except MonitorError as exc:
            report.error = str(exc)
            log.error("source failed: %s", exc, extra={"source": source.name, "url": source.url})
        return found

    async def process_links(self, source: SourceConfig, jobs: Sequence[Job], report: SourceReport, *,
                            page: Page | None = None) -> None:
        """Phase two: every job fetched, extracted, matched and stored, by a few consumers per host;
        counted in ``report`` once stored. ``page``: the one job's page is in hand already."""
        lanes: dict[str, list[Job]] = {}
        for job in jobs:
            lanes.setdefault(job.host, []).append(job)
        saving: list[asyncio.Future[StoreResult]] = []

        async def consume(queue: Iterator[Job]) -> None:
            for job in queue:
                done = await self._process(source, job, report, page)
                if isinstance(done, _Outcome):
                    self._settle(source, report, done)
                else:
                    saving.append(done)

        consumers = []
        for lane in lanes.values():
            queue = iter(lane)
            consumers += [consume(queue) for _ in range(min(CONSUMERS_PER_HOST, len(lane)))]
        try:
            await asyncio.gather(*consumers)
        finally:
            self.writes.flush()
        if saving:
            await asyncio.gather(*saving, return_exceptions=True)

    def finish_source(self, found: Discovery, *, upkeep: bool = True) -> SourceReport:
        """Phase three: the source's run recorded (health, next due), listing validators dropped
        after a failure, storage upkeep (unless ``upkeep`` is false: the caller runs it)."""
        self.writes.flush()
        source, report = found.source, found.report
        ok = report.error is None and not (report.links and report.failed == report.links)
        if report.error is None and not ok:
            report.error = f"all {report.failed} links failed"
        ended = self.store.recent_outcomes(source.name, found.started)
        if report.error or report.failed:  # the next run reads the listing in full and retries what failed
            self.store.forget_validators(source.name, found.started)
        self.store.record_source_run(source.name, source.url, ok=ok, error=report.error, new_articles=report.new,
                                     next_due=self.store.clock() + timedelta(seconds=source.every),
                                     state=_source_state(report, found.failed_as, ended))
        if upkeep:
            # storage upkeep: at most every 10 minutes
            self.store.maybe_apply_retention(self.cfg.retention, fetch_history=self.cfg.fetch_history)
        return report

    def _settle(self, source: SourceConfig, report: SourceReport, outcome: _Outcome) -> None:
        if outcome.status == "handoff":  # counted by the process that finishes it
            return
        self._count(report, outcome)
        if self.progress:
            self.progress(source.name, 1)

    @staticmethod
    def _count(report: SourceReport, outcome: _Outcome) -> None:
        if outcome.status == "failed":
            report.failed += 1
        elif outcome.status == "skipped":
            report.skipped += 1
        else:
            report.fetched += 1
            if outcome.status == "new":
                report.new += 1
            elif outcome.status == "updated":
                report.updated += 1
            else:
                report.unchanged += 1

    # ------------------------------------------------------------------ discover
    async def _discover(self, source: SourceConfig, report: SourceReport) -> tuple[list[Link], Page | None]:
        links, page = await self._discover_new(source, report)
        if source.revisit is not None and page is None:
            now = self.store.clock()
            known = {link.url for link in links}
            for url in self.store.revisit_urls(source.name, fetched_before=now - timedelta(seconds=source.revisit),
                                               seen_since=now - timedelta(seconds=source.max_age),
                                               limit=source.max_links):
                if url not in known:
                    links.append(Link(url, source.name, via="revisit"))
        return links, page

    async def _discover_new(self, source: SourceConfig, report: SourceReport) -> tuple[list[Link], Page | None]:
        page = await self._fetch(source, source.url, conditional=source.kind != "page")
        if page.outcome == "not_modified":
            log.info("listing unchanged (304)", extra={"source": source.name, "url": source.url})
            return [], None
        kind = source.kind or detect_kind(page)
        if kind == "page":
            return [Link(page.final_url, source.name)], page
        links, children = discover(page, source, kind=kind, now=self.store.clock())
        if not links and not children and kind == "listing":
            shell = needs_browser(page.text)
            if shell:
                self._reclassify(source, source.url, "unsupported_type", shell)
                raise DiscoverError(shell, url=page.final_url)
        seen_maps = 0
        while children and seen_maps < MAX_SITEMAPS_PER_RUN and len(links) < source.max_links:
            child_url = children.pop(0)
            seen_maps += 1
            try:
                child = await self._fetch(source, child_url, conditional=True)
                if child.outcome == "not_modified":
                    continue
                more, grandchildren = discover(child, source, kind="sitemap", now=self.store.clock())
            except (FetchError, DiscoverError) as exc:
                report.errors.append(str(exc))
                continue
            links += more
            children += grandchildren
        return links[: source.max_links], None

    async def _fetch(self, source: SourceConfig, url: str, *, conditional: bool, job: Job | None = None) -> Page:
        """Fetch ``url`` (a job's link: from where its redirects were left, when they were) and
        record the fetch under ``url``."""
        etag = modified = None
        if conditional and (job is None or job.start is None):
            state = self.store.url_state(url)
            if state:
                etag, modified = state["etag"], state["last_modified"]
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            page = await self._get(source, url, job, etag, modified)
        except FetchError as exc:
            self._write_later(source, url, partial(
                self.store.record_fetch, source=source.name, url=url, outcome=exc.outcome, status=exc.status,
                error=str(exc), elapsed=loop.time() - started), "a fetch record")
            if self.observer:
                self.observer.fetched(source.name, exc.outcome, loop.time() - started)
            raise
        self._write_later(source, url, partial(
            self.store.record_fetch, source=source.name, url=url, outcome=page.outcome, status=page.status,
            elapsed=loop.time() - started, etag=page.etag, last_modified=page.last_modified), "a fetch record")
        if self.observer:
            self.observer.fetched(source.name, page.outcome, loop.time() - started)
        return page

    async def _get(self, source: SourceConfig, url: str, job: Job | None, etag: str | None,
                   modified: str | None) -> Page:
        """The HTTP request of :meth:`_fetch` (a worker's pipeline goes on from ``job.start``)."""
        return await self.fetcher.fetch(url, source=source, etag=etag, last_modified=modified)

    # ------------------------------------------------------------------ one article
    async def _process(self, source: SourceConfig, job: Job, report: SourceReport,
                       page: Page | None = None) -> _Outcome | asyncio.Future[StoreResult]:
        """Fetch, extract and match one link, and queue its write: the outcome, or the write's future."""
        link = job.link
        if self.stopping.is_set():
            return _Outcome("skipped")
        try:
            if page is None:
                page = await self._fetch(source, link.url, conditional=True, job=job)
            if page.outcome == "not_modified":
                self._write_later(source, link.url, partial(self.store.touch_url, link.url), "a 304 answer")
                return _Outcome("unchanged")
            article = self._extract(page, source, link)
            matches = self.matcher.match(Document(
                title=article.title, text=article.text, captions=tuple(article.captions), byline=article.byline,
                source=source.name, url=article.url or page.final_url, lang=article.lang))
            fingerprint = self.store.fingerprint(article)  # the costly part, before the lock
            saving = self.writes.submit(partial(
                self.store.save_article, source=source.name, article=article, fetched_url=link.url, matches=matches,
                routes=self.routes, html=page.body if self.cfg.store_html else None, final_url=page.final_url,
                fingerprint=fingerprint), article=True)
            saving.add_done_callback(partial(self._saved, source, link, report, article, [m.topic for m in matches]))
            return saving
        except Handoff as handoff:
            self.handoffs.append((source.name, Job(link, handoff.url, handoff.hops), handoff.robots))
            return _Outcome("handoff")
        except Exception as exc:  # noqa: BLE001 - one bad page must not stop the run; the log keeps the trace
            return self._failed(source, link, report, exc)

    def _saved(self, source: SourceConfig, link: Link, report: SourceReport, article: Article, topics: list[str],
               saving: asyncio.Future[StoreResult]) -> None:
        if saving.cancelled():
            return
        exc = saving.exception()
        if exc is not None:
            self._settle(source, report, self._failed(source, link, report, exc))
            return
        result = saving.result()
        if self.observer and topics and result.status in ("new", "updated"):
            self.observer.matched(source.name, topics)
        if result.status == "new":
            log.info("new article: %s%s", article.title, f" (matches {', '.join(topics)})" if topics else "",
                     extra={"source": source.name, "url": link.url})
        self._settle(source, report, _Outcome(result.status, result.alerts))

    @staticmethod
    def _failed(source: SourceConfig, link: Link, report: SourceReport, exc: BaseException) -> _Outcome:
        ctx: dict[str, Any] = {"source": source.name, "url": link.url}
        if isinstance(exc, FetchError | ExtractError):
            report.errors.append(str(exc))
            log.warning("%s", exc, extra=ctx)
            return _Outcome("skipped" if isinstance(exc, FetchError) and exc.outcome == "skipped_robots"
                            else "failed")
        if isinstance(exc, MonitorError):
            report.errors.append(str(exc))
            log.error("%s", exc, extra=ctx)
            return _Outcome("failed")
        report.errors.append(f"{link.url}: internal error: {type(exc).__name__}: {exc}")
        log.error("internal error on %s", link.url, exc_info=exc, extra=ctx)
        return _Outcome("failed")

    def _reclassify(self, source: SourceConfig, url: str, outcome: str, error: str) -> None:
        self._write_later(source, url, partial(self.store.reclassify_fetch, url, outcome, error), "a fetch outcome")

    def _write_later(self, source: SourceConfig, url: str, op: Callable[[], object], what: str) -> None:
        """A write nobody waits for (fetch records and the like), into the next batch."""
        self.writes.defer(op, what, {"source": source.name, "url": url})

    def _extract(self, page: Page, source: SourceConfig, link: Link) -> Article:
        from .extract import extract

        article = extract(page.text, url=page.final_url, rules=source.extract)
        if article.is_consent_wall:
            why = "a consent, paywall or bot-check page came instead of the article"
            self._reclassify(source, link.url, "consent_wall", why)
            raise ExtractError(why, url=link.url)
        if not article.text.strip():
            shell = needs_browser(page.text)
            if shell:
                self._reclassify(source, link.url, "unsupported_type", shell)
                raise ExtractError(shell, url=link.url)
            raise ExtractError("no article text found", url=link.url)
        if not article.title and link.title:
            article.title = link.title
        if article.published is None and link.published is not None:
            article.published = link.published
        return article
