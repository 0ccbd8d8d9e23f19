"""Commands over the stored records: db (migrate, info, vacuum, backup), search, show, export, reextract."""

from __future__ import annotations

from .cli import cli  # noqa: F401 - commands below register on it
