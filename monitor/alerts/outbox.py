"""The deliverer: sends what the outbox holds when it falls due, records every attempt, and
retries on the configured schedule until the alert is sent or ``dead``.

An alert is claimed with a short lease before it is sent and marked after, so two processes never
send it at once and a crash between send and mark only causes a resend with the same id.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from ..config import AppriseChannel, Config, EmailChannel, WebhookChannel
from ..errors import ChannelGone, ConfigError, DeliveryError
from ..retry import schedule_delay
from ..store import Clock, Store, utcnow
from .render import AlertContent, Renderer, slack_blocks, webhook_payload
from .smtp import build_message, send_email
from .webhook import send_webhook

__all__ = ["DeliveryReport", "Deliverer"]

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
BATCH = 100


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    sent_ids: list[int] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        self.sent_ids += other.sent_ids


class Deliverer:
    def __init__(self, cfg: Config, store: Store, *, client: httpx.AsyncClient | None = None,
                 renderer: Renderer | None = None, clock: Clock = utcnow, rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.cfg = cfg
        self.store = store
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(follow_redirects=False)
        self.renderer = renderer or Renderer(cfg.alerts.templates)
        self.clock = clock
        self.rng = rng or random.Random()
        self.sleep = sleep

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

    # ------------------------------------------------------------------ loops
    async def deliver_due(self, *, channel: str | None = None) -> DeliveryReport:
        """Send every alert due now (one pass)."""
        report = DeliveryReport()
        while True:
            now = self.clock()
            rows = self.store.query(
                "SELECT * FROM alerts WHERE status = 'pending' AND next_attempt <= ? "
                "AND (lease_until IS NULL OR lease_until <= ?) AND (? IS NULL OR channel = ?) "
                "ORDER BY next_attempt, id LIMIT ?",
                [_iso(now), _iso(now), channel, channel, BATCH])
            if not rows:
                return report
            for row in rows:
                report.add(await self._deliver_one(row))
            if len(rows) < BATCH:
                return report

    async def deliver_within(self, grace: float) -> DeliveryReport:
        """Deliver what is due, then wait for retries that fall due within ``grace`` seconds."""
        report = DeliveryReport()
        until = self.clock() + timedelta(seconds=grace)
        while True:
            report.add(await self.deliver_due())
            nxt = self.store.one("SELECT min(max(next_attempt, coalesce(lease_until, ''))) AS t FROM alerts "
                                 "WHERE status = 'pending'")
            if not nxt or not nxt["t"]:
                return report
            when = datetime.fromisoformat(nxt["t"])
            if when > until:
                return report
            await self.sleep(max(0.0, (when - self.clock()).total_seconds()) + 0.01)

    # ------------------------------------------------------------------ one alert
    async def _deliver_one(self, row: dict[str, Any]) -> DeliveryReport:
        report = DeliveryReport()
        now = self.clock()
        if not self._claim(row["id"], now):
            return report
        try:
            channel = self.cfg.channel(row["channel"])
        except ConfigError:
            self._finish(row, now, status="dead", error=f"channel {row['channel']!r} is no longer configured")
            report.dead += 1
            return report
        disabled = self._disabled(channel)
        if disabled:
            self._finish(row, now, status="dead", error=f"channel disabled: {disabled}")
            report.dead += 1
            return report
        started = asyncio.get_running_loop().time()
        code: int | None = None
        response = ""
        try:
            content = self.content(row)
            code, response = await self._send(channel, content, now)
        except ChannelGone as exc:
            self._disable(channel, str(exc))
            log.error("CHANNEL DISABLED: %s (fix the receiver or its URL, then `monitor alerts retry --dead`)",
                      exc, extra={"channel": channel.name})
            self._attempt(row, now, exc.status, str(exc), exc.body, started)
            self._finish(row, now, status="dead", error=str(exc))
            report.dead += 1
            return report
        except DeliveryError as exc:
            self._attempt(row, now, exc.status, str(exc), exc.body, started)
            delay = schedule_delay(self.cfg.alerts.retry, row["attempts"] + 1, jitter=self.cfg.alerts.jitter,
                                   retry_after=exc.retry_after, rng=self.rng)
            if delay is None:
                self._finish(row, now, status="dead", error=str(exc))
                log.error("alert %s is dead after %d attempts: %s", row["id"], row["attempts"] + 1, exc,
                          extra={"channel": channel.name, "alert": row["id"]})
                report.dead += 1
            else:
                self._finish(row, now, status="pending", error=str(exc), next_attempt=now + timedelta(seconds=delay))
                log.warning("alert %s failed (%s); next attempt in %.0fs", row["id"], exc, delay,
                            extra={"channel": channel.name, "alert": row["id"]})
                report.failed += 1
            return report
        self._attempt(row, now, code, None, response, started)
        self._finish(row, now, status="sent", error=None)
        log.info("alert %s sent to %s", row["id"], channel.name, extra={"channel": channel.name, "alert": row["id"]})
        report.sent += 1
        report.sent_ids.append(row["id"])
        return report

    async def _send(self, channel: WebhookChannel | EmailChannel | AppriseChannel, content: AlertContent,
                    now: datetime) -> tuple[int | None, str]:
        if isinstance(channel, WebhookChannel):
            payload = slack_blocks(content) if channel.format == "slack" else webhook_payload(content)
            return await send_webhook(self.client, channel, content.message_id, payload, now)
        if isinstance(channel, EmailChannel):
            subject, text, html = self.renderer.render(content)
            await send_email(channel, build_message(channel, subject, text, html, message_id=content.message_id,
                                                    now=now))
            return 250, ""
        from .apprise_channel import send_apprise

        subject, text, _html = self.renderer.render(content)
        await send_apprise(channel, subject, text)
        return None, ""

    # ------------------------------------------------------------------ database
    def content(self, row: dict[str, Any]) -> AlertContent:
        topics: list[str] = json.loads(row["topics"])
        extra = json.loads(row["payload"]) if row.get("payload") else {}
        article: dict[str, Any] = {}
        matches: list[dict[str, Any]] = []
        if row["article_id"] is not None:
            a = self.store.one("SELECT id, url, title, byline, published, source, captions, story_id "
                               "FROM articles WHERE id = ?", [row["article_id"]]) or {}
            others = self.store.query("SELECT url FROM articles WHERE story_id = ? AND id != ? ORDER BY id",
                                      [a.get("story_id"), a.get("id")])
            article = {"url": a.get("url"), "title": a.get("title"), "byline": a.get("byline"),
                       "published": a.get("published"), "source": a.get("source"),
                       "captions": json.loads(a.get("captions") or "[]"),
                       "also_seen_at": [o["url"] for o in others], "story_id": a.get("story_id")}
            for t in topics:
                m = self.store.one("SELECT snippets FROM matches WHERE article_id = ? AND topic = ?",
                                   [row["article_id"], t])
                matches.append({"topic": t, "snippets": json.loads(m["snippets"]) if m and m["snippets"] else []})
        return AlertContent(message_id=row["message_id"], kind=row["kind"], created=row["created"],
                            channel=row["channel"], topics=topics, article=article, matches=matches, extra=extra)

    def _claim(self, alert_id: int, now: datetime) -> bool:
        with self.store.write() as db:
            cur = db.execute("UPDATE alerts SET lease_until = ? WHERE id = ? AND status = 'pending' "
                             "AND (lease_until IS NULL OR lease_until <= ?)",
                             [_iso(now + LEASE), alert_id, _iso(now)])
            return cur.rowcount == 1

    def _attempt(self, row: dict[str, Any], now: datetime, code: int | None, error: str | None, response: str,
                 started: float) -> None:
        elapsed = asyncio.get_running_loop().time() - started
        with self.store.write() as db:
            db.execute("INSERT INTO attempts (alert_id, time, status_code, error, response, elapsed) "
                       "VALUES (?,?,?,?,?,?)", [row["id"], _iso(now), code, error, response[:500], elapsed])

    def _finish(self, row: dict[str, Any], now: datetime, *, status: str, error: str | None,
                next_attempt: datetime | None = None) -> None:
        with self.store.write() as db:
            db.execute(
                "UPDATE alerts SET status = ?, attempts = attempts + ?, last_error = coalesce(?, last_error), "
                "next_attempt = coalesce(?, next_attempt), lease_until = NULL, "
                "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id = ?",
                [status, 0 if error and error.startswith(("channel disabled", "channel '")) else 1, error,
                 _iso(next_attempt) if next_attempt else None, status, _iso(now), row["id"]])

    @staticmethod
    def _fingerprint(channel: WebhookChannel | EmailChannel | AppriseChannel) -> str:
        return hashlib.sha256(channel.model_dump_json(exclude={"quiet_hours"}).encode()).hexdigest()[:16]

    def _disabled(self, channel: WebhookChannel | EmailChannel | AppriseChannel) -> str | None:
        row = self.store.one("SELECT disabled, reason, fingerprint FROM channels WHERE name = ?", [channel.name])
        if not row or not row["disabled"]:
            return None
        if row["fingerprint"] != self._fingerprint(channel):
            with self.store.write() as db:  # the channel's config changed: try it again
                db.execute("UPDATE channels SET disabled = NULL, reason = NULL WHERE name = ?", [channel.name])
            return None
        return str(row["reason"])

    def _disable(self, channel: WebhookChannel | EmailChannel | AppriseChannel, reason: str) -> None:
        with self.store.write() as db:
            db.execute("INSERT INTO channels (name, disabled, reason, fingerprint) VALUES (?,?,?,?) "
                       "ON CONFLICT(name) DO UPDATE SET disabled=excluded.disabled, reason=excluded.reason, "
                       "fingerprint=excluded.fingerprint",
                       [channel.name, self.store.now(), reason, self._fingerprint(channel)])


def _iso(value: datetime) -> str:
    from datetime import UTC

    return value.astimezone(UTC).isoformat()


def requeue(store: Store, ids: Sequence[int] | None = None, *, dead: bool = False) -> int:
    """Put alerts back in the queue (by id, or every dead one); returns how many."""
    now = store.now()
    with store.write() as db:
        if dead:
            cur = db.execute("UPDATE alerts SET status='pending', next_attempt=?, attempts=0, lease_until=NULL "
                             "WHERE status='dead'", [now])
        else:
            marks = ",".join("?" * len(ids or []))
            cur = db.execute(f"UPDATE alerts SET status='pending', next_attempt=?, attempts=0, lease_until=NULL "
                             f"WHERE id IN ({marks})", [now, *(ids or [])])
        return int(cur.rowcount)
