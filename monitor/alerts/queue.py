"""Queueing alerts in the outbox, inside the transaction that stores the article.

One alert per story and channel: a topic already alerted for a story on a channel never alerts
again there; a topic that newly matches (after an edit, or on a syndicated copy) alerts alone.
This module must not import the store (the store calls it while it holds the transaction).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence

import sqlite_utils

from ..models import Match

__all__ = ["new_message_id", "queue_alerts"]


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def queue_alerts(db: sqlite_utils.Database, *, article_id: int, story_id: int, matches: Sequence[Match],
                 routes: Mapping[str, Sequence[str]], now: str) -> int:
    """Insert the alert rows this article's matches call for; returns how many."""
    by_channel: dict[str, list[str]] = {}
    for m in matches:
        for channel in routes.get(m.topic, ()):
            by_channel.setdefault(channel, []).append(m.topic)
    queued = 0
    for channel, topics in by_channel.items():
        done = {r[0] for r in db.execute(
            "SELECT topic FROM alerted WHERE story_id = ? AND channel = ?", [story_id, channel]).fetchall()}
        fresh = [t for t in topics if t not in done]
        if not fresh:
            continue
        alert_id = db.table("alerts").insert({
            "message_id": new_message_id(), "article_id": article_id, "story_id": story_id,
            "channel": channel, "topics": json.dumps(fresh), "kind": "article", "status": "pending",
            "attempts": 0, "created": now, "next_attempt": now,
        }).last_pk
        db.conn.executemany("INSERT INTO alerted (story_id, channel, topic, alert_id) VALUES (?,?,?,?)",
                            [(story_id, channel, t, alert_id) for t in fresh])
        queued += 1
    return queued
