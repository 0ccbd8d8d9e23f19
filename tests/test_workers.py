"""``monitor fetch --workers N``: the same database as one process, and politeness across processes.

One loopback site of several hosts (127.0.0.x, each its own server): listings and a feed whose links
cross hosts, syndicated copies of one story on three hosts (exact and near copies), articles that
match the topics, redirects within a host and to another host (handed to the worker that owns it),
a redirect loop across hosts, a dead link and a webhook receiver. ``--workers 2`` and ``--workers 1``
run over it into two databases, which must hold the same articles, URLs, stories, topics and alerts.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import parse_config
from monitor.demo.receivers import WebhookReceiver
from monitor.errors import ConfigError

from .conftest import make_config, run_cli
from .faults import Fault, FaultServer, InFlight

HOSTS = ("127.0.0.1", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7")
WORDS = ("harbour council budget river school bridge market railway hospital festival library energy "
         "museum station farmers teachers engineers nurses voters traders ministers mayor province "
         "village coast valley north south east west spring autumn winter summer report plan vote "
         "season record growth decline review survey project tender contract delay opening").split()


def paragraphs(seed: int, n: int = 5) -> list[str]:
    """Sentences nobody else writes: each article its own words in its own order."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        sentences = []
        for _ in range(4):
            words = [rng.choice(WORDS) for _ in range(rng.randint(9, 14))]
            sentences.append(" ".join(words).capitalize() + ".")
        out.append(" ".join(sentences))
    return out


def article(title: str, paras: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paras)
    return (f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a></nav>"
            f"<article><h1>{title}</h1>{body}</article><footer>Contact us</footer></body></html>").encode()


def html(body: bytes, hold: float = 0.0) -> Fault:
    return Fault(200, body, {"content-type": "text/html; charset=utf-8"}, hold=hold)


def listing(links: list[str]) -> bytes:
    items = "".join(f"<li><a href='{u}'>Story {i}</a></li>" for i, u in enumerate(links))
    return f"<html><head><title>Latest</title></head><body><ul>{items}</ul></body></html>".encode()


def rss(links: list[str]) -> bytes:
    items = "".join(f"<item><title>Item {i}</title><link>{u}</link></item>" for i, u in enumerate(links))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>{items}</channel></rss>').encode()


def build_site(servers: list[FaultServer], hold: float = 0.0) -> list[dict[str, Any]]:
    """Routes on every server; returns the config's sources."""
    a, b, c, d, e, f = servers
    links: dict[FaultServer, list[str]] = defaultdict(list)
    for s_no, server in enumerate(servers[:4]):  # eight ordinary articles per host, three of them on topic
        for i in range(8):
            paras = paragraphs(100 * s_no + i)
            if i == 0:
                paras[2] += " Both sides signed an MOU on the railway."
            if i == 1:
                paras[1] += " Officials prepared for talks with North Korea next spring."
            if i == 2:
                paras[3] += " The minister's Japan trip was postponed."
            url = server.route(f"/news/2026/{s_no}-{i}", html(article(f"Host {s_no} story {i}", paras), hold))
            links[server].append(url)
    # One story told on three hosts: the original (a), an exact copy (b), a near copy with a new
    # closing paragraph (c); it matches a topic, so it must alert once, whichever copy came first.
    story = paragraphs(9999, 6)
    story[0] += " The two leaders discussed a memorandum of understanding on energy."
    links[a].append(a.route("/news/2026/syndicated", html(article("Energy pact agreed", story), hold)))
    links[b].append(b.route("/news/2026/copy-of-pact", html(article("Energy pact agreed", story), hold)))
    links[c].append(c.route("/news/2026/pact-near-copy",
                            html(article("Energy pact agreed, officials say", [*story, "Reporting by a staffer."]),
                                 hold)))
    # Redirects: within a host, and from one host to another (the other worker's, when split).
    target = d.route("/news/2026/moved-here", html(article("A story that moved", paragraphs(4242)), hold))
    links[a].append(a.route("/news/2026/moved", Fault(301, b"", {"location": target}, hold=hold)))
    inside = b.route("/news/2026/renamed-new", html(article("A renamed story", paragraphs(4343)), hold))
    links[b].append(b.route("/news/2026/renamed", Fault(302, b"", {"location": inside}, hold=hold)))
    # A redirect loop across hosts, and a dead link: the same outcomes either way.
    loop_a, loop_b = a.url + "/news/2026/loop", b.url + "/news/2026/loop"
    a.route("/news/2026/loop", Fault(302, b"", {"location": loop_b}, hold=hold))
    b.route("/news/2026/loop", Fault(302, b"", {"location": loop_a}, hold=hold))
    links[a].append(loop_a)
    links[d].append(d.url + "/news/2026/gone")
    # A host no source names, reached through the feed, whose robots.txt lives on a host no worker
    # owns (nothing else is fetched there): the parent reads it between rounds.
    f.route("/robots-of-e.txt", Fault(200, b"User-agent: *\nDisallow: /news/2026/private\n", {"content-type": "text/plain"}))
    e.route("/robots.txt", Fault(301, b"", {"location": f.url + "/robots-of-e.txt"}))
    wire_only = [e.route("/news/2026/open", html(article("An open page", paragraphs(777)), hold)),
                 e.route("/news/2026/private", html(article("A private page", paragraphs(778)), hold))]
    # Sources: a listing on each host with its own links, and on host a a feed whose links are on
    # hosts c and d (a source's links cross hosts, so they are split between workers).
    sources = []
    for s_no, server in enumerate(servers[:4]):
        own = links[server]
        half = len(own) // 2 if server is a else len(own)
        server.route("/latest/", html(listing(own[:half])))
        sources.append({"name": f"host-{s_no}", "url": server.url + "/latest/", "kind": "listing",
                        "follow": "/news/2026/"})
    a.route("/feed.xml", Fault(200, rss(links[a][len(links[a]) // 2:] + wire_only),
                               {"content-type": "application/rss+xml"}))
    sources.append({"name": "wire", "url": a.url + "/feed.xml", "kind": "feed", "max_age": "3650d"})
    # A feed that moved to another host: its discovery needs two workers' hosts (the parent reads it).
    relayed = [c.route(f"/news/2026/relayed-{i}", html(article(f"Relayed {i}", paragraphs(600 + i)), hold))
               for i in range(2)]
    c.route("/relay-feed.xml", Fault(200, rss(relayed), {"content-type": "application/rss+xml"}))
    b.route("/relay.xml", Fault(301, b"", {"location": c.url + "/relay-feed.xml"}))
    sources.append({"name": "relay", "url": b.url + "/relay.xml", "kind": "feed", "max_age": "3650d"})
    return sources


@pytest.fixture
def servers() -> Iterator[list[FaultServer]]:
    made = [FaultServer(host) for host in HOSTS]
    try:
        yield made
    finally:
        for s in made:
            s.stop()


def snapshot(db: Path) -> dict[str, Any]:
    """What must not depend on the number of workers (ids and times left out; a story is the set of
    its articles' URLs, so which copy came first does not matter)."""
    con = sqlite3.connect(db)
    try:
        articles = {r[0]: r[1:] for r in con.execute(
            "SELECT id, url, source, title, text, content_hash, simhash, para_hashes FROM articles")}
        url_of = {i: row[0] for i, row in articles.items()}
        stories: dict[int, set[str]] = defaultdict(set)
        for article_id, story_id in con.execute("SELECT id, story_id FROM articles"):
            stories[story_id].add(url_of[article_id])
        story_key = {sid: frozenset(urls) for sid, urls in stories.items()}
        topics: dict[str, set[str]] = defaultdict(set)
        for article_id, topic in con.execute("SELECT article_id, topic FROM matches"):
            topics[url_of[article_id]].add(topic)
        alerts: Counter[tuple[frozenset[str], str, str]] = Counter()
        for story_id, channel, kind, status in con.execute("SELECT story_id, channel, topics, status FROM alerts"):
            alerts[(story_key[story_id], channel, kind)] += 1
            assert status == "sent"
        keys = {(k, url_of[a]) for k, a in con.execute("SELECT url_key, article_id FROM article_urls")}
        last: dict[str, str] = {}
        for url, outcome in con.execute("SELECT url, outcome FROM fetches ORDER BY id"):
            last[url] = outcome
        sources = {r[0]: r[1:] for r in con.execute("SELECT name, state, last_error, consecutive_failures FROM sources")}
    finally:
        con.close()
    return {"articles": sorted(articles.values()), "stories": sorted(map(sorted, story_key.values())),
            "topics": dict(topics), "alerts": alerts, "keys": keys, "outcomes": last, "sources": sources}


def run_fetch(tmp_path: Path, name: str, sources: list[dict[str, Any]], webhook: WebhookReceiver, workers: int,
              **fetch: Any) -> tuple[Path, Any]:
    folder = tmp_path / name
    folder.mkdir()
    config = make_config(folder, sources, webhook=webhook,
                         fetch={"allow_private_networks": True, "concurrency": 8, **fetch})
    done = run_cli("-v", "fetch", "--config", str(config), "--workers", str(workers))
    return folder / "monitor.db", done


def test_two_workers_store_what_one_process_stores(tmp_path: Path, servers: list[FaultServer],
                                                   webhook: WebhookReceiver) -> None:
    sources = build_site(servers)
    two, done2 = run_fetch(tmp_path, "two", sources, webhook, 2)
    assert done2.returncode == 0, done2.stderr
    assert "2 worker processes" in done2.stderr  # the run was really split
    assert "go on in the worker that owns their host" in done2.stderr  # links and redirects crossed workers
    assert "robots.txt read here for 1 origin(s)" in done2.stderr  # and so did a robots.txt
    assert "1 source(s) discovered here" in done2.stderr  # and a feed that moved to another worker's host
    sent_with_two = len(webhook.successful)
    one, done1 = run_fetch(tmp_path, "one", sources, webhook, 1)
    assert done1.returncode == 0, done1.stderr
    assert "worker processes" not in done1.stderr
    sent_with_one = len(webhook.successful) - sent_with_two

    a, b = snapshot(two), snapshot(one)
    assert len(a["articles"]) == 4 * 8 + 3 + 2 + 1 + 2  # ordinary articles, three copies, two redirected, one open
    for part in ("articles", "stories", "topics", "alerts", "keys", "outcomes", "sources"):
        assert a[part] == b[part], part
    # The story told three times is one story, alerted once; every topic article alerted once.
    pact = [s for s in a["stories"] if any("pact" in u or "syndicated" in u for u in s)]
    assert len(pact) == 1 and len(pact[0]) == 3
    assert sum(1 for (story, _c, _t) in a["alerts"] if story == frozenset(pact[0])) == 1
    assert all(n == 1 for n in a["alerts"].values())
    assert sent_with_two == sent_with_one == len(a["alerts"]) > 4
    # The cross-host redirect is one record reached by both URLs; the loop and the dead link failed.
    moved = servers[0].url + "/news/2026/moved"
    assert a["outcomes"][moved] == "ok"
    assert any(url.endswith("/news/2026/moved-here") for _key, url in a["keys"])
    assert a["outcomes"][servers[0].url + "/news/2026/loop"] == "too_many_redirects"
    assert a["outcomes"][servers[3].url + "/news/2026/gone"] == "http_error"
    assert a["outcomes"][servers[4].url + "/news/2026/private"] == "skipped_robots"  # rules read on another host
    # The summary table counts the same either way (alerts sent go to the source of the story's
    # first article, which may differ: only their total must not).
    rows2, rows1 = summary_rows(done2.stdout), summary_rows(done1.stdout)
    assert {k: v[:6] for k, v in rows2.items()} == {k: v[:6] for k, v in rows1.items()}
    assert sum(int(v[6]) for v in rows2.values()) == sum(int(v[6]) for v in rows1.values()) == len(a["alerts"])


def summary_rows(stdout: str) -> dict[str, list[str]]:
    """source -> links, fetched, new, updated, unchanged, failed, alerts sent, status."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 9 and cells[0].startswith(("host-", "wire", "relay")):
            rows[cells[0]] = cells[1:]
    assert len(rows) == 6, stdout
    return rows


class _Both(InFlight):
    """One host's requests in flight, counted in that host's gauge and in the whole site's."""

    def __init__(self, own: InFlight, overall: InFlight) -> None:
        super().__init__()
        self.own, self.overall = own, overall

    def enter(self) -> None:
        self.own.enter()
        self.overall.enter()

    def leave(self) -> None:
        self.own.leave()
        self.overall.leave()


def test_no_two_requests_on_one_host_at_once_across_workers(tmp_path: Path, servers: list[FaultServer],
                                                            webhook: WebhookReceiver) -> None:
    sources = build_site(servers, hold=0.02)
    overall = InFlight()
    gauges = [InFlight() for _ in servers]
    for server, gauge in zip(servers, gauges, strict=True):
        server.in_flight = _Both(gauge, overall)
    db, done = run_fetch(tmp_path, "polite", sources, webhook, 2, respect_robots=True, per_host_delay=0.05)
    assert done.returncode == 0, done.stderr
    assert "2 worker processes" in done.stderr
    assert [g.peak for g in gauges] == [1] * len(servers)  # each host: one request at a time, seen by the server
    assert overall.peak >= 2  # hosts did overlap: the gauges can see concurrency
    for server in servers[:4]:
        assert server.hits("/robots.txt") == 1  # read once per host, by whichever process came first
    assert servers[4].hits("/robots.txt") == 2  # (redirected to another host: asked by its worker, read here)
    for server in servers[:5]:
        starts = sorted(s.time for s in server.seen)
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert min(gaps) >= 0.05 - 0.005  # the host's delay between two requests, across processes too


def test_workers_in_config_and_on_the_command_line(tmp_path: Path) -> None:
    assert parse_config("sources: []\n", "c.yaml").workers is None
    assert parse_config("workers: 3\n", "c.yaml").workers == 3
    for bad in ("0", "65", "two", "-1"):
        with pytest.raises(ConfigError, match="workers"):
            parse_config(f"workers: {bad}\n", "c.yaml")
    config = make_config(tmp_path, [])
    done = run_cli("fetch", "--config", str(config), "--workers", "0")
    assert done.returncode == 2 and "--workers" in done.stderr
    done = run_cli("fetch", "--config", str(config), "--workers", "2")
    assert done.returncode == 0, done.stderr


def test_json_log_lines_from_workers_keep_their_context(tmp_path: Path, servers: list[FaultServer],
                                                        webhook: WebhookReceiver) -> None:
    sources = build_site(servers)
    folder = tmp_path / "logs"
    folder.mkdir()
    config = make_config(folder, sources, webhook=webhook, fetch={"allow_private_networks": True})
    done = run_cli("--log-format", "json", "-v", "fetch", "--config", str(config), "--workers", "2")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert any(x["logger"] == "monitor.workers" and "2 worker processes" in x["message"] for x in lines)
    new = [x for x in lines if x["message"].startswith("new article")]
    assert len(new) == 4 * 8 + 3 + 2 + 1 + 2  # every stored article, logged by the worker that stored it
    assert all(x["source"] and x["url"].startswith("http://127.0.0.") for x in new)


def test_spawned_workers_when_threads_run_give_the_same_articles(tmp_path: Path, servers: list[FaultServer],
                                                                webhook: WebhookReceiver,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Called from a process with threads (here: the servers'), workers are spawned, not forked."""
    import logging

    from monitor.config import load_config
    from monitor.workers import fetch_in_workers

    caplog.set_level(logging.INFO, logger="monitor.workers")

    sources = build_site(servers)
    folder = tmp_path / "spawned"
    folder.mkdir()
    config = make_config(folder, sources, webhook=webhook, fetch={"allow_private_networks": True, "concurrency": 8})
    summary = fetch_in_workers(load_config(config), workers=2)
    assert summary.exit_code == 0
    assert "2 worker processes (spawn)" in caplog.text
    assert sum(r.new for r in summary.reports) == 4 * 8 + 3 + 2 + 1 + 2, [(r.source, r.links, r.new, r.error, r.errors[:2]) for r in summary.reports]
    one, done = run_fetch(tmp_path, "one", sources, webhook, 1)
    assert done.returncode == 0, done.stderr
    a, b = snapshot(folder / "monitor.db"), snapshot(one)
    for part in ("articles", "stories", "topics", "alerts", "keys", "outcomes"):
        assert a[part] == b[part], part


def test_sigterm_stops_the_workers_too(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    import psutil

    with FaultServer("127.0.0.1") as a, FaultServer("127.0.0.3") as b:
        sources = []
        for n, server in enumerate((a, b)):
            links = [server.route(f"/news/2026/slow-{i}", html(article(f"Slow {i}", paragraphs(i)), hold=0.5))
                     for i in range(20)]
            server.route("/latest/", html(listing(links)))
            sources.append({"name": f"slow-{n}", "url": server.url + "/latest/", "kind": "listing",
                            "follow": "/news/2026/"})
        config = make_config(tmp_path, sources, fetch={"allow_private_networks": True})
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "-v", "fetch", "--config", str(config),
                                 "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                if "worker processes" in line:
                    break
            workers = psutil.Process(proc.pid).children()
            assert len(workers) == 2
            time.sleep(0.3)  # the workers are fetching (each page takes 0.5 s)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 128 + signal.SIGTERM
            gone, alive = psutil.wait_procs(workers, timeout=5)
            assert not alive
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
