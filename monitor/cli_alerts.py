"""Commands over the alert outbox: alerts (list), alerts retry, alerts test."""

from __future__ import annotations

from .cli import cli  # noqa: F401 - commands below register on it
