"""Logging: readable lines on a terminal, JSON lines with ``--log-format json``. Every record
about a source, an article or a channel carries it (``extra={"source": ..., "url": ...}``)."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "TextFormatter", "setup_logging"]

CONTEXT_KEYS = ("source", "url", "channel", "alert", "topic", "db")
# Secrets never reach a log line, whatever a message happens to contain.
_SECRETS = re.compile(r"(whsec_[A-Za-z0-9+/=]{6})[A-Za-z0-9+/=]*|((?:password|passwd|secret|token)\s*[=:]\s*)\S+",
                      re.IGNORECASE)


def redact(text: str) -> str:
    return _SECRETS.sub(lambda m: (m.group(1) + "…") if m.group(1) else m.group(2) + "***", text)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        context = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_KEYS if getattr(record, k, None))
        line = f"{when} {record.levelname.lower():7} {record.name.removeprefix('monitor.')}: {record.getMessage()}"
        if context:
            line += f"  [{context}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(), "level": record.levelname.lower(),
               "logger": record.name, "message": record.getMessage()}
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, ensure_ascii=False, default=str))


def setup_logging(level: int = logging.WARNING, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("monitor").setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "mail.log", "asyncio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
