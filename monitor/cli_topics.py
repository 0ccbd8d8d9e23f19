"""Topic commands: topics test, topics backfill, explain."""

from __future__ import annotations

from .cli import cli  # noqa: F401 - commands below register on it
