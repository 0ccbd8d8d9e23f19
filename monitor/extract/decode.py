"""Bytes -> str for extraction: byte-order mark, then the declared charset, then detection.

The declared charset is read from ``<meta charset>`` or ``<meta http-equiv="Content-Type">`` in the
first few kilobytes; an undeclared page that is valid UTF-8 is UTF-8; anything else is guessed by
charset-normalizer. Binary input (images, archives, PDFs) is refused with :class:`ExtractError`.
"""

from __future__ import annotations

import codecs
import logging
import re

from ..errors import ExtractError

__all__ = ["MAX_CHARS", "to_text"]

log = logging.getLogger(__name__)

MAX_CHARS = 5_000_000  # longer pages are cut: no article needs more, and parse time stays bounded
_SNIFF = 8192
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]{2,40})""", re.I)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Magic numbers of formats that are not HTML.
_BINARY_MAGIC: tuple[bytes, ...] = (
    b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"7z\xbc\xaf",
    b"RIFF", b"\x00\x00\x01\x00", b"OggS", b"ID3", b"\x7fELF", b"MZ", b"wOFF", b"wOF2",
)
# Labels browsers treat as another encoding (the WHATWG encoding standard).
_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252",
            "ascii": "cp1252", "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030",
            "shift-jis": "cp932", "shift_jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
            "euc-kr": "cp949", "ks_c_5601-1987": "cp949", "big5": "big5hkscs", "iso-8859-9": "cp1254",
            "tis-620": "cp874", "windows-874": "cp874", "iso-8859-11": "cp874", "unicode": "utf-8",
            "utf8": "utf-8"}


def to_text(data: str | bytes, url: str | None = None) -> str:
    """The page as text; raises :class:`ExtractError` for empty, binary or undecodable input."""
    if isinstance(data, str):
        text = data
    elif isinstance(data, bytes | bytearray | memoryview):
        text = _decode(bytes(data), url)
    else:
        raise ExtractError(f"expected str or bytes, got {type(data).__name__}", url=url)
    if len(text) > MAX_CHARS:
        log.warning("page cut to %d characters (was %d)", MAX_CHARS, len(text), extra={"url": url})
        text = text[:MAX_CHARS]
    if "\x00" in text[:_SNIFF]:
        if text.count("\x00", 0, _SNIFF) > 8:
            raise ExtractError("input looks binary (NUL bytes), not HTML", url=url)
        text = text.replace("\x00", "")
    if not text or text.isspace():
        raise ExtractError("empty page", url=url)
    return text


def _decode(data: bytes, url: str | None) -> str:
    if not data or data.isspace():
        raise ExtractError("empty page", url=url)
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(name, errors="replace")
    head = data[:_SNIFF]
    if head.startswith(_BINARY_MAGIC):
        raise ExtractError("input is a binary file, not HTML", url=url)
    declared = _declared(head)
    if declared and declared != "utf-8" and not declared.startswith("utf-16") and _is_utf8(data):
        declared = "utf-8"  # a legacy label on UTF-8 bytes: the bytes do not lie, the label does
    if declared:
        try:
            return data.decode(declared, errors="replace")
        except LookupError:
            log.debug("unknown charset %r declared", declared, extra={"url": url})
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if _looks_binary(head):
        raise ExtractError("input looks binary, not HTML", url=url)
    return _detect(data)


def _declared(head: bytes) -> str | None:
    m = _META_CHARSET.search(head)
    if not m:
        return None
    label = m.group(1).decode("ascii", "ignore").strip().lower()
    label = _ALIASES.get(label, label)
    try:
        codecs.lookup(label)
    except LookupError:
        return None
    return label


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not data.isascii()


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head and head.count(b"\x00") > 8:
        return True
    control = sum(1 for b in head[:2048] if b < 9 or 13 < b < 32)
    return control > 64


def _detect(data: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    if best is None or not best.encoding:
        return data.decode("cp1252", errors="replace")
    name = _ALIASES.get(best.encoding.lower(), best.encoding)
    return data.decode(name, errors="replace")
