"""Digests: a topic with ``digest:`` collects its matches per channel and goes out as one message
when the schedule says (see :func:`monitor.alerts.schedule.next_fire`).

An article's alert is queued as usual, in the article's transaction (so it is never lost); when
the deliverer claims it, the topics that have a digest move into that topic's open digest on the
channel, in the same transaction as the claim. The open digest is an alert row of kind
``digest``, status ``held``, whose ``next_attempt`` is its fire time; at that time the deliverer
sends it like any other alert (same retries, same ``webhook-id`` on every attempt), and the next
match opens a new one. A digest that is open when the config changes keeps the time it was given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlite_utils

from ..config import DigestConfig
from .queue import new_message_id
from .schedule import next_fire

__all__ = ["digest_items", "move_to_digests"]


def move_to_digests(db: sqlite_utils.Database, alert: Mapping[str, Any], digests: Mapping[str, DigestConfig],
                    now: datetime, now_iso: str) -> list[str]:
    """Move ``alert``'s topics that have a digest into their open digests on its channel; returns
    the topics left for an instant message. The caller holds the write transaction."""
    topics: list[str] = json.loads(alert["topics"])
    left = [t for t in topics if t not in digests]
    if len(left) == len(topics) or alert["article_id"] is None:
        return topics
    for topic in topics:
        if topic not in digests:
            continue
        row = db.execute("SELECT id FROM alerts WHERE kind = 'digest' AND status = 'held' AND channel = ? "
                         "AND digest_key = ? ORDER BY id DESC LIMIT 1", [alert["channel"], topic]).fetchone()
        if row:
            digest_id = int(row[0])
        else:
            fire = next_fire(digests[topic], now)
            digest_id = int(db.table("alerts").insert({  # type: ignore[arg-type]
                "message_id": new_message_id(), "article_id": None, "story_id": None,
                "channel": alert["channel"], "topics": json.dumps([topic]), "kind": "digest",
                "digest_key": topic, "status": "held", "attempts": 0, "created": now_iso,
                "next_attempt": fire.isoformat(), "payload": json.dumps({"topic": topic, "since": now_iso}),
            }).last_pk)
        db.execute("INSERT INTO digest_items (digest_id, article_id, story_id, topic, source_alert, added) "
                   "VALUES (?,?,?,?,?,?)",
                   [digest_id, alert["article_id"], alert["story_id"], topic, alert["id"], now_iso])
    db.execute("UPDATE alerts SET topics = ? WHERE id = ?", [json.dumps(left), alert["id"]])
    return left


def digest_items(query: Any, digest_id: int) -> Sequence[dict[str, Any]]:
    """The articles of one digest, oldest first: (article_id, topic, added) rows.
    ``query`` is :meth:`monitor.store.Store.query`."""
    rows: Sequence[dict[str, Any]] = query(
        "SELECT article_id, topic, added FROM digest_items WHERE digest_id = ? ORDER BY id", [digest_id])
    return rows
