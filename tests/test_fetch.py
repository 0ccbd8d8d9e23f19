"""The fetcher against a loopback server that misbehaves on request: every fault ends in its named
outcome; retries, Retry-After, caps, redirects, conditional GET, headers, cookies and proxies."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from monitor.config import FetchConfig, SourceConfig
from monitor.errors import FetchError
from monitor.fetch import Fetcher
from monitor.models import Page

from .faults import Fault, FaultServer, Seen, gzip_bomb

HTML = "<html><head><title>t</title></head><body><p>Hello, world.</p></body></html>"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer("127.0.0.1") as s:
        yield s


class Sleeps:
    """An injected sleep that records what it was asked and waits only a moment."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(0)


def make(*servers: FaultServer, sleep: Any = None, **cfg: Any) -> Fetcher:
    base: dict[str, Any] = {"per_host_delay": 0, "timeout": 2, "retries": 0, "deadline": 10}
    kwargs: dict[str, Any] = {"trusted_hosts": {s.host for s in servers}}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return Fetcher(FetchConfig.model_validate({**base, **cfg}), **kwargs)


def get(f: Fetcher, url: str, **kw: Any) -> Page | FetchError:
    async def go() -> Page | FetchError:
        async with f:
            try:
                return await f.fetch(url, **kw)
            except FetchError as exc:
                return exc
    return asyncio.run(go())


def fails(f: Fetcher, url: str, **kw: Any) -> FetchError:
    result = get(f, url, **kw)
    assert isinstance(result, FetchError), result
    return result


def ok(f: Fetcher, url: str, **kw: Any) -> Page:
    result = get(f, url, **kw)
    assert isinstance(result, Page), result
    return result


# ---------------------------------------------------------------------------- each fault, its outcome

FAULTS: dict[str, tuple[Fault, dict[str, Any], str, int | None, str]] = {
    # name: (what the server does, fetch config, outcome, status, a phrase of the message)
    "no answer": (Fault(delay=5), {"timeout": 0.3}, "timeout", None, "timed out"),
    "connection reset": (Fault(reset=True), {}, "connection_error", None, "connection failed"),
    "slow drip": (Fault(200, b"<p>" + b"x" * 400, {"content-type": "text/html"}, drip=0.02),
                  {"timeout": 1, "deadline": 0.5}, "timeout", None, "fetch.deadline"),
    "500": (Fault(500, b"oops"), {}, "http_error", 500, "HTTP 500"),
    "503": (Fault(503, b"busy"), {}, "http_error", 503, "HTTP 503"),
    "429": (Fault(429, b"slow down"), {}, "http_error", 429, "HTTP 429"),
    "404": (Fault(404, b"<h1>nope</h1>"), {}, "http_error", 404, "HTTP 404"),
    "410": (Fault(410, b"gone"), {}, "http_error", 410, "HTTP 410"),
    "oversized, declared": (Fault(200, b"x" * 5000, {"content-type": "text/html"}), {"max_bytes": 4096},
                            "too_large", 200, "larger than fetch.max_bytes"),
    "oversized, undeclared": (Fault(200, b"x" * 5000, {"content-type": "text/html"}, length=False),
                              {"max_bytes": 4096}, "too_large", 200, "larger than fetch.max_bytes"),
    "gzip bomb": (Fault(200, gzip_bomb(50_000_000), {"content-type": "text/html", "content-encoding": "gzip"}),
                  {"max_bytes": 1_000_000}, "too_large", None, "inflates past"),
    "gzip file bomb": (Fault(200, gzip_bomb(50_000_000), {"content-type": "application/x-gzip"}),
                       {"max_bytes": 1_000_000}, "too_large", None, "inflates past"),
    "binary, by type": (Fault(200, b"\x89PNG\r\n\x1a\n" + bytes(range(256)), {"content-type": "image/png"}), {},
                        "unsupported_type", 200, "image/png is not parsed"),
    "binary, mislabelled": (Fault(200, b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(200), {"content-type": "text/html"}), {},
                            "unsupported_type", 200, "binary"),
    "binary, generic type": (Fault(200, b"%PDF-1.7\n" + bytes(300), {"content-type": "application/octet-stream"}),
                             {}, "unsupported_type", 200, "binary"),
    "pdf": (Fault(200, b"%PDF-1.7", {"content-type": "application/pdf"}), {}, "unsupported_type", 200, "not parsed"),
    "not http": (Fault(302, b"", {"location": "ftp://files.example/x"}), {}, "invalid_url", None, "only http"),
    "bot check, header": (Fault(403, b"<html>...</html>", {"cf-mitigated": "challenge"}), {}, "consent_wall", 403,
                          "bot check"),
    "bot check, page": (Fault(503, b"<html><head><title>Just a moment...</title></head><body>"
                                   b"<script src='/cdn-cgi/challenge-platform/h/b/orchestrate/x.js'></script>"),
                        {}, "consent_wall", 503, "Cloudflare"),
}


@pytest.mark.parametrize("name", FAULTS)
def test_each_fault_ends_in_its_outcome(server: FaultServer, name: str) -> None:
    fault, cfg, outcome, status, phrase = FAULTS[name]
    url = server.route("/fault", fault)
    err = fails(make(server, **cfg), url)
    assert err.outcome == outcome, str(err)
    if status is not None:
        assert err.status == status
    assert phrase in str(err) and url in str(err)
    assert server.hits("/fault") == 1  # retries are off here


def test_a_redirect_loop_ends_after_max_redirects(server: FaultServer) -> None:
    server.route("/a", Fault(302, b"", {"location": "/b"}))
    server.route("/b", Fault(301, b"", {"location": server.url + "/a"}))
    err = fails(make(server, max_redirects=5), server.url + "/a")
    assert err.outcome == "too_many_redirects" and "more than 5 redirects" in str(err)
    assert server.hits("/a") + server.hits("/b") == 6


def test_redirects_are_followed_to_the_final_url(server: FaultServer) -> None:
    server.route("/old", Fault(301, b"", {"location": "/older"}))
    server.route("/older", Fault(308, b"", {"location": "/new?x=1"}))
    server.page("/new", HTML)
    page = ok(make(server), server.url + "/old")
    assert (page.url, page.final_url, page.status) == (server.url + "/old", server.url + "/new?x=1", 200)
    assert "Hello, world." in page.text


def test_content_encodings_within_the_cap(server: FaultServer) -> None:
    body = (HTML * 50).encode()
    raw_deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    server.route("/gz", Fault(200, gzip.compress(body), {"content-type": "text/html", "content-encoding": "gzip"}))
    server.route("/zlib", Fault(200, zlib.compress(body), {"content-type": "text/html", "content-encoding": "deflate"}))
    server.route("/raw", Fault(200, raw_deflate.compress(body) + raw_deflate.flush(),
                               {"content-type": "text/html", "content-encoding": "deflate"}))
    server.route("/sitemap.xml.gz", Fault(200, gzip.compress(b"<?xml version='1.0'?><urlset/>"),
                                          {"content-type": "application/x-gzip"}))
    for path in ("/gz", "/zlib", "/raw"):
        assert ok(make(server, max_bytes=len(body)), server.url + path).body == body, path
    assert ok(make(server), server.url + "/sitemap.xml.gz").text.endswith("<urlset/>")
    # One byte less room and each one is too large, after decompression.
    for path in ("/gz", "/zlib", "/raw"):
        assert fails(make(server, max_bytes=len(body) - 1), server.url + path).outcome == "too_large"
    truncated = gzip.compress(body)[:40]
    server.route("/broken", Fault(200, b"not gzip at all", {"content-type": "text/html", "content-encoding": "gzip"}))
    server.route("/short", Fault(200, truncated, {"content-type": "text/html", "content-encoding": "gzip"}))
    assert "broken gzip" in str(fails(make(server), server.url + "/broken"))
    assert isinstance(get(make(server), server.url + "/short"), Page)  # what arrived is kept


# ---------------------------------------------------------------------------- retries

def flaky(*faults: Fault) -> Any:
    """A route answering with each fault in turn, then the last one forever."""
    answers = list(faults)

    def route(seen: Seen) -> Fault:
        return answers.pop(0) if len(answers) > 1 else answers[0]
    return route


@pytest.mark.parametrize("first", [Fault(503), Fault(502), Fault(504), Fault(429), Fault(408), Fault(500),
                                   Fault(reset=True), Fault(delay=3)])
def test_transient_failures_are_retried(server: FaultServer, first: Fault) -> None:
    server.route("/p", flaky(first, Fault(200, HTML.encode(), {"content-type": "text/html"})))
    sleeps = Sleeps()
    page = ok(make(server, retries=2, timeout=0.3, sleep=sleeps), server.url + "/p")
    assert page.outcome == "ok" and server.hits("/p") == 2
    assert len(sleeps.asked) == 1 and 0.25 <= sleeps.asked[0] <= 0.75  # backoff(1): 0.5s +- 50% jitter


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 451])
def test_other_client_errors_are_not_retried(server: FaultServer, status: int) -> None:
    server.route("/p", Fault(status, b"no"))
    sleeps = Sleeps()
    err = fails(make(server, retries=3, sleep=sleeps), server.url + "/p")
    assert (err.outcome, err.status, server.hits("/p"), sleeps.asked) == ("http_error", status, 1, [])


def test_retries_back_off_exponentially_and_stop(server: FaultServer) -> None:
    server.route("/p", Fault(503))
    sleeps = Sleeps()
    err = fails(make(server, retries=3, sleep=sleeps), server.url + "/p")
    assert (err.outcome, err.status, server.hits("/p")) == ("http_error", 503, 4)
    assert [round(s / b, 2) <= 1.5 and round(s / b, 2) >= 0.5 for s, b in zip(sleeps.asked, (0.5, 1, 2), strict=True)] \
        == [True, True, True]


def test_retry_after_is_honoured(server: FaultServer) -> None:
    server.route("/p", flaky(Fault(503, b"", {"retry-after": "7"}), Fault(200, HTML.encode(), {"content-type": "text/html"})))
    sleeps = Sleeps()
    assert ok(make(server, retries=1, sleep=sleeps), server.url + "/p").outcome == "ok"
    assert sleeps.asked == [pytest.approx(7.0, abs=0.2)] and server.hits("/p") == 2


def test_retry_after_is_honoured_on_the_wire(server: FaultServer) -> None:
    """Without an injected clock: the server sees the second request a second after the first."""
    server.route("/p", flaky(Fault(429, b"", {"retry-after": "1"}), Fault(200, HTML.encode(), {"content-type": "text/html"})))
    assert ok(make(server, retries=1), server.url + "/p").outcome == "ok"
    first, second = (s.time for s in server.seen if s.path == "/p")
    assert second - first >= 0.95


def test_a_retry_after_beyond_the_cap_pauses_the_host(server: FaultServer) -> None:
    server.route("/busy", Fault(503, b"", {"retry-after": "3600"}))
    server.page("/other", HTML)
    other = FaultServer("127.0.0.3")
    other.page("/fine", HTML)
    sleeps = Sleeps()
    f = Fetcher(FetchConfig(per_host_delay=0, retries=3, retry_after_cap=60), trusted_hosts={server.host, other.host},
                sleep=sleeps)

    async def go() -> tuple[Any, Any, Any]:
        async with f:
            results = []
            for url in (server.url + "/busy", server.url + "/other", other.url + "/fine"):
                try:
                    results.append(await f.fetch(url))
                except FetchError as exc:
                    results.append(exc)
            return results[0], results[1], results[2]
    try:
        busy, paused, fine = asyncio.run(go())
    finally:
        other.stop()
    assert isinstance(busy, FetchError) and (busy.outcome, busy.status) == ("http_error", 503)
    assert isinstance(paused, FetchError) and paused.status == 503 and "pause of" in str(paused)
    assert isinstance(fine, Page)  # another host is not paused
    assert server.hits("/busy") == 1 and server.hits("/other") == 0 and sleeps.asked == []


def test_the_deadline_bounds_retries(server: FaultServer) -> None:
    server.route("/p", Fault(503, b"", {"retry-after": "4"}))
    sleeps = Sleeps()
    err = fails(make(server, retries=10, deadline=10, sleep=sleeps), server.url + "/p")
    assert err.status == 503 and server.hits("/p") == 3
    assert sleeps.asked == [pytest.approx(4.0, abs=0.2)] * 2  # a third wait would pass the deadline


# ---------------------------------------------------------------------------- conditional GET

def validated(etag: str, modified: str, body: bytes) -> Any:
    def route(seen: Seen) -> Fault:
        if seen.headers.get("if-none-match") == etag or seen.headers.get("if-modified-since") == modified:
            return Fault(304, b"", {"etag": etag})
        return Fault(200, body, {"content-type": "text/html", "etag": etag, "last-modified": modified})
    return route


def test_conditional_get(server: FaultServer) -> None:
    modified = "Tue, 30 Dec 2025 13:34:00 GMT"
    url = server.route("/l", validated('"v1"', modified, HTML.encode()))
    f = make(server)
    first = ok(f, url)
    assert (first.outcome, first.etag, first.last_modified) == ("ok", '"v1"', modified)
    again = ok(make(server), url, etag='"v1"')
    assert (again.outcome, again.status, again.body, again.text) == ("not_modified", 304, b"", "")
    assert ok(make(server), url, last_modified=modified).outcome == "not_modified"
    assert ok(make(server), url, etag='"v0"').outcome == "ok"
    sent = [s.headers.get("if-none-match") for s in server.seen if s.path == "/l"]
    assert sent == [None, '"v1"', None, '"v0"']


# ---------------------------------------------------------------------------- charsets

@pytest.mark.parametrize("body, ctype, expected", [
    ("<p>Café déjà vu</p>".encode("cp1252"), "text/html", "Café déjà vu"),  # no charset anywhere: detected
    ("<p>Café déjà vu</p>".encode("cp1252"), "text/html; charset=utf-8", "Café déjà vu"),  # header lies
    ("<p>Café déjà vu</p>".encode(), "text/html; charset=iso-8859-1", "Café déjà vu"),  # mislabelled UTF-8
    ("<p>Привет, мир! Как дела? Это тестовая страница новостей.</p>".encode("cp1251"), "text/html",
     "Привет, мир"),
    ("<meta charset='koi8-r'><p>Привет, мир</p>".encode("koi8-r"), "text/html", "Привет, мир"),
    ("Grüße".encode("utf-16"), "text/html", "Grüße"),  # a BOM
])
def test_wrong_or_missing_charset_still_gives_the_text(server: FaultServer, body: bytes, ctype: str,
                                                        expected: str) -> None:
    page = ok(make(server), server.route("/c", Fault(200, body, {"content-type": ctype})))
    assert expected in page.text


# ---------------------------------------------------------------------------- headers, cookies, proxies

def test_source_headers_and_cookies_go_to_the_source_site_only(server: FaultServer) -> None:
    elsewhere = FaultServer("127.0.0.3")
    try:
        elsewhere.page("/there", HTML)
        server.page("/here", HTML)
        server.route("/away", Fault(302, b"", {"location": elsewhere.url + "/there"}))
        source = SourceConfig(name="s", url=server.url + "/list", headers={"X-Token": "t0p"},
                              cookies={"CONSENT": "YES+1"})
        f = Fetcher(FetchConfig(per_host_delay=0, retries=0, headers={"X-Everyone": "1"}, cookies={"lang": "en"}),
                    trusted_hosts={server.host, elsewhere.host})

        async def go() -> None:
            async with f:
                await f.fetch(server.url + "/here", source=source)
                await f.fetch(server.url + "/away", source=source)
        asyncio.run(go())
    finally:
        elsewhere.stop()
    here = next(s for s in server.seen if s.path == "/here").headers
    there = next(s for s in elsewhere.seen if s.path == "/there").headers
    assert here["x-token"] == "t0p" and "CONSENT=YES+1" in here["cookie"] and "lang=en" in here["cookie"]
    assert here["x-everyone"] == "1" and here["user-agent"].startswith("monitor/")
    assert "x-token" not in there and "CONSENT" not in there.get("cookie", "")
    assert there["x-everyone"] == "1" and "lang=en" in there.get("cookie", "")


def test_a_cookie_a_site_sets_is_sent_back_to_it(server: FaultServer) -> None:
    """The jar reads only responses that set a cookie; what it learnt stays for later requests."""
    server.route("/consent", Fault(200, HTML.encode(), {"content-type": "text/html",
                                                          "set-cookie": "consent=yes; Path=/"}))
    server.page("/one", HTML)
    server.page("/two", HTML)
    f = Fetcher(FetchConfig(per_host_delay=0, retries=0, cookies={"lang": "en"}), trusted_hosts={server.host})

    async def go() -> None:
        async with f:
            for path in ("/one", "/consent", "/two"):
                await f.fetch(server.url + path)
    asyncio.run(go())
    sent = {s.path: s.headers.get("cookie", "") for s in server.seen}
    assert sent["/one"] == "lang=en"
    assert "consent=yes" in sent["/two"] and "lang=en" in sent["/two"]


def test_a_source_proxy_carries_its_requests(server: FaultServer) -> None:
    """The proxy is a loopback server too: it sees the request in absolute form; the target does not."""
    target = FaultServer("127.0.0.2")
    try:
        target.page("/article", "<p>direct</p>")
        server.page("/article", "<p>through the proxy</p>")  # the proxy answers itself
        source = SourceConfig(name="s", url=target.url + "/article", proxy=server.url)
        f = Fetcher(FetchConfig(per_host_delay=0, retries=0), trusted_hosts={server.host, target.host})

        async def go() -> Page:
            async with f:
                return await f.fetch(target.url + "/article", source=source)
        page = asyncio.run(go())
    finally:
        target.stop()
    assert "through the proxy" in page.text
    assert target.hits() == 0
    assert {s.path for s in server.seen} == {"/robots.txt", "/article"}
    assert all(s.host == target.netloc for s in server.seen)


def test_a_proxy_does_not_open_the_guard(server: FaultServer) -> None:
    unnamed = FaultServer("127.0.0.3")
    try:
        source = SourceConfig(name="s", url=server.url + "/list", proxy=server.url)
        f = Fetcher(FetchConfig(per_host_delay=0, retries=0), trusted_hosts={server.host})

        async def go() -> FetchError:
            async with f:
                with pytest.raises(FetchError) as info:
                    await f.fetch(unnamed.url + "/x", source=source)
                return info.value
        err = asyncio.run(go())
    finally:
        unnamed.stop()
    assert err.outcome == "blocked_address" and server.hits() == 0 and unnamed.hits() == 0


# ---------------------------------------------------------------------------- walls, counting

def test_a_redirect_to_a_consent_page_is_a_consent_wall(server: FaultServer) -> None:
    server.route("/article-1", Fault(302, b"", {"location": "/consent?continue=/article-1"}))
    server.page("/consent", "<p>We value your privacy. Accept all?</p>")
    err = fails(make(server), server.url + "/article-1")
    assert err.outcome == "consent_wall" and "consent wall" in str(err)


def test_outcomes_are_counted(server: FaultServer) -> None:
    server.page("/a", HTML)
    server.route("/b", Fault(404))
    server.route("/c", Fault(302, b"", {"location": "/c"}))
    f = make(server)

    async def go() -> None:
        async with f:
            for path in ("/a", "/a", "/b", "/c"):
                try:
                    await f.fetch(server.url + path)
                except FetchError:
                    pass
    asyncio.run(go())
    assert f.outcomes == {"ok": 2, "http_error": 1, "too_many_redirects": 1}
