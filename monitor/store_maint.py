"""Keeping one database healthy for months: info, vacuum, online backup, and re-extraction of the
stored HTML (retention itself is :meth:`monitor.store.Store.apply_retention`).

Every function here is safe while ``monitor run`` writes to the same file: writes go through
``store.write()`` (BEGIN IMMEDIATE, busy timeout), the backup is SQLite's online backup API copying
one consistent snapshot, and VACUUM waits for the writer like any other write.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import dedup
from .config import Config
from .errors import MonitorError, StoreError
from .models import Article
from .store import Store

__all__ = ["BackupReport", "DbInfo", "ReextractReport", "backup", "db_info", "reextract", "vacuum"]

log = logging.getLogger(__name__)

COUNTED_TABLES = ("articles", "stories", "revisions", "matches", "alerts", "article_urls", "urls", "fetches",
                  "sources", "simhash_bands", "paragraph_hashes")


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


@dataclass(slots=True)
class DbInfo:
    path: str
    size: int  # the main file, bytes
    wal_size: int
    page_size: int
    free_pages: int  # reclaimable by vacuum
    journal_mode: str
    sqlite_version: str
    schema_version: int
    migrations: list[tuple[str, str]]  # (name, applied_at)
    pending: list[str]
    counts: dict[str, int]
    full_text: int  # articles still holding their text
    text_cleared: int  # articles retention reduced to metadata
    with_html: int
    alerts_by_status: dict[str, int] = field(default_factory=dict)


def db_info(store: Store) -> DbInfo:
    tables = set(store.db.table_names())
    counts = {t: int(store.conn.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0])
              for t in COUNTED_TABLES if t in tables}

    def scalar(sql: str) -> Any:
        return store.conn.execute(sql).fetchone()[0]

    migrations = ([(r[0], r[1]) for r in store.conn.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid")]
                  if "_migrations" in tables else [])
    has_cleared = "articles" in tables and "text_cleared" in store.db["articles"].columns_dict
    return DbInfo(
        path=store.path, size=_file_size(store.path), wal_size=_file_size(store.path + "-wal"),
        page_size=int(scalar("PRAGMA page_size")), free_pages=int(scalar("PRAGMA freelist_count")),
        journal_mode=str(scalar("PRAGMA journal_mode")), sqlite_version=sqlite3.sqlite_version,
        schema_version=store.schema_version, migrations=migrations, pending=store.pending_migrations(),
        counts=counts,
        full_text=int(scalar("SELECT count(*) FROM articles WHERE text IS NOT NULL")) if "articles" in tables else 0,
        text_cleared=int(scalar("SELECT count(*) FROM articles WHERE text_cleared IS NOT NULL")) if has_cleared else 0,
        with_html=int(scalar("SELECT count(*) FROM articles WHERE html IS NOT NULL")) if "articles" in tables else 0,
        alerts_by_status={r[0]: int(r[1]) for r in store.conn.execute(
            "SELECT status, count(*) FROM alerts GROUP BY status")} if "alerts" in tables else {},
    )


def vacuum(store: Store) -> tuple[int, int]:
    """Merge the full-text index, rebuild the file without free pages, truncate the WAL.
    Returns the file size (main + WAL) before and after."""
    before = _file_size(store.path) + _file_size(store.path + "-wal")
    with store.write() as db:
        db.execute("INSERT INTO articles_fts(articles_fts) VALUES ('optimize')")
    try:
        store.conn.execute("VACUUM")
        store.conn.execute("PRAGMA optimize")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise StoreError(f"{store.path}: vacuum failed: {exc}") from None
    return before, _file_size(store.path) + _file_size(store.path + "-wal")


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: str
    size: int
    articles: int
    check: str  # PRAGMA quick_check of the copy: "ok"


def backup(store: Store, dest: str | Path, *, overwrite: bool = False) -> BackupReport:
    """Copy the database with SQLite's online backup API, in one step (so a concurrent writer never
    makes it start over), to ``dest``: written beside it first, checked, then renamed into place."""
    target = Path(dest)
    if target.exists() and not overwrite:
        raise StoreError(f"{target} exists; choose a new path or pass --force")
    if target.resolve() == Path(store.path).resolve():
        raise StoreError("the backup must go to another file than the database")
    partial = target.with_name(target.name + ".partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        copy = sqlite3.connect(partial)
        try:
            store.conn.backup(copy, pages=-1)
            check = str(copy.execute("PRAGMA quick_check").fetchone()[0])
            articles = int(copy.execute("SELECT count(*) FROM articles").fetchone()[0])
        finally:
            copy.close()
        if check != "ok":
            raise StoreError(f"the backup did not pass its check: {check}")
        os.replace(partial, target)
    except (OSError, sqlite3.Error) as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(f"backup to {target} failed: {exc}") from None
    return BackupReport(path=str(target), size=_file_size(str(target)), articles=articles, check=check)


@dataclass(slots=True)
class ReextractReport:
    checked: int = 0
    changed: int = 0
    unchanged: int = 0
    alerts: int = 0
    failed: list[str] = field(default_factory=list)


Extractor = Callable[[bytes, str | None, Any], Article]


def reextract(store: Store, cfg: Config, *, source: str | None = None, alert: bool = False,
              extractor: Extractor | None = None, progress: Callable[[int], None] | None = None) -> ReextractReport:
    """Run extraction again over the stored HTML (``store_html: true``). A changed text becomes a
    revision (reason ``reextract``) and the topics are matched again; alerts are queued only with
    ``alert=True`` (for a topic that newly matches, once per story and channel, as ever)."""
    from .alerts.queue import queue_alerts
    from .topics import Document, compile_topics

    if extractor is None:
        from .extract import extract

        extractor = extract
    matcher = compile_topics(cfg.topics, cfg.aliases)
    routes = {t.name: cfg.topic_channels(t) for t in cfg.topics}
    rules = {s.name: s.extract for s in cfg.sources}
    sql = "SELECT id FROM articles WHERE html IS NOT NULL" + (" AND source = ?" if source else "") + " ORDER BY id"
    ids = [r[0] for r in store.conn.execute(sql, [source] if source else [])]
    report = ReextractReport()
    for article_id in ids:
        report.checked += 1
        row = store.one("SELECT * FROM articles WHERE id = ?", [article_id])
        if row is None or row["html"] is None:
            continue
        try:
            article = extractor(zlib.decompress(row["html"]), row["url"], rules.get(row["source"]))
            if article.is_consent_wall or not article.text.strip():
                raise StoreError("the stored page yields no article text")
        except (MonitorError, zlib.error, ValueError) as exc:
            report.failed.append(f"{row['url']}: {exc}")
            continue
        finally:
            if progress:
                progress(1)
        article.title = article.title or row["title"] or ""
        if dedup.content_hash(f"{article.title}\n{article.text}") == row["content_hash"]:
            report.unchanged += 1
            continue
        matches = matcher.match(Document(title=article.title, text=article.text, captions=tuple(article.captions),
                                         byline=article.byline, source=row["source"], url=row["url"],
                                         lang=article.lang))
        with store.write() as db:
            store.revise(row, article, reason="reextract")
            store.save_matches(article_id, matches, store.now())
            if alert:
                report.alerts += queue_alerts(db, article_id=article_id, story_id=row["story_id"], matches=matches,
                                              routes=routes, now=store.now())
        report.changed += 1
    return report
