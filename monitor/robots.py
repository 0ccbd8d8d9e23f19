"""robots.txt by RFC 9309, read with protego and cached per origin.

What the answer to ``GET /robots.txt`` means (section 2.3.1):

- 2xx: the rules in it (protego reads them); an empty or unreadable file allows everything;
- 3xx: followed for up to five hops by the fetcher; more than that: "unavailable", allows all;
- 4xx: "unavailable", allows all; except 429 Too Many Requests, which is the server asking us to
  slow down, so it is treated like a server error (as Google does);
- 5xx: "unreachable", everything disallowed, asked again after ``ROBOTS_ERROR_TTL``;
- no answer (timeout, refused, reset): also everything disallowed; the fetch says why, with the
  network outcome (``timeout``, ``connection_error``, ``blocked_address``).

Answers are kept for a day (``ROBOTS_TTL``), errors for ten minutes. One load at a time per origin:
concurrent fetches of a new host wait for the same answer instead of asking twice. With a
:class:`RobotsMemory` (the store), answers (not errors) are also kept in the database for the rest
of their day, so one-off runs a few minutes apart (``monitor fetch`` from cron) ask once a day too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import urlsplit

from protego import Protego

from .errors import FetchError, StoreError

__all__ = ["ROBOTS_ERROR_TTL", "ROBOTS_MAX_BYTES", "ROBOTS_TTL", "Robots", "RobotsAnswer", "RobotsCache",
           "RobotsMemory", "interpret", "origin_of"]

log = logging.getLogger(__name__)

ROBOTS_TTL = 86400.0
ROBOTS_ERROR_TTL = 600.0
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: parse at least 500 KiB
ROBOTS_MAX_REDIRECTS = 5
SLOW_DOWN_STATUS = frozenset({429})  # a 4xx that means "not now", not "no file"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@dataclass(frozen=True, slots=True)
class RobotsAnswer:
    """What asking for robots.txt gave: a status and body, or the error that stopped it."""

    status: int | None
    body: bytes = b""
    error: FetchError | None = None


@dataclass(slots=True)
class Robots:
    """The rules for one origin."""

    verdict: Literal["rules", "allow_all", "disallow_all"]
    reason: str
    outcome: str = "skipped_robots"  # what a disallowed fetch ends in
    parser: Protego | None = None
    expires: float = 0.0
    sitemaps: list[str] = field(default_factory=list)

    def allows(self, url: str, agent: str) -> bool:
        if self.verdict == "disallow_all":
            return False
        if self.parser is None:
            return True
        return bool(self.parser.can_fetch(url, agent))

    def crawl_delay(self, agent: str) -> float:
        if self.parser is None:
            return 0.0
        delay = self.parser.crawl_delay(agent)
        return float(delay) if delay else 0.0


def interpret(answer: RobotsAnswer, robots_url: str) -> Robots:
    """RFC 9309's reading of one answer (pure: no I/O, no clock; ``expires`` is set by the cache)."""
    if answer.error is not None:
        return Robots("disallow_all", f"robots.txt could not be fetched, so nothing is: {answer.error}",
                      outcome=answer.error.outcome)
    status = answer.status or 0
    if 200 <= status < 300:
        text = answer.body[:ROBOTS_MAX_BYTES].decode("utf-8", "replace")
        try:
            parser = Protego.parse(text)
        except Exception as exc:  # noqa: BLE001 - a file protego cannot read states no rules
            log.warning("robots.txt unreadable (%s): no rules", exc, extra={"url": robots_url})
            return Robots("allow_all", "robots.txt is unreadable")
        return Robots("rules", "robots.txt rules", parser=parser, sitemaps=list(parser.sitemaps))
    if status in SLOW_DOWN_STATUS or status >= 500:
        return Robots("disallow_all", f"robots.txt answered HTTP {status}: the host is off limits for now")
    return Robots("allow_all", f"robots.txt answered HTTP {status}: no rules")


Loader = Callable[[str], Awaitable[RobotsAnswer]]


class RobotsMemory(Protocol):
    """Where answers outlive the process (:class:`~monitor.store.Store`); both methods raise
    :class:`~monitor.errors.StoreError` when the database fails."""

    def recall_robots(self, origin: str) -> tuple[RobotsAnswer, float] | None:
        """The answer last kept for ``origin`` and its age in seconds, if any."""

    def remember_robots(self, origin: str, answer: RobotsAnswer) -> None: ...


def lasting(answer: RobotsAnswer) -> bool:
    """Worth keeping for a day: a file (2xx) or a "no file" (4xx other than 429); not an error."""
    status = answer.status or 0
    return answer.error is None and 200 <= status < 500 and status not in SLOW_DOWN_STATUS


class RobotsCache:
    """Robots per origin; ``load(robots_url)`` asks the server (the fetcher follows redirects)."""

    def __init__(self, load: Loader, *, monotonic: Callable[[], float] = time.monotonic,
                 ttl: float = ROBOTS_TTL, error_ttl: float = ROBOTS_ERROR_TTL) -> None:
        self._load = load
        self._monotonic = monotonic
        self.ttl = ttl
        self.error_ttl = error_ttl
        self._entries: dict[str, Robots] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.memory: RobotsMemory | None = None  # set by the owner of a store

    def answers(self, keep: Callable[[str], bool] | None = None) -> dict[str, Robots]:
        """The answers in hand by origin (those ``keep`` accepts), to hand to another process."""
        return {origin: entry for origin, entry in self._entries.items() if keep is None or keep(origin)}

    def adopt(self, answers: dict[str, Robots]) -> None:
        """Take over another process's answers; an answer in hand here is kept."""
        for origin, entry in answers.items():
            self._entries.setdefault(origin, entry)

    def _recall(self, origin: str) -> tuple[RobotsAnswer, float] | None:
        if self.memory is None:
            return None
        try:
            kept = self.memory.recall_robots(origin)
        except StoreError as exc:  # the database is a help here, never a reason to fail
            log.warning("robots.txt not read from the database: %s", exc, extra={"url": origin + "/robots.txt"})
            return None
        return kept if kept is not None and 0 <= kept[1] < self.ttl else None

    def _remember(self, origin: str, answer: RobotsAnswer) -> None:
        if self.memory is None or not lasting(answer):
            return
        try:
            self.memory.remember_robots(origin, answer)
        except StoreError as exc:
            log.warning("robots.txt not kept in the database: %s", exc, extra={"url": origin + "/robots.txt"})

    async def get(self, url: str, load: Loader | None = None) -> Robots:
        """The rules for the URL's origin; ``load`` replaces the cache's loader for this call (the
        fetcher passes one that goes through the asking source's proxy)."""
        origin = origin_of(url)
        entry = self._entries.get(origin)
        if entry is not None and entry.expires > self._monotonic():
            return entry
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            entry = self._entries.get(origin)
            if entry is not None and entry.expires > self._monotonic():
                return entry  # another task loaded it while this one waited
            robots_url = origin + "/robots.txt"
            kept = self._recall(origin)
            if kept is not None:  # asked less than a day ago, by this or another process
                entry = interpret(kept[0], robots_url)
                entry.expires = self._monotonic() + self.ttl - kept[1]
                self._entries[origin] = entry
                return entry
            answer = await (load or self._load)(robots_url)
            entry = interpret(answer, robots_url)
            if entry.verdict == "disallow_all":
                log.warning("%s", entry.reason, extra={"url": robots_url})
            entry.expires = self._monotonic() + (self.error_ttl if entry.verdict == "disallow_all" else self.ttl)
            self._entries[origin] = entry
            self._remember(origin, answer)
            return entry
