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

__all__ = ["new_message_id", "queue_alerts", "queue_ops_alert"]


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


def queue_ops_alert(db: sqlite_utils.Database, channel: str, subject: str, text: str, now: str, *,
                    kind: str = "ops", details: Mapping[str, object] | None = None) -> int:
    """Queue an operator notice (a source broke or recovered, ...) for ``channel``; returns its id.

    ``kind`` is the webhook ``type`` (e.g. ``source.broken``); the payload carries ``subject``,
    ``text`` and ``details``. It goes through the same outbox, retries and quiet hours as article
    alerts. Call it inside your write transaction (``with store.write() as db``).
    """
    if kind in ("article", "digest"):
        raise ValueError(f"kind {kind!r} is reserved for article alerts and digests")
    payload = {"subject": subject, "text": text, **({"details": dict(details)} if details else {})}
    return int(db.table("alerts").insert({  # type: ignore[arg-type]
        "message_id": new_message_id(), "article_id": None, "story_id": None, "channel": channel,
        "topics": "[]", "kind": kind, "status": "pending", "attempts": 0, "created": now, "next_attempt": now,
        "payload": json.dumps(payload, ensure_ascii=False, default=str),
    }).last_pk)
