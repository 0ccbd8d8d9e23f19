"""Real local parts for the tests: loopback HTTP servers, a webhook receiver that verifies
signatures, an SMTP server (aiosmtpd). Nothing here leaves 127.0.0.0/8."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.demo.httpd import LocalServer, Request, Response
from monitor.demo.receivers import SmtpReceiver, WebhookReceiver

FIXTURES = Path(__file__).parent / "fixtures"
SEED_HTML = FIXTURES / "seed" / "seoul-beijing-visit.html"
SEED_EXPECTED = FIXTURES / "seed" / "seoul-beijing-visit.expected.json"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOPICS = [
    {"name": "mou", "query": 'MOU OR MoU OR "memorandum of understanding" OR "memoranda of understanding"'},
    {"name": "japan-trip", "query": "(Japan OR Tokyo) NEAR/4 (trip OR visit)"},
    {"name": "dprk-talks", "query": '(DPRK OR "North Korea" OR Pyongyang) AND '
                                    '(talks OR dialogue OR negotiations OR "negotiating table")'},
]


class Site:
    """A loopback web server whose pages and faults are set per path by the test."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[Request], Response] | Response] = {}
        self.server = LocalServer(self._handle).start()

    def _handle(self, request: Request) -> Response:
        route = self.routes.get(request.path)
        if route is None:
            if request.path == "/robots.txt":
                return Response(404, b"")
            return Response(404, b"<h1>not found</h1>", {"content-type": "text/html"})
        return route(request) if callable(route) else route

    @property
    def url(self) -> str:
        return self.server.url

    def page(self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8",
             **headers: str) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Response(200, data, {"content-type": content_type, **headers})
        return self.url + path

    def hits(self, path: str) -> int:
        return sum(1 for r in self.server.requests if r.path == path)


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.server.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(SECRET).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver().start()
    yield server
    server.stop()


def listing_html(*links: str) -> str:
    items = "".join(f'<li><a href="{u}">Story {i}</a><span>13:34, 30-Dec-2025</span></li>' for i, u in enumerate(links))
    return f"<html><head><title>Opinions</title></head><body><nav><a href='/'>Home</a></nav><ul>{items}</ul></body></html>"


def make_config(tmp_path: Path, sources: list[dict[str, Any]], *, webhook: WebhookReceiver | None = None,
                smtp: SmtpReceiver | None = None, **extra: Any) -> Path:
    channels = []
    if webhook:
        channels.append({"name": "hook", "type": "webhook", "url": webhook.url, "secret": SECRET})
    if smtp:
        channels.append({"name": "mail", "type": "email", "host": smtp.host, "port": smtp.port,
                         "security": "none", "from": "monitor@localhost", "to": ["desk@localhost"]})
    cfg: dict[str, Any] = {
        "database": str(tmp_path / "monitor.db"),
        "fetch": {"per_host_delay": 0, "timeout": "5s", "retries": 0},
        "sources": sources, "topics": TOPICS, "channels": channels,
        "alerts": {"retry": ["0s", "0.2s", "0.2s", "0.2s"], "fetch_grace": "5s"},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), "utf-8")
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> Any:
    import subprocess

    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200", **(env or {})})
