"""SQLite through sqlite-utils: one record per canonical URL, one story per piece of news,
revisions of every edit, and the alert outbox written in the same transaction as the article.

The database runs in WAL mode with a busy timeout, and every write transaction begins
IMMEDIATE, so a ``monitor fetch`` and a running ``monitor run`` can share one file.
"""

from __future__ import annotations

import difflib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from . import dedup
from .errors import StoreError
from .models import Article, Match, StoreResult
from .schema import apply_migrations, schema_version
from .state import SourceStateMixin, iso

__all__ = ["Clock", "Store", "utcnow"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Near-duplicate rules (data, not code): how alike two bodies must be to be one story.
NEAR_DUP_MAX_BITS = 3  # SimHash distance accepted without further checks (4 bands of 16 bits)
NEAR_DUP_CONTAINMENT = 0.7  # share of the smaller body's 5-word shingles found in the other
PARAGRAPH_MIN_CHARS = 80  # shorter paragraphs are too generic to point at a copy
PARAGRAPH_COMMON = 20  # a paragraph seen in more articles than this is boilerplate
CANDIDATES_PER_KEY = 25


def utcnow() -> datetime:
    return datetime.now(UTC)


class Store(SourceStateMixin):
    """The database. Open with :meth:`open`; close with :meth:`close` (or use ``with``)."""

    def __init__(self, conn: sqlite3.Connection, *, clock: Clock = utcnow, path: str = ":memory:") -> None:
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.clock = clock
        self.path = path

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
        store = cls(conn, clock=clock, path=path)
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> list[str]:
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
        if self.conn.in_transaction:
            with self.db.atomic():
                yield self.db
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: cannot begin a write: {exc}") from None
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

    # ------------------------------------------------------------------ articles
    def article_by_url(self, url: str) -> dict[str, Any] | None:
        row = self.one("SELECT article_id FROM article_urls WHERE url_key = ?", [dedup.canonical_url(url)])
        if row is None:
            return None
        return self.one("SELECT * FROM articles WHERE id = ?", [row["article_id"]])

    def touch_url(self, url: str) -> None:
        """An article answered 304: it is still there, unchanged."""
        with self.write() as db:
            db.execute("UPDATE articles SET last_seen = ? WHERE id = (SELECT article_id FROM article_urls "
                       "WHERE url_key = ?)", [self.now(), dedup.canonical_url(url)])

    def save_article(self, *, source: str, article: Article, fetched_url: str, matches: Sequence[Match],
                     routes: Mapping[str, Sequence[str]], html: bytes | None = None) -> StoreResult:
        """Store one extracted article with its matches, and queue its alerts, in one transaction.

        ``routes`` maps each topic to the channels it alerts. An article already stored (by any of its
        URLs) becomes a new revision when its text changed; a copy of a stored story joins it. Alerts
        go out once per story and channel, and again only for a topic that had not matched before.
        """
        url = article.url or fetched_url
        keys = list(dict.fromkeys([dedup.canonical_url(url), dedup.canonical_url(fetched_url)]))
        body = article.text
        chash = dedup.content_hash(f"{article.title}\n{body}")
        now = self.now()
        with self.write() as db:
            existing = self._find_by_keys(keys)
            if existing is not None:
                status = "unchanged" if existing["content_hash"] == chash else "updated"
                article_id, story_id = existing["id"], existing["story_id"]
                if status == "unchanged":
                    db.execute("UPDATE articles SET last_seen = ? WHERE id = ?", [now, article_id])
                else:
                    self._revise(existing, article, chash, now)
                self._add_keys(keys, article_id)
                if status == "unchanged":
                    return StoreResult(article_id, story_id, "unchanged")
            else:
                story_id = self._find_story(body, chash)
                joined = story_id is not None
                row = self._article_row(source, url, article, chash, now, html)
                if story_id is None:
                    story_id = int(db.table("stories").insert(
                        {"title": article.title, "created": now}).last_pk)  # type: ignore[arg-type]
                row["story_id"] = story_id
                article_id = int(db.table("articles").insert(row).last_pk)  # type: ignore[arg-type]
                if not joined:
                    db.execute("UPDATE stories SET first_article_id = ? WHERE id = ?", [article_id, story_id])
                self._add_keys(keys, article_id)
                self._index_body(article_id, body, int(row["simhash"]))
                status = "new"
            db.execute("UPDATE urls SET article_id = ? WHERE url = ?", [article_id, fetched_url])
            for m in matches:
                db.execute(
                    """INSERT INTO matches (article_id, topic, snippets, hits, matched_at) VALUES (?,?,?,?,?)
                       ON CONFLICT(article_id, topic) DO UPDATE SET snippets=excluded.snippets,
                       hits=excluded.hits""",
                    [article_id, m.topic, json.dumps(list(m.snippets), ensure_ascii=False), m.hits, now])
            from .alerts.queue import queue_alerts

            queued = queue_alerts(db, article_id=article_id, story_id=story_id, matches=matches, routes=routes,
                                  now=now)
        return StoreResult(article_id, story_id, status, queued)  # type: ignore[arg-type]

    def _find_by_keys(self, keys: Sequence[str]) -> dict[str, Any] | None:
        for key in keys:
            row = self.one("SELECT a.* FROM article_urls u JOIN articles a ON a.id = u.article_id "
                           "WHERE u.url_key = ?", [key])
            if row:
                return row
        return None

    def _add_keys(self, keys: Sequence[str], article_id: int) -> None:
        for key in keys:
            self.db.execute("INSERT OR IGNORE INTO article_urls (url_key, article_id) VALUES (?, ?)",
                            [key, article_id])

    def _article_row(self, source: str, url: str, a: Article, chash: str, now: str,
                     html: bytes | None) -> dict[str, Any]:
        import zlib

        return {
            "url": url, "url_key": dedup.canonical_url(url), "source": source,
            "title": a.title, "byline": a.byline, "authors": json.dumps(a.authors, ensure_ascii=False),
            "published": iso(a.published), "modified": iso(a.modified), "lang": a.lang,
            "site_name": a.site_name, "description": a.description,
            "tags": json.dumps(a.tags, ensure_ascii=False), "text": a.text,
            "captions": json.dumps(a.captions, ensure_ascii=False),
            "images": json.dumps([{"src": i.src, "alt": i.alt, "caption": i.caption} for i in a.images],
                                 ensure_ascii=False),
            "content_hash": chash, "simhash": dedup.simhash(a.text), "first_seen": now, "last_seen": now,
            "html": zlib.compress(html) if html is not None else None,
        }

    def _revise(self, old: dict[str, Any], a: Article, chash: str, now: str) -> None:
        diff = "\n".join(difflib.unified_diff(
            (old["text"] or "").split("\n\n"), a.text.split("\n\n"),
            fromfile=f"{old['url']} ({old.get('updated') or old['first_seen']})", tofile=f"{old['url']} ({now})",
            lineterm=""))
        if old.get("title") != a.title:
            diff = f"- title: {old.get('title')}\n+ title: {a.title}\n" + diff
        self.db.execute(
            "INSERT INTO revisions (article_id, time, title, text, content_hash, diff) VALUES (?,?,?,?,?,?)",
            [old["id"], now, old["title"], old["text"], old["content_hash"], diff])
        simhash = dedup.simhash(a.text)
        self.db.execute(
            """UPDATE articles SET title=?, byline=?, authors=?, modified=?, text=?, captions=?, content_hash=?,
               simhash=?, last_seen=?, updated=?, revisions=revisions+1 WHERE id=?""",
            [a.title, a.byline, json.dumps(a.authors, ensure_ascii=False), iso(a.modified), a.text,
             json.dumps(a.captions, ensure_ascii=False), chash, simhash, now, now, old["id"]])
        self.db.execute("DELETE FROM simhash_bands WHERE article_id = ?", [old["id"]])
        self.db.execute("DELETE FROM paragraph_hashes WHERE article_id = ?", [old["id"]])
        self._index_body(old["id"], a.text, simhash)

    # ------------------------------------------------------------------ near-duplicates
    def _index_body(self, article_id: int, body: str, simhash: int) -> None:
        if not body.strip():
            return
        self.conn.executemany("INSERT INTO simhash_bands (band, article_id) VALUES (?, ?)",
                            [(band, article_id) for band in dedup.simhash_bands(simhash)])
        self.conn.executemany("INSERT INTO paragraph_hashes (hash, article_id) VALUES (?, ?)",
                            [(h, article_id) for h in _paragraph_hashes(body)])

    def _find_story(self, body: str, chash: str) -> int | None:
        """The story an unseen body belongs to: an exact copy, or a near copy found through the
        SimHash band index or shared paragraphs, confirmed on the bodies themselves."""
        if not body.strip():
            return None
        row = self.one("SELECT story_id FROM articles WHERE content_hash = ? LIMIT 1", [chash])
        if row:
            return int(row["story_id"])
        simhash = dedup.simhash(body)
        candidates: dict[int, int] = {}
        for band in dedup.simhash_bands(simhash):
            for r in self.db.execute("SELECT article_id FROM simhash_bands WHERE band = ? LIMIT ?",
                                     [band, CANDIDATES_PER_KEY]).fetchall():
                candidates[r[0]] = candidates.get(r[0], 0) + 1
        for h in _paragraph_hashes(body):
            rows = self.db.execute("SELECT article_id FROM paragraph_hashes WHERE hash = ? LIMIT ?",
                                   [h, PARAGRAPH_COMMON + 1]).fetchall()
            if len(rows) > PARAGRAPH_COMMON:
                continue  # boilerplate shared by many articles says nothing
            for r in rows:
                candidates[r[0]] = candidates.get(r[0], 0) + 1
        best: tuple[float, int] | None = None
        mine = _shingles(body)
        for article_id in sorted(candidates, key=lambda k: -candidates[k])[:CANDIDATES_PER_KEY]:
            other = self.one("SELECT story_id, simhash, text FROM articles WHERE id = ?", [article_id])
            if not other:
                continue
            close_hash = dedup.hamming(simhash, other["simhash"] or 0) <= NEAR_DUP_MAX_BITS
            score = _containment(mine, _shingles(other["text"] or ""))
            if score >= NEAR_DUP_CONTAINMENT or (close_hash and score >= NEAR_DUP_CONTAINMENT / 2):
                if best is None or score > best[0]:
                    best = (score, int(other["story_id"]))
        return best[1] if best else None

def _paragraph_hashes(body: str) -> list[int]:
    out = []
    for para in body.split("\n\n"):
        norm = dedup.normalise_text(para)
        if len(norm) >= PARAGRAPH_MIN_CHARS:
            out.append(int(dedup.content_hash(norm)[:15], 16))  # 60 bits: fits an SQLite INTEGER
    return list(dict.fromkeys(out))


def _shingles(text: str, size: int = 5) -> set[int]:
    import re

    words = re.findall(r"\w+", dedup.normalise_text(text))
    return {hash(" ".join(words[i:i + size])) for i in range(max(1, len(words) - size + 1))} if words else set()


def _containment(a: set[int], b: set[int]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))
