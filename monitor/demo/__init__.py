"""``monitor demo``: the whole product, offline, in one command.

It serves the bundled demo news site on loopback, starts a webhook receiver that verifies
signatures and an SMTP server, writes a demo config, runs the real fetch pipeline twice over real
HTTP (the second run sees one page edited), and shows what was stored and what arrived.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import tempfile
from base64 import b64encode
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .httpd import LocalServer
from .receivers import SmtpReceiver, WebhookReceiver
from .site import DemoSite

__all__ = ["DemoEnvironment", "DemoResult", "demo_config", "run_demo"]


def _bindable(host: str) -> bool:
    try:
        with socket.socket() as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


@dataclass
class DemoEnvironment:
    """The demo's servers, started and stopped together (the tests use it too)."""

    site: DemoSite = field(default_factory=DemoSite)
    secret: str = field(default_factory=lambda: "whsec_" + b64encode(secrets.token_bytes(24)).decode())
    servers: list[LocalServer] = field(default_factory=list)
    webhook: WebhookReceiver | None = None
    smtp: SmtpReceiver | None = None

    def start(self) -> DemoEnvironment:
        main = LocalServer(self.site.handler("main"), host="127.0.0.1").start()
        # The syndicating outlet lives on its own host name where the system allows it.
        outlet_host = "127.0.0.2" if _bindable("127.0.0.2") else "127.0.0.1"
        outlet = LocalServer(self.site.handler("outlet2"), host=outlet_host).start()
        self.servers = [main, outlet]
        self.site.bases = {"main": main.url, "outlet2": outlet.url}
        self.webhook = WebhookReceiver(self.secret).start()
        self.smtp = SmtpReceiver().start()
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        if self.webhook:
            self.webhook.stop()
        if self.smtp:
            self.smtp.stop()

    def __enter__(self) -> DemoEnvironment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def demo_config(env: DemoEnvironment, database: str) -> dict[str, Any]:
    assert env.webhook and env.smtp
    manifest = env.site.manifest
    return {
        "database": database,
        "fetch": {"per_host_delay": "0.05s", "timeout": "10s", "user_agent": "monitor-demo/0.1"},
        "sources": [
            {"name": "cgtn-opinions", "url": env.site.url("main", manifest["listing"]), "kind": "listing",
             "every": "15m", "follow": r"/news/\d{4}-\d{2}-\d{2}/", "revisit": "0s", "max_age": "3650d"},
            {"name": "asia-policy-wire", "url": env.site.url("outlet2", "/feed.xml"), "kind": "feed",
             "every": "30m", "max_age": "3650d"},
        ],
        "topics": [
            {"name": "mou", "query": 'MOU OR MoU OR "memorandum of understanding" OR "memoranda of understanding"'},
            {"name": "japan-trip", "query": "(Japan OR Tokyo) NEAR/4 (trip OR visit)"},
            {"name": "dprk-talks", "query": '(DPRK OR "North Korea" OR Pyongyang) AND '
                                            '(talks OR dialogue OR negotiations OR "negotiating table")'},
        ],
        "channels": [
            {"name": "newsroom-hook", "type": "webhook", "url": env.webhook.url, "secret": env.secret},
            {"name": "desk-email", "type": "email", "host": env.smtp.host, "port": env.smtp.port,
             "security": "none", "from": "monitor@localhost", "to": ["desk@localhost"]},
        ],
        "alerts": {"retry": ["0s", "0.5s", "1s"], "fetch_grace": "5s"},
    }


@dataclass
class DemoResult:
    config_path: Path
    database: Path
    runs: list[Any]  # FetchSummary per run
    articles: list[dict[str, Any]]
    webhooks: list[Any]
    emails: list[Any]


def run_demo(workdir: str | Path | None = None, *, on_run: Any = None) -> DemoResult:
    """Run the demo; ``on_run(n, summary)`` is called after each fetch run."""
    from ..app import Monitor
    from ..config import load_config

    folder = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="monitor-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    with DemoEnvironment() as env:
        cfg_path = folder / "demo-config.yaml"
        db_path = folder / "demo.db"
        cfg_path.write_text("# Written by `monitor demo`: the demo site, receivers and topics.\n"
                            + yaml.safe_dump(demo_config(env, db_path.name), sort_keys=False), "utf-8")
        cfg = load_config(cfg_path)
        runs = []
        for n in (1, 2):
            env.site.phase = n

            async def once() -> Any:
                async with Monitor(cfg) as mon:
                    return await mon.fetch()

            summary = asyncio.run(once())
            runs.append(summary)
            if on_run:
                on_run(n, summary)
        from ..store import Store

        with Store.open(db_path) as store:
            articles = store.query(
                "SELECT a.id, a.source, a.title, a.byline, a.published, a.story_id, a.revisions, a.url, "
                "(SELECT group_concat(topic, ', ') FROM matches m WHERE m.article_id = a.id) AS topics "
                "FROM articles a ORDER BY a.id")
        assert env.webhook and env.smtp
        return DemoResult(cfg_path, db_path, runs, articles, list(env.webhook.deliveries), list(env.smtp.messages))


def payload_topics(delivery: Any) -> str:
    payload = delivery.payload or {}
    return ", ".join(m.get("topic", "") for m in payload.get("matches", [])) if isinstance(payload, dict) \
        else json.dumps(payload)[:40]
