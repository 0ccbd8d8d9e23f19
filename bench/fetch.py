"""Fetching speed and memory: 2,000 pages from a loopback site of many hosts, politeness off.

    python bench/fetch.py [--pages 2000] [--hosts 40] [--concurrency 16] [--rounds 3] [--json PATH]

The site runs in its own process (``python bench/fetch.py serve ...``): hosts 127.0.0.2 ... on one
port, an asyncio server over h11 answering every article page (about 20 KB of HTML, gzip when
asked, as news sites do) and ``/robots.txt`` (allow all) from memory. Each row then runs in a
fresh process of its own, so that its peak RSS is its own:

- ``monitor``: :class:`monitor.fetch.Fetcher` with ``per_host_delay: 0`` and robots.txt off: the
  guarded transport, per-host gates, the overall bound, streaming with the byte caps,
  decompression, content-type and binary checks, charset decoding into a ``Page``;
- ``monitor, robots.txt on``: the same, asking each host's robots.txt once (it allows all);
- ``httpx loop`` (the peer): one bare ``httpx.AsyncClient``, the same concurrency through a
  semaphore, ``GET`` and ``response.content`` for every URL: no politeness, no caps, no decoding.

Every row fetches the same URLs, interleaved across hosts, with the same overall concurrency;
every page must arrive. Pages per second is the median and the best of ``--rounds`` (the rows are
interleaved round by round, so a busy machine slows all of them alike; the best is the least
disturbed); peak RSS is the worker's ``ru_maxrss`` (and its growth over the RSS it had after
imports). The ratios are against the peer of the same run. Nothing leaves 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROWS = ("monitor", "monitor, robots.txt on", "httpx loop")
PEER = "httpx loop"
PARAGRAPH = ("Seoul and Beijing agreed on Thursday to resume the regular dialogue that stalled in 2020, the "
             "foreign ministry said, naming trade, supply chains, tourism and the planned spring visit. ")


# ----------------------------------------------------------------------------- the site (its own process)

def article(host: int, n: int) -> bytes:
    """About 20 KB of a plausible article page, different for each host and number."""
    paras = "".join(f"<p>{PARAGRAPH * 2} ({host}.{n}.{i})</p>\n" for i in range(40))
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Story {n} on host {host}</title>"
            f"<meta property='og:type' content='article'></head><body><nav><a href='/'>Home</a></nav>"
            f"<article><h1>Story {n} on host {host}</h1>{paras}</article></body></html>").encode()


def serve(hosts: list[str], pages: int) -> None:
    import h11

    bodies: dict[tuple[str, str], tuple[bytes, bytes]] = {}
    for h, host in enumerate(hosts):
        for n in range(pages):
            body = article(h, n)
            bodies[(host, f"/news/{n}.html")] = (body, gzip.compress(body, 1))
    robots = b"User-agent: *\nAllow: /\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        local = writer.get_extra_info("sockname")[0]
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    conn.receive_data(data)
                    if not data:
                        return
                    continue
                if isinstance(event, h11.Request):
                    path = event.target.decode()
                    gz = any(k == b"accept-encoding" and b"gzip" in v for k, v in event.headers)
                    headers = [(b"content-type", b"text/html; charset=utf-8")]
                    if path == "/robots.txt":
                        status, body, headers = 200, robots, [(b"content-type", b"text/plain")]
                    elif (local, path) in bodies:
                        plain, packed = bodies[(local, path)]
                        status, body = 200, packed if gz else plain
                        if gz:
                            headers.append((b"content-encoding", b"gzip"))
                    else:
                        status, body = 404, b"not found"
                    headers.append((b"content-length", str(len(body)).encode()))
                    writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
                    writer.write(conn.send(h11.Data(data=body)) or b"")
                    writer.write(conn.send(h11.EndOfMessage()) or b"")
                    await writer.drain()
                elif isinstance(event, h11.EndOfMessage):
                    if conn.our_state is h11.MUST_CLOSE:
                        return
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except (h11.RemoteProtocolError, ConnectionError):
            return
        finally:
            writer.close()

    async def main() -> None:
        first = await asyncio.start_server(handle, hosts[0], 0, backlog=1024)
        port = first.sockets[0].getsockname()[1]
        servers = [first] + [await asyncio.start_server(handle, h, port, backlog=1024) for h in hosts[1:]]
        print(f"READY {port}", flush=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        def watch_stdin() -> None:  # the bench closes our stdin when it is done
            sys.stdin.read()
            loop.call_soon_threadsafe(stop.set)
        threading.Thread(target=watch_stdin, daemon=True).start()
        await stop.wait()
        for s in servers:
            s.close()

    asyncio.run(main())


# ----------------------------------------------------------------------------- one row (its own process)

def rss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def current_rss_kb() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss // 1024)


async def run_monitor(urls: list[str], hosts: set[str], concurrency: int, robots: bool) -> int:
    from monitor.config import FetchConfig
    from monitor.fetch import Fetcher

    cfg = FetchConfig(per_host_delay=0, respect_robots=robots, concurrency=concurrency, retries=0)
    async with Fetcher(cfg, trusted_hosts=hosts) as fetcher:
        async def one(url: str) -> int:  # like the peer, keep the size, drop the page
            page = await fetcher.fetch(url)
            assert page.outcome == "ok" and "Story" in page.text
            return len(page.body)
        sizes = await asyncio.gather(*(one(u) for u in urls))
    return sum(sizes)


async def run_httpx(urls: list[str], concurrency: int) -> int:
    import httpx

    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    async with httpx.AsyncClient(limits=limits, timeout=20, trust_env=False) as client:
        async def one(url: str) -> int:
            async with gate:
                response = await client.get(url)
                response.raise_for_status()
                return len(response.content)
        sizes = await asyncio.gather(*(one(u) for u in urls))
    return sum(sizes)


def worker(row: str, urls_file: str, concurrency: int) -> None:
    from urllib.parse import urlsplit

    urls = json.loads(Path(urls_file).read_text())
    hosts = {urlsplit(u).hostname or "" for u in urls}
    if row.startswith("monitor"):
        import monitor.fetch  # noqa: F401 - imports are not part of the measurement
    else:
        import httpx  # noqa: F401
    base = current_rss_kb()
    started = time.perf_counter()
    if row == PEER:
        size = asyncio.run(run_httpx(urls, concurrency))
    else:
        size = asyncio.run(run_monitor(urls, hosts, concurrency, robots=row == "monitor, robots.txt on"))
    elapsed = time.perf_counter() - started
    print(json.dumps({"row": row, "seconds": elapsed, "pages": len(urls), "bytes": size,
                      "peak_rss_kb": rss_kb(), "base_rss_kb": base}))


# ----------------------------------------------------------------------------- the bench

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2000, help="pages fetched per row (default 2000)")
    parser.add_argument("--hosts", type=int, default=40, help="loopback hosts 127.0.0.2... (default 40)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight overall (default 16)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="runs of each row, interleaved; the median and the best are reported (default 5)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()

    hosts = [f"127.0.0.{i}" for i in range(2, 2 + args.hosts)]
    per_host = -(-args.pages // len(hosts))
    server = subprocess.Popen([sys.executable, __file__, "serve", "--site-hosts", ",".join(hosts),
                               "--per-host", str(per_host)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ready = server.stdout.readline().split()
        if not ready or ready[0] != "READY":
            print("the site did not start", file=sys.stderr)
            return 1
        port = int(ready[1])
        # Interleaved across hosts: what a run over many sources looks like to the per-host gates.
        urls = [f"http://{hosts[i % len(hosts)]}:{port}/news/{i // len(hosts)}.html" for i in range(args.pages)]
        urls_file = ROOT / ".bench-fetch-urls.json"
        urls_file.write_text(json.dumps(urls))
        results: dict[str, list[dict[str, Any]]] = {row: [] for row in ROWS}
        try:
            for _ in range(args.rounds):
                for row in ROWS:
                    out = subprocess.run([sys.executable, __file__, "worker", "--row", row, "--urls-file",
                                          str(urls_file), "--concurrency", str(args.concurrency)],
                                         capture_output=True, text=True, check=False)
                    if out.returncode != 0:
                        print(f"{row} failed:\n{out.stderr}", file=sys.stderr)
                        return 1
                    results[row].append(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            urls_file.unlink(missing_ok=True)
    finally:
        if server.stdin:
            server.stdin.close()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()

    summary = []
    peer = [r["pages"] / r["seconds"] for r in results[PEER]]
    for row in ROWS:
        rates = [r["pages"] / r["seconds"] for r in results[row]]
        summary.append({"row": row, "pages": args.pages, "pages_per_s": round(statistics.median(rates), 1),
                        "best_pages_per_s": round(max(rates), 1),
                        "ratio_to_peer": round(statistics.median(rates) / statistics.median(peer), 3),
                        "best_ratio_to_peer": round(max(rates) / max(peer), 3),
                        "peak_rss_mb": round(max(r["peak_rss_kb"] for r in results[row]) / 1024, 1),
                        "rss_growth_mb": round(max(r["peak_rss_kb"] - r["base_rss_kb"] for r in results[row]) / 1024, 1),
                        "seconds": [round(r["seconds"], 3) for r in results[row]]})
    print(f"fetch: {args.pages} pages, {args.hosts} loopback hosts, concurrency {args.concurrency}, "
          f"{args.rounds} rounds (rows interleaved), site in its own process ({os.cpu_count()} CPUs)")
    print(f"{'row':<24} {'median p/s':>10} {'vs peer':>8} {'best p/s':>9} {'vs peer':>8} {'peak RSS':>9} "
          f"{'RSS growth':>11}")
    for s in summary:
        print(f"{s['row']:<24} {s['pages_per_s']:>10.1f} {s['ratio_to_peer']:>7.2f}x {s['best_pages_per_s']:>9.1f} "
              f"{s['best_ratio_to_peer']:>7.2f}x {s['peak_rss_mb']:>7.1f}MB {s['rss_growth_mb']:>9.1f}MB")
    if args.json:
        Path(args.json).write_text(json.dumps({"pages": args.pages, "hosts": args.hosts,
                                               "concurrency": args.concurrency, "rounds": args.rounds,
                                               "rows": summary}, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("serve", "worker"):
        sub = argparse.ArgumentParser()
        sub.add_argument("mode")
        sub.add_argument("--site-hosts")
        sub.add_argument("--per-host", type=int)
        sub.add_argument("--row")
        sub.add_argument("--urls-file")
        sub.add_argument("--concurrency", type=int)
        a = sub.parse_args()
        if a.mode == "serve":
            serve(a.site_hosts.split(","), a.per_host)
        else:
            worker(a.row, a.urls_file, a.concurrency)
        sys.exit(0)
    socket.setdefaulttimeout(30)
    sys.exit(main())
