"""Per-URL and per-source state: conditional-GET validators, every fetch's outcome, and each
source's health (last attempt, last success, consecutive failures, next due). Mixed into
:class:`~monitor.store.Store`; it uses only the store's connection, clock and ``write()``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    import sqlite_utils

__all__ = ["SourceStateMixin", "iso"]


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class SourceStateMixin:
    if TYPE_CHECKING:
        db: sqlite_utils.Database

        def now(self) -> str: ...
        def write(self) -> Any: ...  # a context manager yielding the Database
        def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None: ...

    # ------------------------------------------------------------------ fetch state
    def url_state(self, url: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM urls WHERE url = ?", [url])

    def record_fetch(self, *, source: str | None, url: str, outcome: str, status: int | None = None,
                     error: str | None = None, elapsed: float | None = None, etag: str | None = None,
                     last_modified: str | None = None) -> None:
        now = self.now()
        with self.write() as db:
            db.execute(
                "INSERT INTO fetches (time, source, url, outcome, status, error, elapsed) VALUES (?,?,?,?,?,?,?)",
                [now, source, url, outcome, status, error, elapsed])
            if outcome in ("ok", "not_modified"):
                db.execute(
                    """INSERT INTO urls (url, source, etag, last_modified, last_status, last_outcome, last_fetched)
                       VALUES (?,?,?,?,?,?,?)
                       ON CONFLICT(url) DO UPDATE SET source=excluded.source,
                         etag=coalesce(excluded.etag, CASE WHEN excluded.last_outcome='not_modified'
                                                          THEN urls.etag END),
                         last_modified=coalesce(excluded.last_modified, CASE WHEN excluded.last_outcome='not_modified'
                                                          THEN urls.last_modified END),
                         last_status=excluded.last_status, last_outcome=excluded.last_outcome,
                         last_fetched=excluded.last_fetched""",
                    [url, source, etag, last_modified, status, outcome, now])

    # ------------------------------------------------------------------ sources
    def source_state(self, name: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM sources WHERE name = ?", [name])

    def record_source_run(self, name: str, url: str, *, ok: bool, error: str | None = None,
                          new_articles: int = 0, next_due: datetime | None = None) -> None:
        now = self.now()
        with self.write() as db:
            row = self.source_state(name)
            failures = 0 if ok else (row["consecutive_failures"] if row else 0) + 1
            failing_since = None if ok else ((row or {}).get("failing_since") or now)
            db.execute(
                """INSERT INTO sources (name, url, last_attempt, last_success, last_error, consecutive_failures,
                       failing_since, next_due, last_new, state, runs)
                   VALUES (:name, :url, :now, :success, :error, :failures, :failing_since, :next_due, :last_new,
                           :state, 1)
                   ON CONFLICT(name) DO UPDATE SET url=:url, last_attempt=:now,
                       last_success=coalesce(:success, sources.last_success),
                       last_error=:error, consecutive_failures=:failures, failing_since=:failing_since,
                       next_due=coalesce(:next_due, sources.next_due),
                       last_new=coalesce(:last_new, sources.last_new), state=:state, runs=sources.runs + 1""",
                {"name": name, "url": url, "now": now, "success": now if ok else None,
                 "error": None if ok else error, "failures": failures, "failing_since": failing_since,
                 "next_due": iso(next_due), "last_new": now if new_articles else None,
                 "state": "healthy" if ok else "failing"})

    def revisit_urls(self, source: str, *, fetched_before: datetime, seen_since: datetime,
                     limit: int) -> list[str]:
        """URLs of this source's recent articles not fetched since ``fetched_before``: checked again
        (conditionally) so edits become revisions even when the listing did not change."""
        rows = self.db.execute(
            "SELECT u.url FROM urls u JOIN articles a ON a.id = u.article_id WHERE u.source = ? "
            "AND u.last_fetched < ? AND a.first_seen >= ? ORDER BY a.first_seen DESC LIMIT ?",
            [source, iso(fetched_before.astimezone(UTC)), iso(seen_since.astimezone(UTC)), limit]).fetchall()
        return [r[0] for r in rows]

