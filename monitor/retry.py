"""When to try again: pure functions shared by fetching and alert delivery."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["RETRYABLE_STATUS", "backoff", "parse_retry_after", "schedule_delay", "should_retry_status"]

# Statuses worth another try: the server is busy or a gateway failed; other 4xx will not change.
RETRYABLE_STATUS: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})


def should_retry_status(status: int) -> bool:
    return status in RETRYABLE_STATUS


def backoff(attempt: int, *, base: float = 0.5, cap: float = 30.0, jitter: float = 0.5,
            rng: random.Random | None = None) -> float:
    """Exponential backoff for attempt 1, 2, 3...: base * 2**(attempt-1), capped, with +-jitter share."""
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    r = rng.uniform(-jitter, jitter) if rng else random.uniform(-jitter, jitter)
    return max(0.0, delay * (1 + r))


def schedule_delay(schedule: Sequence[float], attempt: int, *, jitter: float = 0.1,
                   retry_after: float | None = None, rng: random.Random | None = None) -> float | None:
    """The wait before attempt number ``attempt + 1`` after ``attempt`` failures, from a fixed schedule
    (``schedule[0]`` is the first try's delay). None when the schedule is spent. A receiver's
    Retry-After is honoured when it asks for longer."""
    if attempt >= len(schedule):
        return None
    delay = schedule[attempt]
    if jitter and delay:
        delay *= 1 + (rng or random).uniform(0, jitter)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def parse_retry_after(value: str | None, *, now: datetime | None = None, cap: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    seconds: float | None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    if cap is not None:
        seconds = min(seconds, cap)
    return seconds
