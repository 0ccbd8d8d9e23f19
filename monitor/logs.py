"""Logging: readable lines on a terminal, JSON lines with ``--log-format json``. Every record
about a source, an article or a channel carries it (``extra={"source": ..., "url": ...}``).

Secrets never reach a line: the values the config marks as secret (webhook secrets, SMTP
passwords, proxy and Apprise URLs, authorization headers and cookies) are registered with
:func:`register_secrets` and replaced wherever they appear, and anything shaped like a secret
(``whsec_...``, ``password=...``, ``user:pass@`` in a URL) is masked as well.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config, FetchConfig, SourceConfig

__all__ = ["JsonFormatter", "TextFormatter", "config_secrets", "redact", "register_secrets", "setup_logging"]

CONTEXT_KEYS = ("source", "url", "channel", "alert", "topic", "db")
MASK = "***"
_SHAPES = re.compile(
    r"(?P<whsec>whsec_)[A-Za-z0-9+/=]+"
    r"|(?P<key>(?:password|passwd|secret|token|api[_-]?key)\s*[=:]\s*)[^\s,;&\"']+"
    r"|(?P<userinfo>[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+(?=@)",
    re.IGNORECASE)
_SECRET_HEADERS = re.compile(r"authorization|cookie|token|secret|api[_-]?key|password", re.IGNORECASE)
_MIN_SECRET = 4  # shorter values would mask ordinary words

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secrets(values: Iterable[str | None]) -> None:
    """Add values that must never be logged (longest first, so one containing another is masked whole)."""
    global _secrets
    with _lock:
        merged = set(_secrets) | {v for v in values if v and len(v) >= _MIN_SECRET}
        _secrets = tuple(sorted(merged, key=len, reverse=True))


def config_secrets(cfg: Config) -> list[str]:
    """The values of a config that are secret."""
    out: list[str | None] = []
    for ch in cfg.channels:
        if ch.type == "webhook":
            out += ch.secrets
            out += [v for k, v in ch.headers.items() if _SECRET_HEADERS.search(k)]
        elif ch.type == "email":
            out.append(ch.password)
        else:
            out += ch.urls  # Apprise URLs carry their tokens
    holders: list[FetchConfig | SourceConfig] = [cfg.fetch, *cfg.sources]
    for holder in holders:
        out += [v for k, v in holder.headers.items() if _SECRET_HEADERS.search(k)]
        out += list(holder.cookies.values())
        out.append(holder.proxy)
    return [v for v in out if v]


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return _SHAPES.sub(_mask_shape, text)


def _mask_shape(m: re.Match[str]) -> str:
    prefix = m.group("whsec") or m.group("key") or m.group("userinfo") or ""
    return prefix + MASK


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {k: getattr(record, k) for k in CONTEXT_KEYS if getattr(record, k, None) is not None}


class TextFormatter(logging.Formatter):
    """``12:00:01 warning fetch: HTTP 404  [source=cgtn url=https://...]``"""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        context = " ".join(f"{k}={v}" for k, v in _context(record).items())
        line = f"{when} {record.levelname.lower():7} {record.name.removeprefix('monitor.')}: {record.getMessage()}"
        if context:
            line += f"  [{context}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context keys, exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                               "level": record.levelname.lower(), "logger": record.name,
                               "message": redact(record.getMessage())}
        for key, value in _context(record).items():
            out[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(level: int = logging.WARNING, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("monitor").setLevel(level)
    for noisy in ("httpx", "httpcore", "mail.log", "asyncio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # The daemon logs APScheduler's skipped and missed runs itself, naming the source.
    logging.getLogger("apscheduler").setLevel(max(level, logging.ERROR))
