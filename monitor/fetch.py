"""The HTTP client: politeness, robots.txt, conditional GET, retries, caps and the address guard.

One :class:`Fetcher` owns one shared ``httpx.AsyncClient``. Every request waits for its host's
turn (one request at a time per host, then the host's delay: the larger of the config's
``per_host_delay`` and robots.txt's crawl-delay) and for a slot of the overall concurrency.
Every fetch ends in one named outcome (:data:`monitor.models.FETCH_OUTCOMES`): a :class:`Page`
for ``ok``/``not_modified``, a :class:`~monitor.errors.FetchError` carrying the outcome otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from .config import FetchConfig, SourceConfig
from .encoding import decode
from .errors import FetchError
from .guard import AddressBlocked, GuardedTransport, Resolver, system_resolver
from .models import Page
from .retry import backoff, parse_retry_after, should_retry_status

__all__ = ["PARSEABLE_TYPES", "Fetcher", "UrlState"]

log = logging.getLogger(__name__)

# Content types worth parsing (data: the extractor and discovery read these).
PARSEABLE_TYPES: tuple[str, ...] = (
    "text/html", "application/xhtml+xml", "text/xml", "application/xml", "application/rss+xml",
    "application/atom+xml", "application/rdf+xml", "application/feed+json", "application/json",
    "text/plain", "application/x-gzip", "application/gzip", "application/octet-stream",
)
ROBOTS_TTL = 86400.0
ROBOTS_ERROR_TTL = 600.0  # an unreachable or failing robots.txt is asked again sooner
ROBOTS_MAX_BYTES = 500_000
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
UrlState = Callable[[str], Awaitable[tuple[str | None, str | None]] | tuple[str | None, str | None]]


@dataclass
class _Host:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_ok: float = 0.0  # monotonic time before which no request may start
    robots: Protego | None = None
    robots_allow_all: bool | None = None  # True: 4xx robots; False: 5xx or unreachable
    robots_error: FetchError | None = None  # robots.txt could not be reached at all
    robots_expires: float = 0.0


class Fetcher:
    """Fetch pages politely. ``trusted_hosts`` are the hosts named in the config (never blocked by
    the address guard); ``transport`` replaces the guarded transport in tests."""

    def __init__(self, cfg: FetchConfig, *, trusted_hosts: set[str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, resolver: Resolver = system_resolver,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.trusted_hosts = {h.lower() for h in (trusted_hosts or set())}
        self._sleep = sleep
        self._monotonic = monotonic
        self._hosts: dict[str, _Host] = {}
        self._slots = asyncio.Semaphore(cfg.concurrency)
        limits = httpx.Limits(max_connections=cfg.concurrency * 2, max_keepalive_connections=cfg.concurrency * 2)
        if transport is None and not cfg.proxy:
            transport = GuardedTransport(trusted=self._trusted, resolver=resolver, limits=limits)
        self.client = httpx.AsyncClient(
            transport=transport, proxy=cfg.proxy if transport is None else None, follow_redirects=False,
            timeout=httpx.Timeout(cfg.timeout, connect=min(cfg.timeout, 10.0)),
            headers={"User-Agent": cfg.user_agent, "Accept-Encoding": "gzip, deflate",
                     "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                     **cfg.headers},
            cookies=cfg.cookies, limits=limits)

    def _trusted(self, host: str) -> bool:
        return self.cfg.allow_private_networks or host.lower().strip("[]") in self.trusted_hosts

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ public
    async def fetch(self, url: str, *, source: SourceConfig | None = None, etag: str | None = None,
                    last_modified: str | None = None) -> Page:
        """GET one URL, following at most ``max_redirects`` redirects, each hop checked; retries
        transient failures with backoff. Raises FetchError with the outcome."""
        started = self._monotonic()
        deadline = started + self.cfg.deadline
        current = url
        for _hop in range(self.cfg.max_redirects + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchError(f"only http and https URLs are fetched ({parts.scheme or 'no scheme'})",
                                 url=current, outcome="invalid_url")
            if self.cfg.respect_robots and not await self._robots_allow(current, source, deadline):
                raise FetchError("disallowed by robots.txt", url=current, outcome="skipped_robots")
            response, body = await self._get_with_retries(current, source, deadline,
                                                          etag if current == url else None,
                                                          last_modified if current == url else None)
            if response.status_code in REDIRECT_STATUS and "location" in response.headers:
                current = urljoin(current, response.headers["location"])
                continue
            return self._page(url, current, response, body)
        raise FetchError(f"more than {self.cfg.max_redirects} redirects", url=url, outcome="too_many_redirects")

    # ------------------------------------------------------------------ one request
    async def _get_with_retries(self, url: str, source: SourceConfig | None, deadline: float,
                                etag: str | None, last_modified: str | None) -> tuple[httpx.Response, bytes]:
        headers = dict(source.headers) if source else {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        cookies = dict(source.cookies) if source and source.cookies else None
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response, body = await self._request(url, headers, cookies, deadline)
                if not should_retry_status(response.status_code) or attempt > self.cfg.retries:
                    return response, body
                retry_after = parse_retry_after(response.headers.get("retry-after"), cap=self.cfg.retry_after_cap)
                reason = f"HTTP {response.status_code}"
            except FetchError as exc:
                if exc.outcome not in ("timeout", "connection_error") or attempt > self.cfg.retries:
                    raise
                reason = exc.outcome
            delay = retry_after if retry_after is not None else backoff(attempt)
            if self._monotonic() + delay >= deadline:
                raise FetchError(f"{reason}; no time left to retry within the deadline", url=url,
                                 outcome="timeout" if reason == "timeout" else "http_error"
                                 if reason.startswith("HTTP") else "connection_error")
            log.info("retrying %s in %.1fs after %s", url, delay, reason, extra={"url": url})
            await self._sleep(delay)

    async def _request(self, url: str, headers: Mapping[str, str], cookies: dict[str, str] | None,
                       deadline: float) -> tuple[httpx.Response, bytes]:
        host = urlsplit(url).netloc.lower()
        gate = self._hosts.setdefault(host, _Host())
        async with gate.lock:
            wait = gate.next_ok - self._monotonic()
            if wait > 0:
                await self._sleep(wait)
            async with self._slots:
                try:
                    left = deadline - self._monotonic()
                    if left <= 0:
                        raise TimeoutError
                    return await asyncio.wait_for(self._stream(url, headers, cookies), left)
                except TimeoutError:
                    raise FetchError(f"no complete answer within {self.cfg.deadline:g}s", url=url,
                                     outcome="timeout") from None
                except httpx.TimeoutException as exc:
                    raise FetchError(f"timed out ({type(exc).__name__})", url=url, outcome="timeout") from None
                except AddressBlocked as exc:
                    raise FetchError(str(exc), url=url, outcome="blocked_address") from None
                except httpx.TransportError as exc:
                    raise FetchError(f"connection failed: {exc or type(exc).__name__}", url=url,
                                     outcome="connection_error") from None
                finally:
                    gate.next_ok = self._monotonic() + self._delay(gate)

    def _delay(self, gate: _Host) -> float:
        delay = self.cfg.per_host_delay
        if gate.robots is not None:
            crawl = gate.robots.crawl_delay(self.cfg.user_agent)
            if crawl:
                delay = max(delay, float(crawl))
        return delay

    async def _stream(self, url: str, headers: Mapping[str, str],
                      cookies: dict[str, str] | None) -> tuple[httpx.Response, bytes]:
        limit = self.cfg.max_bytes
        request = self.client.build_request("GET", url, headers=headers, cookies=cookies)
        response = await self.client.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FetchError(f"body of {int(declared):,} bytes is larger than {limit:,}", url=url,
                                 outcome="too_large", status=response.status_code)
            encoding = response.headers.get("content-encoding", "").lower().strip()
            inflater = (zlib.decompressobj(zlib.MAX_WBITS | 32) if encoding in ("gzip", "x-gzip", "deflate")
                        else None)
            chunks: list[bytes] = []
            raw_size = size = 0
            async for raw in response.aiter_raw():
                raw_size += len(raw)
                if raw_size > limit:
                    raise FetchError(f"body larger than {limit:,} bytes", url=url, outcome="too_large",
                                     status=response.status_code)
                data = raw
                if inflater is not None:
                    try:
                        data = inflater.decompress(raw, limit - size + 1)
                    except zlib.error as exc:
                        raise FetchError(f"broken {encoding} body: {exc}", url=url, outcome="connection_error",
                                         status=response.status_code) from None
                    if inflater.unconsumed_tail:
                        raise FetchError(f"body inflates past {limit:,} bytes", url=url, outcome="too_large",
                                         status=response.status_code)
                size += len(data)
                if size > limit:
                    raise FetchError(f"body larger than {limit:,} bytes", url=url, outcome="too_large",
                                     status=response.status_code)
                chunks.append(data)
            return response, b"".join(chunks)
        finally:
            await response.aclose()

    def _page(self, url: str, final_url: str, response: httpx.Response, body: bytes) -> Page:
        status = response.status_code
        now = datetime.now(UTC)
        ctype = response.headers.get("content-type", "")
        etag = response.headers.get("etag")
        modified = response.headers.get("last-modified")
        if status == 304:
            return Page(url, final_url, status, ctype, b"", "", "", etag, modified, now, "not_modified")
        if status >= 400 or status < 200:
            raise FetchError(f"HTTP {status} {response.reason_phrase}", url=final_url, outcome="http_error",
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
    async def _robots_allow(self, url: str, source: SourceConfig | None, deadline: float) -> bool:
        parts = urlsplit(url)
        host = parts.netloc.lower()
        gate = self._hosts.setdefault(host, _Host())
        if gate.robots_expires <= self._monotonic():
            await self._load_robots(f"{parts.scheme}://{parts.netloc}/robots.txt", gate, deadline)
        if gate.robots_error is not None:  # RFC 9309: unreachable means disallowed; say why
            raise FetchError(f"robots.txt unreachable, so nothing is fetched: {gate.robots_error}", url=url,
                             outcome=gate.robots_error.outcome)
        if gate.robots_allow_all is not None:
            if not gate.robots_allow_all:
                raise FetchError("robots.txt answered with a server error: the host is off limits for now",
                                 url=url, outcome="skipped_robots")
            return True
        assert gate.robots is not None
        return bool(gate.robots.can_fetch(url, self.cfg.user_agent))

    async def _load_robots(self, robots_url: str, gate: _Host, deadline: float) -> None:
        gate.robots, gate.robots_allow_all, gate.robots_error = None, None, None
        ttl = ROBOTS_TTL
        try:
            response, body = await self._request(robots_url, {}, None, deadline)
        except FetchError as exc:
            log.warning("robots.txt unreachable (%s): treating the host as disallowed", exc.outcome,
                        extra={"url": robots_url})
            gate.robots_error = exc
            ttl = ROBOTS_ERROR_TTL
        else:
            status = response.status_code
            if 200 <= status < 300:
                gate.robots = Protego.parse(body[:ROBOTS_MAX_BYTES].decode("utf-8", "replace"))
            elif 300 <= status < 500:  # RFC 9309: unavailable (incl. too many redirects) means allowed
                gate.robots_allow_all = True
            else:
                log.warning("robots.txt answered %s: treating the host as disallowed", status,
                            extra={"url": robots_url})
                gate.robots_allow_all = False
                ttl = ROBOTS_ERROR_TTL
        gate.robots_expires = self._monotonic() + ttl


def _gunzip(body: bytes, limit: int, url: str) -> bytes:
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise FetchError(f"broken gzip file: {exc}", url=url, outcome="unsupported_type") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise FetchError(f"gzip file inflates past {limit:,} bytes", url=url, outcome="too_large")
    return data


def _looks_binary(body: bytes) -> bool:
    head = body[:1024]
    if not head:
        return False
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return head.count(b"\x00") > 0 or head.startswith((b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04"))
