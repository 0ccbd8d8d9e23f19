"""The library's front door: :class:`Monitor` wires config, database, fetcher, pipeline and
deliverer together and owns them, as an async context manager. The CLI and the daemon use it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from .alerts import Deliverer, DeliveryReport
from .config import Config, SourceConfig
from .fetch import Fetcher
from .guard import Resolver, system_resolver
from .models import SourceReport
from .pipeline import Pipeline, Progress, trusted_hosts
from .store import Clock, Store, utcnow

__all__ = ["FetchSummary", "Monitor"]

log = logging.getLogger(__name__)


@dataclass
class FetchSummary:
    reports: list[SourceReport] = field(default_factory=list)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    pending: int = 0  # alerts still waiting in the outbox after the grace period

    @property
    def exit_code(self) -> int:
        """0 when at least one source worked (or none was asked for), 1 when all failed."""
        if not self.reports:
            return 0
        return 0 if any(r.ok for r in self.reports) else 1


class Monitor:
    """``async with Monitor(cfg) as m: summary = await m.fetch()``."""

    def __init__(self, cfg: Config, *, db_path: str | None = None, clock: Clock = utcnow,
                 transport: httpx.AsyncBaseTransport | None = None, resolver: Resolver = system_resolver,
                 alert_client: httpx.AsyncClient | None = None) -> None:
        self.cfg = cfg
        self.db_path = db_path or cfg.database_path
        self.clock = clock
        self._transport = transport
        self._resolver = resolver
        self._alert_client = alert_client
        self.store: Store
        self.fetcher: Fetcher
        self.deliverer: Deliverer

    async def __aenter__(self) -> Monitor:
        self.store = Store.open(self.db_path, clock=self.clock)
        self.fetcher = Fetcher(self.cfg.fetch, trusted_hosts=trusted_hosts(self.cfg), transport=self._transport,
                               resolver=self._resolver)
        self.fetcher.robots.memory = self.store
        self.deliverer = Deliverer(self.cfg, self.store, client=self._alert_client, clock=self.clock)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.fetcher.aclose()
            await self.deliverer.aclose()
        finally:
            self.store.close()

    def reconfigure(self, cfg: Config) -> Fetcher | None:
        """Use a new config (SIGHUP). The fetcher is rebuilt when its settings or the configured
        hosts changed; the old one is returned for the caller to close once no run uses it."""
        old, retired = self.cfg, None
        if cfg.fetch != old.fetch or trusted_hosts(cfg) != trusted_hosts(old):
            retired = self.fetcher
            self.fetcher = Fetcher(cfg.fetch, trusted_hosts=trusted_hosts(cfg), transport=self._transport,
                                   resolver=self._resolver)
            self.fetcher.robots.memory = self.store
        self.cfg = cfg
        self.deliverer.cfg = cfg
        if cfg.templates_path != old.templates_path:  # a relative folder is beside config.yaml
            from .alerts import Renderer

            self.deliverer.renderer = Renderer(cfg.templates_path)
        return retired

    def pipeline(self, progress: Progress | None = None) -> Pipeline:
        return Pipeline(self.cfg, self.store, self.fetcher, progress=progress)

    def select(self, names: Sequence[str] | None) -> list[SourceConfig]:
        if not names:
            return [s for s in self.cfg.sources if s.enabled]
        return [self.cfg.source(n) for n in names]

    async def fetch(self, sources: Sequence[str] | None = None, *, progress: Progress | None = None,
                    pipeline: Pipeline | None = None) -> FetchSummary:
        """Run sources once, then deliver the alerts (waiting up to ``alerts.fetch_grace`` for retries)."""
        chosen = self.select(sources)
        pipe = pipeline or self.pipeline(progress)
        return await self.deliver(await pipe.run(chosen))

    async def deliver(self, reports: list[SourceReport]) -> FetchSummary:
        """After the sources ran: deliver the alerts (waiting up to ``alerts.fetch_grace`` for
        retries) and sum up. ``monitor fetch --workers N`` ends here too."""
        summary = FetchSummary(reports=reports)
        summary.delivery = await self.deliverer.deliver_within(self.cfg.alerts.fetch_grace)
        self._count_sent(summary)
        row = self.store.one("SELECT count(*) AS n FROM alerts WHERE status = 'pending'")
        summary.pending = int(row["n"]) if row else 0
        return summary

    def _count_sent(self, summary: FetchSummary) -> None:
        if not summary.delivery.sent_ids:
            return
        marks = ",".join("?" * len(summary.delivery.sent_ids))
        rows = self.store.query(
            f"SELECT a.source, count(*) AS n FROM alerts l JOIN articles a ON a.id = l.article_id "
            f"WHERE l.id IN ({marks}) GROUP BY a.source", summary.delivery.sent_ids)
        by_source = {r["source"]: r["n"] for r in rows}
        for report in summary.reports:
            report.alerts_sent = int(by_source.get(report.source, 0))
