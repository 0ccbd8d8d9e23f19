"""The seed page (tests/fixtures/seed/README in /work/shared): every field exactly as expected."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.extract import extract
from monitor.models import Article

SEED = Path(__file__).parent / "fixtures" / "seed"


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return json.loads((SEED / "seoul-beijing-visit.expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=["bytes", "str"])
def article(request: pytest.FixtureRequest) -> Article:
    raw = (SEED / "seoul-beijing-visit.html").read_bytes()
    page = raw if request.param == "bytes" else raw.decode("utf-8")
    return extract(page, url="https://www.cgtn.com/opinions/some-listing-link")


def test_scalar_fields(article: Article, expected: dict[str, Any]) -> None:
    assert article.title == expected["title"]
    assert article.byline == expected["byline"]
    assert article.url == expected["url"]
    assert article.published == datetime.fromisoformat(expected["published"])
    assert article.modified == datetime.fromisoformat(expected["modified"])
    assert article.published is not None and article.published.utcoffset() is not None
    assert article.as_dict()["published"] == expected["published"]
    assert article.as_dict()["modified"] == expected["modified"]
    assert not article.is_consent_wall


def test_captions_exactly_once_in_order(article: Article, expected: dict[str, Any]) -> None:
    assert article.captions == expected["captions"]
    assert [img.caption for img in article.images] == expected["captions"]


def test_body_paragraphs_in_order(article: Article, expected: dict[str, Any]) -> None:
    text = article.text
    position = -1
    for paragraph in expected["body_paragraphs_in_order"]:
        found = text.find(paragraph, position + 1)
        assert found > position, f"missing or out of order: {paragraph[:60]!r}"
        position = found
    assert article.paragraphs[0].startswith("Editor's note:")
    allowed = set(expected["body_paragraphs_in_order"]) | set(expected["body_may_contain"])
    assert set(article.paragraphs) <= allowed


def test_body_must_not_contain(article: Article, expected: dict[str, Any]) -> None:
    for needle in expected["body_must_not_contain"]:
        assert needle not in article.text, needle


def test_topic_passages_are_in_the_text(article: Article, expected: dict[str, Any]) -> None:
    for topic, passage in expected["topics_that_must_match"].items():
        assert passage in article.text, topic
