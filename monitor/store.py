"""SQLite through sqlite-utils: one record per canonical URL, one story per piece of news,
revisions of every edit, and the alert outbox written in the same transaction as the article.

The database runs in WAL mode with a busy timeout, and every write transaction begins
IMMEDIATE, so a ``monitor fetch`` and a running ``monitor run`` can share one file.

Identity: a record is found by the *key* (:func:`monitor.dedup.canonical_url`) of any URL it was
fetched by, and of the canonical URL the page states when that URL is on the same site. A page
that names another site's URL as its canonical (syndication, or a hijack) gets its own record; the
named article is only a hint for the story lookup. A same-site canonical that points at a stored
article with another text (a CMS that names its front page or a section as every page's
canonical) is not trusted either. The ``url`` column keeps the address as the page states it.

Stories: an unseen body joins the story of an exact or near copy (:mod:`monitor.store_index`).
"""

from __future__ import annotations

import difflib
import json
import logging
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from . import dedup
from .errors import StoreError
from .models import Article, Match, StoreResult
from .schema import apply_migrations, schema_version
from .state import SourceStateMixin, iso
from .store_index import Fingerprint, StoryIndex, StoryMatch, index_body

__all__ = ["Clock", "Store", "utcnow"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]



def utcnow() -> datetime:
    return datetime.now(UTC)


class Store(SourceStateMixin):
    """The database. Open with :meth:`open`; close with :meth:`close` (or use ``with``)."""

    def __init__(self, conn: sqlite3.Connection, *, clock: Clock = utcnow, path: str = ":memory:",
                 busy_timeout: float = 30.0) -> None:
        self.conn = conn
        self.busy_timeout = busy_timeout
        self.db = sqlite_utils.Database(conn)
        self.clock = clock
        self.path = path
        self.stories = StoryIndex(conn)
        self._retention_at: float | None = None  # monotonic time of this process's last retention pass

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, path: str | Path, *, clock: Clock = utcnow, busy_timeout: float = 30.0,
             migrate: bool = True) -> Store:
        path = str(path)
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from None
        store = cls(conn, clock=clock, path=path, busy_timeout=busy_timeout)
        if migrate:
            try:
                store.migrate()
            except sqlite3.Error as exc:
                conn.close()
                raise StoreError(f"cannot migrate database {path}: {exc}") from None
        return store

    def migrate(self) -> list[str]:
        """Apply pending migrations; returns their names. Takes the write lock only when some are
        pending (so opening a database that a daemon is writing to never waits for it)."""
        if not self.pending_migrations():
            return []
        with self.write():
            applied = apply_migrations(self.db, self.now())
        for name in applied:
            log.info("applied migration %s", name, extra={"db": self.path})
        return applied

    @property
    def schema_version(self) -> int:
        return schema_version(self.db)

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:  # pragma: no cover - closing never matters more than the caller's error
            pass

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> str:
        return self.clock().astimezone(UTC).isoformat()

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One write transaction, begun IMMEDIATE so writers queue on the busy timeout instead of
        failing with "database is locked" when they upgrade a read lock."""
        if self.conn.in_transaction:  # a savepoint inside the caller's transaction (one name: they nest)
            self.conn.execute("SAVEPOINT monitor_write")
            try:
                yield self.db
            except BaseException:
                if self.conn.in_transaction:  # (an error such as SQLITE_FULL may have ended it)
                    self.conn.execute("ROLLBACK TO monitor_write")
                    self.conn.execute("RELEASE monitor_write")
                raise
            else:
                self.conn.execute("RELEASE monitor_write")
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: cannot begin a write: {exc}") from None
        with self.continue_write() as db:
            yield db

    def try_begin_write(self) -> bool:
        """Begin a write transaction if the write lock is free right now, without waiting for it:
        True when begun (go on with :meth:`continue_write`), False when another connection holds it."""
        self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return False
            raise StoreError(f"{self.path}: cannot begin a write: {exc}") from None
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        return True

    @contextmanager
    def continue_write(self) -> Iterator[sqlite_utils.Database]:
        """The rest of a write transaction :meth:`try_begin_write` (or :meth:`write`) began: COMMIT,
        or ROLLBACK on error."""
        try:
            yield self.db
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params if isinstance(params, dict) else list(params)))

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def pending_migrations(self) -> list[str]:
        from .schema import MIGRATIONS

        done = set()
        if "_migrations" in self.db.table_names():
            done = {r[0] for r in self.conn.execute("SELECT name FROM _migrations")}
        return [name for name, _fn in MIGRATIONS if name not in done]

    # ------------------------------------------------------------------ articles
    def article_by_url(self, url: str) -> dict[str, Any] | None:
        """The record reached by ``url``: by the key of any URL it was fetched by, else by the
        address the page stated (a canonical on another site is not a key)."""
        row = self.one("SELECT article_id FROM article_urls WHERE url_key = ?", [dedup.canonical_url(url)])
        if row is not None:
            return self.one("SELECT * FROM articles WHERE id = ?", [row["article_id"]])
        return self.one("SELECT * FROM articles WHERE url = ? ORDER BY id LIMIT 1", [url.strip()])

    def article_by_ref(self, ref: str) -> dict[str, Any] | None:
        """The record ``ref`` names: its id (as ``monitor search`` and ``show`` print it), else any URL
        it was reached by (:meth:`article_by_url`)."""
        if ref.strip().isdigit():
            return self.one("SELECT * FROM articles WHERE id = ?", [int(ref)])
        return self.article_by_url(ref)

    def touch_url(self, url: str) -> None:
        """An article answered 304: it is still there, unchanged."""
        with self.write() as db:
            db.execute("UPDATE articles SET last_seen = ? WHERE id = (SELECT article_id FROM article_urls "
                       "WHERE url_key = ?)", [self.now(), dedup.canonical_url(url)])

    def fingerprint(self, article: Article) -> Fingerprint:
        """:meth:`Fingerprint.of` the article's title and text, worked out before a write is queued
        (no lock is taken: a read). When a stored article has exactly this text (a syndicated copy,
        a page reached by another URL), its SimHash and paragraph hashes are read, not worked out
        again: they are the same."""
        paragraphs, normalised = dedup.normalised_paragraphs(article.text)
        chash = dedup.content_hash_of(article.title, normalised)
        row = self.conn.execute("SELECT simhash, para_hashes, text FROM articles WHERE content_hash = ? "
                                "AND simhash IS NOT NULL AND para_hashes IS NOT NULL LIMIT 1", [chash]).fetchone()
        if row is not None and row[2] == article.text:
            return Fingerprint(chash, None, int(row[0]), _hashes(row[1]), body=article.text)
        return Fingerprint(chash, *dedup.index_fingerprint(paragraphs, normalised))

    def find_story(self, body: str, title: str = "", *, hints: Sequence[str] = ()) -> StoryMatch | None:
        """The stored story ``body`` would join (read only). ``hints`` are URLs the page names."""
        return self.stories.find(Fingerprint.of(title, body), hints=self._hint_ids(hints))

    def save_article(self, *, source: str, article: Article, fetched_url: str, matches: Sequence[Match],
                     routes: Mapping[str, Sequence[str]], html: bytes | None = None,
                     final_url: str | None = None, fingerprint: Fingerprint | None = None) -> StoreResult:
        """Store one extracted article with its matches, and queue its alerts, in one transaction.

        ``fetched_url`` is the link followed, ``final_url`` where redirects ended. ``routes`` maps each
        topic to the channels it alerts. An article already stored (by any of its URLs) becomes a new
        revision when its text changed; a copy of a stored story joins it. Alerts go out once per
        story and channel, and again only for a topic that had not matched before.

        ``fingerprint`` is :meth:`Fingerprint.of` the article's title and text, when the caller
        worked it out already (before taking the write lock: it is the costly part).
        """
        final = final_url or fetched_url
        stated = article.url or final
        own_keys = list(dict.fromkeys([dedup.canonical_url(fetched_url), dedup.canonical_url(final)]))
        claim = dedup.canonical_url(stated)
        trusted = claim not in own_keys and dedup.same_site(stated, final) and not (
            dedup.is_front_page(stated) and not dedup.is_front_page(final))
        hints: tuple[str, ...] = () if trusted or claim in own_keys else (stated,)
        fp = fingerprint or Fingerprint.of(article.title, article.text)
        chash = fp.content_hash
        now = self.now()
        with self.write() as db:
            existing = self._find_by_keys(own_keys)
            keys = list(own_keys)
            if existing is None and trusted:
                named = self._find_by_keys([claim])
                if named is None or self._same_article(named, article):
                    existing, keys = named, [claim, *own_keys]
                else:
                    log.warning("page names %s as its canonical URL, a stored article with another text; "
                                "kept apart", stated, extra={"source": source, "url": fetched_url})
                    hints = (stated,)
            elif trusted:
                keys.append(claim)
            if existing is not None:
                status = "unchanged" if existing["content_hash"] == chash else "updated"
                article_id, story_id = existing["id"], existing["story_id"]
                if status == "unchanged":
                    db.execute("UPDATE articles SET last_seen = ? WHERE id = ?", [now, article_id])
                else:
                    self._revise(existing, article, chash, now, html=html, fp=fp)
                self._add_keys(keys, article_id)
                db.execute("UPDATE urls SET article_id = ? WHERE url = ?", [article_id, fetched_url])
                if status == "unchanged":
                    return StoreResult(article_id, story_id, "unchanged")
            else:
                found = self.stories.find(fp, hints=self._hint_ids(hints))
                row = self._article_row(source, stated, keys[0], article, fp, now, html)
                if found is None:
                    story_id = self._insert("stories", {"title": article.title, "created": now})
                else:
                    story_id = found.story_id
                    log.info("joins story %d (%s copy of article %d)", story_id, found.how, found.article_id,
                             extra={"source": source, "url": fetched_url})
                row["story_id"] = story_id
                article_id = self._insert("articles", row)
                if found is None:
                    db.execute("UPDATE stories SET first_article_id = ? WHERE id = ?", [article_id, story_id])
                self._add_keys(keys, article_id)
                self.stories.add(article_id, fp.simhash, fp.para_hashes)
                db.execute("UPDATE urls SET article_id = ? WHERE url = ?", [article_id, fetched_url])
                status = "new"
            self.save_matches(article_id, matches, now)
            from .alerts.queue import queue_alerts

            queued = queue_alerts(db, article_id=article_id, story_id=story_id, matches=matches, routes=routes,
                                  now=now)
        return StoreResult(article_id, story_id, status, queued)  # type: ignore[arg-type]

    def save_matches(self, article_id: int, matches: Sequence[Match], now: str) -> None:
        """Upsert the topics this article matches (the caller holds the write transaction)."""
        for m in matches:
            self.db.execute(
                """INSERT INTO matches (article_id, topic, snippets, hits, matched_at) VALUES (?,?,?,?,?)
                   ON CONFLICT(article_id, topic) DO UPDATE SET snippets=excluded.snippets,
                   hits=excluded.hits""",
                [article_id, m.topic, json.dumps(list(m.snippets), ensure_ascii=False), m.hits, now])

    def _find_by_keys(self, keys: Sequence[str]) -> dict[str, Any] | None:
        for key in keys:
            row = self.one("SELECT a.* FROM article_urls u JOIN articles a ON a.id = u.article_id "
                           "WHERE u.url_key = ?", [key])
            if row:
                return row
        return None

    def _hint_ids(self, urls: Sequence[str]) -> tuple[int, ...]:
        out = []
        for url in urls:
            row = self.one("SELECT article_id FROM article_urls WHERE url_key = ?", [dedup.canonical_url(url)])
            if row:
                out.append(int(row["article_id"]))
        return tuple(out)

    @staticmethod
    def _same_article(row: dict[str, Any], a: Article) -> bool:
        """A stored record another URL of the same site names as canonical: the same article when
        the titles agree or the bodies are copies of each other."""
        if dedup.normalise_text(row.get("title") or "") == dedup.normalise_text(a.title) and a.title:
            return True
        if not row.get("text"):
            return False
        return dedup.same_story(dedup.compare(dedup.strip_boilerplate(row["text"]),
                                              dedup.strip_boilerplate(a.text)))

    def _add_keys(self, keys: Sequence[str], article_id: int) -> None:
        for key in keys:
            self.db.execute("INSERT OR IGNORE INTO article_urls (url_key, article_id) VALUES (?, ?)",
                            [key, article_id])

    def _insert(self, table: str, row: Mapping[str, Any]) -> int:
        """INSERT one row, returning its id (plain SQL: this is the hot path of every new article)."""
        cols = ", ".join(row)
        marks = ", ".join("?" * len(row))
        cur = self.conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))
        return int(cur.lastrowid or 0)

    def _article_row(self, source: str, url: str, key: str, a: Article, fp: Fingerprint, now: str,
                     html: bytes | None) -> dict[str, Any]:
        return {
            "url": url, "url_key": key, "source": source,
            "title": a.title, "byline": a.byline, "authors": json.dumps(a.authors, ensure_ascii=False),
            "published": iso(a.published), "modified": iso(a.modified), "lang": a.lang,
            "site_name": a.site_name, "description": a.description,
            "tags": json.dumps(a.tags, ensure_ascii=False), "text": a.text,
            "captions": json.dumps(a.captions, ensure_ascii=False),
            "images": json.dumps([{"src": i.src, "alt": i.alt, "caption": i.caption} for i in a.images],
                                 ensure_ascii=False),
            "content_hash": fp.content_hash, "simhash": fp.simhash, "para_hashes": " ".join(map(str, fp.para_hashes)),
            "first_seen": now, "last_seen": now,
            "html": zlib.compress(html) if html is not None else None,
        }

    def revise(self, old: dict[str, Any], a: Article, *, reason: str = "edit", html: bytes | None = None) -> None:
        """Record a new version of a stored article (the caller holds the write transaction)."""
        self._revise(old, a, dedup.content_hash(f"{a.title}\n{a.text}"), self.now(), reason=reason, html=html)

    def _revise(self, old: dict[str, Any], a: Article, chash: str, now: str, *, reason: str = "edit",
                html: bytes | None = None, fp: Fingerprint | None = None) -> None:
        diff = revision_diff(old, a, now)
        self.db.execute(
            "INSERT INTO revisions (article_id, time, title, text, content_hash, diff, reason) VALUES (?,?,?,?,?,?,?)",
            [old["id"], now, old["title"], old["text"], old["content_hash"], diff, reason])
        simhash, hashes = (fp.simhash, fp.para_hashes) if fp is not None else index_body(a.text)[1:]
        old_hashes = (_hashes(old.get("para_hashes")) if old.get("para_hashes") is not None
                      else index_body(old.get("text") or "")[2])
        self.stories.remove(old["id"], old.get("simhash"), old_hashes)
        self.db.execute(
            """UPDATE articles SET title=?, byline=?, authors=?, modified=?, text=?, captions=?, content_hash=?,
               simhash=?, para_hashes=?, last_seen=?, updated=?, revisions=revisions+1, text_cleared=NULL,
               html=coalesce(?, html) WHERE id=?""",
            [a.title, a.byline, json.dumps(a.authors, ensure_ascii=False), iso(a.modified), a.text,
             json.dumps(a.captions, ensure_ascii=False), chash, simhash, " ".join(map(str, hashes)), now, now,
             zlib.compress(html) if html is not None else None, old["id"]])
        self.stories.add(old["id"], simhash, hashes)

    # ------------------------------------------------------------------ retention
    def apply_retention(self, keep: float, *, batch: int = 500, max_batches: int | None = None) -> int:
        """Clear the text, HTML and revision texts of articles first seen more than ``keep`` seconds
        ago, in short transactions; the record, its matches, alerts and dedup index stay (see
        :mod:`monitor.store_index`). Returns how many articles were cleared."""
        cutoff = (self.clock() - timedelta(seconds=keep)).astimezone(UTC).isoformat()
        cleared = batches = 0
        while max_batches is None or batches < max_batches:
            with self.write() as db:
                ids = [r[0] for r in db.execute(
                    "SELECT id FROM articles WHERE text IS NOT NULL AND first_seen < ? ORDER BY first_seen LIMIT ?",
                    [cutoff, batch]).fetchall()]
                if not ids:
                    break
                marks = ",".join("?" * len(ids))
                now = self.now()
                db.execute(f"UPDATE articles SET text = NULL, html = NULL, text_cleared = ? WHERE id IN ({marks})",
                           [now, *ids])
                db.execute(f"UPDATE revisions SET text = NULL, diff = NULL WHERE article_id IN ({marks})", ids)
            cleared += len(ids)
            batches += 1
        if cleared:
            log.info("retention: cleared the text of %d articles first seen before %s", cleared, cutoff,
                     extra={"db": self.path})
        return cleared

    def maybe_apply_retention(self, keep: float | None, *, fetch_history: float | None = None,
                              every: float = 600.0) -> int:
        """:meth:`apply_retention` (when ``keep`` is set) and :meth:`prune_fetches` (when
        ``fetch_history`` is) at most once per ``every`` seconds in this process, 20 batches each at
        most (the rest waits for the next pass): cheap enough to call after every source run."""
        if (keep is None and fetch_history is None) or (
                self._retention_at is not None and time.monotonic() - self._retention_at < every):
            return 0
        self._retention_at = time.monotonic()
        if fetch_history is not None:
            pruned = self.prune_fetches(fetch_history, max_batches=20)
            if pruned:
                log.info("fetch history: deleted %d fetch records older than %s", pruned,
                         (self.clock() - timedelta(seconds=fetch_history)).astimezone(UTC).isoformat(),
                         extra={"db": self.path})
        return self.apply_retention(keep, max_batches=20) if keep is not None else 0


def revision_diff(old: dict[str, Any], a: Article, now: str) -> str:
    """A unified diff of the paragraphs (and a title line when the title changed)."""
    was = old.get("text")
    diff = "\n".join(difflib.unified_diff(
        (was or "").split("\n\n") if was is not None else ["(text cleared by retention)"], a.text.split("\n\n"),
        fromfile=f"before ({old.get('updated') or old['first_seen']})", tofile=f"after ({now})",
        lineterm=""))
    if old.get("title") != a.title:
        diff = f"- title: {old.get('title')}\n+ title: {a.title}\n" + diff
    return diff


def _hashes(value: str | None) -> list[int]:
    return [int(x) for x in (value or "").split()]
