"""robots.txt by RFC 9309 (read with protego, cached per origin), and politeness measured by the
server: one request at a time per host, the per-host delay and crawl-delay, the overall bound."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import FetchConfig
from monitor.errors import FetchError, StoreError
from monitor.fetch import Fetcher
from monitor.models import Page
from monitor.robots import RobotsAnswer, interpret
from monitor.store import Store

from .faults import Fault, FaultServer, InFlight

HTML = "<html><body><p>An article.</p></body></html>"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer("127.0.0.1") as s:
        s.page("/news/1", HTML)
        s.page("/news/2", HTML)
        s.page("/private/1", HTML)
        yield s


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fetch_all(f: Fetcher, urls: list[str], *, together: bool = False) -> list[Page | FetchError]:
    async def one(url: str) -> Page | FetchError:
        try:
            return await f.fetch(url)
        except FetchError as exc:
            return exc

    async def go() -> list[Page | FetchError]:
        async with f:
            if together:
                return list(await asyncio.gather(*(one(u) for u in urls)))
            return [await one(u) for u in urls]
    return asyncio.run(go())


def make(*servers: FaultServer, **cfg: Any) -> Fetcher:
    monotonic = cfg.pop("monotonic", None)
    base: dict[str, Any] = {"per_host_delay": 0, "timeout": 2, "retries": 0}
    extra = {"monotonic": monotonic} if monotonic else {}
    return Fetcher(FetchConfig.model_validate({**base, **cfg}), trusted_hosts={s.host for s in servers}, **extra)


def outcomes(results: list[Page | FetchError]) -> list[str]:
    return [r.outcome for r in results]


# ---------------------------------------------------------------------------- the rules (pure)

@pytest.mark.parametrize("answer, verdict", [
    (RobotsAnswer(200, b"User-agent: *\nDisallow: /private/\n"), "rules"),
    (RobotsAnswer(200, b""), "rules"),
    (RobotsAnswer(404), "allow_all"), (RobotsAnswer(410), "allow_all"), (RobotsAnswer(401), "allow_all"),
    (RobotsAnswer(403), "allow_all"),  # RFC 9309: any 4xx is "unavailable" (Google's old 403 rule is gone)
    (RobotsAnswer(429), "disallow_all"),  # except "too many requests": the server wants us to slow down
    (RobotsAnswer(500), "disallow_all"), (RobotsAnswer(503), "disallow_all"),
    (RobotsAnswer(None, error=FetchError("timed out", url="u", outcome="timeout")), "disallow_all"),
])
def test_rfc9309_reading_of_answers(answer: RobotsAnswer, verdict: str) -> None:
    robots = interpret(answer, "http://h/robots.txt")
    assert robots.verdict == verdict
    if answer.error is not None:
        assert robots.outcome == "timeout" and "timed out" in robots.reason


def test_rules_user_agents_and_sitemaps() -> None:
    text = (b"User-agent: *\nDisallow: /private/\nAllow: /private/open\n\nUser-agent: monitor\nDisallow: /nomonitor\n"
            b"Crawl-delay: 3\n\nSitemap: https://h.example/sitemap.xml\nSitemap: https://h.example/news.xml\n")
    robots = interpret(RobotsAnswer(200, text), "https://h.example/robots.txt")
    agent = "monitor/0.1 (+https://github.com/monitor-news/monitor)"
    assert robots.allows("https://h.example/private/x", "other-bot") is False
    assert robots.allows("https://h.example/private/open", "other-bot") is True
    assert robots.allows("https://h.example/nomonitor", agent) is False
    assert robots.allows("https://h.example/private/x", agent) is True  # its own group replaces '*'
    assert robots.crawl_delay(agent) == 3.0 and robots.crawl_delay("other-bot") == 0.0
    assert robots.sitemaps == ["https://h.example/sitemap.xml", "https://h.example/news.xml"]


# ---------------------------------------------------------------------------- on the wire

def test_a_disallowed_url_is_skipped_without_a_request(server: FaultServer) -> None:
    server.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    results = fetch_all(make(server), [server.url + "/private/1", server.url + "/news/1"])
    assert outcomes(results) == ["skipped_robots", "ok"]
    assert "disallowed by robots.txt" in str(results[0])
    assert server.hits("/private/1") == 0 and server.hits("/robots.txt") == 1


def test_robots_500_puts_the_host_off_limits(server: FaultServer) -> None:
    server.route("/robots.txt", Fault(500, b"oops"))
    results = fetch_all(make(server), [server.url + "/news/1", server.url + "/news/2"])
    assert outcomes(results) == ["skipped_robots", "skipped_robots"]
    assert "robots.txt answered HTTP 500" in str(results[0])
    assert server.hits("/news/1") == 0 and server.hits("/robots.txt") == 1  # asked once, not per page


@pytest.mark.parametrize("fault, outcome", [
    (Fault(reset=True), "connection_error"), (Fault(delay=3), "timeout"), (Fault(429, b""), "skipped_robots"),
    (Fault(404, b""), "ok"), (Fault(403, b""), "ok"),
])
def test_robots_unreachable_or_unavailable(server: FaultServer, fault: Fault, outcome: str) -> None:
    server.route("/robots.txt", fault)
    [result] = fetch_all(make(server, timeout=0.3), [server.url + "/news/1"])
    assert result.outcome == outcome
    assert server.hits("/news/1") == (1 if outcome == "ok" else 0)


def test_robots_redirects_are_followed(server: FaultServer) -> None:
    server.route("/robots.txt", Fault(301, b"", {"location": "/real-robots.txt"}))
    server.page("/real-robots.txt", "User-agent: *\nDisallow: /news/2\n", "text/plain")
    assert outcomes(fetch_all(make(server), [server.url + "/news/1", server.url + "/news/2"])) == ["ok", "skipped_robots"]


def test_robots_too_many_redirects_means_unavailable(server: FaultServer) -> None:
    server.route("/robots.txt", Fault(302, b"", {"location": "/robots.txt"}))
    assert outcomes(fetch_all(make(server), [server.url + "/news/1"])) == ["ok"]
    assert server.hits("/robots.txt") == 6


def test_robots_are_cached_for_a_day(server: FaultServer) -> None:
    server.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    clock = Clock()
    f = make(server, monotonic=clock)

    async def go() -> None:
        async with f:
            await f.fetch(server.url + "/news/1")
            clock.now += 3600
            await f.fetch(server.url + "/news/2")
            assert server.hits("/robots.txt") == 1
            clock.now += 86400
            await f.fetch(server.url + "/news/1")
            assert server.hits("/robots.txt") == 2
    asyncio.run(go())


def test_robots_errors_are_asked_again_sooner(server: FaultServer) -> None:
    server.route("/robots.txt", Fault(503, b""))
    clock = Clock()
    f = make(server, monotonic=clock)

    async def go() -> list[str]:
        out = []
        async with f:
            for step in (0, 60, 600):
                clock.now += step
                if step == 600:
                    server.routes.pop("/robots.txt")  # fixed now: 404, no rules
                try:
                    out.append((await f.fetch(server.url + "/news/1")).outcome)
                except FetchError as exc:
                    out.append(exc.outcome)
        return out
    assert asyncio.run(go()) == ["skipped_robots", "skipped_robots", "ok"]
    assert server.hits("/robots.txt") == 2


class WallClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_robots_answers_outlive_the_run_in_the_database(server: FaultServer, tmp_path: Path) -> None:
    """One-off runs minutes apart (a fresh fetcher each, one database) ask once a day; a server
    error is not kept (the next run asks again); a kept file still disallows what it disallows."""
    server.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    wall = WallClock()
    store = Store.open(tmp_path / "m.db", clock=wall)

    def run(*paths: str) -> list[str]:
        f = make(server)
        f.robots.memory = store
        return outcomes(fetch_all(f, [server.url + p for p in paths]))

    try:
        assert run("/news/1", "/private/1") == ["ok", "skipped_robots"]
        wall.now += timedelta(minutes=15)
        assert run("/news/2", "/private/1") == ["ok", "skipped_robots"]
        assert server.hits("/robots.txt") == 1  # the second run read it from the database
        wall.now += timedelta(days=1)
        server.route("/robots.txt", Fault(503, b""))
        assert run("/news/1") == ["skipped_robots"]  # a day on: asked again, and the host is down
        assert server.hits("/robots.txt") == 2
        server.routes.pop("/robots.txt")  # now a 404: no rules; the 503 was not kept
        assert run("/private/1") == ["ok"]
        assert server.hits("/robots.txt") == 3
        assert run("/private/1") == ["ok"] and server.hits("/robots.txt") == 3  # the 404 was kept
    finally:
        store.close()


def test_a_failing_robots_memory_costs_nothing_but_a_warning(server: FaultServer,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def recall_robots(self, origin: str) -> None:
            raise StoreError("disk I/O error")

        def remember_robots(self, origin: str, answer: RobotsAnswer) -> None:
            raise StoreError("database is locked")

    server.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    f = make(server)
    f.robots.memory = Broken()
    assert outcomes(fetch_all(f, [server.url + "/news/1", server.url + "/private/1"])) == ["ok", "skipped_robots"]
    assert "not read from the database: disk I/O error" in caplog.text
    assert "not kept in the database: database is locked" in caplog.text


def test_a_new_host_is_asked_for_robots_once_even_by_concurrent_fetches(server: FaultServer) -> None:
    server.route("/robots.txt", Fault(200, b"User-agent: *\nAllow: /\n", {"content-type": "text/plain"}, hold=0.1))
    urls = [server.url + f"/news/{i % 2 + 1}" for i in range(6)]
    assert set(outcomes(fetch_all(make(server, concurrency=6), urls, together=True))) == {"ok"}
    assert server.hits("/robots.txt") == 1


def test_robots_can_be_turned_off(server: FaultServer) -> None:
    server.page("/robots.txt", "User-agent: *\nDisallow: /\n", "text/plain")
    assert outcomes(fetch_all(make(server, respect_robots=False), [server.url + "/news/1"])) == ["ok"]
    assert server.hits("/robots.txt") == 0


# ---------------------------------------------------------------------------- politeness, measured by the server

def starts(server: FaultServer, prefix: str = "/news") -> list[float]:
    return sorted(s.time for s in server.seen if s.path.startswith(prefix))


def test_one_request_at_a_time_per_host(server: FaultServer) -> None:
    for i in range(8):
        server.route(f"/slow/{i}", Fault(200, HTML.encode(), {"content-type": "text/html"}, hold=0.05))
    results = fetch_all(make(server, concurrency=8), [server.url + f"/slow/{i}" for i in range(8)], together=True)
    assert set(outcomes(results)) == {"ok"}
    assert server.in_flight.peak == 1


def test_different_hosts_do_run_together_within_the_overall_bound() -> None:
    """The control for the test above: the same measurement sees overlap when it is allowed."""
    gauge = InFlight()
    servers = [FaultServer(f"127.0.0.{i}", in_flight=gauge) for i in range(1, 5)]
    try:
        urls = []
        for s in servers:
            for i in range(3):
                urls.append(s.route(f"/slow/{i}", Fault(200, HTML.encode(), {"content-type": "text/html"}, hold=0.1)))
        results = fetch_all(make(*servers, concurrency=2), urls, together=True)
        assert set(outcomes(results)) == {"ok"}
        assert gauge.peak == 2  # two hosts at once, never more than fetch.concurrency
        assert all(s.in_flight.peak <= 2 for s in servers)
    finally:
        for s in servers:
            s.stop()


def test_the_per_host_delay_spaces_requests(server: FaultServer) -> None:
    urls = [server.url + "/news/1", server.url + "/news/2", server.url + "/news/1"]
    assert set(outcomes(fetch_all(make(server, per_host_delay=0.15), urls, together=True))) == {"ok"}
    times = starts(server)
    assert len(times) == 3 and all(b - a >= 0.14 for a, b in zip(times, times[1:], strict=False))


def test_crawl_delay_wins_when_longer(server: FaultServer) -> None:
    server.page("/robots.txt", "User-agent: *\nCrawl-delay: 0.3\n", "text/plain")
    urls = [server.url + "/news/1", server.url + "/news/2"]
    assert set(outcomes(fetch_all(make(server, per_host_delay=0.05), urls, together=True))) == {"ok"}
    first, second = starts(server)
    assert second - first >= 0.29
