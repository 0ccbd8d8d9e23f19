"""Operating commands: sources (per-source state), discover (find a site's feeds), health."""

from __future__ import annotations

from .cli import cli  # noqa: F401 - commands below register on it
