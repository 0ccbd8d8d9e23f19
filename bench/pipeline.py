"""End to end: ``monitor fetch`` against trafilatura's command line, over one loopback news site.

    python bench/pipeline.py [--hosts 20] [--articles 2080] [--repeat N] [--workers N] [--profile] [--json PATH]

What it does, in one go:

1. Serves the site of ``bench/_site.py`` (hosts 127.0.0.2..., a listing page and an RSS feed per
   host, 2,000+ article URLs whose pages are the extraction development pages, read at run time)
   from a separate process, and measures that server's ceiling with a bare h11 client
   (requests per second, and the server's own CPU per request) and its latency as monitor uses it
   (one connection per host, one request at a time; a warning when 1% take 20 ms or more).
2. Runs ``python -m monitor fetch`` (the real CLI, as a subprocess) with politeness off
   (``per_host_delay: 0``, ``respect_robots: false``, ``allow_private_networks: true``), one
   listing and one feed source per host, the three example topics of ``config.yaml`` and a
   webhook channel pointing at a local receiver. ``--workers N`` is passed on when the CLI has it.
3. Runs trafilatura's command line over the same article URLs: ``trafilatura --input-file urls.txt
   --parallel 4 --with-metadata --output-dir ... --config-file settings.cfg`` where settings.cfg is
   trafilatura's own with ``SLEEP_TIME = 0`` and ``SSRF_PROTECTION = off`` (its address guard).
   ``--with-metadata`` because monitor extracts title, byline and dates too (and each output file
   then has its own name); ``--trafilatura-plain`` drops it.
4. For each run: articles per second (wall clock, start-up included), CPU seconds per article
   (user + system of the whole process tree, from ``getrusage(RUSAGE_CHILDREN)``), peak RSS of
   the process tree (psutil, summed over the tree every 50 ms) and the ratio monitor/trafilatura.
5. Checks every article monitor stored against ``monitor.extract.extract()`` of the same page run
   here (same title, same text, same topics), and every planned URL for being stored.
6. With ``--profile``: runs monitor once more under ``py-spy record --subprocesses`` and prints
   the top functions (own time and total time) and where the CPU goes by stage.

Nothing leaves 127.0.0.0/8. Needs the ``bench`` extra (trafilatura, psutil) and, for
``--profile``, py-spy. Exit status 1 when a run fails or the check finds a difference.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import os
import platform
import resource
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from base64 import b64encode
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import _profile  # noqa: E402
import _site  # noqa: E402

TARGET_RATE = 300.0  # articles per second (issue 9)
TARGET_RATIO = 6.0
TARGET_RSS_MB = 400.0


# ----------------------------------------------------------------------------- the site server

class SiteServer:
    """``bench/_site.py serve`` in its own process; stops when asked or when we go away."""

    def __init__(self, args: argparse.Namespace, log: Path) -> None:
        self.cmd = [sys.executable, str(REPO / "bench" / "_site.py"), "serve", "--data", str(args.data),
                    "--hosts", str(args.hosts), "--articles", str(args.articles),
                    "--workers", str(args.server_workers)] + (["--no-gzip"] if args.no_gzip else [])
        self.log = log
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def start(self, timeout: float = 120.0) -> SiteServer:
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log.open("w"), text=True)
        assert self.proc.stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or not line[0].strip():
            self.stop()
            raise RuntimeError(f"the site server did not start; see {self.log}:\n{self.log.read_text()[-2000:]}")
        self.info = json.loads(line[0])
        return self

    @property
    def port(self) -> int:
        return int(self.info["port"])

    def processes(self) -> list[psutil.Process]:
        assert self.proc is not None
        out = []
        for pid in [self.proc.pid, *self.info.get("pids", [])]:
            try:
                out.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
        return out

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self.processes():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.terminate()
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def server_ceiling(server: SiteServer, urls: list[str], *, seconds: float, processes: int,
                   connections: int) -> dict[str, float]:
    """Requests per second a bare client gets (processes x keep-alive connections, gzip accepted,
    bodies discarded), and the server's own CPU per request."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    cpu0 = server.cpu_seconds()
    with ProcessPoolExecutor(processes, mp_context=get_context("fork")) as pool:
        started = time.perf_counter()
        results = list(pool.map(_site.bare_client, [urls] * processes, [seconds] * processes,
                                [connections] * processes))
        wall = time.perf_counter() - started
    requests = sum(r[0] for r in results)
    cpu = server.cpu_seconds() - cpu0
    return {"requests_per_s": round(requests / wall, 1), "mb_per_s": round(sum(r[1] for r in results) / wall / 1e6, 1),
            "server_cpu_us_per_request": round(cpu / max(requests, 1) * 1e6, 1),
            "server_ceiling_per_core": round(max(requests, 1) / max(cpu, 1e-9), 1),
            "client_processes": processes, "connections_each": connections}


def server_latency(urls: list[str], *, hosts: int, seconds: float = 1.5) -> dict[str, float]:
    """Milliseconds per request with one connection per host and one request at a time on each (as
    monitor asks): a server that makes clients wait (Nagle's algorithm holding a body back for the
    client's delayed ACK, 40 ms on Linux) is the bottleneck however many requests a second it can serve."""
    requests, _bytes, latencies = _site.bare_client(urls, seconds, hosts)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {"requests": requests, "p50_ms": round(cuts[49] * 1000, 2), "p99_ms": round(cuts[98] * 1000, 2),
            "max_ms": round(max(latencies) * 1000, 2),
            "over_20ms": sum(1 for x in latencies if x >= 0.020)}


# ----------------------------------------------------------------------------- measured runs

@dataclass
class Run:
    tool: str
    wall_s: float = 0.0
    articles: int = 0
    cpu_user_s: float = 0.0
    cpu_sys_s: float = 0.0
    peak_rss_mb: float = 0.0
    max_processes: int = 0
    server_cpu_s: float = 0.0
    exit_code: int = 0
    load_before: float = 0.0
    note: str = ""

    @property
    def per_s(self) -> float:
        return self.articles / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_ms_per_article(self) -> float:
        return (self.cpu_user_s + self.cpu_sys_s) * 1000 / self.articles if self.articles else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["articles_per_s"] = round(self.per_s, 1)
        out["cpu_ms_per_article"] = round(self.cpu_ms_per_article, 2)
        out["articles_per_cpu_s"] = round(1000 / self.cpu_ms_per_article, 1) if self.cpu_ms_per_article else 0.0
        return out


class TreeSampler(threading.Thread):
    """Peak RSS of a process and all its descendants, summed, sampled every ``interval`` seconds.
    (A sum of RSS counts pages shared between forked processes once per process: an upper bound.)
    The list of descendants (a scan of every process on the machine) is renewed every
    ``relist`` seconds, not at every sample: the sampler shares the cores it measures."""

    def __init__(self, pid: int, interval: float = 0.05, relist: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.relist = pid, interval, relist
        self.peak = 0
        self.most = 0
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        listed = -1.0
        tree: list[psutil.Process] = [root]
        while not self._halt.is_set():
            if time.monotonic() - listed >= self.relist:
                try:
                    tree = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    return
                listed = time.monotonic()
            total = 0
            for p in tree:
                try:
                    total += p.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            self.peak = max(self.peak, total)
            self.most = max(self.most, len(tree))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(2)


def measured(tool: str, cmd: list[str], *, cwd: Path, out: Path, server: SiteServer, timeout: float,
             env: dict[str, str] | None = None) -> Run:
    run = Run(tool, load_before=round(os.getloadavg()[0], 2))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = server.cpu_seconds()
    started = time.perf_counter()
    with out.with_suffix(".out").open("w") as stdout, out.with_suffix(".err").open("w") as stderr:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=env)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        try:
            run.exit_code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            run.exit_code = proc.wait()
            run.note = f"killed after {timeout:g}s"
    run.wall_s = time.perf_counter() - started
    sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run.cpu_user_s = after.ru_utime - before.ru_utime
    run.cpu_sys_s = after.ru_stime - before.ru_stime
    run.peak_rss_mb = sampler.peak / 2**20
    run.max_processes = sampler.most
    run.server_cpu_s = server.cpu_seconds() - server_cpu
    return run


def fresh(db: Path) -> Path:
    """A database path with nothing left from an earlier run."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return db


def cli_help(cmd: list[str], env: dict[str, str] | None) -> tuple[str, float]:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    return done.stdout + done.stderr, time.perf_counter() - started


# ----------------------------------------------------------------------------- monitor

def monitor_config(plan: _site.SitePlan, db: Path, *, webhook_url: str | None, secret: str,
                   concurrency: int) -> dict[str, Any]:
    example = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    topics = [{k: v for k, v in t.items() if k != "channels"} for t in example["topics"]]
    cfg: dict[str, Any] = {
        "database": str(db),
        "fetch": {"per_host_delay": 0, "respect_robots": False, "allow_private_networks": True,
                  "concurrency": concurrency, "timeout": "30s", "deadline": "120s"},
        "sources": [{"name": s.name, "url": s.url, "kind": s.kind, "follow": _site.FOLLOW, "max_links": 100_000}
                    for s in plan.sources],
        "aliases": example.get("aliases") or {},
        "topics": topics,
        "alerts": {"retry": ["0s", "1s"], "fetch_grace": "5s"},
    }
    if webhook_url:
        cfg["channels"] = [{"name": "bench-hook", "type": "webhook", "url": webhook_url, "secret": secret}]
    return cfg


def db_counts(db: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {name: int(con.execute(f"SELECT count(*) FROM {name}").fetchone()[0])
                for name in ("articles", "stories", "matches", "alerts")}
    finally:
        con.close()


@dataclass
class Expected:
    title: str
    text: str
    topics: frozenset[str]
    stored: bool  # the pipeline stores it (text found, not a consent wall)


def expectations(plan: _site.SitePlan, pages: _site.Pages, cfg_path: Path) -> dict[str, Expected]:
    """What the pipeline must store for each planned URL, computed here with the library's
    extract() and topic matcher, as pipeline.py documents its use of them (link title as fallback)."""
    from monitor.config import load_config
    from monitor.extract import extract
    from monitor.topics import Document, compile_topics

    cfg = load_config(cfg_path)
    matcher = compile_topics(cfg.topics, cfg.aliases)
    out: dict[str, Expected] = {}
    for a in plan.articles:
        art = extract(pages.body(a), url=a.url)
        title = art.title or a.link_title
        topics = frozenset(m.topic for m in matcher.match(Document(
            title=title, text=art.text, captions=tuple(art.captions), byline=art.byline, source=a.source,
            url=art.url or a.url, lang=art.lang)))
        out[a.url] = Expected(title, art.text, topics, bool(art.text.strip()) and not art.is_consent_wall)
    return out


def _first_difference(got: str, want: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(got, want, strict=False)) if x != y), min(len(got), len(want)))
    return f"at char {i} (stored {len(got)} chars, expected {len(want)}): stored {got[max(0, i - 30):i + 50]!r} " \
           f"expected {want[max(0, i - 30):i + 50]!r}"


def check_db(db: Path, plan: _site.SitePlan, expected: dict[str, Expected]) -> dict[str, Any]:
    """Every stored article against its expectation; every planned URL stored or explained."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT id, url, source, title, text FROM articles").fetchall()
        topics: dict[int, set[str]] = defaultdict(set)
        for article_id, topic in con.execute("SELECT article_id, topic FROM matches"):
            topics[article_id].add(topic)
        outcomes = {url: outcome for url, outcome in con.execute("SELECT url, last_outcome FROM urls")}
    finally:
        con.close()
    by_url = plan.by_url()
    seen: Counter[str] = Counter()
    problems: list[dict[str, str]] = []
    kinds: Counter[str] = Counter()
    for article_id, url, source, title, text in rows:
        seen[url] += 1
        want = expected.get(url)
        if want is None:
            kinds["not planned"] += 1
            problems.append({"url": url, "what": "stored but not a planned article URL"})
            continue
        if source != by_url[url].source:
            kinds["source"] += 1
            problems.append({"url": url, "what": f"source {source!r}, expected {by_url[url].source!r}"})
        if title != want.title:
            kinds["title"] += 1
            problems.append({"url": url, "what": f"title {title!r}, expected {want.title!r}"})
        if text != want.text:
            kinds["text"] += 1
            problems.append({"url": url, "what": "text differs " + _first_difference(text or "", want.text)})
        if topics.get(article_id, set()) != want.topics:
            kinds["topics"] += 1
            problems.append({"url": url, "what": f"topics {sorted(topics.get(article_id, set()))}, "
                                                 f"expected {sorted(want.topics)}"})
    for url, n in seen.items():
        if n > 1:
            kinds["duplicate"] += 1
            problems.append({"url": url, "what": f"stored {n} times"})
    missing = [u for u, e in expected.items() if e.stored and u not in seen]
    for url in missing:
        kinds["missing"] += 1
        problems.append({"url": url, "what": f"not stored (last fetch outcome: {outcomes.get(url)})"})
    not_expected = sum(1 for u, e in expected.items() if not e.stored and u in seen)
    return {"checked": len(rows), "identical": len(rows) - len({p["url"] for p in problems if p["url"] in seen}),
            "expected_unstored": sum(1 for e in expected.values() if not e.stored),
            "stored_though_expected_not": not_expected, "problem_kinds": dict(kinds),
            "problems": problems[:50]}


# ----------------------------------------------------------------------------- trafilatura

def trafilatura_settings(folder: Path) -> Path:
    """trafilatura's own settings.cfg with no sleep between requests and its address guard off."""
    import trafilatura

    parser = configparser.ConfigParser()
    parser.read(Path(trafilatura.__file__).parent / "settings.cfg", encoding="utf-8")
    parser["DEFAULT"]["SLEEP_TIME"] = "0"
    parser["DEFAULT"]["SSRF_PROTECTION"] = "off"
    path = folder / "trafilatura-settings.cfg"
    with path.open("w", encoding="utf-8") as fh:
        parser.write(fh)
    return path


def trafilatura_cmd(urls: Path, settings: Path, parallel: int, plain: bool) -> list[str]:
    """Its results go to standard output as JSON lines (redirected to a file): with ``--output-dir``
    it names each file by a hash of the text, so the copies of one page would overwrite each other
    and the articles could not be counted."""
    exe = Path(sys.executable).with_name("trafilatura")
    cmd = [str(exe) if exe.exists() else "trafilatura", "--input-file", str(urls), "--parallel", str(parallel),
           "--output-format", "json", "--config-file", str(settings)]
    return cmd if plain else [*cmd, "--with-metadata"]


def trafilatura_articles(stdout: Path, stderr: Path) -> tuple[int, str]:
    """Results with a text, and the URLs it reported as failed."""
    articles = 0
    for line in stdout.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and (record.get("text") or "").strip():
            articles += 1
    failed = stderr.read_text(errors="replace").count("No result for URL") if stderr.exists() else 0
    return articles, f"{failed} URLs without a result"


def source_digest(root: Path = REPO) -> str:
    """A digest of ``root``/monitor (code and data), to tell whether it changed during the bench."""
    h = hashlib.sha256()
    for path in sorted((root / "monitor").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def snapshot(work: Path) -> Path:
    """A copy of monitor/ as it is now (compiled), so that edits to the checkout during the bench
    change neither the runs nor the check. Runs use it through PYTHONPATH, the check by import."""
    import compileall

    dest = work / "src"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(REPO / "monitor", dest / "monitor", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    compileall.compile_dir(dest, quiet=1)
    return dest


# ----------------------------------------------------------------------------- output

def table(runs: list[Run]) -> str:
    head = f"{'run':<14}{'articles':>9}{'wall s':>8}{'art/s':>8}{'CPU ms/art':>11}{'user s':>8}{'sys s':>7}" \
           f"{'peak RSS MB':>12}{'procs':>6}{'server CPU s':>13}{'load':>6}  note"
    lines = [head, "-" * len(head)]
    for r in runs:
        lines.append(f"{r.tool:<14}{r.articles:>9}{r.wall_s:>8.2f}{r.per_s:>8.1f}{r.cpu_ms_per_article:>11.2f}"
                     f"{r.cpu_user_s:>8.2f}{r.cpu_sys_s:>7.2f}{r.peak_rss_mb:>12.1f}{r.max_processes:>6}"
                     f"{r.server_cpu_s:>13.2f}{r.load_before:>6.2f}  {r.note}")
    return "\n".join(lines)


def summarize(runs: list[Run]) -> dict[str, Any]:
    mon = [r for r in runs if r.tool.startswith("monitor") and r.exit_code == 0]
    tra = [r for r in runs if r.tool.startswith("trafilatura") and r.exit_code == 0]
    out: dict[str, Any] = {}
    if mon:
        out["monitor_articles_per_s"] = round(statistics.median(r.per_s for r in mon), 1)
        out["monitor_cpu_ms_per_article"] = round(statistics.median(r.cpu_ms_per_article for r in mon), 2)
        out["monitor_peak_rss_mb"] = round(max(r.peak_rss_mb for r in mon), 1)
        # Noise-robust: what the CPU cost alone allows (wall-clock rates move with the machine's load).
        out["monitor_articles_per_cpu_s"] = round(1000 / out["monitor_cpu_ms_per_article"], 1)
        out["monitor_bound_on_all_cores"] = round((os.cpu_count() or 1) * 1000 / out["monitor_cpu_ms_per_article"], 1)
    if tra:
        out["trafilatura_articles_per_s"] = round(statistics.median(r.per_s for r in tra), 1)
        out["trafilatura_cpu_ms_per_article"] = round(statistics.median(r.cpu_ms_per_article for r in tra), 2)
        out["trafilatura_peak_rss_mb"] = round(max(r.peak_rss_mb for r in tra), 1)
    if mon and tra:
        pairs = [m.per_s / t.per_s for m, t in zip(mon, tra, strict=False) if t.per_s]
        out["ratio_speed"] = round(statistics.median(pairs), 2) if pairs else None
        out["ratio_cpu_per_article"] = round(out["trafilatura_cpu_ms_per_article"]
                                             / max(out["monitor_cpu_ms_per_article"], 1e-9), 2)
    return out


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=_site.DEFAULT_DATA, help="extraction development set folder")
    ap.add_argument("--hosts", type=int, default=20, help="site hosts 127.0.0.2 ... (default 20)")
    ap.add_argument("--articles", type=int, default=2080, help="article URLs (default 2080)")
    ap.add_argument("--server-workers", type=int, default=2, help="site server processes (default 2)")
    ap.add_argument("--no-gzip", action="store_true", help="serve uncompressed bodies")
    ap.add_argument("--workers", type=int, default=None, help="monitor fetch --workers N (when the CLI has it)")
    ap.add_argument("--concurrency", type=int, default=64, help="monitor fetch.concurrency (default 64)")
    ap.add_argument("--parallel", type=int, default=4, help="trafilatura --parallel (default 4)")
    ap.add_argument("--trafilatura-plain", action="store_true", help="trafilatura without --with-metadata")
    ap.add_argument("--skip-trafilatura", action="store_true")
    ap.add_argument("--no-webhook", action="store_true", help="no alert channel")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each tool, alternating (default 1)")
    ap.add_argument("--ceiling-seconds", type=float, default=3.0)
    ap.add_argument("--profile", action="store_true", help="also profile one monitor run with py-spy")
    ap.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds one run may take")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the run's files here")
    ap.add_argument("--no-snapshot", action="store_true",
                    help="run the checkout's monitor/ itself, not a copy taken at the start")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    work.mkdir(parents=True, exist_ok=True)
    live_digest = source_digest()
    env = dict(os.environ)
    code_root = REPO
    if not args.no_snapshot:
        code_root = snapshot(work)
        sys.path.insert(0, str(code_root))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(code_root), env.get("PYTHONPATH")) if p)
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                          "load_at_start": os.getloadavg()}, "args": {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    server = SiteServer(args, work / "site.log")
    webhook = None
    ok = True
    try:
        print(f"site: {args.hosts} hosts, {args.articles} article URLs from {args.data}; starting the server ...",
              flush=True)
        server.start()
        plan = _site.plan_site(args.data, _site.host_list(args.hosts), args.articles, server.port)
        pages = _site.Pages(args.data)
        urls = [a.url for a in plan.articles]
        result["site"] = {"port": server.port, "hosts": args.hosts, "article_urls": len(urls),
                          "distinct_pages": len(pages.halves), "sources": len(plan.sources),
                          "gzip": not args.no_gzip, "server_workers": args.server_workers,
                          "server_build_s": server.info.get("build_s")}
        ceiling = server_ceiling(server, urls, seconds=args.ceiling_seconds, processes=2, connections=40)
        result["server_ceiling"] = ceiling
        print(f"server ceiling (bare h11 client, 2 processes x 40 connections, sharing the cores): "
              f"{ceiling['requests_per_s']:.0f} requests/s, {ceiling['mb_per_s']:.0f} MB/s; server CPU "
              f"{ceiling['server_cpu_us_per_request']:.0f} us/request (= {ceiling['server_ceiling_per_core']:.0f} "
              f"requests/s per core); target {TARGET_RATE:.0f}/s", flush=True)
        latency = server_latency(urls, hosts=args.hosts)
        result["server_latency"] = latency
        print(f"server latency (1 connection per host, one request at a time): {latency['p50_ms']:.2f} ms median, "
              f"{latency['p99_ms']:.2f} ms p99, {latency['max_ms']:.1f} ms max; {latency['over_20ms']} of "
              f"{latency['requests']} requests took 20 ms or more", flush=True)
        if latency["over_20ms"] > latency["requests"] // 100:
            print("WARNING: the site server makes clients wait: the figures below measure it, not the clients",
                  flush=True)

        secret = "whsec_" + b64encode(secrets.token_bytes(24)).decode()
        if not args.no_webhook:
            from monitor.demo.receivers import WebhookReceiver

            webhook = WebhookReceiver(secret).start()
        mon_base = [sys.executable, "-m", "monitor"]
        help_text, startup = cli_help([*mon_base, "fetch", "--help"], env)
        has_workers = "--workers" in help_text
        result["monitor_cli"] = {"has_workers": has_workers, "fetch_help_s": round(startup, 2)}
        worker_args: list[str] = []
        if args.workers is not None:
            if has_workers:
                worker_args = ["--workers", str(args.workers)]
            else:
                print(f"note: monitor fetch has no --workers yet; --workers {args.workers} is not passed", flush=True)
        cfg_path = work / "monitor.yaml"
        cfg_path.write_text(yaml.safe_dump(monitor_config(
            plan, work / "monitor.db", webhook_url=webhook.url if webhook else None, secret=secret,
            concurrency=args.concurrency), sort_keys=False), encoding="utf-8")
        (work / "urls.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
        settings = trafilatura_settings(work)
        print(f"startup: `monitor fetch --help` {startup:.2f}s; workers flag: {has_workers}", flush=True)
        print("computing what every article must be: extract() and the topics of each page, here ...", flush=True)
        started = time.perf_counter()
        digest = source_digest(code_root)
        import monitor

        result["monitor_code"] = {"path": str(Path(monitor.__file__).parent), "digest": digest,
                                  "snapshot": not args.no_snapshot}
        expected = expectations(plan, pages, cfg_path)
        print(f"  ({time.perf_counter() - started:.1f}s; monitor/ digest {digest})", flush=True)

        runs: list[Run] = []
        dbs: list[tuple[Path, str]] = []
        for i in range(1, args.repeat + 1):
            db = fresh(work / f"monitor-{i}.db")
            cmd = [*mon_base, "fetch", "--config", str(cfg_path), "--db", str(db), "--no-progress", *worker_args]
            if webhook:
                webhook.deliveries.clear()
            print(f"run {i}: {' '.join(cmd)}", flush=True)
            run = measured(f"monitor #{i}", cmd, cwd=work, out=work / f"monitor-{i}", server=server,
                           timeout=args.timeout, env=env)
            if run.exit_code == 0 and db.exists():
                counts = db_counts(db)
                run.articles = counts["articles"]
                sent = len(webhook.successful) if webhook else 0
                run.note = f"{counts['stories']} stories, {counts['matches']} matches, {counts['alerts']} alerts " \
                           f"queued, {sent} webhooks verified"
                now = source_digest(code_root)
                dbs.append((db, now))
                if now != digest:
                    run.note += f"; monitor/ changed during the bench ({digest} -> {now})"
            else:
                ok = False
                run.note = (run.note + " " + (work / f"monitor-{i}.err").read_text(errors="replace")[-300:]).strip()
            runs.append(run)
            if not args.skip_trafilatura:
                tcmd = trafilatura_cmd(work / "urls.txt", settings, args.parallel, args.trafilatura_plain)
                print(f"run {i}: {' '.join(tcmd)} > {work / f'trafilatura-{i}.out'}", flush=True)
                trun = measured(f"trafilatura #{i}", tcmd, cwd=work, out=work / f"trafilatura-{i}",
                                server=server, timeout=args.timeout)
                trun.articles, trun.note = trafilatura_articles(work / f"trafilatura-{i}.out",
                                                               work / f"trafilatura-{i}.err")
                if trun.exit_code not in (0, 1):  # 1: some URLs gave no result
                    ok = False
                runs.append(trun)
        print()
        print(table(runs))
        summary = summarize(runs)
        result["runs"] = [r.as_dict() for r in runs]
        result["summary"] = summary
        print()
        for key, value in summary.items():
            print(f"{key:>32}: {value}")
        if "monitor_articles_per_s" in summary:
            print(f"targets: >= {TARGET_RATE:.0f} articles/s, >= {TARGET_RATIO:g}x trafilatura, peak RSS < "
                  f"{TARGET_RSS_MB:.0f} MB")

        if dbs:
            print("\nchecking every stored article against extract() of the same page ...", flush=True)
            checks = [check_db(db, plan, expected) | {"monitor_digest_after_run": d, "monitor_digest_expected": digest}
                      for db, d in dbs]
            result["check"] = checks
            for i, c in enumerate(checks, 1):
                if c["monitor_digest_after_run"] != digest:
                    print(f"run {i}: WARNING: monitor/ was edited during the bench (someone else's work): "
                          f"differences may come from the edit, not from the pipeline")
                print(f"run {i}: {c['checked']} stored, {c['identical']} identical to extract() (title, text, "
                      f"topics, source); {c['expected_unstored']} planned pages give no article; problems: "
                      f"{c['problem_kinds'] or 'none'}")
                for p in c["problems"][:8]:
                    print(f"    {p['url']}: {p['what'][:300]}")
                if c["problem_kinds"]:
                    ok = False

        if args.profile:
            db = fresh(work / "monitor-profile.db")
            cmd = [*mon_base, "fetch", "--config", str(cfg_path), "--db", str(db), "--no-progress", *worker_args]
            raw = work / "profile.txt"
            print(f"\nprofiling: py-spy record --subprocesses -r {args.profile_rate} -- {' '.join(cmd)}", flush=True)
            prof = _profile.record(cmd, raw, rate=args.profile_rate, cwd=work, env=env)
            result["profile"] = prof
            print(_profile.render(prof, summary.get("monitor_cpu_ms_per_article")))
    finally:
        if webhook:
            webhook.stop()
        server.stop()
    result["checkout_edited_during_bench"] = source_digest() != live_digest
    if result["checkout_edited_during_bench"] and not args.no_snapshot:
        print("note: monitor/ in the checkout was edited during the bench; the snapshot taken at the start "
              "was measured")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
        print(f"\nwrote {args.json}")
    print(f"files of this run: {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
