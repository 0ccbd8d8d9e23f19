"""No page of the development sets makes extraction raise. Runs where the data is ($MONITOR_SHARED,
else ../shared relative to the repository, as in CI); skipped elsewhere."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from monitor.extract import extract
from monitor.models import Article

DATA = Path(os.environ.get("MONITOR_SHARED") or Path(__file__).resolve().parent.parent.parent / "shared") / "data"
DEV = DATA / "extraction-dev" / "html"
READABILITY = DATA / "readability-pages"


@pytest.mark.skipif(not DEV.is_dir(), reason="extraction-dev data not present")
def test_every_extraction_dev_page() -> None:
    pages = sorted(DEV.glob("*.html.gz"))
    assert pages
    for path in pages:
        article = extract(gzip.decompress(path.read_bytes()), url=f"https://example.test/{path.name}")
        assert isinstance(article, Article), path.name


@pytest.mark.skipif(not READABILITY.is_dir(), reason="readability pages not present")
def test_every_readability_page() -> None:
    pages = sorted(READABILITY.glob("*/source.html"))
    assert pages
    for path in pages:
        article = extract(path.read_bytes(), url=f"http://fakehost/{path.parent.name}/")
        assert isinstance(article, Article), path.parent.name
