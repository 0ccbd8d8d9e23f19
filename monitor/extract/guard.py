"""Bounds for hostile or broken markup, applied before parsing.

The HTML parser spends time quadratic in the nesting depth (each start tag looks down the stack of
open elements) and in the number of attributes of one tag (each is checked for duplicates). Pages
never need either: browsers stop nesting at a few hundred levels. The page's length and two cheap
counts decide whether it could be pathological at all; only then is it scanned, and flattened beyond
:data:`MAX_DEPTH` levels or cut to :data:`MAX_TAG_CHARS` characters per tag.
"""

from __future__ import annotations

import logging
import re

__all__ = ["MAX_DEPTH", "MAX_TAG_CHARS", "defuse"]

log = logging.getLogger(__name__)

MAX_DEPTH = 512  # Blink's HTML parser stops nesting here too
MAX_TAG_CHARS = 4000
SUSPECT_CHARS = 150_000  # a shorter page parses in well under a second however it nests
SUSPECT_TAGS = 25_000  # fewer tags than this cannot nest deep enough to cost much
SUSPECT_ATTRS = 20_000
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^<>]*?(/?)>")
_LONG_TAG = re.compile(rf"<([A-Za-z][^<>]{{{MAX_TAG_CHARS},}})>")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
                   "source", "track", "wbr", "keygen", "basefont", "bgsound", "frame", "image"})


def defuse(text: str, url: str | None = None) -> str:
    """``text`` unchanged, unless it nests tags too deep or packs too much into one tag."""
    if len(text) < SUSPECT_CHARS:
        return text
    if text.count("=") > SUSPECT_ATTRS:
        text = _LONG_TAG.sub(_shorten, text)
    if text.count("<") > SUSPECT_TAGS:
        text = _flatten(text, url)
    return text


def _shorten(m: re.Match[str]) -> str:
    inner = m.group(1)[:MAX_TAG_CHARS]
    cut = inner.rfind(" ")
    return "<" + (inner[:cut] if cut > 0 else inner) + ">"


def _flatten(text: str, url: str | None) -> str:
    """Drop the start and end tags nested deeper than MAX_DEPTH (their text stays)."""
    depth = 0
    deepest = 0
    for m in _TAG.finditer(text):
        if m.group(2).lower() in _VOID or m.group(3):
            continue
        depth += -1 if m.group(1) else 1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                break
    if deepest <= MAX_DEPTH:
        return text
    log.warning("markup nested deeper than %d levels: flattened", MAX_DEPTH, extra={"url": url})
    out: list[str] = []
    last = 0
    depth = 0
    for m in _TAG.finditer(text):
        if m.group(2).lower() in _VOID or m.group(3):
            continue
        closing = bool(m.group(1))
        if closing:
            depth -= 1
        keep = depth < MAX_DEPTH
        if not closing:
            depth += 1
        if not keep:
            out.append(text[last:m.start()])
            last = m.end()
    out.append(text[last:])
    return "".join(out)
