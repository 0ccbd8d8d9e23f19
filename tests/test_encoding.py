"""Bytes to valid Unicode: BOM, header, declaration, UTF-8, detection, in that order; never raises."""

from __future__ import annotations

import codecs

import pytest

from monitor.encoding import charset_from_content_type, declared_charset, decode

FRENCH = "Le café est déjà prêt. Où est la crème brûlée? Voilà, c'est très bien, à bientôt."
RUSSIAN = "Привет, мир! Как дела? Это тестовая страница новостей о политике и экономике."


@pytest.mark.parametrize("content_type, expected", [
    ("text/html; charset=UTF-8", "utf-8"), ('text/html; charset="iso-8859-1"', "cp1252"),
    ("text/html;charset=windows-1251", "cp1251"), ("text/html; charset=gb2312", "gb18030"),
    ("text/html; charset=x-unknown-thing", None), ("text/html", None), (None, None),
])
def test_header_charset_labels_as_browsers_read_them(content_type: str | None, expected: str | None) -> None:
    assert charset_from_content_type(content_type) == expected


@pytest.mark.parametrize("head, expected", [
    (b'<meta charset="shift_jis">', "shift_jis"),
    (b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">', "koi8-r"),
    (b"<?xml version='1.0' encoding='ISO-8859-2'?><rss/>", "iso8859-2"),
    (codecs.BOM_UTF8 + b"<p>x</p>", "utf-8-sig"),
    (b"<p>no declaration</p>", None),
    (b"<p>" + b" " * 5000 + b'<meta charset="koi8-r">', None),  # only the first 4 KB count
])
def test_declared_charset(head: bytes, expected: str | None) -> None:
    assert declared_charset(head) == expected


@pytest.mark.parametrize("body, content_type, text, used", [
    (FRENCH.encode(), "text/html; charset=utf-8", FRENCH, "utf-8"),
    (FRENCH.encode("cp1252"), "text/html; charset=windows-1252", FRENCH, "cp1252"),
    # the header is wrong (says UTF-8, bytes are windows-1252): the bytes are detected
    (FRENCH.encode("cp1252"), "text/html; charset=utf-8", FRENCH, "cp1252"),
    # the header is wrong the other way (says Latin-1, bytes are UTF-8): valid UTF-8 wins
    (FRENCH.encode(), "text/html; charset=iso-8859-1", FRENCH, "utf-8"),
    # no header: the meta tag
    (f'<meta charset="windows-1251"><p>{RUSSIAN}</p>'.encode("cp1251"), "text/html", RUSSIAN, "cp1251"),
    # nothing declared at all: detection
    (RUSSIAN.encode("cp1251"), None, RUSSIAN, "cp1251"),
    (FRENCH.encode("cp1252"), "text/html", FRENCH, "cp1252"),
    ("Café déjà vu".encode("cp1252"), "text/html", "Café déjà vu", "cp1252"),
    # a BOM beats a header that says otherwise
    (codecs.BOM_UTF8 + FRENCH.encode(), "text/html; charset=iso-8859-1", FRENCH, "utf-8-sig"),
    ("Grüße".encode("utf-16"), "text/html; charset=utf-8", "Grüße", "utf-16"),
])
def test_decode_finds_the_text(body: bytes, content_type: str | None, text: str, used: str) -> None:
    got, encoding = decode(body, content_type)
    assert text in got
    assert encoding == used


@pytest.mark.parametrize("body", [b"\xff\xfe\xfd\x80\x81", bytes(range(256)), b"\xe9" * 3, b"", b"\xed\xa0\x80"])
def test_decode_never_raises_and_gives_valid_unicode(body: bytes) -> None:
    text, encoding = decode(body, "text/html; charset=utf-8")
    text.encode("utf-8")  # no lone surrogates
    assert isinstance(encoding, str) and encoding
