"""Migrations owned by the alerts package (digests, quiet hours, ...), applied after the core ones
in ``schema.py``. Append only; never edit one that has shipped."""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

__all__ = ["ALERT_MIGRATIONS"]

ALERT_MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = []
