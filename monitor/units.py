"""Durations ("1.5s", "15m", "2h", "7d") and sizes ("10MB", "1MiB") as config values."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration", "parse_size"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}


def parse_duration(value: object) -> float:
    """A number of seconds, or a string such as "1.5s", "15m", "2h", "7d"; returns seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '15m'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _DURATION_UNITS[(m.group(2) or "s").lower()]
    raise ValueError(f"not a duration: {value!r} (use seconds or a string like '90s', '15m', '2h', '7d')")


def parse_size(value: object) -> int:
    """A number of bytes, or "10MB" (10,000,000) / "10MiB" (10,485,760)."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a string like '10MB'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])
    raise ValueError(f"not a size: {value!r} (use bytes or a string like '10MB' or '4MiB')")


def format_duration(seconds: float) -> str:
    """The shortest readable form: 900 -> '15m', 5400 -> '1.5h', 4.5 -> '4.5s'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and (seconds / size * 10) % 1 == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
