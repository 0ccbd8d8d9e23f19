"""The daemon's HTTP endpoint (off unless ``server.listen`` or ``--listen`` names an address).

``/healthz``  200 while the daemon's event loop is alive (its heartbeat is fresh), else 503.
``/readyz``   200 when the scheduler runs, the database takes a write, and the oldest pending
              alert is younger than ``server.max_alert_age``; else 503. JSON body with each check.
``/metrics``  Prometheus text format (see :mod:`monitor.metrics`).
``/status``   a small HTML page: sources, recent articles, recent alerts.

It is a WSGI application served by the standard library's ``wsgiref`` on threads of its own, so a
busy event loop never delays an answer (and a stuck one shows as a stale heartbeat). It reads the
database through connections of its own; the daemon's loop only writes to :class:`DaemonState`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import jinja2
from prometheus_client import make_wsgi_app

from .errors import MonitorError
from .store import Clock, Store, utcnow

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from prometheus_client import CollectorRegistry

__all__ = ["DaemonState", "HealthApp", "HealthServer"]

log = logging.getLogger(__name__)

STALL_AFTER = 60.0  # seconds without a heartbeat before /healthz says the loop is stuck
DB_PROBE_TIMEOUT = 2.0
RECENT = 20
_HEADERS = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]


@dataclass
class DaemonState:
    """What the daemon's loop tells the endpoint (plain attributes: written by one thread, read by others)."""

    started: datetime = field(default_factory=utcnow)
    heartbeat: float = field(default_factory=time.monotonic)
    scheduler_running: bool = False
    stopping: bool = False
    running: set[str] = field(default_factory=set)  # sources being run now
    jobs: Callable[[], list[tuple[str, datetime | None]]] = list  # (source, next run) from the scheduler

    def beat(self) -> None:
        self.heartbeat = time.monotonic()


@dataclass
class Check:
    ok: bool
    detail: str


class HealthApp:
    """The WSGI application. ``db_path`` is opened on first use, in the serving thread."""

    def __init__(self, *, db_path: str, state: DaemonState, registry: CollectorRegistry,
                 max_alert_age: float = 3600.0, stall_after: float = STALL_AFTER, clock: Clock = utcnow) -> None:
        self.db_path = db_path
        self.state = state
        self.max_alert_age = max_alert_age
        self.stall_after = stall_after
        self.clock = clock
        self._metrics = make_wsgi_app(registry)
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._page = jinja2.Environment(autoescape=True).from_string(STATUS_PAGE)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _db(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.db_path, migrate=False, busy_timeout=DB_PROBE_TIMEOUT)
        return self._store

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return self._answer(start_response, 405, b"GET only\n", "text/plain", [("Allow", "GET, HEAD")])
        if path == "/metrics":
            return self._metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            live = self.liveness()
            return self._json(start_response, 200 if live.ok else 503,
                              {"status": "ok" if live.ok else "stalled", "detail": live.detail})
        if path == "/readyz":
            checks = self.readiness()
            ready = all(c.ok for c in checks.values())
            return self._json(start_response, 200 if ready else 503, {
                "status": "ready" if ready else "not ready",
                "checks": {name: {"ok": c.ok, "detail": c.detail} for name, c in checks.items()}})
        if path in ("/", "/status"):
            return self._answer(start_response, 200, self.status_page().encode("utf-8"), "text/html; charset=utf-8",
                                [("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")])
        return self._answer(start_response, 404, b"not found: try /status, /healthz, /readyz, /metrics\n",
                            "text/plain")

    @staticmethod
    def _answer(start_response: StartResponse, code: int, body: bytes, ctype: str,
                headers: list[tuple[str, str]] | None = None) -> list[bytes]:
        from http import HTTPStatus

        start_response(f"{code} {HTTPStatus(code).phrase}",
                       [("Content-Type", ctype), ("Content-Length", str(len(body))), *_HEADERS, *(headers or [])])
        return [body]

    def _json(self, start_response: StartResponse, code: int, data: dict[str, Any]) -> list[bytes]:
        return self._answer(start_response, code, (json.dumps(data) + "\n").encode(), "application/json")

    # ------------------------------------------------------------------ checks
    def liveness(self) -> Check:
        age = time.monotonic() - self.state.heartbeat
        if age > self.stall_after:
            return Check(False, f"no heartbeat from the event loop for {age:.0f}s")
        return Check(True, f"heartbeat {age:.1f}s ago")

    def readiness(self) -> dict[str, Check]:
        checks = {"loop": self.liveness()}
        st = self.state
        if st.stopping:
            checks["scheduler"] = Check(False, "stopping")
        elif not st.scheduler_running:
            checks["scheduler"] = Check(False, "not running")
        else:
            checks["scheduler"] = Check(True, f"running, {len(st.jobs())} sources scheduled")
        with self._lock:
            checks["database"] = self._probe_write()
            checks["alerts"] = self._alert_age()
        return checks

    def _probe_write(self) -> Check:
        """A real write (one row, committed): a read-only file, a full disk or a lock held for longer
        than the probe's timeout all fail it."""
        now = self.clock().astimezone(UTC).isoformat()
        try:
            store = self._db()
            with store.write() as db:
                db.execute("INSERT INTO daemon (id, pid, probed) VALUES (1, ?, ?) "
                           "ON CONFLICT(id) DO UPDATE SET probed = excluded.probed", [os.getpid(), now])
        except (MonitorError, OSError) as exc:
            return Check(False, f"cannot write: {exc}")
        except Exception as exc:  # noqa: BLE001 - sqlite3 errors of any kind mean "not writable"
            return Check(False, f"cannot write: {type(exc).__name__}: {exc}")
        return Check(True, "writable")

    def _alert_age(self) -> Check:
        try:
            row = self._db().one("SELECT min(created) AS t, count(*) AS n FROM alerts WHERE status = 'pending'")
        except (MonitorError, OSError) as exc:
            return Check(False, f"cannot read the outbox: {exc}")
        except Exception as exc:  # noqa: BLE001
            return Check(False, f"cannot read the outbox: {type(exc).__name__}: {exc}")
        if not row or not row["t"]:
            return Check(True, "no pending alerts")
        age = (self.clock() - datetime.fromisoformat(row["t"])).total_seconds()
        if age > self.max_alert_age:
            return Check(False, f"{row['n']} pending; the oldest is {age:.0f}s old "
                                f"(limit {self.max_alert_age:.0f}s): is a channel down?")
        return Check(True, f"{row['n']} pending; the oldest is {age:.0f}s old")

    # ------------------------------------------------------------------ /status
    def status_page(self) -> str:
        with self._lock:
            try:
                db = self._db()
                sources = db.query("SELECT * FROM sources ORDER BY name")
                articles = db.query(f"SELECT id, source, title, url, first_seen FROM articles "
                                    f"ORDER BY id DESC LIMIT {RECENT}")
                alerts = db.query(f"SELECT id, channel, kind, topics, status, attempts, created, sent_at, last_error "
                                  f"FROM alerts ORDER BY id DESC LIMIT {RECENT}")
                counts = {r["status"]: r["n"] for r in db.query("SELECT status, count(*) AS n FROM alerts "
                                                                  "GROUP BY status")}
                error = None
            except Exception as exc:  # noqa: BLE001 - the page says what went wrong instead of failing
                sources, articles, alerts, counts, error = [], [], [], {}, f"{type(exc).__name__}: {exc}"
        next_runs = {name: when for name, when in self.state.jobs()}
        for s in sources:
            when = next_runs.get(s["name"])
            s["next_run"] = when.astimezone(UTC).isoformat(timespec="seconds") if when else ""
            s["running"] = s["name"] in self.state.running
        for a in articles:
            a["link"] = a["url"] if str(a["url"] or "").startswith(("http://", "https://")) else None
        for al in alerts:
            try:
                al["topics"] = ", ".join(json.loads(al["topics"] or "[]"))
            except (ValueError, TypeError):
                pass
        checks = self.readiness()
        return self._page.render(
            now=self.clock().astimezone(UTC).isoformat(timespec="seconds"),
            started=self.state.started.astimezone(UTC).isoformat(timespec="seconds"), pid=os.getpid(),
            checks=checks, ready=all(c.ok for c in checks.values()), sources=sources, articles=articles,
            alerts=alerts, counts=counts, error=error, short=_short)


def _short(value: str | None) -> str:
    """An ISO time without its fraction and offset, for the table."""
    return (value or "")[:19].replace("T", " ")


STATUS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<title>monitor status</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.bad{color:#b00}.ok{color:#070}.dim{color:#777}
</style></head><body>
<h1>monitor <span class="{{ 'ok' if ready else 'bad' }}">{{ 'ready' if ready else 'not ready' }}</span></h1>
<p class="dim">pid {{ pid }} · started {{ started }} · now {{ now }} (UTC) ·
<a href="/metrics">metrics</a> · <a href="/readyz">readyz</a></p>
{% if error %}<p class="bad">database: {{ error }}</p>{% endif %}
<ul>{% for name, c in checks.items() %}<li class="{{ 'ok' if c.ok else 'bad' }}">{{ name }}: {{ c.detail }}</li>{% endfor %}</ul>
<h2>Sources</h2>
<table><tr><th>source</th><th>state</th><th>last success</th><th>last run</th><th>failures</th>
<th>interval</th><th>next run</th><th>last new article</th><th>operator alert</th><th>last error</th></tr>
{% for s in sources %}<tr>
<td>{{ s.name }}{% if s.running %} <span class="dim">(running)</span>{% endif %}</td>
<td class="{{ 'ok' if s.state == 'healthy' else 'bad' }}">{{ s.state }}</td>
<td>{{ short(s.last_success) }}</td><td>{{ short(s.last_attempt) }}</td><td>{{ s.consecutive_failures }}</td>
<td>{{ '%g s' % s.interval if s.interval is not none else '' }}</td><td>{{ short(s.next_run) }}</td>
<td>{{ short(s.last_new) }}</td><td class="bad">{{ s.ops_alert or '' }}</td><td class="dim">{{ s.last_error or '' }}</td>
</tr>{% else %}<tr><td colspan="10" class="dim">no source has run yet</td></tr>{% endfor %}
</table>
<h2>Recent articles</h2>
<table><tr><th>first seen</th><th>source</th><th>title</th></tr>
{% for a in articles %}<tr><td>{{ short(a.first_seen) }}</td><td>{{ a.source }}</td>
<td>{% if a.link %}<a href="{{ a.link }}" rel="noreferrer">{{ a.title or a.url }}</a>{% else %}{{ a.title }}{% endif %}</td></tr>
{% else %}<tr><td colspan="3" class="dim">none yet</td></tr>{% endfor %}
</table>
<h2>Recent alerts</h2>
<p class="dim">{% for k, n in counts.items() %}{{ k }}: {{ n }}{% if not loop.last %} · {% endif %}{% endfor %}</p>
<table><tr><th>id</th><th>created</th><th>channel</th><th>kind</th><th>topics</th><th>status</th><th>attempts</th>
<th>sent</th><th>last error</th></tr>
{% for a in alerts %}<tr><td>{{ a.id }}</td><td>{{ short(a.created) }}</td><td>{{ a.channel }}</td><td>{{ a.kind }}</td>
<td>{{ a.topics }}</td><td class="{{ 'ok' if a.status == 'sent' else 'bad' if a.status == 'dead' else '' }}">{{ a.status }}</td>
<td>{{ a.attempts }}</td><td>{{ short(a.sent_at) }}</td><td class="dim">{{ a.last_error or '' }}</td></tr>
{% else %}<tr><td colspan="9" class="dim">none yet</td></tr>{% endfor %}
</table>
</body></html>
"""


# ---------------------------------------------------------------------------- the server
class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("%s %s", self.address_string(), format % args)


class _Threading(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Threading6(_Threading):
    address_family = socket.AF_INET6


class HealthServer:
    """``HealthServer(app, host, port).start()``; ``stop()`` closes the socket and the app's database."""

    def __init__(self, app: HealthApp, host: str, port: int) -> None:
        self.app = app
        cls = _Threading6 if ":" in host else _Threading
        try:
            self._server = make_server(host, port, app, server_class=cls, handler_class=_Quiet)
        except OSError as exc:
            raise MonitorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="monitor-http", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2.0)
        self.app.close()
