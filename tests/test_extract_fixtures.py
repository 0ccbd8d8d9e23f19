"""Table-driven: every field of every fixture page in tests/fixtures/extract/ (see cases.yaml).

The pages are written for these tests (original text, markup modelled on real sites): one per
consent manager, caption pattern, byline and date format, a consent wall, a page whose teasers
hold two articles' worth of text, site rules and a legacy encoding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from selectolax.lexbor import LexborHTMLParser

from monitor.config import SiteRules
from monitor.extract import extract
from monitor.extract.clean import decide_drops, find_consent_banners, find_related_boxes
from monitor.extract.decode import to_text
from monitor.extract.layout import build_layout
from monitor.models import Article

FIXTURES = Path(__file__).parent / "fixtures" / "extract"
CASES: list[dict[str, Any]] = yaml.safe_load((FIXTURES / "cases.yaml").read_text(encoding="utf-8"))
FIELDS = ("url", "title", "byline", "authors", "published", "modified", "lang", "site_name", "description",
          "tags", "paragraphs", "captions", "images", "is_consent_wall")


def _run(case: dict[str, Any]) -> Article:
    rules = SiteRules(**case["rules"]) if case.get("rules") else None
    return extract((FIXTURES / case["file"]).read_bytes(), url=case["url"], rules=rules)


@pytest.fixture(params=CASES, ids=[c["file"] for c in CASES])
def case(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(request.param)


def test_every_field(case: dict[str, Any]) -> None:
    got = _run(case).as_dict()
    expected = case["expect"]
    assert set(expected) == set(FIELDS), "cases.yaml must list every field"
    for name in FIELDS:
        assert got[name] == expected[name], f"{case['file']}: {name}"
    assert got["text"] == "\n\n".join(expected["paragraphs"])


def test_furniture_is_not_text(case: dict[str, Any]) -> None:
    article = _run(case)
    for needle in case["not_in_text"]:
        assert needle not in article.text, f"{case['file']}: {needle!r} in the body"
    for caption in article.captions:
        assert caption not in article.text, f"{case['file']}: caption {caption!r} in the body"


def test_consent_banner_is_found_by_what_it_is(case: dict[str, Any]) -> None:
    """The banner is dropped as a consent banner (known markup or its wording), not merely left
    outside the article by chance."""
    tree = LexborHTMLParser(to_text((FIXTURES / case["file"]).read_bytes()), scripting=True)
    assert tree.root is not None
    lay = build_layout(tree.root)
    drops = decide_drops(lay, find_consent_banners(lay), find_related_boxes(lay))
    assert bool(drops.consent) == case["consent_banner"], case["file"]


def test_the_table_covers_the_brief() -> None:
    files = {c["file"] for c in CASES}
    for required in ("onetrust.html", "cookiebot.html", "didomi.html", "quantcast.html", "trustarc.html",
                     "usercentrics.html", "wordpress-cookie-notice.html", "dialog-no-class-es.html",
                     "caption-figcaption.html", "caption-class.html", "caption-data-attr.html",
                     "caption-lightbox.html", "caption-teaser-list.html", "caption-widgets.html",
                     "caption-credits.html", "consent-wall.html", "teasers.html"):
        assert required in files
    assert len(files) >= 15
    assert all((FIXTURES / f).exists() for f in files)
