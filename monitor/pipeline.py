"""One run of one source, stage after stage: discover -> fetch -> extract -> match -> store (with
the alert outbox). One bad link never stops the run; a bad source never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from .config import Config, SourceConfig
from .discover import detect_kind, discover
from .errors import DiscoverError, ExtractError, FetchError, MonitorError
from .fetch import Fetcher
from .models import Article, Link, Page, SourceReport
from .store import Store
from .topics import Document, TopicMatcher, compile_topics
from .walls import needs_browser

__all__ = ["Observer", "Pipeline", "trusted_hosts"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (source name, how many links were just finished)
MAX_SITEMAPS_PER_RUN = 20


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
    from urllib.parse import urlsplit

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


@dataclass
class _Outcome:
    status: str  # new | updated | unchanged | failed | skipped
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

    async def run(self, sources: Sequence[SourceConfig]) -> list[SourceReport]:
        """Every source once, concurrently (politeness is per host, in the fetcher)."""
        return list(await asyncio.gather(*(self.run_source(s) for s in sources)))

    async def run_source(self, source: SourceConfig) -> SourceReport:
        report = SourceReport(source=source.name)
        started = self.store.now()
        failed_as: str | None = None  # the outcome the source's own fetch ended in, when it failed
        try:
            links, page = await self._discover(source, report)
            report.links = len(links)
            if self.on_links:
                self.on_links(source.name, len(links))
            if page is not None:  # a single-page source: the page is the article
                outcome = await self._process(source, Link(page.final_url, source.name), report, page)
                self._count(report, outcome)
            else:
                outcomes = await asyncio.gather(*(self._process(source, link, report) for link in links))
                for outcome in outcomes:
                    self._count(report, outcome)
        except (FetchError, DiscoverError) as exc:
            report.error = str(exc)
            failed_as = exc.outcome if isinstance(exc, FetchError) else None
            log.warning("source failed: %s", exc, extra={"source": source.name, "url": source.url})
        except MonitorError as exc:
            report.error = str(exc)
            log.error("source failed: %s", exc, extra={"source": source.name, "url": source.url})
        ok = report.error is None and not (report.links and report.failed == report.links)
        if report.error is None and not ok:
            report.error = f"all {report.failed} links failed"
        ended = self.store.recent_outcomes(source.name, started)
        if report.error or report.failed:  # the next run reads the listing in full and retries what failed
            self.store.forget_validators(source.name, started)
        self.store.record_source_run(source.name, source.url, ok=ok, error=report.error, new_articles=report.new,
                                     next_due=self.store.clock() + timedelta(seconds=source.every),
                                     state=_source_state(report, failed_as, ended))
        self.store.maybe_apply_retention(self.cfg.retention)  # storage upkeep: at most every 10 minutes
        return report

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
                self.store.reclassify_fetch(source.url, "unsupported_type", shell)
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

    async def _fetch(self, source: SourceConfig, url: str, *, conditional: bool) -> Page:
        etag = modified = None
        if conditional:
            state = self.store.url_state(url)
            if state:
                etag, modified = state["etag"], state["last_modified"]
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            page = await self.fetcher.fetch(url, source=source, etag=etag, last_modified=modified)
        except FetchError as exc:
            self.store.record_fetch(source=source.name, url=url, outcome=exc.outcome, status=exc.status,
                                    error=str(exc), elapsed=loop.time() - started)
            if self.observer:
                self.observer.fetched(source.name, exc.outcome, loop.time() - started)
            raise
        self.store.record_fetch(source=source.name, url=url, outcome=page.outcome, status=page.status,
                                elapsed=loop.time() - started, etag=page.etag, last_modified=page.last_modified)
        if self.observer:
            self.observer.fetched(source.name, page.outcome, loop.time() - started)
        return page

    # ------------------------------------------------------------------ one article
    async def _process(self, source: SourceConfig, link: Link, report: SourceReport,
                       page: Page | None = None) -> _Outcome:
        if self.stopping.is_set():
            return _Outcome("skipped")
        try:
            if page is None:
                page = await self._fetch(source, link.url, conditional=True)
            if page.outcome == "not_modified":
                self.store.touch_url(link.url)
                return _Outcome("unchanged")
            article = self._extract(page, source, link)
            matches = self.matcher.match(Document(
                title=article.title, text=article.text, captions=tuple(article.captions), byline=article.byline,
                source=source.name, url=article.url or page.final_url, lang=article.lang))
            result = self.store.save_article(
                source=source.name, article=article, fetched_url=link.url, matches=matches, routes=self.routes,
                html=page.body if self.cfg.store_html else None, final_url=page.final_url)
            if self.observer and matches and result.status in ("new", "updated"):
                self.observer.matched(source.name, [m.topic for m in matches])
            if result.status == "new":
                log.info("new article: %s%s", article.title,
                         f" (matches {', '.join(m.topic for m in matches)})" if matches else "",
                         extra={"source": source.name, "url": link.url})
            return _Outcome(result.status, result.alerts)
        except (FetchError, ExtractError) as exc:
            report.errors.append(str(exc))
            log.warning("%s", exc, extra={"source": source.name, "url": link.url})
            return _Outcome("skipped" if isinstance(exc, FetchError) and exc.outcome == "skipped_robots"
                            else "failed")
        except MonitorError as exc:
            report.errors.append(str(exc))
            log.error("%s", exc, extra={"source": source.name, "url": link.url})
            return _Outcome("failed")
        except Exception as exc:  # noqa: BLE001 - one bad page must not stop the run; the log keeps the trace
            report.errors.append(f"{link.url}: internal error: {type(exc).__name__}: {exc}")
            log.exception("internal error on %s", link.url, extra={"source": source.name, "url": link.url})
            return _Outcome("failed")
        finally:
            if self.progress:
                self.progress(source.name, 1)

    def _extract(self, page: Page, source: SourceConfig, link: Link) -> Article:
        from .extract import extract

        article = extract(page.text, url=page.final_url, rules=source.extract)
        if article.is_consent_wall:
            why = "a consent, paywall or bot-check page came instead of the article"
            self.store.reclassify_fetch(link.url, "consent_wall", why)
            raise ExtractError(why, url=link.url)
        if not article.text.strip():
            shell = needs_browser(page.text)
            if shell:
                self.store.reclassify_fetch(link.url, "unsupported_type", shell)
                raise ExtractError(shell, url=link.url)
            raise ExtractError("no article text found", url=link.url)
        if not article.title and link.title:
            article.title = link.title
        if article.published is None and link.published is not None:
            article.published = link.published
        return article
