"""Units of extraction: dates, decoding, the vocabulary, site rules, pathological input."""

from __future__ import annotations

import os
import resource
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.config import SiteRules
from monitor.errors import ExtractError
from monitor.extract import extract, parse_date
from monitor.extract.byline import clean_byline, split_names
from monitor.extract.decode import to_text
from monitor.extract.vocab import VOCAB, Kind, classify

CST = timezone(timedelta(hours=8))


def test_public_names() -> None:
    import importlib

    import monitor

    extraction = importlib.import_module("monitor.extract")  # the subpackage (`monitor.extract` is the function)
    assert monitor.extract is extraction.extract
    assert extraction.__all__ == ["extract", "parse_date"]
    for name in extraction.__all__:
        assert callable(getattr(extraction, name))


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-03T14:02:00+08:00", datetime(2026, 1, 3, 14, 2, tzinfo=CST)),
    ("2019-10-18T17:23:34.816Z", datetime(2019, 10, 18, 17, 23, 34, tzinfo=UTC)),
    ("2026-01-03", datetime(2026, 1, 3, tzinfo=UTC)),
    ("Sat, 03 Jan 2026 14:02:00 +0800", datetime(2026, 1, 3, 14, 2, tzinfo=CST)),
    ("Tue, 06 Jan 2026 09:15:00 GMT", datetime(2026, 1, 6, 9, 15, tzinfo=UTC)),
    ("13:34, 30-Dec-2025", datetime(2025, 12, 30, 13, 34, tzinfo=UTC)),
    ("Updated 16:25, 03-Jan-2026", datetime(2026, 1, 3, 16, 25, tzinfo=UTC)),
    ("2021/1/19 22:08:39", datetime(2021, 1, 19, 22, 8, 39, tzinfo=UTC)),
    ("January 3, 2026 2:02 PM EST", datetime(2026, 1, 3, 14, 2, tzinfo=timezone(timedelta(hours=-5)))),
    ("3. Januar 2026", datetime(2026, 1, 3, tzinfo=UTC)),
    ("Publié le 3 février 2026 à 7h45", datetime(2026, 2, 3, 7, 45, tzinfo=UTC)),
    ("20 de noviembre de 2019", datetime(2019, 11, 20, tzinfo=UTC)),
    ("03.01.2026 14:02", datetime(2026, 1, 3, 14, 2, tzinfo=UTC)),
    ("2026年1月3日 14:02", datetime(2026, 1, 3, 14, 2, tzinfo=UTC)),
    ("1735689600", datetime(2025, 1, 1, tzinfo=UTC)),
])
def test_parse_date_formats(text: str, expected: datetime) -> None:
    got = parse_date(text)
    assert got == expected
    assert got is not None and got.utcoffset() == expected.utcoffset()


def test_parse_date_takes_the_page_time_zone_only_when_the_text_has_none() -> None:
    assert parse_date("13:34, 30-Dec-2025", default_tz=CST) == datetime(2025, 12, 30, 13, 34, tzinfo=CST)
    stated = parse_date("2026-01-03T14:02:00+01:00", default_tz=CST)
    assert stated is not None and stated.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize("text", ["", "no date here", "99/99/9999", "yesterday", "2026-13-45", None])
def test_parse_date_none(text: str | None) -> None:
    assert parse_date(text) is None


def test_decode_charsets() -> None:
    page = '<meta charset="windows-1251"><p>Привет, мир</p>'
    assert "Привет" in to_text(page.encode("cp1251"))
    equiv = '<meta http-equiv="Content-Type" content="text/html; charset=shift_jis"><p>こんにちは</p>'
    assert "こんにちは" in to_text(equiv.encode("shift_jis"))
    assert "UTF-16" in to_text("\ufeff<p>UTF-16 with a BOM</p>".encode("utf-16-le"))
    latin = "<p>Café crème, naïve façade, déjà vu: un été très réussi à Montréal.</p>".encode("latin-1")
    assert "Café" in to_text(latin)  # undeclared and not UTF-8: detected
    mislabelled = '<meta charset="iso-8859-1"><p>Zürich</p>'.encode()
    assert "Zürich" in to_text(mislabelled)  # a legacy label on UTF-8 bytes


@pytest.mark.parametrize("data", [b"", b"   \n", "\n\t ", b"%PDF-1.7 binary", b"\x89PNG\r\n\x1a\n\x00\x00",
                                  bytes(range(256)) * 50])
def test_empty_and_binary_input_is_a_clear_error(data: str | bytes) -> None:
    with pytest.raises(ExtractError):
        extract(data, url="https://example.test/x")


def _bounded(data: str | bytes, seconds: float = 5.0) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.process_time()
    try:
        article = extract(data, url="https://example.test/x")
        assert isinstance(article.text, str)
    except ExtractError:
        pass
    assert time.process_time() - start < seconds
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 800


def test_deep_nesting_is_bounded() -> None:
    _bounded("<div>" * 100_000 + "<p>The deepest paragraph of all, with enough words to count.</p>" + "</div>" * 100_000)
    _bounded("<span><div>" * 50_000 + "unclosed")


def test_huge_page_is_bounded() -> None:
    paragraph = "<p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20 + "</p>\n"
    _bounded("<html><body><article>" + paragraph * (20_000_000 // len(paragraph)) + "</article></body></html>")


def test_head_flooded_with_meta_tags_is_bounded_and_still_read() -> None:
    head = '<meta name="author" content="Ana Ruiz"><title>Flooded head</title>'
    page = "<html><head>" + head + '<meta name="x" content="y">' * 300_000 + "</head><body><p>" + \
        "A paragraph of the body, long enough to be one. " * 5 + "</p></body></html>"
    _bounded(page)
    article = extract(page, url="https://example.test/x")
    assert article.title == "Flooded head" and article.byline == "Ana Ruiz"


def test_one_tag_with_endless_attributes_is_bounded() -> None:
    _bounded("<div " + " ".join(f'a{i}="{i}"' for i in range(100_000)) + ">text</div>")


def test_broken_encoding_and_random_bytes() -> None:
    article = extract(b'<meta charset="utf-8"><p>caf\xe9 na\xefve \xff\xfe, this paragraph has broken bytes in it.</p>')
    assert "caf" in article.text
    _bounded(os.urandom(200_000))
    _bounded(b'<meta charset="x-unknown-charset"><p>An unknown charset label is ignored, the text stays.</p>')


def test_vocabulary_is_data() -> None:
    assert VOCAB.consent_buttons and VOCAB.junk_exact and VOCAB.related_headings
    assert classify("share-bar") & Kind.STRONG_BOILER
    assert classify("socialShareTools") & Kind.STRONG_BOILER
    assert classify("CybotCookiebotDialog") & Kind.CONSENT
    assert classify("qc-cmp2-container") & Kind.CONSENT
    assert classify("l-article-body-segment") & Kind.CONTENT
    assert not classify("article-meta") & Kind.CONTENT
    assert not classify("header") and not classify("shadow") and not classify("loaded")
    assert classify("wp-caption-text") & Kind.CAPTION


@pytest.mark.parametrize(("text", "names"), [
    ("By Jane Doe and John Roe", ["Jane Doe", "John Roe"]),
    ("Par Claire Besson | 3 février 2026", ["Claire Besson"]),
    ("作者：李华", ["李华"]),
    ("By Monica Smith, 13:34 30-Dec-2025", ["Monica Smith"]),
    ("Jong, Michiel de", ["Jong, Michiel de"]),
    ("Richard (R.J.) Eskow", ["Richard (R.J.) Eskow"]),
    ("By William (Bill) Hart and Ana Ruiz", ["William (Bill) Hart", "Ana Ruiz"]),
    ("Jane Doe (Reuters)", ["Jane Doe", "Reuters"]),
])
def test_bylines(text: str, names: list[str]) -> None:
    assert split_names(clean_byline(text)) == names


def test_bad_site_rule_selector_is_a_clear_error() -> None:
    with pytest.raises(ExtractError, match="selector"):
        extract("<p>Some text of a page that is long enough.</p>", rules=SiteRules(body="div[[["))


def test_relative_canonical_is_resolved() -> None:
    page = '<link rel="canonical" href="/a/b.html"><p>Text of the page, long enough to be a paragraph.</p>'
    assert extract(page, url="https://example.test/x/y?z=1").url == "https://example.test/a/b.html"
    og = '<meta property="og:url" content="https://example.test/og"><p>Text of the page, long enough.</p>'
    assert extract(og, url="https://example.test/given").url == "https://example.test/og"
    assert extract("<p>Text of the page, long enough to count.</p>", url="https://e.test/g").url == "https://e.test/g"
