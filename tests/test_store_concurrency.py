"""Two real processes on one database file: `monitor run` writing every second while `monitor
fetch`, `monitor db backup` and the read commands run against the same file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from monitor.demo.httpd import Request, Response
from monitor.demo.receivers import WebhookReceiver

from .conftest import Site, listing_html, make_config, run_cli
from .test_dedup import SEED_PARAGRAPHS
from .test_store_pipeline import page

LOCKED = ("database is locked", "database table is locked", "SQLITE_BUSY")


def _site_with_changing_pages(site: Site, n: int) -> str:
    """``n`` articles; every other one changes on each request, so each run writes revisions."""
    links = []
    for i in range(n):
        path = f"/news/2026-01-0{1 + i % 9}/article-number-{i}-about-the-visit"
        if i % 2:
            counter = {"n": 0}

            def changing(_req: Request, i: int = i, counter: dict[str, int] = counter) -> Response:
                counter["n"] += 1
                paragraphs = [f"Update {counter['n']} to article {i}.", *SEED_PARAGRAPHS[(i % 5):(i % 5) + 8]]
                return Response(200, page(f"Article {i}", paragraphs).encode(), {"content-type": "text/html"})

            site.routes[path] = changing
        else:
            site.page(path, page(f"Article {i}", [f"Article {i} begins here.", *SEED_PARAGRAPHS[(i % 7):(i % 7) + 8]]))
        links.append(site.url + path)
    return site.page("/opinions", listing_html(*links))


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


@contextmanager
def daemon(config: Path, workdir: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    log = workdir / "daemon.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "-v", "run", "--config", str(config)],
                                stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})
        try:
            yield proc, log
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the daemon")


def test_fetch_while_the_daemon_writes(tmp_path: Path, site: Site, webhook: WebhookReceiver) -> None:
    listing = _site_with_changing_pages(site, 16)
    config = make_config(tmp_path, [{"name": "s", "url": listing, "kind": "listing", "every": "1s"}],
                         webhook=webhook)
    db = tmp_path / "monitor.db"
    with daemon(config, tmp_path) as (proc, log):
        _wait_for(lambda: _count(db, "SELECT count(*) FROM articles") >= 16)
        revisions_before = _count(db, "SELECT count(*) FROM revisions")
        outputs = []
        for _ in range(3):
            result = run_cli("fetch", "--config", str(config), "--no-progress")
            outputs.append(result.stdout + result.stderr)
            assert result.returncode == 0, result.stdout + result.stderr
        # the daemon kept writing meanwhile (the fetches write revisions too, and take about half a
        # second each now: also wait for the daemon's third run, which its 1 s interval allows)
        _wait_for(lambda: _count(db, "SELECT count(*) FROM revisions") > revisions_before + 8)
        _wait_for(lambda: log.read_text().count("run done") >= 3)
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        daemon_out = log.read_text()
    assert daemon_out.count("run done") >= 3  # it really ran, again and again, while fetch ran
    for text in [*outputs, daemon_out]:
        assert not any(word in text for word in LOCKED), text[-2000:]
        assert "Traceback" not in text, text[-2000:]
    assert _count(db, "SELECT count(*) FROM articles") == 16
    assert _count(db, "SELECT count(DISTINCT url_key) FROM articles") == 16


def test_backup_and_reads_while_the_daemon_writes(tmp_path: Path, site: Site) -> None:
    listing = _site_with_changing_pages(site, 12)
    config = make_config(tmp_path, [{"name": "s", "url": listing, "kind": "listing", "every": "1s"}])
    db = tmp_path / "monitor.db"
    with daemon(config, tmp_path) as (proc, log):
        _wait_for(lambda: _count(db, "SELECT count(*) FROM revisions") >= 6)
        for i in range(3):
            target = tmp_path / f"backup-{i}.db"
            result = run_cli("db", "backup", str(target), "--config", str(config))
            assert result.returncode == 0, result.stdout + result.stderr
            assert "check ok" in result.stdout
            copy = sqlite3.connect(target)
            try:
                assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                copy.execute("INSERT INTO articles_fts(articles_fts) VALUES ('integrity-check')")
                assert copy.execute("SELECT count(*) FROM articles").fetchone()[0] == 12
                # a consistent snapshot: every revision belongs to an article whose counter agrees
                assert copy.execute("SELECT count(*) FROM articles a WHERE a.revisions != "
                                    "(SELECT count(*) FROM revisions r WHERE r.article_id = a.id)").fetchone()[0] == 0
            finally:
                copy.close()
            for args in (("search", "memoranda"), ("db", "info"), ("export", "--format", "csv", "-o",
                                                                   str(tmp_path / "x.csv"))):
                read = run_cli(*args, "--config", str(config))
                assert read.returncode == 0, read.stdout + read.stderr
                assert not any(word in read.stdout + read.stderr for word in LOCKED)
        vac = run_cli("db", "vacuum", "--config", str(config))
        assert vac.returncode == 0, vac.stdout + vac.stderr
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        text = log.read_text()
    assert not any(word in text for word in LOCKED) and "Traceback" not in text
