"""Migrations owned by the alerts package (digests, quiet hours, ...), applied after the core ones
in ``schema.py``. Append only; never edit one that has shipped."""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

__all__ = ["ALERT_MIGRATIONS"]


def _m101_lease_owner(db: sqlite_utils.Database) -> None:
    # Which process holds an alert's lease: a lease whose owner has died is free at once
    # (see monitor/alerts/lease.py), so a re-run after a crash need not wait for it to expire.
    db.execute("ALTER TABLE alerts ADD COLUMN lease_owner TEXT")


def _m102_digest_items(db: sqlite_utils.Database) -> None:
    # The articles a digest collects: one row per (digest alert, article, topic). ``source_alert``
    # is the instant alert the match was queued as before it was moved into the digest.
    db.execute("""
        CREATE TABLE digest_items (
            id INTEGER PRIMARY KEY,
            digest_id INTEGER NOT NULL REFERENCES alerts(id),
            article_id INTEGER NOT NULL REFERENCES articles(id),
            story_id INTEGER,
            topic TEXT NOT NULL,
            source_alert INTEGER REFERENCES alerts(id),
            added TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX digest_items_digest ON digest_items(digest_id)")
    db.execute("CREATE INDEX alerts_open_digest ON alerts(channel, digest_key, status)")


ALERT_MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("101_alerts_lease_owner", _m101_lease_owner),
    ("102_alerts_digest_items", _m102_digest_items),
]
