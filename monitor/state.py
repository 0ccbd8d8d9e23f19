"""Per-URL and per-source state: conditional-GET validators, every fetch's outcome, and each
source's health (last attempt, last success, consecutive failures, next due). Mixed into
:class:`~monitor.store.Store`; it uses only the store's connection, clock and ``write()``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import StoreError
from .robots import ROBOTS_MAX_BYTES, RobotsAnswer

if TYPE_CHECKING:
    from collections.abc import Sequence

    import sqlite_utils

__all__ = ["SourceStateMixin", "iso"]

RECLASSIFY_WINDOW = 10_000  # fetch rows looked back through to find the one a page came from


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class SourceStateMixin:
    if TYPE_CHECKING:
        db: sqlite_utils.Database
        clock: Callable[[], datetime]

        def now(self) -> str: ...
        def write(self) -> Any: ...  # a context manager yielding the Database
        def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None: ...

    # ------------------------------------------------------------------ fetch state
    def url_state(self, url: str) -> dict[str, Any] | None:
        cur = self.db.conn.execute("SELECT * FROM urls WHERE url = ?", [url])  # (before every fetch: plain SQL)
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))

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

    def prune_fetches(self, keep: float, *, batch: int = 5000, max_batches: int | None = None) -> int:
        """Delete the records of fetches made more than ``keep`` seconds ago (``fetch_history``),
        oldest first, ``batch`` rows per short transaction. Rows go in roughly in time order, so each
        step looks only at the oldest ``batch`` rows and the pass ends at the first step that finds
        none old enough: it never scans the recent history. Returns how many rows were deleted."""
        cutoff = (self.clock() - timedelta(seconds=keep)).astimezone(UTC).isoformat()
        deleted = batches = 0
        while max_batches is None or batches < max_batches:
            with self.write() as db:
                gone = db.execute("DELETE FROM fetches WHERE id IN (SELECT id FROM fetches ORDER BY id LIMIT ?) "
                                  "AND time < ?", [batch, cutoff]).rowcount
            deleted += gone
            batches += 1
            if gone == 0:
                break
        return deleted

    # ------------------------------------------------------------------ robots.txt (RobotsMemory)
    def recall_robots(self, origin: str) -> tuple[RobotsAnswer, float] | None:
        """The robots.txt answer kept for ``origin`` and its age in seconds."""
        try:
            row = self.db.conn.execute("SELECT status, body, fetched FROM robots WHERE origin = ?",
                                       [origin]).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the kept robots.txt of {origin}: {exc}") from None
        if row is None:
            return None
        age = (self.clock() - datetime.fromisoformat(row[2])).total_seconds()
        return RobotsAnswer(int(row[0]), bytes(row[1])), age

    def remember_robots(self, origin: str, answer: RobotsAnswer) -> None:
        try:
            with self.write() as db:
                db.execute("INSERT INTO robots (origin, status, body, fetched) VALUES (?,?,?,?) ON CONFLICT(origin) "
                           "DO UPDATE SET status = excluded.status, body = excluded.body, fetched = excluded.fetched",
                           [origin, answer.status or 0, answer.body[:ROBOTS_MAX_BYTES], self.now()])
        except sqlite3.Error as exc:
            raise StoreError(f"cannot keep the robots.txt of {origin}: {exc}") from None

    def reclassify_fetch(self, url: str, outcome: str, error: str) -> None:
        """The last fetch of ``url`` came back fine over HTTP but was not the page (a consent wall,
        an empty shell that needs a browser): its one outcome becomes that, and its validators are
        dropped so that the next fetch reads it in full instead of being told "not modified"."""
        with self.write() as db:  # the fetch was moments ago: look among the latest rows only (rowid range)
            db.execute("UPDATE fetches SET outcome = ?, error = ? WHERE id = (SELECT max(id) FROM fetches "
                       "WHERE id > (SELECT max(id) FROM fetches) - ? AND url = ?)",
                       [outcome, error, RECLASSIFY_WINDOW, url])
            db.execute("UPDATE urls SET etag = NULL, last_modified = NULL, last_outcome = ? WHERE url = ?",
                       [outcome, url])

    def source_overview(self, since: str) -> list[dict[str, Any]]:
        """Each source's state, with how its fetches since ``since`` ended (``outcomes``: outcome ->
        count) and its last fetch (for ``monitor sources``)."""
        sources = [dict(r) for r in self.db.query("SELECT * FROM sources ORDER BY name")]
        counts: dict[str, dict[str, int]] = {}
        for source, outcome, n in self.db.execute(
                "SELECT source, outcome, count(*) FROM fetches WHERE time >= ? GROUP BY source, outcome",
                [since]).fetchall():
            counts.setdefault(source, {})[outcome] = int(n)
        for row in sources:
            row["outcomes"] = counts.get(row["name"], {})
        return sources

    # ------------------------------------------------------------------ sources
    def source_state(self, name: str) -> dict[str, Any] | None:
        return self.one("SELECT * FROM sources WHERE name = ?", [name])

    def record_source_run(self, name: str, url: str, *, ok: bool, error: str | None = None,
                          new_articles: int = 0, next_due: datetime | None = None, state: str | None = None) -> None:
        """After a run. ``state`` names how it went when "healthy"/"failing" says too little
        (``blocked_robots``, ``consent_wall``)."""
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
                 "state": state or ("healthy" if ok else "failing")})

    # ------------------------------------------------------------------ the daemon's view of a source
    def record_schedule(self, name: str, *, interval: float, backoff_until: datetime | None,
                        next_due: datetime | None) -> None:
        """After a run: the interval the daemon now uses for this source (``every``, or longer while
        it fails), when it may run again, and when it will."""
        with self.write() as db:
            db.execute("UPDATE sources SET interval = ?, backoff_until = ?, next_due = coalesce(?, next_due) "
                       "WHERE name = ?", [interval, iso(backoff_until), iso(next_due), name])

    def set_ops_alert(self, name: str, reason: str | None) -> None:
        """Open (a reason) or close (None) the operator alert of a source."""
        with self.write() as db:
            db.execute("UPDATE sources SET ops_alert = ?, ops_alert_since = CASE WHEN ? IS NULL THEN NULL "
                       "ELSE coalesce(ops_alert_since, ?) END WHERE name = ?", [reason, reason, self.now(), name])

    def first_fetch(self, source: str) -> str | None:
        """When this source was first fetched (what "no new article since" counts from before it had one)."""
        row = self.one("SELECT min(time) AS t FROM fetches WHERE source = ?", [source])
        return row["t"] if row else None

    def recent_outcomes(self, source: str, since: str) -> dict[str, int]:
        """How this source's fetches since ``since`` ended, by outcome."""
        rows = self.db.execute("SELECT outcome, count(*) FROM fetches WHERE source = ? AND time >= ? "
                               "GROUP BY outcome", [source, since]).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def forget_validators(self, source: str, since: str) -> int:
        """A run stopped half-way: drop the ETag/Last-Modified of the listings, feeds and sitemaps it
        fetched, so the next run reads them in full and reaches the links this one did not."""
        with self.write() as db:
            cur = db.execute("UPDATE urls SET etag = NULL, last_modified = NULL WHERE source = ? "
                             "AND article_id IS NULL AND last_fetched >= ?", [source, since])
            return int(cur.rowcount)

    def revisit_urls(self, source: str, *, fetched_before: datetime, seen_since: datetime,
                     limit: int) -> list[str]:
        """URLs of this source's recent articles not fetched since ``fetched_before``: checked again
        (conditionally) so edits become revisions even when the listing did not change."""
        rows = self.db.execute(
            "SELECT u.url FROM urls u JOIN articles a ON a.id = u.article_id WHERE u.source = ? "
            "AND u.last_fetched < ? AND a.first_seen >= ? ORDER BY a.first_seen DESC LIMIT ?",
            [source, iso(fetched_before.astimezone(UTC)), iso(seen_since.astimezone(UTC)), limit]).fetchall()
        return [r[0] for r in rows]

