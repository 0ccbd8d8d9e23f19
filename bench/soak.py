"""Soak: `monitor run` against loopback sites that publish new articles continually; does its memory
stay flat?

    python bench/soak.py [--articles 20000] [--hosts 24] [--batch 10] [--every 1s] [--vocabulary 2000]
                         [--json PATH]

The sites: ``--hosts`` loopback HTTP servers (each its own host, so politeness runs them in parallel),
one listing each. Every request for a listing publishes ``--batch`` new articles on that host and
lists the newest 20; article pages are generated from their number (a title, four to seven
paragraphs of made-up words drawn Zipf-like from a ``--vocabulary``-word list, one in twenty
mentions a memorandum of understanding so alerts flow to a webhook sink) and answer conditional
GETs with 304.

The vocabulary matters: caches keyed by words fill as new words turn up. With the default 2,000
words they are full before the baseline, so the run shows the daemon's own growth; with
``--vocabulary 200000`` (closer to news text) the run also shows those caches filling up to their
bounds (dedup's word hashes, at most 50,000 words; topics' ``document_keys``, 8,192 entries). The daemon is a real process
(`python -m monitor run --listen ...`, default logging) with one source per host on ``--every``.

Measured: the daemon's resident memory (psutil, every 0.5 s) and the articles it stored
(``monitor_articles_total{status="new"}`` from its /metrics). The peer is the daemon itself after
its first 1,000 articles: the table gives peak and final RSS and their ratio to that baseline.
The check: both ratios under 1.20 (exit status 1 if not). Not a CI test: it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psutil
import yaml
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.demo.httpd import LocalServer, Request, Response  # noqa: E402

BASELINE_AT = 1000
LIMIT = 1.20
LISTED = 20
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "ve", "da", "gri", "son", "bel", "tor", "min", "ask",
             "el", "ur", "fen", "qua")


def vocabulary(size: int) -> tuple[list[str], list[float]]:
    """``size`` made-up words and Zipf cumulative weights (word n is used about 1/n as often as the first),
    so distinct words keep turning up as in real news text."""
    words: dict[str, None] = {}
    i = 0
    while len(words) < size:
        rng = random.Random(i)
        words["".join(rng.choices(SYLLABLES, k=rng.randint(2, 5)))] = None
        i += 1
    cum, total = [], 0.0
    for rank in range(1, size + 1):
        total += 1.0 / rank
        cum.append(total)
    return list(words), cum


WORDS, CUM = vocabulary(2000)
TOPIC_PHRASE = "signed a memorandum of understanding on port logistics"


def paragraph(rng: random.Random) -> str:
    words = rng.choices(WORDS, cum_weights=CUM, k=rng.randint(40, 80))
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def article_page(host: int, n: int) -> bytes:
    rng = random.Random(host * 1_000_003 + n)
    title = " ".join(rng.choices(WORDS, cum_weights=CUM, k=6)).capitalize()
    paras = [paragraph(rng) for _ in range(rng.randint(4, 7))]
    if rng.random() < 0.05:
        paras[1] = f"On Monday the two ministries {TOPIC_PHRASE}, officials said. " + paras[1]
    body = "".join(f"<p>{p}</p>" for p in paras)
    return (f"<!doctype html><html><head><title>{title}</title><meta property='og:title' content='{title}'>"
            f"<meta property='article:published_time' content='2026-03-02T10:00:00+00:00'></head><body>"
            f"<header><nav><a href='/'>Home</a> <a href='/world'>World</a></nav></header>"
            f"<main><article><h1>{title}</h1><p class='byline'>By Staff {host}</p>{body}</article></main>"
            f"<aside><h2>Trending</h2><ul><li><a href='/x'>Something else</a></li></ul></aside>"
            f"<footer>(c) Host {host}</footer></body></html>").encode()


# demo/httpd.py's server writes headers and body apart on kept-alive connections, and Nagle's
# algorithm with delayed ACKs then adds ~40 ms to every request; one request per connection avoids it.
CLOSE = {"connection": "close"}


class Host:
    """One site: each listing request publishes ``batch`` new articles."""

    def __init__(self, index: int, batch: int) -> None:
        self.index = index
        self.batch = batch
        self.published = 0
        self.lock = threading.Lock()
        self.server = LocalServer(self.handle).start()

    def handle(self, request: Request) -> Response:
        if request.path == "/robots.txt":
            return Response(404, b"", CLOSE)
        if request.path == "/latest":
            with self.lock:
                self.published += self.batch
                newest = range(self.published, max(0, self.published - LISTED), -1)
            items = "".join(f"<li><a href='{self.server.url}/news/{n}/story.html'>Story {n}</a></li>" for n in newest)
            return Response(200, f"<html><body><h1>Latest</h1><ul>{items}</ul></body></html>".encode(),
                            {"content-type": "text/html; charset=utf-8", "cache-control": "no-cache", **CLOSE})
        parts = request.path.split("/")
        if len(parts) == 4 and parts[1] == "news" and parts[2].isdigit():
            etag = f'"{self.index}-{parts[2]}"'
            if request.headers.get("if-none-match") == etag:
                return Response(304, b"", {"etag": etag, **CLOSE})
            return Response(200, article_page(self.index, int(parts[2])),
                            {"content-type": "text/html; charset=utf-8", "etag": etag, **CLOSE})
        return Response(404, b"not found", {"content-type": "text/plain", **CLOSE})


@dataclass
class Sample:
    seconds: float
    articles: int
    rss: int


@dataclass
class Result:
    articles: int
    seconds: float
    articles_per_second: float
    baseline_rss: int
    peak_rss: int
    final_rss: int
    peak_ratio: float
    final_ratio: float
    alerts_sent: int
    database_bytes: int
    exit_code: int
    stop_seconds: float
    ok: bool
    settings: dict[str, object] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)


def scrape(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics", timeout=10, trust_env=False).text
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "monitor_articles_total" and s.labels.get("status") == "new":
                totals["new"] = totals.get("new", 0) + s.value
            elif s.name == "monitor_alerts" and s.labels.get("status") == "sent":
                totals["sent"] = s.value
    return totals


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=20_000, help="stop after this many new articles")
    ap.add_argument("--hosts", type=int, default=24)
    ap.add_argument("--batch", type=int, default=10, help="articles published per listing request")
    ap.add_argument("--every", default="1s", help="each source's interval")
    ap.add_argument("--vocabulary", type=int, default=2000,
                    help="distinct words in the made-up articles (Zipf-distributed)")
    ap.add_argument("--timeout", type=float, default=3600, help="give up after this many seconds")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    global WORDS, CUM
    WORDS, CUM = vocabulary(args.vocabulary)

    sink_count = [0]

    def sink(request: Request) -> Response:
        sink_count[0] += 1
        return Response(200, b"{}", {"content-type": "application/json", **CLOSE})

    hosts = [Host(i, args.batch) for i in range(args.hosts)]
    receiver = LocalServer(sink).start()
    work = Path(tempfile.mkdtemp(prefix="monitor-soak-"))
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump({
        "database": str(work / "monitor.db"),
        "fetch": {"per_host_delay": 0, "timeout": "10s", "retries": 0},
        "sources": [{"name": f"host{h.index}", "url": h.server.url + "/latest", "kind": "listing",
                     "every": args.every, "revisit": None} for h in hosts],
        "topics": [{"name": "mou", "query": '"memorandum of understanding" OR MOU'}],
        "channels": [{"name": "sink", "type": "webhook", "url": receiver.url + "/hook",
                      "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}],
    }), "utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (work / "daemon.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config), "--listen",
                             f"127.0.0.1:{port}"], stdout=log, stderr=log, env={**os.environ})
    ps = psutil.Process(proc.pid)
    samples: list[Sample] = []
    t0 = time.monotonic()
    done = 0
    last_print = 0.0
    try:
        while True:
            time.sleep(0.5)
            if proc.poll() is not None:
                print((work / "daemon.log").read_text("utf-8")[-3000:], file=sys.stderr)
                raise SystemExit(f"the daemon exited with {proc.returncode}")
            try:
                totals = scrape(url)
            except httpx.HTTPError:
                continue
            done = int(totals.get("new", 0))
            samples.append(Sample(round(time.monotonic() - t0, 2), done, ps.memory_info().rss))
            if time.monotonic() - last_print > 10:
                last_print = time.monotonic()
                print(f"  {samples[-1].seconds:7.1f}s  {done:6d} articles  RSS {samples[-1].rss / 2**20:6.1f} MiB",
                      file=sys.stderr)
            if done >= args.articles or time.monotonic() - t0 > args.timeout:
                break
        sent = int(scrape(url).get("sent", 0))
        stop_t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        stop_seconds = time.monotonic() - stop_t0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
        for h in hosts:
            h.server.stop()
        receiver.stop()

    after = [s for s in samples if s.articles >= BASELINE_AT]
    if not after:
        raise SystemExit(f"fewer than {BASELINE_AT} articles were processed")
    baseline = after[0].rss
    peak = max(s.rss for s in after)
    final = samples[-1].rss
    elapsed = samples[-1].seconds
    result = Result(
        articles=done, seconds=elapsed, articles_per_second=round(done / elapsed, 1), baseline_rss=baseline,
        peak_rss=peak, final_rss=final, peak_ratio=round(peak / baseline, 3), final_ratio=round(final / baseline, 3),
        alerts_sent=sent, database_bytes=sum(p.stat().st_size for p in work.glob("monitor.db*")), exit_code=code,
        stop_seconds=round(stop_seconds, 2), ok=peak / baseline < LIMIT and final / baseline < LIMIT and code == 0,
        settings={"hosts": args.hosts, "batch": args.batch, "every": args.every, "target": args.articles,
                  "vocabulary": args.vocabulary},
        samples=samples[:: max(1, len(samples) // 200)])

    mib = 2 ** 20
    print(f"\nmonitor run soak: {args.hosts} hosts x {args.batch} new articles per listing, every {args.every}, "
          f"{args.vocabulary:,}-word vocabulary")
    print(f"{'':28}{'articles':>10}{'RSS MiB':>10}{'ratio':>8}")
    print(f"{'baseline (first 1,000)':28}{after[0].articles:>10}{baseline / mib:>10.1f}{1.0:>8.3f}")
    for share in (0.25, 0.5, 0.75):
        s = next((x for x in samples if x.articles >= done * share), samples[-1])
        print(f"{f'at {int(share * 100)} %':28}{s.articles:>10}{s.rss / mib:>10.1f}{s.rss / baseline:>8.3f}")
    peak_at = next(s for s in after if s.rss == peak)
    print(f"{'peak':28}{peak_at.articles:>10}{peak / mib:>10.1f}{peak / baseline:>8.3f}")
    print(f"{'final':28}{done:>10}{final / mib:>10.1f}{final / baseline:>8.3f}")
    print(f"\n{done} articles in {elapsed:.0f}s ({result.articles_per_second}/s), {sent} alerts sent, "
          f"database {result.database_bytes / mib:.0f} MiB; SIGTERM -> exit {code} in {stop_seconds:.1f}s")
    print(f"check: peak and final RSS under {LIMIT:.2f}x the baseline: {'PASS' if result.ok else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2), "utf-8")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
