"""The database schema as named migrations, applied in order on open.

Each migration runs once, inside one write transaction, and is recorded in ``_migrations``.
Add new ones at the end; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

from .schema_alerts import ALERT_MIGRATIONS

__all__ = ["MIGRATIONS", "apply_migrations", "schema_version"]


def _script(db: sqlite_utils.Database, script: str) -> None:
    """Run statements one by one (``executescript`` would commit the caller's transaction)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement.strip())
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement: {statement.strip()[:60]}")


def _m001_initial(db: sqlite_utils.Database) -> None:
    _script(db,
        """
        CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            url TEXT,
            last_attempt TEXT,
            last_success TEXT,
            last_error TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            failing_since TEXT,
            next_due TEXT,
            last_new TEXT,
            state TEXT NOT NULL DEFAULT 'new',
            runs INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE urls (
            url TEXT PRIMARY KEY,
            source TEXT,
            etag TEXT,
            last_modified TEXT,
            last_status INTEGER,
            last_outcome TEXT,
            last_fetched TEXT,
            content_hash TEXT,
            article_id INTEGER
        );
        CREATE INDEX urls_source_article ON urls(source, article_id);
        CREATE TABLE fetches (
            id INTEGER PRIMARY KEY,
            time TEXT NOT NULL,
            source TEXT,
            url TEXT NOT NULL,
            outcome TEXT NOT NULL,
            status INTEGER,
            error TEXT,
            elapsed REAL
        );
        CREATE INDEX fetches_source_time ON fetches(source, time);
        CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            first_article_id INTEGER,
            title TEXT,
            created TEXT NOT NULL
        );
        CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL,
            url_key TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,
            story_id INTEGER REFERENCES stories(id),
            title TEXT,
            byline TEXT,
            authors TEXT,
            published TEXT,
            modified TEXT,
            lang TEXT,
            site_name TEXT,
            description TEXT,
            tags TEXT,
            text TEXT,
            captions TEXT,
            images TEXT,
            content_hash TEXT,
            simhash INTEGER,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            updated TEXT,
            revisions INTEGER NOT NULL DEFAULT 0,
            html BLOB
        );
        CREATE INDEX articles_story ON articles(story_id);
        CREATE INDEX articles_hash ON articles(content_hash);
        CREATE INDEX articles_source_seen ON articles(source, first_seen);
        CREATE INDEX articles_first_seen ON articles(first_seen);
        CREATE TABLE article_urls (
            url_key TEXT PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id)
        );
        CREATE TABLE simhash_bands (
            band INTEGER NOT NULL,
            article_id INTEGER NOT NULL
        );
        CREATE INDEX simhash_bands_band ON simhash_bands(band);
        CREATE TABLE paragraph_hashes (
            hash INTEGER NOT NULL,
            article_id INTEGER NOT NULL
        );
        CREATE INDEX paragraph_hashes_hash ON paragraph_hashes(hash);
        CREATE TABLE revisions (
            id INTEGER PRIMARY KEY,
            article_id INTEGER NOT NULL REFERENCES articles(id),
            time TEXT NOT NULL,
            title TEXT,
            text TEXT,
            content_hash TEXT,
            diff TEXT
        );
        CREATE INDEX revisions_article ON revisions(article_id);
        CREATE TABLE matches (
            article_id INTEGER NOT NULL REFERENCES articles(id),
            topic TEXT NOT NULL,
            snippets TEXT,
            hits INTEGER,
            matched_at TEXT NOT NULL,
            PRIMARY KEY (article_id, topic)
        );
        CREATE TABLE alerted (
            story_id INTEGER NOT NULL,
            channel TEXT NOT NULL,
            topic TEXT NOT NULL,
            alert_id INTEGER NOT NULL,
            PRIMARY KEY (story_id, channel, topic)
        );
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            message_id TEXT NOT NULL UNIQUE,
            article_id INTEGER REFERENCES articles(id),
            story_id INTEGER,
            channel TEXT NOT NULL,
            topics TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'article',
            digest_key TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created TEXT NOT NULL,
            next_attempt TEXT NOT NULL,
            sent_at TEXT,
            lease_until TEXT,
            payload TEXT
        );
        CREATE INDEX alerts_due ON alerts(status, next_attempt);
        CREATE INDEX alerts_article ON alerts(article_id);
        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts(id),
            time TEXT NOT NULL,
            status_code INTEGER,
            error TEXT,
            response TEXT,
            elapsed REAL
        );
        CREATE INDEX attempts_alert ON attempts(alert_id);
        CREATE TABLE channels (
            name TEXT PRIMARY KEY,
            disabled TEXT,
            reason TEXT,
            fingerprint TEXT
        );
        """
    )


def _m002_fts(db: sqlite_utils.Database) -> None:
    _script(db,
        """
        CREATE VIRTUAL TABLE articles_fts USING fts5(
            title, byline, text, captions, content='articles', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER articles_fts_ai AFTER INSERT ON articles BEGIN
            INSERT INTO articles_fts(rowid, title, byline, text, captions)
            VALUES (new.id, new.title, new.byline, new.text, new.captions);
        END;
        CREATE TRIGGER articles_fts_ad AFTER DELETE ON articles BEGIN
            INSERT INTO articles_fts(articles_fts, rowid, title, byline, text, captions)
            VALUES ('delete', old.id, old.title, old.byline, old.text, old.captions);
        END;
        CREATE TRIGGER articles_fts_au AFTER UPDATE OF title, byline, text, captions ON articles BEGIN
            INSERT INTO articles_fts(articles_fts, rowid, title, byline, text, captions)
            VALUES ('delete', old.id, old.title, old.byline, old.text, old.captions);
            INSERT INTO articles_fts(rowid, title, byline, text, captions)
            VALUES (new.id, new.title, new.byline, new.text, new.captions);
        END;
        """
    )


def _m003_store_dedup_index(db: sqlite_utils.Database) -> None:
    """The near-duplicate index becomes index-only and exact to maintain: band rows carry the full
    SimHash (candidates are filtered by distance without reading articles), both tables are keyed
    WITHOUT ROWID by (key, article_id), and each article lists its paragraph hashes so a revision
    removes exactly its own rows. Revisions say why they were made; retention records when it
    cleared an article's text, and a partial index finds what it still has to clear."""
    from .store_index import BANDS, index_body

    _script(db,
        """
        ALTER TABLE articles ADD COLUMN para_hashes TEXT;
        ALTER TABLE articles ADD COLUMN text_cleared TEXT;
        ALTER TABLE revisions ADD COLUMN reason TEXT NOT NULL DEFAULT 'edit';
        DROP TABLE simhash_bands;
        DROP TABLE paragraph_hashes;
        CREATE TABLE simhash_bands (
            band INTEGER NOT NULL,
            article_id INTEGER NOT NULL,
            simhash INTEGER NOT NULL,
            PRIMARY KEY (band, article_id)
        ) WITHOUT ROWID;
        CREATE TABLE paragraph_hashes (
            hash INTEGER NOT NULL,
            article_id INTEGER NOT NULL,
            PRIMARY KEY (hash, article_id)
        ) WITHOUT ROWID;
        CREATE INDEX articles_full_text ON articles(first_seen) WHERE text IS NOT NULL;
        """
    )
    from .dedup import simhash_bands

    rows = db.execute("SELECT id, text FROM articles WHERE text IS NOT NULL AND text != ''").fetchall()
    for article_id, text in rows:
        _stripped, simhash, hashes = index_body(text)
        db.execute("UPDATE articles SET para_hashes = ?, simhash = ? WHERE id = ?",
                   [" ".join(map(str, hashes)), simhash, article_id])
        db.conn.executemany("INSERT OR IGNORE INTO simhash_bands (band, article_id, simhash) VALUES (?,?,?)",
                            [(b, article_id, simhash) for b in simhash_bands(simhash, BANDS)])
        db.conn.executemany("INSERT OR IGNORE INTO paragraph_hashes (hash, article_id) VALUES (?,?)",
                            [(h, article_id) for h in hashes])


def _m030_daemon_source_health(db: sqlite_utils.Database) -> None:
    """The daemon's per-source state: the backed-off interval of a failing source and when it may
    run again, and the operator alert open for a broken source (its reason and since when); and
    one row about the running daemon (pid, start, the last time its health probe wrote)."""
    _script(db,
        """
        ALTER TABLE sources ADD COLUMN interval REAL;
        ALTER TABLE sources ADD COLUMN backoff_until TEXT;
        ALTER TABLE sources ADD COLUMN ops_alert TEXT;
        ALTER TABLE sources ADD COLUMN ops_alert_since TEXT;
        CREATE TABLE daemon (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            pid INTEGER,
            host TEXT,
            started TEXT,
            probed TEXT
        );
        """
    )


def _m004_store_fts_datasette(db: sqlite_utils.Database) -> None:
    """The same full-text table, declared with ``content="articles"`` in double quotes: the spelling
    Datasette (and sqlite-utils' ``detect_fts``) looks for, so ``datasette monitor.db`` offers search
    on the articles table as it is. Rebuilt from the articles table."""
    _script(db,
        """
        DROP TRIGGER IF EXISTS articles_fts_ai;
        DROP TRIGGER IF EXISTS articles_fts_ad;
        DROP TRIGGER IF EXISTS articles_fts_au;
        DROP TABLE IF EXISTS articles_fts;
        CREATE VIRTUAL TABLE articles_fts USING fts5(
            title, byline, text, captions, content="articles", content_rowid="id",
            tokenize="unicode61 remove_diacritics 2"
        );
        CREATE TRIGGER articles_fts_ai AFTER INSERT ON articles BEGIN
            INSERT INTO articles_fts(rowid, title, byline, text, captions)
            VALUES (new.id, new.title, new.byline, new.text, new.captions);
        END;
        CREATE TRIGGER articles_fts_ad AFTER DELETE ON articles BEGIN
            INSERT INTO articles_fts(articles_fts, rowid, title, byline, text, captions)
            VALUES ('delete', old.id, old.title, old.byline, old.text, old.captions);
        END;
        CREATE TRIGGER articles_fts_au AFTER UPDATE OF title, byline, text, captions ON articles BEGIN
            INSERT INTO articles_fts(articles_fts, rowid, title, byline, text, captions)
            VALUES ('delete', old.id, old.title, old.byline, old.text, old.captions);
            INSERT INTO articles_fts(rowid, title, byline, text, captions)
            VALUES (new.id, new.title, new.byline, new.text, new.captions);
        END;
        INSERT INTO articles_fts(articles_fts) VALUES ('rebuild');
        """
    )


def _m005_store_url_index(db: sqlite_utils.Database) -> None:
    """Articles by the address their page states (``monitor show``, ``explain``: a URL that is not
    one of the record's keys, such as a canonical on another site)."""
    db.execute("CREATE INDEX IF NOT EXISTS articles_url ON articles(url)")


def _m006_fetch_robots(db: sqlite_utils.Database) -> None:
    """robots.txt answers kept for their day across runs (:mod:`monitor.robots`)."""
    db.execute("""CREATE TABLE IF NOT EXISTS robots (
        origin TEXT PRIMARY KEY,
        status INTEGER NOT NULL,
        body BLOB NOT NULL,
        fetched TEXT NOT NULL
    )""")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_initial", _m001_initial),
    ("002_fts", _m002_fts),
    ("003_store_dedup_index", _m003_store_dedup_index),
    ("004_store_fts_datasette", _m004_store_fts_datasette),
    ("005_store_url_index", _m005_store_url_index),
    ("006_fetch_robots", _m006_fetch_robots),
    # storage migrations are appended here
]
MIGRATIONS += ALERT_MIGRATIONS  # the alerts package's own, by name (see schema_alerts.py)
MIGRATIONS.append(("030_daemon_source_health", _m030_daemon_source_health))  # the daemon's


def schema_version(db: sqlite_utils.Database) -> int:
    if "_migrations" not in db.table_names():
        return 0
    return int(db.execute("SELECT count(*) FROM _migrations").fetchone()[0])


def apply_migrations(db: sqlite_utils.Database, now: str) -> list[str]:
    """Apply the migrations not yet recorded; returns the names applied. The caller holds the
    write transaction."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        fn(db)
        db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", [name, now])
        applied.append(name)
    return applied
