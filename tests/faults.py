"""A loopback web server that misbehaves on request: no answer, a connection reset, a slow drip,
any status and headers, bodies without a length, raw gzip bombs. It counts what reaches it (per
path, per Host header) and how many requests it had in flight at once (``InFlight``, which may
be shared by several servers to measure them together). Binds to any 127.0.0.0/8 address."""

from __future__ import annotations

import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

__all__ = ["Fault", "FaultServer", "InFlight", "Seen", "gzip_bomb"]


@dataclass
class Fault:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line (longer than the client's timeout: no answer)
    drip: float = 0.0  # seconds between body pieces (a slow drip)
    drip_size: int = 1
    reset: bool = False  # a TCP reset (RST) instead of an answer
    length: bool = True  # False: no Content-Length, the body ends when the connection closes
    hold: float = 0.0  # seconds to keep the request "in flight" before answering (concurrency probes)


@dataclass(frozen=True)
class Seen:
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    time: float

    @property
    def host(self) -> str:
        return self.headers.get("host", "")


class InFlight:
    """Requests being answered right now, and the most there ever were at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


Route = Fault | Callable[[Seen], Fault]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: without it a kept-alive client waits for delayed ACKs

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep quiet
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        seen = Seen(parts.path, parts.query, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
        srv = self.server
        srv.owner.seen.append(seen)
        self._left = False
        srv.owner.in_flight.enter()
        try:
            route = srv.owner.routes.get(parts.path)
            if route is None:
                fault = Fault(404, b"" if parts.path == "/robots.txt" else b"<h1>not found</h1>",
                              {"content-type": "text/html"})
            else:
                fault = route(seen) if callable(route) else route
            self._answer(fault)
        finally:
            self._leave()

    def _leave(self) -> None:
        """The request stops counting as in flight: just before the last bytes of the answer go
        out (after them, the client may already send its next request while this thread waits for
        the GIL, and the gauge would count both)."""
        if not self._left:
            self._left = True
            self.server.owner.in_flight.leave()

    do_HEAD = do_GET

    def _wait(self, seconds: float) -> bool:
        """Sleep, unless the server is stopping; False when it is."""
        return not self.server.owner.stopping.wait(seconds)

    def _answer(self, fault: Fault) -> None:
        if fault.hold and not self._wait(fault.hold):
            return
        if fault.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault.delay and not self._wait(fault.delay):
            return
        try:
            self.send_response(fault.status)
            names = {k.lower() for k in fault.headers}
            for name, value in fault.headers.items():
                self.send_header(name, value)
            if fault.length and "content-length" not in names:
                self.send_header("Content-Length", str(len(fault.body)))
            if not fault.length:
                self.send_header("Connection", "close")
                self.close_connection = True
            if self.command == "HEAD" or not fault.body:
                self._leave()
            self.end_headers()
            if self.command == "HEAD":
                return
            if not fault.drip:
                self._leave()
                self.wfile.write(fault.body)
            else:
                for i in range(0, len(fault.body), fault.drip_size):
                    if i + fault.drip_size >= len(fault.body):
                        self._leave()
                    self.wfile.write(fault.body[i:i + fault.drip_size])
                    self.wfile.flush()
                    if not self._wait(fault.drip):
                        return
            self.wfile.flush()
        except OSError:  # the client gave up (timeout, cap): that is the test's point
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FaultServer

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client that gave up mid-answer is what these tests provoke; no traceback on stderr


class FaultServer:
    """``FaultServer("127.0.0.2")``: routes by path; ``url``; ``hits(path)``; ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", *, in_flight: InFlight | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.in_flight = in_flight or InFlight()
        self.stopping = threading.Event()
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.netloc}"

    def route(self, path: str, fault: Route) -> str:
        self.routes[path] = fault
        return self.url + path

    def page(self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8",
             **headers: str) -> str:
        data = body.encode() if isinstance(body, str) else body
        return self.route(path, Fault(200, data, {"content-type": content_type, **headers}))

    def hits(self, path: str | None = None) -> int:
        return sum(1 for s in self.seen if path is None or s.path == path)

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def gzip_bomb(inflated: int, payload: bytes = b"<p>" + b"A" * 1021) -> bytes:
    """A gzip stream of ``inflated`` bytes of HTML-ish text that is a few KB on the wire."""
    z = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    out = [z.compress(b"<html><body>")]
    block = payload * (1024 * 1024 // len(payload))
    sent = 0
    while sent < inflated:
        out.append(z.compress(block))
        sent += len(block)
    out.append(z.flush())
    return b"".join(out)
