"""Bytes to valid Unicode. Never raises.

The order, as browsers do it (WHATWG Encoding Standard), with one crawler's exception:

1. a byte order mark;
2. the HTTP header's ``charset``;
3. the document's own declaration in its first 4 KB (``<meta charset>``, ``http-equiv``, XML prolog);
4. UTF-8, when the bytes are valid UTF-8;
5. detection with charset-normalizer (windows-1252, the web's fallback, wins a near-tie);
6. UTF-8 with replacement characters.

The exception: when the header or the declaration names a single-byte legacy charset
(ISO-8859-1, windows-1252...) but the bytes are valid UTF-8 with multi-byte sequences in them,
UTF-8 wins: that combination is a mislabelled UTF-8 page far more often than real Latin-1 text
(which is almost never valid UTF-8 by accident). Labels are mapped as browsers map them
(ISO-8859-1 is read as windows-1252, GB2312 as GB18030).
"""

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


FALLBACK = "cp1252"  # WHATWG: what browsers assume for an unlabelled page in most locales
NEAR_TIE = 0.1  # charset-normalizer "chaos" within which the fallback is preferred


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


def _single_byte(name: str) -> bool:
    return name.startswith(("cp12", "cp874", "iso8859", "latin", "koi8", "mac-", "cp437", "cp850"))


def _utf8(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Returns (text, encoding used)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body.decode(name, errors="replace"), name
    as_utf8: str | None = None
    for candidate in (charset_from_content_type(content_type), declared_charset(body)):
        if not candidate:
            continue
        if _single_byte(candidate) and not body.isascii():
            as_utf8 = _utf8(body) if as_utf8 is None else as_utf8
            if as_utf8 is not None:
                return as_utf8, "utf-8"
        try:
            return body.decode(candidate), candidate
        except (UnicodeDecodeError, LookupError):
            continue
    text = _utf8(body)
    if text is not None:
        return text, "utf-8"
    try:
        from charset_normalizer import from_bytes

        matches = from_bytes(body[:200_000])
        best = matches.best()
        if best is not None and best.encoding:
            name = best.encoding
            # Short Western text fits several code pages equally well; then the web's own fallback
            # for unlabelled pages (windows-1252) wins the near-tie.
            if any(m.encoding == FALLBACK and m.chaos <= best.chaos + NEAR_TIE for m in matches):
                name = FALLBACK
            return body.decode(name, errors="replace"), name
    except ImportError:  # pragma: no cover - charset-normalizer is a dependency
        pass
    return body.decode("utf-8", errors="replace"), "utf-8"
