"""A small threaded HTTP server on loopback, for the demo site, the demo's webhook receiver and
the tests (pages, faults, receivers). Handlers are plain functions: Request -> Response."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

__all__ = ["LocalServer", "Request", "Response"]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client: str
    server_port: int

    @property
    def host(self) -> str:
        return self.headers.get("host", "")


@dataclass
class Response:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    chunk_delay: float = 0.0  # seconds between body chunks (a slow drip)
    close: bool = False  # drop the connection without an answer (a reset)


Handler = Callable[[Request], Response]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes on kept-alive connections

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep the server quiet
        return

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                          {k.lower(): v for k, v in self.headers.items()}, body, self.client_address[0],
                          self.server.server_address[1])
        self.server.log.append(request)
        try:
            response = self.server.handler(request)
        except Exception as exc:  # noqa: BLE001 - a broken handler answers 500, visibly
            response = Response(500, f"handler error: {exc}".encode())
        if response.delay:
            time.sleep(response.delay)
        if response.close:
            self.close_connection = True
            try:
                import socket

                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        chunks = [response.body] if isinstance(response.body, bytes) else list(response.body)
        self.send_response(response.status)
        headers = {k.lower(): v for k, v in response.headers.items()}
        if "content-length" not in headers:
            self.send_header("Content-Length", str(sum(len(c) for c in chunks)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            for i, chunk in enumerate(chunks):
                if i and response.chunk_delay:
                    time.sleep(response.chunk_delay)
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_HEAD = do_PUT = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: Handler) -> None:
        super().__init__(address, _Handler)
        self.handler = handler
        self.log: list[Request] = []


class LocalServer:
    """``with LocalServer(handler) as srv: srv.url`` -> http://127.0.0.1:PORT."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[Request]:
        return self._server.log

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
