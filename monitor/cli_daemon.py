"""Daemon commands: health (checks the running daemon's HTTP endpoint, for Docker's HEALTHCHECK)."""

from __future__ import annotations

from .cli import cli  # noqa: F401 - commands below register on it
