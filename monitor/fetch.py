"""The HTTP client: politeness, robots.txt, conditional GET, retries, caps and the address guard.

One :class:`Fetcher` owns one shared ``httpx.AsyncClient`` (one more per proxy named in the
config). Every request waits for its host's turn (one request at a time per host, then the
host's delay: the larger of ``per_host_delay`` and robots.txt's crawl-delay, or longer when the
host asked for a pause with ``Retry-After``) and for a slot of the overall concurrency.

Every fetch ends in one named outcome (:data:`monitor.models.FETCH_OUTCOMES`): a :class:`Page`
for ``ok``/``not_modified``, a :class:`~monitor.errors.FetchError` carrying the outcome otherwise;
:attr:`Fetcher.outcomes` counts them. ``fetch.deadline`` bounds the time one fetch spends on the
network and in retry waits (waiting for the host's turn is politeness, not counted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from .config import FetchConfig, SourceConfig
from .encoding import decode
from .errors import FetchError
from .guard import AddressBlocked, GuardedTransport, Resolver, check_host, site_of, system_resolver
from .models import Page
from .retry import backoff, parse_retry_after, should_retry_status
from .robots import ROBOTS_MAX_BYTES, ROBOTS_MAX_REDIRECTS, Robots, RobotsAnswer, RobotsCache
from .walls import bot_check, consent_redirect

try:  # Intel's ISA-L: the same API as zlib, inflating about 2.5x faster (0.15 ms for a 175 KB page, not 0.36)
    from isal import isal_zlib as zlib
except ImportError:  # pragma: no cover - a platform without its wheels: the standard library's
    import zlib  # type: ignore[no-redef]
InflateError: type[Exception] = zlib.error  # type: ignore[assignment]  # (isal's stub types it as an instance)

__all__ = ["BAD_PORTS", "PARSEABLE_TYPES", "REDIRECT_STATUS", "TRANSIENT_OUTCOMES", "Fetcher", "GateState",
           "host_of", "is_transient"]

log = logging.getLogger(__name__)

# Content types worth parsing (data: the extractor and discovery read these). Generic types are
# let through for sitemaps served as files, and the body is sniffed for binary content after.
PARSEABLE_TYPES: tuple[str, ...] = (
    "text/html", "application/xhtml+xml", "text/xml", "application/xml", "application/rss+xml",
    "application/atom+xml", "application/rdf+xml", "application/feed+json", "application/json",
    "text/plain", "application/x-gzip", "application/gzip", "application/octet-stream",
)
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
# Ports no web page lives on (the Fetch standard's "bad ports"): a link there is refused.
BAD_PORTS: frozenset[int] = frozenset({
    1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104,
    109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515,
    526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049,
    3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
})
# Outcomes that may well end otherwise next time (so a listing is read again, not skipped by ETag).
TRANSIENT_OUTCOMES = frozenset({"timeout", "connection_error", "consent_wall"})
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,application/feed+json;q=0.9,*/*;q=0.8"


def is_transient(exc: FetchError) -> bool:
    return exc.outcome in TRANSIENT_OUTCOMES or (exc.outcome == "http_error" and exc.status in TRANSIENT_STATUS)


class _Jar(httpx.Cookies):
    """The client's cookie jar, which reads a response only when it sets a cookie (httpx builds a
    urllib request and response around every response otherwise: ~2% of a bulk run's CPU)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


def host_of(url: str) -> str:
    """The host a URL's politeness belongs to (lower case; empty for a URL without one)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


GateState = tuple[float, float, float, int | None]  # a _Gate to hand on: next_ok, crawl_delay, paused_until, status


@dataclass
class _Gate:
    """One host's turn: one request at a time, then a pause."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_ok: float = 0.0  # monotonic time before which no request may start
    crawl_delay: float = 0.0  # robots.txt's, for this host
    paused_until: float = 0.0  # the host asked for a pause (Retry-After)
    paused_status: int | None = None


@dataclass
class _Budget:
    """``fetch.deadline`` for one fetch: time on the network and in retry waits."""

    limit: float
    spent: float = 0.0

    def left(self) -> float:
        return self.limit - self.spent


class Fetcher:
    """Fetch pages politely. ``trusted_hosts`` are the hosts named in the config (never blocked by
    the address guard); ``transport`` replaces the guarded transport in tests; ``resolver``,
    ``sleep`` and ``monotonic`` are the DNS and the clock."""

    def __init__(self, cfg: FetchConfig, *, trusted_hosts: set[str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, resolver: Resolver = system_resolver,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.trusted_hosts = {h.lower().strip("[]") for h in (trusted_hosts or set())}
        self.outcomes: Counter[str] = Counter()
        self._resolver = resolver
        self._sleep = sleep
        self._monotonic = monotonic
        self._gates: dict[str, _Gate] = {}
        self._slots = asyncio.Semaphore(cfg.concurrency)
        # Requests in flight never exceed the slots (one per host at a time): a larger pool only makes
        # httpcore look at more idle sockets each time a response ends.
        self._limits = httpx.Limits(max_connections=cfg.concurrency, max_keepalive_connections=cfg.concurrency)
        self._transport = transport
        self._clients: dict[str | None, httpx.AsyncClient] = {}
        self.client = self._client(cfg.proxy)
        self.robots = RobotsCache(self._load_robots, monotonic=monotonic)

    def _trusted(self, host: str) -> bool:
        return self.cfg.allow_private_networks or host.lower().strip("[]") in self.trusted_hosts

    def _client(self, proxy: str | None) -> httpx.AsyncClient:
        client = self._clients.get(proxy)
        if client is None:
            transport = self._transport
            if transport is None and proxy is None:
                transport = GuardedTransport(trusted=self._trusted, resolver=self._resolver, limits=self._limits)
            client = httpx.AsyncClient(
                transport=transport, proxy=proxy if transport is None else None, follow_redirects=False,
                trust_env=False,  # no proxy from the environment, no .netrc credentials sent anywhere
                timeout=httpx.Timeout(self.cfg.timeout, connect=min(self.cfg.timeout, 10.0)),
                headers={"User-Agent": self.cfg.user_agent, "Accept-Encoding": "gzip, deflate", "Accept": ACCEPT,
                         **self.cfg.headers},
                limits=self._limits)
            # The client's ``cookies`` setter copies into a plain jar: set the attribute behind it.
            client._cookies = _Jar(self.cfg.cookies)  # noqa: SLF001
            self._clients[proxy] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ public
    async def fetch(self, url: str, *, source: SourceConfig | None = None, etag: str | None = None,
                    last_modified: str | None = None) -> Page:
        """GET one URL, following at most ``max_redirects`` redirects, each hop checked (scheme,
        port, address, robots.txt); retries transient failures with backoff. Raises FetchError
        with the outcome."""
        try:
            page = await self._fetch(url, source, etag, last_modified)
        except FetchError as exc:
            self.outcomes[exc.outcome] += 1
            raise
        self.outcomes[page.outcome] += 1
        return page

    async def robots_for(self, url: str) -> Robots:
        """The robots.txt rules of the URL's origin (cached), e.g. for its ``Sitemap:`` lines."""
        return await self.robots.get(url)

    async def _fetch(self, url: str, source: SourceConfig | None, etag: str | None,
                     last_modified: str | None) -> Page:
        budget = _Budget(self.cfg.deadline)
        client = self._client((source.proxy if source and source.proxy else None) or self.cfg.proxy)
        current = url
        for _hop in range(self.cfg.max_redirects + 1):
            try:
                await self._check_url(current)
                if self.cfg.respect_robots:
                    await self._check_robots(current, client)
                first = current == url
                headers = self._headers(current, source, etag if first else None, last_modified if first else None)
                response, body = await self._get_with_retries(current, headers, budget, client)
                if response.status_code in REDIRECT_STATUS and response.headers.get("location"):
                    current = urljoin(current, response.headers["location"].strip())
                    continue
                return self._page(url, current, response, body)
            except FetchError as exc:
                if current == url:
                    raise
                reason = str(exc).removeprefix(f"{exc.url}: ")
                raise FetchError(f"{reason} (redirected from {url})", url=exc.url, outcome=exc.outcome,
                                 status=exc.status) from None
        raise FetchError(f"more than {self.cfg.max_redirects} redirects", url=url, outcome="too_many_redirects")

    async def _check_url(self, url: str) -> None:
        """Scheme and port for every hop; for a host the config does not name, the address too
        (again on connect, where it counts; here so that robots.txt is not asked for first)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"only http and https URLs are fetched ({parts.scheme or 'no scheme'})",
                             url=url, outcome="invalid_url")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise FetchError("the URL has an invalid port", url=url, outcome="invalid_url") from None
        if self._trusted(parts.hostname):
            return
        if port in BAD_PORTS:
            raise FetchError(f"port {port} is not a web port", url=url, outcome="blocked_address")
        try:
            await check_host(parts.hostname, port, self._resolver, min(self.cfg.timeout, 10.0))
        except AddressBlocked as exc:
            raise FetchError(str(exc), url=url, outcome="blocked_address") from None
        except httpcore.ConnectError as exc:  # the name does not resolve
            raise FetchError(f"connection failed ({exc})", url=url, outcome="connection_error") from None

    async def _check_robots(self, url: str, client: httpx.AsyncClient) -> None:
        robots = await self.robots.get(url, lambda robots_url: self._load_robots(robots_url, client))
        if robots.verdict == "disallow_all":
            raise FetchError(robots.reason, url=url, outcome=robots.outcome)
        if not robots.allows(url, self.cfg.user_agent):
            raise FetchError("disallowed by robots.txt", url=url, outcome="skipped_robots")
        self._gate(url).crawl_delay = robots.crawl_delay(self.cfg.user_agent)

    def _headers(self, url: str, source: SourceConfig | None, etag: str | None,
                 last_modified: str | None) -> dict[str, str]:
        """Per-source headers and cookies go to the source's own site only (never to another site
        a link or redirect leads to); the global ones are on the client."""
        headers: dict[str, str] = {}
        if source is not None and (source.headers or source.cookies):
            if site_of(urlsplit(url).netloc) == site_of(urlsplit(source.url).netloc):
                headers.update(source.headers)
                if source.cookies:
                    jar = {**self.cfg.cookies, **source.cookies}
                    headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return headers

    # ------------------------------------------------------------------ one request, retried
    async def _get_with_retries(self, url: str, headers: Mapping[str, str], budget: _Budget,
                                client: httpx.AsyncClient) -> tuple[httpx.Response, bytes]:
        attempt = 0
        while True:
            attempt += 1
            try:
                response, body = await self._request(url, headers, budget, client)
            except FetchError as exc:
                if exc.outcome not in ("timeout", "connection_error") or attempt > self.cfg.retries:
                    raise
                delay, reason = backoff(attempt), exc.outcome
                if delay >= budget.left():
                    raise
            else:
                status = response.status_code
                if not should_retry_status(status):
                    return response, body
                wish = parse_retry_after(response.headers.get("retry-after"))
                if wish is not None:
                    self._pause(url, wish, status)
                if attempt > self.cfg.retries or (wish is not None and wish > self.cfg.retry_after_cap):
                    return response, body
                delay, reason = (wish if wish is not None else backoff(attempt)), f"HTTP {status}"
                if delay >= budget.left():
                    return response, body
                if wish is not None:  # the host's pause holds the next request back (in _request)
                    log.info("retrying after %.1fs (Retry-After) after %s", delay, reason, extra={"url": url})
                    budget.spent += delay
                    continue
            log.info("retrying in %.1fs after %s", delay, reason, extra={"url": url})
            budget.spent += delay
            await self._sleep(delay)

    def politeness(self, hosts: Collection[str] | None = None) -> tuple[dict[str, GateState], dict[str, Robots]]:
        """Each host's turn and pause, and the robots.txt answers in hand (of ``hosts``, or all), for
        the next process that fetches these hosts."""
        gates = {host: (g.next_ok, g.crawl_delay, g.paused_until, g.paused_status)
                 for host, g in self._gates.items() if hosts is None or host in hosts}
        return gates, self.robots.answers(None if hosts is None else lambda origin: host_of(origin) in hosts)

    def take_politeness(self, gates: dict[str, GateState], robots: dict[str, Robots]) -> None:
        """Take over what another process knew of these hosts: a request never starts before the
        host's turn, robots.txt is not asked for again."""
        for host, (next_ok, crawl_delay, paused_until, paused_status) in gates.items():
            gate = self._gates.setdefault(host, _Gate())
            gate.next_ok = max(gate.next_ok, next_ok)
            gate.crawl_delay = crawl_delay
            if paused_until > gate.paused_until:
                gate.paused_until, gate.paused_status = paused_until, paused_status
        self.robots.adopt(robots)

    def _gate(self, url: str) -> _Gate:
        host = (urlsplit(url).hostname or "").lower()
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = _Gate()
        return gate

    def _pause(self, url: str, seconds: float, status: int) -> None:
        """The host asked for a pause (Retry-After): every request to it waits, or fails at once
        when the pause is longer than ``retry_after_cap``."""
        gate = self._gate(url)
        until = self._monotonic() + seconds
        if until > gate.paused_until:
            gate.paused_until, gate.paused_status = until, status

    async def _request(self, url: str, headers: Mapping[str, str], budget: _Budget,
                       client: httpx.AsyncClient) -> tuple[httpx.Response, bytes]:
        gate = self._gate(url)
        async with gate.lock:
            now = self._monotonic()
            pause = gate.paused_until - now
            if pause > self.cfg.retry_after_cap:
                raise FetchError(f"the host asked for a pause of {pause:.0f}s (Retry-After), longer than "
                                 f"fetch.retry_after_cap", url=url, outcome="http_error", status=gate.paused_status)
            wait = max(gate.next_ok - now, pause)
            if wait > 0:
                await self._sleep(wait)
            async with self._slots:
                started = self._monotonic()
                try:
                    left = budget.left()
                    if left <= 0:
                        raise TimeoutError
                    async with asyncio.timeout(left):  # no extra task per request, unlike wait_for
                        return await self._stream(url, headers, client)
                except TimeoutError:
                    raise FetchError(f"no complete answer within fetch.deadline ({self.cfg.deadline:g}s)",
                                     url=url, outcome="timeout") from None
                except httpx.TimeoutException as exc:
                    raise FetchError(f"timed out ({type(exc).__name__})", url=url, outcome="timeout") from None
                except AddressBlocked as exc:
                    raise FetchError(str(exc), url=url, outcome="blocked_address") from None
                except httpx.InvalidURL as exc:
                    raise FetchError(f"invalid URL: {exc}", url=url, outcome="invalid_url") from None
                except httpx.TransportError as exc:
                    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    raise FetchError(f"connection failed ({detail})", url=url, outcome="connection_error") from None
                finally:
                    end = self._monotonic()
                    budget.spent += end - started
                    gate.next_ok = max(gate.next_ok, end + max(self.cfg.per_host_delay, gate.crawl_delay))

    async def _stream(self, url: str, headers: Mapping[str, str],
                      client: httpx.AsyncClient) -> tuple[httpx.Response, bytes]:
        limit = self.cfg.max_bytes
        request = client.build_request("GET", url, headers=headers)
        response = await client.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "").strip()
            if declared.isdigit() and int(declared) > limit:
                raise FetchError(f"body of {int(declared):,} bytes is larger than fetch.max_bytes ({limit:,})",
                                 url=url, outcome="too_large", status=response.status_code)
            encoding = response.headers.get("content-encoding", "").lower().strip()
            inflater = _Inflater(encoding, limit, url) if encoding in ("gzip", "x-gzip", "deflate") else None
            chunks: list[bytes] = []
            raw_size = size = 0
            async for raw in response.aiter_raw():
                raw_size += len(raw)
                if raw_size > limit:
                    raise FetchError(f"body larger than fetch.max_bytes ({limit:,})", url=url,
                                     outcome="too_large", status=response.status_code)
                data = inflater.feed(raw, limit - size) if inflater is not None else raw
                size += len(data)
                chunks.append(data)
            if inflater is not None:
                tail = inflater.end(limit - size)
                size += len(tail)
                chunks.append(tail)
            return response, b"".join(chunks)
        finally:
            await response.aclose()

    # ------------------------------------------------------------------ the answer
    def _page(self, url: str, final_url: str, response: httpx.Response, body: bytes) -> Page:
        status = response.status_code
        now = datetime.now(UTC)
        ctype = response.headers.get("content-type", "")
        etag = response.headers.get("etag")
        modified = response.headers.get("last-modified")
        if status == 304:
            return Page(url, final_url, status, ctype, b"", "", "", etag, modified, now, "not_modified")
        check = bot_check(status, response.headers, body[:60_000].decode("utf-8", "replace")
                          if status != 200 or len(body) < 8_000 else "")
        if check:
            raise FetchError(f"{check} came instead of the page", url=final_url, outcome="consent_wall",
                             status=status)
        if status >= 400 or status < 200:
            raise FetchError(f"HTTP {status} {response.reason_phrase}".strip(), url=final_url,
                             outcome="http_error", status=status)
        wall = consent_redirect(url, final_url)
        if wall:
            raise FetchError(f"{wall} came instead of the page", url=final_url, outcome="consent_wall",
                             status=status)
        mime = ctype.split(";", 1)[0].strip().lower()
        if mime and mime not in PARSEABLE_TYPES and not mime.endswith(("+xml", "+json")):
            raise FetchError(f"content type {mime} is not parsed", url=final_url, outcome="unsupported_type",
                             status=status)
        if body[:2] == b"\x1f\x8b":  # a gzip file (sitemap.xml.gz): inflate it, within the cap
            body = _gunzip(body, self.cfg.max_bytes, final_url)
        if _looks_binary(body):
            raise FetchError("the body is binary, not text", url=final_url, outcome="unsupported_type",
                             status=status)
        text, encoding = decode(body, ctype)
        return Page(url, final_url, status, ctype, body, text, encoding, etag, modified, now, "ok")

    # ------------------------------------------------------------------ robots.txt
    async def _load_robots(self, robots_url: str, client: httpx.AsyncClient | None = None) -> RobotsAnswer:
        """GET robots.txt through the same gates, guard and proxy, following up to five redirects."""
        client = client or self.client
        budget = _Budget(self.cfg.deadline)
        current = robots_url
        try:
            for _hop in range(ROBOTS_MAX_REDIRECTS + 1):
                await self._check_url(current)
                response, body = await self._request(current, {}, budget, client)
                if response.status_code in REDIRECT_STATUS and response.headers.get("location"):
                    current = urljoin(current, response.headers["location"].strip())
                    continue
                return RobotsAnswer(response.status_code, body[:ROBOTS_MAX_BYTES])
        except FetchError as exc:
            return RobotsAnswer(None, error=exc)
        return RobotsAnswer(404)  # RFC 9309: more than five redirects: unavailable


class _Inflater:
    """gzip/deflate as it streams in, never producing more than the room left under the cap."""

    def __init__(self, encoding: str, limit: int, url: str) -> None:
        self.encoding = encoding
        self.limit = limit
        self.url = url
        self.z = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, by the header
        self.started = False

    def _too_large(self) -> FetchError:
        return FetchError(f"body inflates past fetch.max_bytes ({self.limit:,})", url=self.url, outcome="too_large")

    def feed(self, data: bytes, room: int) -> bytes:
        try:
            out = self.z.decompress(data, room + 1)
        except InflateError as exc:
            if self.encoding == "deflate" and not self.started:  # raw deflate, without the zlib header
                self.z = zlib.decompressobj(-zlib.MAX_WBITS)
                self.started = True
                return self.feed(data, room)
            raise FetchError(f"broken {self.encoding} body: {exc}", url=self.url, outcome="connection_error") from None
        self.started = True
        if len(out) > room or self.z.unconsumed_tail:
            raise self._too_large()
        return out

    def end(self, room: int) -> bytes:
        out = self.z.flush()
        if len(out) > room:
            raise self._too_large()
        return out


def _gunzip(body: bytes, limit: int, url: str) -> bytes:
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        data = inflater.decompress(body, limit + 1)
    except InflateError as exc:
        raise FetchError(f"broken gzip file: {exc}", url=url, outcome="unsupported_type") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise FetchError(f"gzip file inflates past fetch.max_bytes ({limit:,})", url=url, outcome="too_large")
    return data


BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"RIFF", b"OggS", b"\x7fELF")


def _looks_binary(body: bytes) -> bool:
    head = body[:1024]
    if not head or head.startswith((b"\xff\xfe", b"\xfe\xff")):  # empty, or UTF-16 with its BOM
        return False
    return b"\x00" in head or head.startswith(BINARY_MAGIC)
