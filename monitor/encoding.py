"""Bytes to valid Unicode: the HTTP header's charset, then the document's own declaration (BOM,
``<meta charset>``, XML prolog), then detection with charset-normalizer, then UTF-8 with
replacement characters. Never raises."""

from __future__ import annotations

import codecs
import re

__all__ = ["charset_from_content_type", "declared_charset", "decode"]

_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.IGNORECASE)
_XML = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.-]+)["']""", re.IGNORECASE)
_CT = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_:.-]+)", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# Labels browsers treat as another encoding (WHATWG Encoding Standard).
_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252",
            "ascii": "cp1252", "x-sjis": "shift_jis", "gb2312": "gb18030", "gbk": "gb18030",
            "x-gbk": "gb18030", "tis-620": "cp874", "iso-8859-9": "cp1254", "ks_c_5601-1987": "euc-kr"}


def _normal(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = _CT.search(content_type)
    return _normal(m.group(1)) if m else None


def declared_charset(body: bytes) -> str | None:
    """The charset the document declares in its first 4 KB (BOM, XML prolog or meta)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    head = body[:4096]
    m = _XML.match(head) or _META.search(head)
    return _normal(m.group(1).decode("ascii", "ignore")) if m else None


def decode(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Returns (text, encoding used)."""
    for candidate in (charset_from_content_type(content_type), declared_charset(body)):
        if candidate:
            try:
                return body.decode(candidate), candidate
            except (UnicodeDecodeError, LookupError):
                continue
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:200_000]).best()
        if best is not None and best.encoding:
            return body.decode(best.encoding, errors="replace"), best.encoding
    except ImportError:  # pragma: no cover - charset-normalizer is a dependency
        pass
    return body.decode("utf-8", errors="replace"), "utf-8"
