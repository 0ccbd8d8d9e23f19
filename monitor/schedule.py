"""When sources run: the first run after a start or a reload, the interval of a failing source, and
when a source counts as broken. Pure functions of a source's config, its state in the database and
the time; the daemon (:mod:`monitor.daemon`) applies them."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from .config import SourceConfig
from .units import format_duration

__all__ = ["JITTER_SHARE", "MAX_JITTER", "backoff_interval", "broken_reason", "first_run_time", "jitter_spread",
           "parse_time"]

JITTER_SHARE = 0.1  # of the interval, at most MAX_JITTER
MAX_JITTER = 60.0


def jitter_spread(every: float) -> float:
    return min(MAX_JITTER, every * JITTER_SHARE)


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def first_run_time(source: SourceConfig, last_attempt: str | None, now: datetime,
                   rng: random.Random | None = None, backoff_until: str | None = None) -> datetime | None:
    """When a source should first run after a start or a reload: one interval after its last run
    (or when its backoff ends), or now plus a little jitter if that time has passed (once, however
    many runs were missed), or now if it never ran. Crontab sources run now only if a fire time
    passed since their last run; otherwise (None) the crontab decides."""
    jitter = timedelta(seconds=(rng or random).uniform(0, jitter_spread(source.every)))
    last, until = parse_time(last_attempt), parse_time(backoff_until)
    if source.cron:
        if last is None:
            return None
        missed = CronTrigger.from_crontab(source.cron, timezone=source.timezone).get_next_fire_time(None, last)
        due = missed if missed is not None and missed <= now else None
        if until is not None and until > now:
            return until
        return now + jitter if due else None
    if last is None:
        return now + jitter
    due = last + timedelta(seconds=source.every)
    if until is not None:
        due = max(due, until)
    return now + jitter if due <= now else due


def backoff_interval(every: float, failures: int, cap: float) -> float:
    """The interval of a source that failed ``failures`` runs in a row: every x 2^failures, at most
    ``cap`` (and never less than ``every``)."""
    if failures <= 0:
        return every
    return max(every, min(every * 2.0 ** min(failures, 40), cap))


def broken_reason(source: SourceConfig, state: Mapping[str, Any], now: datetime,
                  watched_since: str | None) -> str | None:
    """Why a source counts as broken, or None: it failed ``alert_after_failures`` runs in a row, or
    no new article came for longer than ``expect_every`` (the site changed, answers with empty pages
    or a consent wall). ``watched_since`` (its first fetch) counts when it never had an article."""
    failures = int(state.get("consecutive_failures") or 0)
    if failures >= source.alert_after_failures:
        since = (state.get("failing_since") or "")[:19].replace("T", " ")
        return f"failed {failures} runs in a row (since {since} UTC): {state.get('last_error') or 'unknown error'}"
    if source.expect_every:
        ref = parse_time(state.get("last_new")) or parse_time(watched_since)
        if ref is not None:
            age = (now - ref).total_seconds()
            if age > source.expect_every:
                what = "no new article" if state.get("last_new") else "no article yet"
                return (f"{what} for {format_duration(round(age, 1) if age < 60 else round(age))} (expected one every "
                        f"{format_duration(source.expect_every)})")
    return None
