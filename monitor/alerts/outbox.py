"""The deliverer: sends what the outbox holds when it falls due, records every attempt, and
retries on the configured schedule until the alert is sent or ``dead``.

Guarantees, and how they are kept:

- never lost: alert rows are written in the article's own transaction (``queue.py``); nothing
  leaves the ``alerts`` table except by being marked ``sent``, ``dead`` or ``digested``.
- never sent twice at once: an alert is claimed with a lease (``lease_until``, ``lease_owner``) in
  a write transaction before it is sent; a lease whose owner process has died is free at once
  (``lease.py``), one whose owner lives is respected until it expires.
- a repeat only after a crash: the attempt and the new status are written in one transaction
  after the send; a crash between the receiver's answer and that write resends the message with
  the same ``webhook-id`` (and the same email Message-ID), so a receiver can drop it.

Digests and quiet hours are decided at claim time, in the claim's transaction: digest topics move
into their topic's open digest (``digest.py``), and a channel in its quiet hours has the alert
put off until the window ends (``schedule.py``), with no attempt counted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx

from ..config import AppriseChannel, Config, EmailChannel, WebhookChannel
from ..errors import ChannelGone, ConfigError, DeliveryError
from ..retry import schedule_delay
from ..store import Clock, Store, utcnow
from .content import load_content
from .digest import move_to_digests
from .lease import LeaseOwner
from .render import AlertContent, Renderer, slack_blocks, webhook_payload
from .schedule import quiet_until
from .smtp import build_message, send_email
from .webhook import send_webhook

__all__ = ["Channel", "DeliveryReport", "Deliverer", "requeue"]

log = logging.getLogger(__name__)

Channel = WebhookChannel | EmailChannel | AppriseChannel
LEASE = timedelta(minutes=5)  # longer than any one send (webhooks are cut off at their timeout)
BATCH = 100


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    held: int = 0  # put off by quiet hours
    digested: int = 0  # moved whole into digests
    sent_ids: list[int] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        self.held += other.held
        self.digested += other.digested
        self.sent_ids += other.sent_ids


@dataclass
class _Claim:
    action: Literal["send", "held", "digested", "dead", "lost"]
    row: dict[str, Any]


class Deliverer:
    """Sends due alerts. ``clock`` decides what is due (inject it in tests); ``wall`` stamps what a
    receiver checks against its own clock (webhook timestamps, the email Date)."""

    def __init__(self, cfg: Config, store: Store, *, client: httpx.AsyncClient | None = None,
                 renderer: Renderer | None = None, clock: Clock = utcnow, wall: Clock = utcnow,
                 rng: random.Random | None = None, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 owner: LeaseOwner | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(follow_redirects=False)
        self.renderer = renderer or Renderer(cfg.templates_path)
        self.clock = clock
        self.wall = wall
        self.rng = rng or random.Random()
        self.sleep = sleep
        self._own_owner = owner is None
        self.owner = owner or LeaseOwner(store.path)

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()
        if self._own_owner:
            self.owner.close()

    # ------------------------------------------------------------------ loops
    async def deliver_due(self, *, channel: str | None = None) -> DeliveryReport:
        """One pass: every alert due now gets one attempt (or is held, digested, or found dead)."""
        report = DeliveryReport()
        done: list[int] = []
        while True:
            now = self.clock()
            dead = self._dead_owners(now)
            rows = self.store.query(
                "SELECT * FROM alerts WHERE next_attempt <= ? AND (status = 'pending' OR "
                "(status = 'held' AND kind = 'digest')) AND (lease_until IS NULL OR lease_until <= ? "
                "OR lease_owner IN (SELECT value FROM json_each(?))) AND (? IS NULL OR channel = ?) "
                "AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY next_attempt, id LIMIT ?",
                [_iso(now), _iso(now), json.dumps(dead), channel, channel, json.dumps(done), BATCH])
            if not rows:
                return report
            for row in rows:
                done.append(row["id"])
                report.add(await self._deliver_one(row["id"], dead))

    async def deliver_within(self, grace: float) -> DeliveryReport:
        """Deliver what is due, then wait for retries that fall due within ``grace`` seconds.
        Digests and quiet hours are not waited for."""
        report = DeliveryReport()
        until = self.clock() + timedelta(seconds=grace)
        while True:
            report.add(await self.deliver_due())
            now = self.clock()
            dead = self._dead_owners(now)
            nxt = self.store.one(
                "SELECT min(CASE WHEN lease_until > ? AND coalesce(lease_owner, '') NOT IN "
                "(SELECT value FROM json_each(?)) THEN max(next_attempt, lease_until) ELSE next_attempt END) AS t "
                "FROM alerts WHERE status = 'pending'", [_iso(now), json.dumps(dead)])
            if not nxt or not nxt["t"]:
                return report
            when = datetime.fromisoformat(nxt["t"])
            if when > until:
                return report
            await self.sleep(max(0.0, (when - self.clock()).total_seconds()) + 0.01)

    # ------------------------------------------------------------------ one alert
    async def _deliver_one(self, alert_id: int, dead: Sequence[str]) -> DeliveryReport:
        report = DeliveryReport()
        now = self.clock()
        claim = self._claim(alert_id, now, dead)
        row = claim.row
        if claim.action == "lost":
            return report
        if claim.action == "held":
            report.held += 1
            return report
        if claim.action == "digested":
            report.digested += 1
            return report
        if claim.action == "dead":
            report.dead += 1
            return report
        channel = self.cfg.channel(row["channel"])
        disabled = self._disabled(channel)
        if disabled:
            self._finish(row, now, status="dead", error=f"channel disabled: {disabled}", attempt=None)
            report.dead += 1
            return report
        started = asyncio.get_running_loop().time()
        try:
            content = self.content(row)
            code, response = await self.send(channel, content)
        except ChannelGone as exc:
            log.error("CHANNEL DISABLED: %s (fix the receiver or its URL; `monitor alerts retry --dead` "
                      "sends what died meanwhile)", exc, extra={"channel": channel.name})
            self._finish(row, now, status="dead", error=str(exc), attempt=(exc.status, str(exc), exc.body, started),
                         disable=channel)
            report.dead += 1
            return report
        except DeliveryError as exc:
            self._failed(row, channel, now, exc, started, report)
            return report
        except ConfigError as exc:  # a template that fails on this alert
            log.error("alert %s: %s", row["id"], exc, extra={"channel": channel.name, "alert": row["id"]})
            self._failed(row, channel, now, DeliveryError(str(exc), channel=channel.name), started, report)
            return report
        except Exception as exc:  # noqa: BLE001 - a bug or a bad template fails this alert, not the run
            log.exception("alert %s could not be sent", row["id"], extra={"channel": channel.name, "alert": row["id"]})
            self._failed(row, channel, now, DeliveryError(f"internal error: {exc!r}", channel=channel.name),
                         started, report)
            return report
        self._finish(row, now, status="sent", error=None, attempt=(code, None, response, started))
        log.info("alert %s sent to %s", row["id"], channel.name, extra={"channel": channel.name, "alert": row["id"]})
        report.sent += 1
        report.sent_ids.append(row["id"])
        return report

    def _failed(self, row: dict[str, Any], channel: Channel, now: datetime, exc: DeliveryError, started: float,
                report: DeliveryReport) -> None:
        delay = schedule_delay(self.cfg.alerts.retry, row["attempts"] + 1, jitter=self.cfg.alerts.jitter,
                               retry_after=exc.retry_after, rng=self.rng)
        attempt = (exc.status, str(exc), exc.body, started)
        if delay is None:
            self._finish(row, now, status="dead", error=str(exc), attempt=attempt)
            log.error("alert %s is dead after %d attempts: %s", row["id"], row["attempts"] + 1, exc,
                      extra={"channel": channel.name, "alert": row["id"]})
            report.dead += 1
        else:
            self._finish(row, now, status="pending", error=str(exc), attempt=attempt,
                         next_attempt=now + timedelta(seconds=delay))
            log.warning("alert %s failed (%s); next attempt in %.0fs", row["id"], exc, delay,
                        extra={"channel": channel.name, "alert": row["id"]})
            report.failed += 1

    async def send(self, channel: Channel, content: AlertContent) -> tuple[int | None, str]:
        """Send one message now (no outbox): (status code, response excerpt); raises DeliveryError."""
        now = self.wall()
        if isinstance(channel, WebhookChannel):
            payload = slack_blocks(content) if channel.format == "slack" else webhook_payload(content)
            return await send_webhook(self.client, channel, content.message_id, payload, now)
        subject, text, html = self.renderer.render(content)
        if isinstance(channel, EmailChannel):
            msg = build_message(channel, subject, text, html, message_id=content.message_id, now=now)
            reply = await send_email(channel, msg)
            return 250, reply
        from .apprise_channel import send_apprise

        await send_apprise(channel, subject, text)
        return None, ""

    def content(self, row: dict[str, Any]) -> AlertContent:
        return load_content(self.store, row)

    # ------------------------------------------------------------------ database
    def _dead_owners(self, now: datetime) -> list[str]:
        owners = self.store.query("SELECT DISTINCT lease_owner FROM alerts WHERE lease_until > ? AND "
                                  "lease_owner IS NOT NULL AND status IN ('pending', 'held')", [_iso(now)])
        return [r["lease_owner"] for r in owners if not self.owner.alive(r["lease_owner"])]

    def _claim(self, alert_id: int, now: datetime, dead: Sequence[str]) -> _Claim:
        """Take the lease, then in the same transaction: move digest topics, hold for quiet hours."""
        with self.store.write() as db:
            cur = db.execute(
                "UPDATE alerts SET lease_until = ?, lease_owner = ? WHERE id = ? AND next_attempt <= ? AND "
                "(status = 'pending' OR (status = 'held' AND kind = 'digest')) AND (lease_until IS NULL OR "
                "lease_until <= ? OR lease_owner IN (SELECT value FROM json_each(?)))",
                [_iso(now + LEASE), self.owner.token, alert_id, _iso(now), _iso(now), json.dumps(list(dead))])
            if cur.rowcount != 1:
                return _Claim("lost", {"id": alert_id})
            row = next(iter(db.query("SELECT * FROM alerts WHERE id = ?", [alert_id])))
            try:
                channel = self.cfg.channel(row["channel"])
            except ConfigError:
                db.execute("UPDATE alerts SET status = 'dead', lease_until = NULL, last_error = ? WHERE id = ?",
                           [f"channel {row['channel']!r} is no longer configured", alert_id])
                return _Claim("dead", row)
            if row["kind"] == "article" and row["status"] == "pending":
                digests = {t.name: t.digest for t in self.cfg.topics if t.digest is not None}
                left = move_to_digests(db, row, digests, now, _iso(now))
                if not left:
                    db.execute("UPDATE alerts SET status = 'digested', lease_until = NULL WHERE id = ?", [alert_id])
                    return _Claim("digested", row)
                row["topics"] = json.dumps(left)
            until = quiet_until(channel.quiet_hours, now)
            if until is not None:
                db.execute("UPDATE alerts SET next_attempt = ?, lease_until = NULL WHERE id = ?",
                           [_iso(until), alert_id])
                log.info("alert %s held for quiet hours until %s", alert_id, _iso(until),
                         extra={"channel": channel.name, "alert": alert_id})
                return _Claim("held", row)
            if row["status"] == "held":
                db.execute("UPDATE alerts SET status = 'pending' WHERE id = ?", [alert_id])
                row["status"] = "pending"
            return _Claim("send", row)

    def _finish(self, row: dict[str, Any], now: datetime, *, status: str, error: str | None,
                attempt: tuple[int | None, str | None, str, float] | None, next_attempt: datetime | None = None,
                disable: Channel | None = None) -> None:
        """Record the attempt and the alert's new state in one transaction."""
        with self.store.write() as db:
            if attempt is not None:
                code, err, response, started = attempt
                elapsed = asyncio.get_running_loop().time() - started
                db.execute("INSERT INTO attempts (alert_id, time, status_code, error, response, elapsed) "
                           "VALUES (?,?,?,?,?,?)", [row["id"], _iso(now), code, err, (response or "")[:500], elapsed])
            db.execute(
                "UPDATE alerts SET status = ?, attempts = attempts + ?, last_error = coalesce(?, last_error), "
                "next_attempt = coalesce(?, next_attempt), lease_until = NULL, lease_owner = NULL, "
                "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id = ?",
                [status, 1 if attempt is not None else 0, error, _iso(next_attempt) if next_attempt else None,
                 status, _iso(now), row["id"]])
            if disable is not None:
                db.execute("INSERT INTO channels (name, disabled, reason, fingerprint) VALUES (?,?,?,?) "
                           "ON CONFLICT(name) DO UPDATE SET disabled=excluded.disabled, reason=excluded.reason, "
                           "fingerprint=excluded.fingerprint",
                           [disable.name, _iso(now), error, fingerprint(disable)])

    def _disabled(self, channel: Channel) -> str | None:
        row = self.store.one("SELECT disabled, reason, fingerprint FROM channels WHERE name = ?", [channel.name])
        if not row or not row["disabled"]:
            return None
        if row["fingerprint"] != fingerprint(channel):
            with self.store.write() as db:  # the channel's config changed: try it again
                db.execute("UPDATE channels SET disabled = NULL, reason = NULL WHERE name = ?", [channel.name])
            log.warning("channel %s was disabled (%s); its config changed, so it is tried again",
                        channel.name, row["reason"], extra={"channel": channel.name})
            return None
        return str(row["reason"])


def fingerprint(channel: Channel) -> str:
    """What identifies a channel's receiver: a change re-enables a channel disabled by a 410."""
    return hashlib.sha256(channel.model_dump_json(exclude={"quiet_hours"}).encode()).hexdigest()[:16]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def requeue(store: Store, ids: Sequence[int] | None = None, *, dead: bool = False) -> int:
    """Put alerts back in the queue (by id, or every dead one), with a fresh retry schedule, and
    enable their channels again if a 410 disabled them; returns how many."""
    now = store.now()
    with store.write() as db:
        where = ("status = 'dead'" if dead else
                 "id IN (SELECT value FROM json_each(?)) AND status IN ('dead', 'sent', 'pending')")
        params: list[Any] = [] if dead else [json.dumps(list(ids or []))]
        channels = [r[0] for r in db.execute(f"SELECT DISTINCT channel FROM alerts WHERE {where}", params)]
        cur = db.execute(f"UPDATE alerts SET status = 'pending', next_attempt = ?, attempts = 0, lease_until = NULL, "
                         f"lease_owner = NULL WHERE {where}", [now, *params])
        db.execute("UPDATE channels SET disabled = NULL, reason = NULL WHERE name IN "
                   "(SELECT value FROM json_each(?))", [json.dumps(channels)])
        return int(cur.rowcount)
