"""Digests and quiet hours: the pure schedule functions at exact instants across DST changes, then
through the outbox with an injected clock against real receivers.

"Across a DST change in another zone": a digest at 08:00 Asia/Seoul (a zone without DST) must
fire at 23:00 UTC every day, even while the machine runs in America/New_York and New York moves
its clocks: the fire time is 18:00 New York time before the change and 19:00 after it. A
scheduler that kept "08:00 Seoul" as an offset from the machine's local time would drift by an
hour. Zones that do change (Berlin, New York) are checked at their own changes too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.alerts import Deliverer, DeliveryReport, next_fire, quiet_until
from monitor.config import Config, DigestConfig, QuietHours
from monitor.demo.receivers import SmtpReceiver, WebhookReceiver
from monitor.store import Store

from .conftest import SECRET
from .test_alerts import FakeClock, add_article, alert_config, alerts, hook, mail, open_store
from .test_readme import keys, readme_json

NEW_YORK, SEOUL, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Asia/Seoul"), ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture
def machine_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's own local zone is New York (as a server's might be)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    assert time.localtime(utc(2026, 3, 9).timestamp()).tm_isdst == 1
    yield
    monkeypatch.undo()
    time.tzset()


# ---------------------------------------------------------------------------- pure: digests
def test_seoul_0800_fires_at_2300_utc_across_new_yorks_dst_change(machine_in_new_york: None) -> None:
    digest = DigestConfig(at="08:00", timezone="Asia/Seoul")
    fires, t = [], utc(2026, 3, 6, 12)
    for _ in range(4):
        t = next_fire(digest, t)
        fires.append(t)
    # New York springs forward on 2026-03-08 at 07:00 UTC; Seoul's 08:00 does not move.
    assert fires == [utc(2026, 3, 6, 23), utc(2026, 3, 7, 23), utc(2026, 3, 8, 23), utc(2026, 3, 9, 23)]
    assert [f.astimezone(SEOUL).strftime("%d %H:%M") for f in fires] == ["07 08:00", "08 08:00", "09 08:00",
                                                                        "10 08:00"]
    assert [f.astimezone(NEW_YORK).strftime("%H:%M %Z") for f in fires] == ["18:00 EST", "18:00 EST", "19:00 EDT",
                                                                           "19:00 EDT"]
    # the instant itself: a microsecond before fires at it; at it, the next is a day later
    assert next_fire(digest, utc(2026, 3, 8, 22, 59, 59, 999999)) == utc(2026, 3, 8, 23)
    assert next_fire(digest, utc(2026, 3, 8, 23)) == utc(2026, 3, 9, 23)
    # and across Berlin's change (2026-03-29 01:00 UTC) too
    assert next_fire(digest, utc(2026, 3, 29, 0, 30)) == utc(2026, 3, 29, 23)


def test_a_daily_time_in_a_zone_with_dst_follows_its_clocks() -> None:
    berlin = DigestConfig(at="08:00", timezone="Europe/Berlin")
    assert next_fire(berlin, utc(2026, 3, 28, 0)) == utc(2026, 3, 28, 7)  # CET, UTC+1
    assert next_fire(berlin, utc(2026, 3, 28, 7)) == utc(2026, 3, 29, 6)  # CEST from 29 March, UTC+2
    assert next_fire(berlin, utc(2026, 10, 24, 7)) == utc(2026, 10, 25, 7)  # back to CET on 25 October
    # 02:30 does not exist on 29 March (02:00 -> 03:00): it fires at 03:30 CEST
    skipped = DigestConfig(at="02:30", timezone="Europe/Berlin")
    assert next_fire(skipped, utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1, 30)
    # 02:30 happens twice on 25 October: it fires once, the first time (CEST)
    first = next_fire(skipped, utc(2026, 10, 24, 12))
    assert first == utc(2026, 10, 25, 0, 30)
    assert next_fire(skipped, first) == utc(2026, 10, 26, 1, 30)


def test_a_weekly_digest_fires_on_its_local_weekdays_across_dst() -> None:
    # Mondays and Thursdays at 09:00 Berlin time; Berlin moves its clocks on Sunday 29 March 2026
    weekly = DigestConfig(at="09:00", days=["mon", "thursday"], timezone="Europe/Berlin")
    fires, t = [], utc(2026, 3, 20, 12)  # a Friday
    for _ in range(4):
        t = next_fire(weekly, t)
        fires.append(t)
    assert fires == [utc(2026, 3, 23, 8), utc(2026, 3, 26, 8), utc(2026, 3, 30, 7), utc(2026, 4, 2, 7)]
    assert {f.astimezone(BERLIN).strftime("%a %H:%M") for f in fires} == {"Mon 09:00", "Thu 09:00"}
    # the weekday is the zone's, not UTC's: 08:00 Seoul on a Monday is Sunday 23:00 UTC
    seoul = DigestConfig(at="08:00", days=["mon"], timezone="Asia/Seoul")
    assert next_fire(seoul, utc(2026, 3, 20)) == utc(2026, 3, 22, 23)
    # at the instant itself, the next one is a week later
    once = DigestConfig(at="09:00", days=["fri"])
    assert next_fire(once, utc(2026, 3, 20, 9)) == utc(2026, 3, 27, 9)
    assert next_fire(once, utc(2026, 3, 20, 8, 59)) == utc(2026, 3, 20, 9)


def test_every_counts_from_local_midnight() -> None:
    hourly = DigestConfig(every=3600, timezone="Europe/Berlin")
    t, fires = utc(2026, 3, 28, 22, 30), []
    while t < utc(2026, 3, 29, 22):
        t = next_fire(hourly, t)
        fires.append(t)
    local = [f.astimezone(BERLIN) for f in fires]
    on_the_29th = [f for f in local if f.date().day == 29]
    assert len(on_the_29th) == 23  # a 23-hour day
    assert all(f.minute == 0 for f in local)
    assert [f.hour for f in on_the_29th[:3]] == [0, 1, 3]  # 02:00 never happens
    seven = DigestConfig(every=7 * 3600)
    t, fires = utc(2026, 1, 1, 0), []
    for _ in range(5):
        t = next_fire(seven, t)
        fires.append(t.strftime("%d %H:%M"))
    assert fires == ["01 07:00", "01 14:00", "01 21:00", "02 00:00", "02 07:00"]  # restarts at midnight


# ---------------------------------------------------------------------------- pure: quiet hours
def test_quiet_hours_across_new_yorks_dst_change(machine_in_new_york: None) -> None:
    night = QuietHours(start="22:00", end="07:00", timezone="America/New_York")
    # 22:30 EST on 7 March; the window ends at 07:00 EDT on the 8th, which is 11:00 UTC, not 12:00
    assert quiet_until(night, utc(2026, 3, 8, 3, 30)) == utc(2026, 3, 8, 11)
    assert quiet_until(night, utc(2026, 3, 8, 10, 59, 59)) == utc(2026, 3, 8, 11)
    assert quiet_until(night, utc(2026, 3, 8, 11)) is None  # 07:00 EDT: over
    assert quiet_until(night, utc(2026, 3, 8, 2, 59)) is None  # 21:59 EST: not yet
    assert quiet_until(night, utc(2026, 3, 8, 3)) == utc(2026, 3, 8, 11)  # 22:00 EST: begins
    lunch = QuietHours(start="12:00", end="13:00")
    assert quiet_until(lunch, utc(2026, 5, 1, 12, 30)) == utc(2026, 5, 1, 13)
    assert quiet_until(lunch, utc(2026, 5, 1, 13, 30)) is None
    assert quiet_until(None, utc(2026, 5, 1)) is None


def test_quiet_hours_ending_in_the_repeated_hour() -> None:
    # Berlin, 25 October 2026: 02:00-03:00 happens twice. At 02:15 CET (the second time) a window
    # ending at 02:30 ends at 02:30 CET, a quarter of an hour later, not a day later.
    window = QuietHours(start="01:00", end="02:30", timezone="Europe/Berlin")
    assert quiet_until(window, utc(2026, 10, 25, 1, 15)) == utc(2026, 10, 25, 1, 30)
    assert quiet_until(window, utc(2026, 10, 24, 23, 30)) == utc(2026, 10, 25, 0, 30)  # 01:30 CEST


def test_quiet_days_and_nights_together() -> None:
    weekend = QuietHours(days=["weekends"], timezone="Europe/Berlin")
    # Saturday 28 March 2026, noon in Berlin (CET): quiet until Monday 00:00 CEST (clocks go forward Sunday)
    assert quiet_until(weekend, utc(2026, 3, 28, 11)) == utc(2026, 3, 29, 22)
    assert quiet_until(weekend, utc(2026, 3, 29, 21, 59)) == utc(2026, 3, 29, 22)
    assert quiet_until(weekend, utc(2026, 3, 29, 22)) is None  # Monday 00:00: over
    assert quiet_until(weekend, utc(2026, 3, 27, 22, 59)) is None  # Friday 23:59 CET: not yet
    # nights and weekends: Monday 00:00 falls inside the night window, so it ends at 07:00 Monday
    both = QuietHours(start="22:00", end="07:00", days=["sat", "sun"], timezone="Europe/Berlin")
    assert quiet_until(both, utc(2026, 3, 27, 21, 30)) == utc(2026, 3, 30, 5)  # Friday 22:30 CET -> Mon 07:00 CEST
    assert quiet_until(both, utc(2026, 3, 28, 11)) == utc(2026, 3, 30, 5)
    assert quiet_until(both, utc(2026, 3, 30, 5)) is None
    assert quiet_until(both, utc(2026, 3, 31, 4)) == utc(2026, 3, 31, 5)  # a weekday night as before
    # the weekday is the zone's: Sunday 23:30 UTC is already Monday 08:30 in Seoul
    assert quiet_until(QuietHours(days=["sun"], timezone="Asia/Seoul"), utc(2026, 3, 29, 23, 30)) is None


# ---------------------------------------------------------------------------- through the outbox
def run(cfg: Config, store: Store, clock: FakeClock) -> DeliveryReport:
    async def go() -> DeliveryReport:
        d = Deliverer(cfg, store, clock=clock)
        try:
            return await d.deliver_due()
        finally:
            await d.aclose()

    return asyncio.run(go())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utc(2026, 3, 7, 12))


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    yield from open_store(tmp_path, clock=clock)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(SECRET).start()
    yield r
    r.stop()


def digest_topics(**digest: Any) -> list[dict[str, Any]]:
    return [{"name": "mou", "query": "MOU", "digest": digest}, {"name": "visit", "query": "visit"}]


def test_seoul_digest_through_the_outbox_on_a_machine_in_new_york(
        tmp_path: Path, store: Store, clock: FakeClock, receiver: WebhookReceiver, machine_in_new_york: None) -> None:
    quiet = {"start": "01:00", "end": "06:00", "timezone": "America/New_York"}  # the reader sleeps; 18-19h is fine
    cfg = alert_config(tmp_path, [hook(receiver.url, quiet_hours=quiet)],
                       topics=digest_topics(at="08:00", timezone="Asia/Seoul"))
    add_article(store, 1)
    add_article(store, 2, topics=("mou", "visit"))
    report = run(cfg, store, clock)
    assert (report.sent, report.digested) == (1, 1)  # article 2's "visit" goes now, alone
    [instant] = receiver.deliveries
    assert instant.payload["topics"] == ["visit"]
    [digest] = [a for a in alerts(store) if a["kind"] == "digest"]
    assert (digest["status"], digest["next_attempt"]) == ("held", "2026-03-07T23:00:00+00:00")

    clock.set(utc(2026, 3, 7, 22, 59, 59))
    assert run(cfg, store, clock).sent == 0
    clock.set(utc(2026, 3, 7, 23))
    assert run(cfg, store, clock).sent == 1
    first = receiver.deliveries[-1]
    assert first.verified and first.payload["type"] == "digest" and first.payload["topic"] == "mou"
    assert [a["url"] for a in first.payload["articles"]] == ["https://news.example.org/a/1",
                                                              "https://news.example.org/a/2"]
    assert first.payload["articles"][0]["snippets"] == ["the ministers signed an **MOU** in story 1"]
    assert first.payload["timestamp"] == "2026-03-07T23:00:00+00:00"
    # the payloads the README documents, key for key, as a receiver got them
    assert keys(instant.payload) == keys(readme_json("Webhooks"))
    assert keys(first.payload) == keys(readme_json("Webhook digests, notices and Slack"))

    # New York moves its clocks at 07:00 UTC on the 8th; the next digest is still at 23:00 UTC.
    clock.set(utc(2026, 3, 8, 12))
    add_article(store, 3)
    run(cfg, store, clock)
    clock.set(utc(2026, 3, 8, 22, 59, 59))
    assert run(cfg, store, clock).sent == 0
    clock.set(utc(2026, 3, 8, 23))
    assert run(cfg, store, clock).sent == 1
    second = receiver.deliveries[-1]
    assert [a["url"] for a in second.payload["articles"]] == ["https://news.example.org/a/3"]
    assert second.webhook_id != first.webhook_id
    sent_at = [a["sent_at"] for a in alerts(store) if a["kind"] == "digest"]
    assert sent_at == ["2026-03-07T23:00:00+00:00", "2026-03-08T23:00:00+00:00"]
    assert datetime.fromisoformat(sent_at[1]).astimezone(NEW_YORK).strftime("%H:%M %Z") == "19:00 EDT"


def test_quiet_hours_hold_then_release(tmp_path: Path, store: Store, clock: FakeClock,
                                       receiver: WebhookReceiver) -> None:
    quiet = {"start": "22:00", "end": "07:00", "timezone": "America/New_York"}
    cfg = alert_config(tmp_path, [hook(receiver.url, quiet_hours=quiet)])
    clock.set(utc(2026, 3, 8, 3, 30))  # 22:30 EST
    add_article(store, 1)
    report = run(cfg, store, clock)
    assert (report.sent, report.held) == (0, 1)
    [row] = alerts(store)
    assert (row["status"], row["attempts"], row["next_attempt"]) == ("pending", 0, "2026-03-08T11:00:00+00:00")
    clock.set(utc(2026, 3, 8, 6, 30))  # 01:30 EST, still quiet
    assert run(cfg, store, clock).sent == 0
    clock.set(utc(2026, 3, 8, 10, 59, 59))  # 06:59:59 EDT
    assert run(cfg, store, clock).sent == 0
    assert receiver.deliveries == []
    clock.set(utc(2026, 3, 8, 11))  # 07:00 EDT
    assert run(cfg, store, clock).sent == 1
    [row] = alerts(store)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("sent", 1, "2026-03-08T11:00:00+00:00")
    assert receiver.deliveries[0].verified


def test_an_hourly_digest_gathers_through_quiet_hours(tmp_path: Path, store: Store, clock: FakeClock,
                                                      smtp: SmtpReceiver) -> None:
    cfg = alert_config(tmp_path, [mail(smtp, quiet_hours={"start": "00:00", "end": "06:00"})],
                       topics=digest_topics(every="1h"))
    for n, hour in enumerate((0, 1, 2)):
        clock.set(utc(2026, 3, 10, hour, 10))
        add_article(store, n, channels=("mail",), source=f"outlet{n}")
        run(cfg, store, clock)
    for hour in range(1, 6):
        clock.set(utc(2026, 3, 10, hour, 0, 1))
        assert run(cfg, store, clock).sent == 0
    clock.set(utc(2026, 3, 10, 6))
    assert run(cfg, store, clock).sent == 1
    [msg] = smtp.messages
    assert msg["Subject"] == "[monitor] mou digest: 3 articles"
    html = msg.get_body(("html",)).get_content()
    assert html.count("<mark>MOU</mark>") == 3 and "outlet2" in html
    text = msg.get_body(("plain",)).get_content()
    assert "1. Story 0: an MOU is signed" in text and "3. Story 2: an MOU is signed" in text
    [digest] = [a for a in alerts(store) if a["kind"] == "digest"]
    assert digest["status"] == "sent"
    assert json.loads(digest["topics"]) == ["mou"]
    assert len(store.query("SELECT * FROM digest_items WHERE digest_id = ?", [digest["id"]])) == 3


def test_a_story_already_in_a_digest_is_not_added_again(tmp_path: Path, store: Store, clock: FakeClock,
                                                        receiver: WebhookReceiver) -> None:
    cfg = alert_config(tmp_path, [hook(receiver.url)], topics=digest_topics(every="1h"))
    body = "The two ministers signed an MOU on trade and culture in Seoul today. " * 10
    add_article(store, 1, body=body)
    add_article(store, 2, body=body, url="https://copy.example.org/2")  # a syndicated copy: same story
    run(cfg, store, clock)
    clock.advance(hours=1)
    assert run(cfg, store, clock).sent == 1
    [d] = receiver.deliveries
    assert [a["url"] for a in d.payload["articles"]] == ["https://news.example.org/a/1"]
    assert d.payload["articles"][0]["also_seen_at"] == ["https://copy.example.org/2"]


def test_digest_fire_time_is_exact(tmp_path: Path, store: Store, clock: FakeClock,
                                   receiver: WebhookReceiver) -> None:
    cfg = alert_config(tmp_path, [hook(receiver.url)], topics=digest_topics(every="1h"))
    clock.set(utc(2026, 3, 10, 9, 59, 59, 999000))
    add_article(store, 1)
    run(cfg, store, clock)
    [digest] = [a for a in alerts(store) if a["kind"] == "digest"]
    assert digest["next_attempt"] == "2026-03-10T10:00:00+00:00"
    clock.advance(microseconds=999)
    assert run(cfg, store, clock).sent == 0
    clock.advance(microseconds=1)
    assert run(cfg, store, clock).sent == 1
    assert clock() - utc(2026, 3, 10, 10) == timedelta(0)


def test_a_weekly_digest_waits_for_its_day_in_the_outbox(tmp_path: Path, store: Store, clock: FakeClock,
                                                         receiver: WebhookReceiver) -> None:
    cfg = alert_config(tmp_path, [hook(receiver.url)], topics=digest_topics(at="09:00", days=["mon"],
                                                                             timezone="Europe/Berlin"))
    clock.set(utc(2026, 3, 25, 10))  # a Wednesday
    add_article(store, 1)
    run(cfg, store, clock)
    [digest] = [a for a in alerts(store) if a["kind"] == "digest"]
    assert digest["next_attempt"] == "2026-03-30T07:00:00+00:00"  # Monday 09:00 CEST
    clock.set(utc(2026, 3, 26, 8))  # Thursday 09:00: not its day
    add_article(store, 2)
    assert run(cfg, store, clock).sent == 0
    clock.set(utc(2026, 3, 30, 7))
    assert run(cfg, store, clock).sent == 1
    [sent] = receiver.deliveries
    assert sent.verified
    assert [a["url"] for a in sent.payload["articles"]] == ["https://news.example.org/a/1",
                                                             "https://news.example.org/a/2"]  # the week, in one message


def test_a_quiet_weekend_holds_alerts_until_monday(tmp_path: Path, store: Store, clock: FakeClock,
                                                   receiver: WebhookReceiver) -> None:
    quiet = {"days": ["sat", "sun"], "timezone": "America/New_York"}
    cfg = alert_config(tmp_path, [hook(receiver.url, quiet_hours=quiet)])
    clock.set(utc(2026, 3, 7, 15))  # Saturday 10:00 EST
    add_article(store, 1)
    assert run(cfg, store, clock).sent == 0
    [held] = alerts(store)
    assert held["next_attempt"] == "2026-03-09T04:00:00+00:00"  # Monday 00:00 EDT (clocks moved on Sunday)
    clock.set(utc(2026, 3, 9, 3, 59))
    assert run(cfg, store, clock).sent == 0
    clock.set(utc(2026, 3, 9, 4))
    assert run(cfg, store, clock).sent == 1
    [sent] = receiver.deliveries
    assert sent.verified and alerts(store)[0]["attempts"] == 1  # the wait was not an attempt


def _quiet_by_definition(q: QuietHours, t: datetime) -> bool:
    local = t.astimezone(ZoneInfo(q.timezone))
    if q.days and local.strftime("%a").lower() in q.days:
        return True
    if q.start is None or q.end is None:
        return False
    wall = local.strftime("%H:%M")
    return q.start <= wall < q.end if q.start < q.end else (wall >= q.start or wall < q.end)


def test_quiet_until_against_its_definition_at_many_instants() -> None:
    """Seeded sweep over a year in zones with and without DST: the answer is quiet all the way to its
    end (checked every 10 minutes) and not quiet at it; None only when now is not quiet."""
    import random

    rng = random.Random(20261128)
    windows = [QuietHours(start="22:00", end="07:00", timezone="Europe/Berlin"),
               QuietHours(days=["sat", "sun"], timezone="America/New_York"),
               QuietHours(start="20:00", end="08:00", days=["fri", "sun"], timezone="Australia/Sydney"),
               QuietHours(start="01:30", end="02:45", days=["mon"], timezone="America/Santiago"),
               QuietHours(start="12:00", end="13:00", days=["weekends"], timezone="Asia/Seoul")]
    for _ in range(400):
        q = rng.choice(windows)
        now = utc(2026, 1, 1) + timedelta(minutes=rng.randrange(365 * 24 * 60))
        until = quiet_until(q, now)
        if until is None:
            assert not _quiet_by_definition(q, now), (q, now)
            continue
        assert until > now and not _quiet_by_definition(q, until), (q, now, until)
        t = now
        while t < until:
            assert _quiet_by_definition(q, t), (q, now, until, t)
            t += timedelta(minutes=10)
