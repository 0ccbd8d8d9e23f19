"""The loopback news site of ``bench/pipeline.py``: its plan, its pages, its server and a bare client.

The site is many hosts (127.0.0.2, 127.0.0.3, ...) on one port. Each host has a listing page
(``/latest/``) linking half of its articles and an RSS feed (``/feed.xml``) naming the other half;
``/robots.txt`` allows everything. Article pages are the extraction development pages, read (gzip)
from their folder at run time and reused across hosts and paths; each copy gets its own
``<link rel=canonical>`` and ``og:url`` (put first in ``<head>``) so that every URL is one article
rather than all copies collapsing into the page's original canonical URL. Nothing else is changed.

The plan is a pure function of (data folder, hosts, articles, port): the server process and the
bench process build the same one, so the bench can rebuild any page byte for byte to check what
the pipeline stored.

The server (``python bench/_site.py serve ...``) runs in its own process: the parent binds every
host, builds every response once (gzip level 1, nginx's default, for clients that accept it),
prints ``READY <port>`` and forks worker processes that share the listening sockets and answer
with an asyncio protocol over h11. It exits on SIGTERM or when its standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from xml.etree import ElementTree as ET

import h11

DEFAULT_DATA = Path("/work/shared/data/extraction-dev")
FOLLOW = r"/news/\d{4}/"  # the article URL pattern the sources follow
_HEAD = re.compile(rb"<head(?:\s[^>]*)?>", re.IGNORECASE)
_HTML = re.compile(rb"<html(?:\s[^>]*)?>", re.IGNORECASE)


# ----------------------------------------------------------------------------- the plan

@dataclass(frozen=True, slots=True)
class PlannedArticle:
    url: str
    host: str
    path: str
    page_id: str  # the development page it serves
    source: str  # the source (listing or feed) that links it
    link_title: str  # the anchor text / feed item title


@dataclass(frozen=True, slots=True)
class PlannedSource:
    name: str
    url: str
    kind: str  # listing | feed
    host: str


@dataclass
class SitePlan:
    port: int
    hosts: list[str]
    sources: list[PlannedSource] = field(default_factory=list)
    articles: list[PlannedArticle] = field(default_factory=list)

    def by_url(self) -> dict[str, PlannedArticle]:
        return {a.url: a for a in self.articles}

    def of_source(self, name: str) -> list[PlannedArticle]:
        return [a for a in self.articles if a.source == name]


def host_list(count: int) -> list[str]:
    if not 1 <= count <= 250:
        raise ValueError("between 1 and 250 hosts (127.0.0.2 ... 127.0.0.251)")
    return [f"127.0.0.{i}" for i in range(2, 2 + count)]


def page_ids(data: Path) -> list[str]:
    ids = sorted(p.name.removesuffix(".html.gz") for p in (data / "html").glob("*.html.gz"))
    if not ids:
        raise FileNotFoundError(f"no pages in {data / 'html'} (*.html.gz)")
    return ids


def plan_site(data: Path, hosts: Sequence[str], articles: int, port: int) -> SitePlan:
    """Article n serves page n mod pages on host n mod hosts; a host's articles alternate between
    its listing and its feed."""
    ids = page_ids(data)
    plan = SitePlan(port=port, hosts=list(hosts))
    for k, host in enumerate(hosts):
        base = f"http://{host}:{port}"
        plan.sources.append(PlannedSource(f"h{k:03d}-listing", f"{base}/latest/", "listing", host))
        plan.sources.append(PlannedSource(f"h{k:03d}-feed", f"{base}/feed.xml", "feed", host))
    for n in range(articles):
        k = n % len(hosts)
        host = hosts[k]
        page_id = ids[n % len(ids)]
        path = f"/news/2019/05/{n % 28 + 1:02d}/story-{page_id[:10]}-{n}.html"
        kind = "listing" if (n // len(hosts)) % 2 == 0 else "feed"
        plan.articles.append(PlannedArticle(
            url=f"http://{host}:{port}{path}", host=host, path=path, page_id=page_id,
            source=f"h{k:03d}-{kind}", link_title=f"Story {n} on {host}"))
    return plan


# ----------------------------------------------------------------------------- the pages

class Pages:
    """The development pages, read once; ``parts(article)`` is the served page as three slices
    (head of the page, the canonical tags of this copy, the rest) so copies share memory."""

    def __init__(self, data: Path) -> None:
        self.halves: dict[str, tuple[bytes, bytes]] = {}
        for page_id in page_ids(data):
            raw = gzip.decompress((data / "html" / f"{page_id}.html.gz").read_bytes())
            m = _HEAD.search(raw) or _HTML.search(raw)
            cut = m.end() if m else 0
            self.halves[page_id] = (raw[:cut], raw[cut:])

    def parts(self, article: PlannedArticle) -> tuple[bytes, bytes, bytes]:
        head, rest = self.halves[article.page_id]
        url = escape(article.url, quote=True)
        tags = f'<link rel="canonical" href="{url}"><meta property="og:url" content="{url}">'.encode("ascii")
        return head, tags, rest

    def body(self, article: PlannedArticle) -> bytes:
        return b"".join(self.parts(article))


def listing_html(plan: SitePlan, source: PlannedSource, now: datetime) -> bytes:
    items = []
    for i, a in enumerate(plan.of_source(source.name)):
        when = now - timedelta(minutes=7 * i)
        items.append(f'<li><a href="{escape(a.path)}">{escape(a.link_title)}</a> '
                     f'<time datetime="{when.isoformat()}">{when:%H:%M, %d-%b-%Y}</time></li>')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Latest news on {source.host}'
            f'</title></head><body><nav><a href="/">Home</a> <a href="/feed.xml">RSS</a></nav><main>'
            f'<h1>Latest</h1><ul>{"".join(items)}</ul></main><footer>bench site</footer></body></html>'
            ).encode()


def feed_xml(plan: SitePlan, source: PlannedSource, now: datetime) -> bytes:
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = f"News on {source.host}"
    ET.SubElement(channel, "link").text = f"http://{source.host}:{plan.port}/"
    ET.SubElement(channel, "description").text = "bench site"
    for i, a in enumerate(plan.of_source(source.name)):
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = a.link_title
        ET.SubElement(item, "link").text = a.url
        ET.SubElement(item, "guid").text = a.url
        ET.SubElement(item, "pubDate").text = format_datetime(now - timedelta(minutes=7 * i))
    body: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


# ----------------------------------------------------------------------------- the server

@dataclass(slots=True)
class Resource:
    content_type: str
    identity: tuple[bytes, ...]
    gzipped: bytes | None  # None: never compressed

    @property
    def length(self) -> int:
        return sum(len(p) for p in self.identity)


ROBOTS = b"User-agent: *\nAllow: /\n"


def build_resources(plan: SitePlan, pages: Pages, *, compress: bool) -> dict[tuple[str, str], Resource]:
    """Every response, keyed by (Host header, path)."""
    now = datetime.now(UTC)
    out: dict[tuple[str, str], Resource] = {}

    def add(host: str, path: str, ctype: str, parts: tuple[bytes, ...]) -> None:
        gz = gzip.compress(b"".join(parts), compresslevel=1, mtime=0) if compress else None
        out[(f"{host}:{plan.port}", path)] = Resource(ctype, parts, gz)

    for host in plan.hosts:
        add(host, "/robots.txt", "text/plain; charset=utf-8", (ROBOTS,))
    for src in plan.sources:
        if src.kind == "listing":
            add(src.host, "/latest/", "text/html; charset=utf-8", (listing_html(plan, src, now),))
        else:
            add(src.host, "/feed.xml", "application/rss+xml; charset=utf-8", (feed_xml(plan, src, now),))
    for a in plan.articles:
        add(a.host, a.path, "text/html", pages.parts(a))
    return out


class _Http(asyncio.Protocol):
    """One keep-alive connection: h11 reads the requests, responses are prebuilt."""

    def __init__(self, site: dict[tuple[str, str], Resource]) -> None:
        self.site = site
        self.conn = h11.Connection(h11.SERVER)
        self.transport: asyncio.Transport | None = None
        self.request: h11.Request | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # asyncio turns Nagle off only for sockets made with proto=IPPROTO_TCP, and accepted ones
        # inherit the listener's 0: without this a body written after its headers waits for the
        # client's delayed ACK (up to 40 ms), and the server, not the client, sets the pace.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        try:
            self.conn.receive_data(data)
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return
                if isinstance(event, h11.Request):
                    self.request = event
                elif isinstance(event, h11.EndOfMessage):
                    self._answer()
                    if self.conn.our_state is h11.MUST_CLOSE:
                        self.transport.close()
                        return
                    self.conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    self.transport.close()
                    return
        except h11.ProtocolError:
            self.transport.close()

    def eof_received(self) -> bool | None:
        return None

    def _answer(self) -> None:
        assert self.transport is not None and self.request is not None
        req = self.request
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in req.headers}
        path = req.target.decode("latin-1").split("?", 1)[0]
        res = self.site.get((headers.get("host", ""), path))
        if res is None:
            body: tuple[bytes, ...] = (b"not found\n",)
            out = [(b"content-type", b"text/plain"), (b"content-length", b"10")]
            status = 404
        elif res.gzipped is not None and "gzip" in headers.get("accept-encoding", ""):
            body = (res.gzipped,)
            out = [(b"content-type", res.content_type.encode()), (b"content-encoding", b"gzip"),
                   (b"vary", b"accept-encoding"), (b"content-length", str(len(res.gzipped)).encode())]
            status = 200
        else:
            body = res.identity
            out = [(b"content-type", res.content_type.encode()), (b"content-length", str(res.length).encode())]
            status = 200
        write = self.transport.write
        write(self.conn.send(h11.Response(status_code=status, headers=out)))
        if req.method != b"HEAD":
            for part in body:
                write(self.conn.send(h11.Data(data=part)))
        self.conn.send(h11.EndOfMessage())


def _worker(sockets: list[socket.socket], site: dict[tuple[str, str], Resource]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        servers = [await loop.create_server(lambda: _Http(site), sock=s, backlog=1024) for s in sockets]
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


def bind_hosts(hosts: Sequence[str], port: int = 0, tries: int = 20) -> tuple[int, list[socket.socket]]:
    """One listening socket per host, all on one port (a free one when ``port`` is 0)."""
    last: OSError | None = None
    for _ in range(tries):
        socks: list[socket.socket] = []
        try:
            chosen = port
            for host in hosts:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, chosen))
                chosen = s.getsockname()[1]
                s.listen(1024)
                s.setblocking(False)
            return chosen, socks
        except OSError as exc:
            last = exc
            for s in socks:
                s.close()
            if port:
                break
    raise OSError(f"cannot bind {len(hosts)} hosts on one port: {last}")


def serve(args: argparse.Namespace) -> int:
    hosts = host_list(args.hosts)
    port, socks = bind_hosts(hosts, args.port)
    started = time.perf_counter()
    plan = plan_site(args.data, hosts, args.articles, port)
    site = build_resources(plan, Pages(args.data), compress=not args.no_gzip)
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_worker, args=(socks, site), daemon=True) for _ in range(args.workers)]
    for w in workers:
        w.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def stop_at_eof() -> None:  # the bench went away: so do we
        sys.stdin.read()
        stop.set()

    threading.Thread(target=stop_at_eof, daemon=True).start()
    print(json.dumps({"ready": True, "port": port, "pids": [w.pid for w in workers], "resources": len(site),
                      "build_s": round(time.perf_counter() - started, 2)}), flush=True)
    try:
        while not stop.wait(0.2):
            if not all(w.is_alive() for w in workers):
                print("a server worker died", file=sys.stderr, flush=True)
                return 1
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.join(5)
    return 0


# ----------------------------------------------------------------------------- the bare client

async def _bare_client(urls: list[str], seconds: float, connections: int) -> tuple[int, int, list[float]]:
    """GET the URLs round robin over keep-alive connections (h11, body discarded, gzip accepted):
    requests, bytes, and each request's seconds from its first byte sent to its last byte read."""
    from urllib.parse import urlsplit

    done = [0, 0]
    latencies: list[float] = []
    until = time.perf_counter() + seconds

    groups: dict[str, list[str]] = {}
    for url in urls:
        groups.setdefault(urlsplit(url).netloc, []).append(urlsplit(url).path)
    netlocs = sorted(groups)

    async def one(k: int) -> None:
        netloc = netlocs[k % len(netlocs)]
        paths = groups[netloc]
        host, port = netloc.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        conn = h11.Connection(h11.CLIENT)
        i = k
        while time.perf_counter() < until:
            path = paths[i % len(paths)]
            i += 1
            sent = time.perf_counter()
            writer.write(conn.send(h11.Request(method="GET", target=path, headers=[
                ("Host", netloc), ("Accept-Encoding", "gzip")])) + conn.send(h11.EndOfMessage()))
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(262144))
                elif isinstance(event, h11.Data):
                    done[1] += len(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise ConnectionError("the server closed the connection")
            latencies.append(time.perf_counter() - sent)
            done[0] += 1
            conn.start_next_cycle()
        writer.close()

    await asyncio.gather(*(one(k) for k in range(connections)))
    return done[0], done[1], latencies


def bare_client(urls: list[str], seconds: float, connections: int) -> tuple[int, int, list[float]]:
    return asyncio.run(_bare_client(urls, seconds, connections))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="serve the bench site (see the module docstring)")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--data", type=Path, default=DEFAULT_DATA)
    s.add_argument("--hosts", type=int, default=20)
    s.add_argument("--articles", type=int, default=2080)
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)))
    s.add_argument("--no-gzip", action="store_true")
    args = ap.parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
