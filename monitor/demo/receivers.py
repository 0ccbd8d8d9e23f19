"""Receivers for the demo (and the tests): a webhook endpoint that verifies Standard Webhooks
signatures, and an SMTP server (aiosmtpd) that keeps what it is sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from .httpd import LocalServer, Request, Response

__all__ = ["Delivery", "SmtpReceiver", "WebhookReceiver"]


@dataclass
class Delivery:
    webhook_id: str
    verified: bool
    status: int
    payload: Any
    headers: dict[str, str]
    error: str | None = None


@dataclass
class WebhookReceiver:
    """POSTs to any path are verified with ``secret``. ``answers`` is a script of status codes to
    give first (e.g. [500, 500] then 200s)."""

    secret: str
    answers: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    on_delivery: Callable[[Delivery], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LocalServer | None = None

    def handle(self, request: Request) -> Response:
        from standardwebhooks import Webhook
        from standardwebhooks.webhooks import WebhookVerificationError

        if request.method != "POST":
            return Response(405, b"POST only")
        with self._lock:
            status = self.answers.pop(0) if self.answers else 200
        error = None
        try:
            payload = Webhook(self.secret).verify(request.body, request.headers)
            verified = True
        except WebhookVerificationError as exc:
            verified, error = False, str(exc)
            status = 401
            try:
                payload = json.loads(request.body)
            except ValueError:
                payload = None
        delivery = Delivery(request.headers.get("webhook-id", ""), verified, status, payload,
                            dict(request.headers), error)
        with self._lock:
            self.deliveries.append(delivery)
        if self.on_delivery:
            self.on_delivery(delivery)
        return Response(status, b'{"ok": true}' if status < 300 else b'{"error": "try again"}',
                        {"content-type": "application/json"})

    @property
    def successful(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.verified and 200 <= d.status < 300]

    def start(self, host: str = "127.0.0.1") -> WebhookReceiver:
        self._server = LocalServer(self.handle, host=host).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url + "/hooks/monitor"

    def stop(self) -> None:
        if self._server:
            self._server.stop()


class _Collect:
    def __init__(self, sink: list[EmailMessage]) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.sink.append(msg)
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """An aiosmtpd server on loopback; ``messages`` holds what arrived."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        from aiosmtpd.controller import Controller

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.messages: list[EmailMessage] = []
        self.host, self.port = host, port
        self._controller = Controller(_Collect(self.messages), hostname=host, port=port)

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
