"""When alerts may go: digest fire times and quiet hours, as pure functions of the config and an
instant. Every instant in and out is timezone-aware and compared in UTC; local times are read in
the IANA zone the config names, never in the machine's own zone, so a DST change anywhere else
moves nothing.

DST rules, for a local time that a clock change skips or repeats:

- a time that does not exist that day (02:30 when clocks jump from 02:00 to 03:00) falls at the
  same distance past the jump: 03:30;
- a time that happens twice (02:30 when clocks go back from 03:00 to 02:00) is taken once, the
  first time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..config import WEEKDAYS, DigestConfig, QuietHours

__all__ = ["describe", "describe_quiet", "local_instant", "next_fire", "quiet_until"]


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of the wall-clock time ``at`` on ``day`` in ``zone`` (fold=0: see the module
    docstring for skipped and repeated times)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def next_fire(digest: DigestConfig, after: datetime) -> datetime:
    """The first instant strictly after ``after`` at which the digest goes out.

    ``at: "08:00"`` fires daily at 08:00 in ``timezone``, or only on the local weekdays in ``days``.
    ``every: 1h`` fires every hour counted from local midnight in ``timezone`` (a 23- or 25-hour day
    has 23 or 25 hourly digests; steps that do not divide the day restart at midnight).
    """
    if after.tzinfo is None:
        raise ValueError("next_fire needs an aware datetime")
    zone = ZoneInfo(digest.timezone)
    day = after.astimezone(zone).date()
    if digest.at is not None:
        at = _hhmm(digest.at)
        weekdays = {WEEKDAYS.index(d) for d in digest.days} if digest.days else set(range(7))
        while True:  # at most eight turns: today's time has passed, and a week goes round once
            if day.weekday() in weekdays:
                candidate = local_instant(day, at, zone)
                if candidate > after:
                    return candidate
            day += timedelta(days=1)
    assert digest.every is not None
    step = timedelta(seconds=digest.every)
    midnight = local_instant(day, time(0), zone)
    if midnight > after:  # cannot happen outside a zone whose midnight is skipped; be safe
        return midnight
    following = local_instant(day + timedelta(days=1), time(0), zone)
    steps = (after - midnight) // step + 1
    candidate = midnight + steps * step
    return candidate if candidate < following else following


def describe(digest: DigestConfig) -> str:
    """The schedule in words: ``daily 08:00 Asia/Seoul``, ``Mon, Thu 09:00 Europe/Berlin``,
    ``every 6h from 00:00 UTC``."""
    from ..units import format_duration

    if digest.at is None:
        assert digest.every is not None
        return f"every {format_duration(digest.every)} from 00:00 {digest.timezone}"
    days = "daily" if not digest.days or len(digest.days) == 7 else ", ".join(d.title() for d in digest.days)
    return f"{days} {digest.at} {digest.timezone}"


def describe_quiet(quiet: QuietHours) -> str:
    """Quiet hours in words: ``22:00-07:00 America/New_York``, ``Sat, Sun and 20:00-08:00 UTC``."""
    parts = []
    if quiet.days:
        parts.append(", ".join(d.title() for d in quiet.days))
    if quiet.start is not None:
        parts.append(f"{quiet.start}-{quiet.end}")
    return f"{' and '.join(parts)} {quiet.timezone}"


def quiet_until(quiet: QuietHours | None, now: datetime) -> datetime | None:
    """The instant the quiet time around ``now`` ends, or None when ``now`` is not quiet.

    Read on the wall clock of ``quiet.timezone``. The daily window runs from ``start`` to ``end``
    (``start`` after ``end`` spans midnight: 22:00 to 07:00) and ends at the first ``end`` after
    ``now``; a quiet day (``days``) ends at the next local midnight that starts a day not in ``days``.
    When one ends inside the other (Monday 00:00 in a 22:00-07:00 window), the later end counts.
    """
    if quiet is None:
        return None
    if now.tzinfo is None:
        raise ValueError("quiet_until needs an aware datetime")
    zone = ZoneInfo(quiet.timezone)
    t = now
    for _ in range(16):  # each turn moves past a window or a run of quiet days; a few turns settle it
        nxt = _window_end(quiet, t, zone) or _days_end(quiet, t, zone)
        if nxt is None:
            return None if t == now else t
        t = nxt
    return t


def _window_end(quiet: QuietHours, now: datetime, zone: ZoneInfo) -> datetime | None:
    if quiet.start is None or quiet.end is None:
        return None
    local = now.astimezone(zone)
    start, end, wall = _hhmm(quiet.start), _hhmm(quiet.end), local.time().replace(tzinfo=None)
    inside = start <= wall < end if start < end else (wall >= start or wall < end)
    if not inside:
        return None
    day = local.date()
    while True:  # the end time's second occurrence counts too, on the day clocks go back
        for fold in (0, 1):
            candidate = datetime.combine(day, end, tzinfo=zone).replace(fold=fold).astimezone(UTC)
            if candidate > now:
                return candidate
        day += timedelta(days=1)


def _days_end(quiet: QuietHours, now: datetime, zone: ZoneInfo) -> datetime | None:
    if not quiet.days:
        return None
    quiet_days = {WEEKDAYS.index(d) for d in quiet.days}
    day = now.astimezone(zone).date()
    if day.weekday() not in quiet_days:
        return None
    while day.weekday() in quiet_days:  # fewer than seven: the config refuses a week without a day
        day += timedelta(days=1)
    return local_instant(day, time(0), zone)
