"""SIGKILL trials: ``monitor fetch`` killed at random moments during delivery, then run again.

Each trial serves a fresh set of articles from a loopback site to a fresh database, starts a real
webhook receiver (it verifies Standard Webhooks signatures, counts every request, and answers
after ``--delay`` seconds, sometimes with a 500 so retries happen), runs ``monitor fetch`` as a
subprocess and kills it with SIGKILL, then runs ``monitor fetch`` again to the end. It checks:

- every alert was delivered (status ``sent`` and at least one 2xx at the receiver);
- no article was delivered under two ``webhook-id`` s;
- a ``webhook-id`` got more than one 2xx only if its send was cut off before it was marked: the
  receiver had answered 2xx but the database did not say ``sent`` when the process was killed.

Kill moments, in turn: ``delivery`` (uniformly random in the delivery phase, measured from the
receiver's first request), ``receipt`` (inside the receiver, just after it counted a delivery and
before its answer reaches the client: the worst moment) and ``anytime`` (uniformly random over the
whole run, fetching included). Prints a table per trial and totals; ``--json`` prints them as JSON.
Everything stays on 127.0.0.1.

    python bench/crash.py --trials 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.demo.httpd import LocalServer, Request, Response
from monitor.demo.receivers import Delivery, WebhookReceiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MODES = ("delivery", "receipt", "anytime")


def article_html(n: int, salt: str) -> str:
    words = " ".join(uuid.uuid4().hex[:7] for _ in range(40))
    return (f"<html><head><title>Story {n} {salt}: an MOU is signed</title></head><body><nav><a href='/'>Home</a>"
            f"</nav><article><h1>Story {n} {salt}: an MOU is signed</h1><p class='byline'>By A. Writer</p>"
            f"<p>The two governments signed an MOU on Tuesday covering trade and culture. {words}</p>"
            f"<p>Officials said the memorandum would be followed by further talks next year. {words[::-1]}</p>"
            "<p>Analysts expect the deal to ease tensions that have built up over the past decade.</p>"
            "</article></body></html>")


class Site:
    def __init__(self, articles: int, salt: str) -> None:
        self.pages = {f"/a/{salt}/{n}": article_html(n, salt) for n in range(articles)}
        self.server = LocalServer(self.handle).start()
        links = "".join(f"<li><a href='{self.server.url}{p}'>Story {p}</a></li>" for p in self.pages)
        self.listing = f"<html><head><title>Opinions</title></head><body><ul>{links}</ul></body></html>"

    def handle(self, request: Request) -> Response:
        if request.path == "/opinions":
            return Response(200, self.listing.encode(), {"content-type": "text/html; charset=utf-8"})
        page = self.pages.get(request.path)
        if page is None:
            return Response(404, b"not found")
        return Response(200, page.encode(), {"content-type": "text/html; charset=utf-8"})


@dataclass
class Trial:
    n: int
    mode: str
    killed_at: float = 0.0  # seconds after the start of the first run
    killed_during_delivery: bool = False
    sent_before_kill: int = 0  # 2xx the receiver had given when the process died
    cut_off: int = 0  # of those, not yet marked sent in the database
    alerts: int = 0
    delivered: int = 0  # alerts with status sent and a 2xx at the receiver
    max_ids_per_article: int = 0
    repeats: int = 0  # extra 2xx beyond one per webhook-id
    unexplained_repeats: int = 0  # repeats of a webhook-id whose send had not been cut off
    second_run_exit: int | None = None
    success_counts: dict[str, int] = field(default_factory=dict)  # webhook-id -> 2xx count (raw)

    @property
    def ok(self) -> bool:
        return (self.delivered == self.alerts > 0 and self.max_ids_per_article == 1
                and self.unexplained_repeats == 0 and self.second_run_exit == 0)


def run_trial(n: int, mode: str, *, workdir: Path, articles: int, delay: float, fail_share: float,
              rng: random.Random, span: float) -> Trial:
    trial = Trial(n, mode)
    salt = f"t{n}"
    site = Site(articles, salt)
    receiver = WebhookReceiver(SECRET)
    first_request = threading.Event()
    proc_box: dict[str, subprocess.Popen[bytes]] = {}
    kill_on = rng.randint(1, articles) if mode == "receipt" else 0
    lock = threading.Lock()
    successes = [0]

    def on_delivery(d: Delivery) -> None:
        first_request.set()
        if 200 <= d.status < 300 and d.verified:
            with lock:
                successes[0] += 1
                if successes[0] == kill_on and "first" in proc_box:
                    os.kill(proc_box["first"].pid, signal.SIGKILL)  # before the answer leaves

    receiver.on_delivery = on_delivery

    def handle(request: Request) -> Response:
        if request.method == "POST" and rng.random() < fail_share:
            receiver.answers.insert(0, 500)
        response = receiver.handle(request)
        response.delay = delay
        return response

    hook_server = LocalServer(handle).start()
    folder = workdir / f"trial{n}"
    folder.mkdir()
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump({
        "database": str(folder / "monitor.db"),
        "fetch": {"per_host_delay": 0, "timeout": "5s", "retries": 0},
        "sources": [{"name": "site", "url": site.server.url + "/opinions", "kind": "listing", "links": "ul a"}],
        "topics": [{"name": "mou", "query": "MOU"}],
        "channels": [{"name": "hook", "type": "webhook", "url": hook_server.url + "/hooks", "secret": SECRET,
                      "timeout": "5s"}],
        "alerts": {"retry": ["0s", "0.1s", "0.1s", "0.2s", "0.2s", "0.5s", "1s", "1s"], "fetch_grace": "30s"},
    }), "utf-8")
    cmd = [sys.executable, "-m", "monitor", "fetch", "--config", str(config), "--no-progress"]
    try:
        start = time.monotonic()
        first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc_box["first"] = first
        if mode == "delivery":
            if first_request.wait(30):
                time.sleep(rng.uniform(0, span))
        elif mode == "anytime":
            time.sleep(rng.uniform(0, span + 1.0))
        if mode != "receipt":
            first.send_signal(signal.SIGKILL)
        try:
            first.wait(60)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait(10)
        trial.killed_at = round(time.monotonic() - start, 3)
        trial.killed_during_delivery = first_request.is_set() and first.returncode == -signal.SIGKILL
        with lock:
            at_kill = [d for d in receiver.deliveries if d.verified and 200 <= d.status < 300]
        trial.sent_before_kill = len(at_kill)
        marked = set()
        if (folder / "monitor.db").exists():
            with sqlite3.connect(folder / "monitor.db") as db:
                try:
                    marked = {r[0] for r in db.execute("SELECT message_id FROM alerts WHERE status = 'sent'")}
                except sqlite3.OperationalError:
                    marked = set()  # killed before the schema was made
        cut = {d.webhook_id for d in at_kill} - marked
        trial.cut_off = len(cut)

        second = subprocess.run(cmd, capture_output=True, timeout=120)
        trial.second_run_exit = second.returncode

        with sqlite3.connect(folder / "monitor.db") as db:
            rows = db.execute("SELECT l.message_id, l.status, a.url FROM alerts l JOIN articles a "
                              "ON a.id = l.article_id").fetchall()
            stored = db.execute("SELECT count(*) FROM articles").fetchone()[0]
        good = [d for d in receiver.deliveries if d.verified and 200 <= d.status < 300]
        counts = Counter(d.webhook_id for d in good)
        trial.success_counts = dict(counts)
        trial.alerts = len(rows)
        trial.delivered = sum(1 for mid, status, _ in rows if status == "sent" and counts[mid] >= 1)
        if stored != articles or len(rows) != articles:
            trial.delivered = min(trial.delivered, -1)  # an article or its alert is missing: fail loudly
        ids_per_article: dict[str, set[str]] = {}
        for d in receiver.deliveries:
            url = (d.payload or {}).get("article", {}).get("url") if isinstance(d.payload, dict) else None
            if url:
                ids_per_article.setdefault(url, set()).add(d.webhook_id)
        trial.max_ids_per_article = max((len(v) for v in ids_per_article.values()), default=0)
        trial.repeats = sum(c - 1 for c in counts.values())
        trial.unexplained_repeats = sum(c - 1 - (1 if wid in cut else 0) for wid, c in counts.items()
                                        if c - 1 > (1 if wid in cut else 0))
        return trial
    finally:
        for p in proc_box.values():
            if p.poll() is None:
                p.kill()
                p.wait(10)
        hook_server.stop()
        site.server.stop()


def run(trials: int, *, articles: int = 6, delay: float = 0.15, fail_share: float = 0.15,
        seed: int | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    span = articles * (delay + 0.05) * (1 + fail_share)  # about how long delivery takes
    results = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="monitor-crash-") as tmp:
        for n in range(trials):
            results.append(run_trial(n, MODES[n % len(MODES)], workdir=Path(tmp), articles=articles, delay=delay,
                                     fail_share=fail_share, rng=rng, span=span))
    return {
        "trials": [asdict(t) | {"ok": t.ok} for t in results],
        "summary": {
            "trials": trials,
            "ok": sum(t.ok for t in results),
            "killed_during_delivery": sum(t.killed_during_delivery for t in results),
            "alerts": sum(t.alerts for t in results),
            "delivered": sum(max(0, t.delivered) for t in results),
            "cut_off_sends": sum(t.cut_off for t in results),
            "repeats": sum(t.repeats for t in results),
            "unexplained_repeats": sum(t.unexplained_repeats for t in results),
            "max_ids_per_article": max((t.max_ids_per_article for t in results), default=0),
            "deliveries_per_webhook_id": dict(sorted(Counter(
                c for t in results for c in t.success_counts.values()).items())),
            "seconds": round(time.monotonic() - started, 1),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--articles", type=int, default=6)
    parser.add_argument("--delay", type=float, default=0.15, help="seconds the receiver takes to answer")
    parser.add_argument("--fail-share", type=float, default=0.15, help="share of requests answered 500")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.trials, articles=args.articles, delay=args.delay, fail_share=args.fail_share, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{'trial':>5} {'mode':9} {'killed':>7} {'in deliv':>8} {'2xx@kill':>8} {'cut off':>7} "
              f"{'alerts':>6} {'deliv':>5} {'ids/art':>7} {'repeats':>7} {'ok':>3}")
        for t in result["trials"]:
            print(f"{t['n']:>5} {t['mode']:9} {t['killed_at']:>6.2f}s {str(t['killed_during_delivery']):>8} "
                  f"{t['sent_before_kill']:>8} {t['cut_off']:>7} {t['alerts']:>6} {t['delivered']:>5} "
                  f"{t['max_ids_per_article']:>7} {t['repeats']:>7} {'yes' if t['ok'] else 'NO':>3}")
        s = result["summary"]
        print(f"\n{s['ok']}/{s['trials']} trials ok ({s['killed_during_delivery']} killed during delivery) in "
              f"{s['seconds']}s; {s['delivered']}/{s['alerts']} alerts delivered; at most "
              f"{s['max_ids_per_article']} webhook-id per article; {s['repeats']} repeated deliveries, "
              f"{s['cut_off_sends']} sends cut off before they were marked, {s['unexplained_repeats']} repeats "
              f"unexplained; 2xx per webhook-id: {s['deliveries_per_webhook_id']}")
    return 0 if result["summary"]["ok"] == args.trials else 1


if __name__ == "__main__":
    sys.exit(main())
