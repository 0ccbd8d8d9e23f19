"""Helpers for the daemon tests: ``monitor run`` as a real process with its endpoint on a free
loopback port, JSON logs in a file, and a clean stop; a site route that records when it was hit."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from monitor.demo.httpd import Request, Response


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(interval)


class Recorder:
    """A route that answers with ``response`` (changeable) and records the monotonic time of each hit."""

    def __init__(self, response: Response) -> None:
        self.response = response
        self.times: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self._lock:
            self.times.append(time.monotonic())
        return self.response

    @property
    def count(self) -> int:
        return len(self.times)


class DaemonProcess:
    """``python -m monitor run`` with ``--listen 127.0.0.1:<free port>`` and JSON logs at -vv."""

    def __init__(self, config: Path, *, verbose: int = 1, extra_env: dict[str, str] | None = None,
                 log_name: str = "daemon.log", args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = config.parent / log_name
        self._log = self.log_path.open("w", encoding="utf-8")
        cmd = [sys.executable, "-m", "monitor", "--log-format", "json", *(["-" + "v" * verbose] if verbose else []),
               "run", "--config", str(config), "--listen", f"127.0.0.1:{self.port}", *args]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log,
                                     env={**os.environ, **(extra_env or {})})

    def get(self, path: str, timeout: float = 5.0) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout, trust_env=False)

    def wait_up(self, timeout: float = 20.0) -> float:
        """Wait until /healthz answers; returns the monotonic time it first did."""
        def up() -> float | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"monitor run exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                return time.monotonic() if self.get("/healthz", timeout=1).status_code == 200 else None
            except httpx.HTTPError:
                return None
        return float(wait_until(up, timeout, what="the daemon's /healthz"))

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """``{(sample name, sorted labels): value}`` from /metrics, parsed by prometheus_client."""
        response = self.get("/metrics")
        assert response.status_code == 200
        out = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds it took)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - t0

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text("utf-8", errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def wait_log(self, fragment: str, timeout: float = 15.0, after: int = 0) -> dict[str, Any]:
        """Wait for a log line (from the ``after``-th on) whose message contains ``fragment``."""
        return wait_until(lambda: next((r for r in self.log_lines()[after:] if fragment in r["message"]), None),
                          timeout, what=f"log line {fragment!r}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def metric(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The value of one sample (0 when absent)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def article_html(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><title>{title}</title><meta property='og:title' content='{title}'></head><body>"
            f"<nav><a href='/'>Home</a></nav><article><h1>{title}</h1><p class='byline'>By A. Writer</p>{body}"
            f"</article><footer>(c) Site</footer></body></html>")
