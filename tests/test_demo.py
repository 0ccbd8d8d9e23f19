"""`monitor demo`: the bundled site, receivers and two real fetch runs, offline."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.demo import run_demo
from monitor.demo.site import DemoSite

from .conftest import run_cli


def test_demo_shows_matching_dedup_revision_and_non_matching(tmp_path: Path) -> None:
    result = run_demo(tmp_path)
    manifest = DemoSite().manifest
    by_title = {a["title"]: a for a in result.articles}
    assert len(result.articles) == len(manifest["articles"])
    for entry in manifest["articles"]:
        stored = by_title[entry["title"]] if entry["outlet"] == "cgtn" else next(
            a for a in result.articles if a["source"] == "asia-policy-wire")
        expected = entry.get("expect_topics_v2", entry["expect_topics"])
        assert sorted((stored["topics"] or "").split(", ")) == sorted(expected) or (
            not expected and not stored["topics"]), entry["title"]
        assert stored["byline"] == entry["byline"]
    # the syndicated copy joins the original's story; the edited page is a revision
    copies = [a for a in result.articles if "China-ASEAN" in a["title"]]
    assert len(copies) == 2 and copies[0]["story_id"] == copies[1]["story_id"]
    edited = next(a for a in result.articles if a["title"].startswith("Central Asian rail"))
    assert edited["revisions"] == 1
    # every delivered webhook is verified; one per story that matched; one email each
    alerted_stories = {a["story_id"] for a in result.articles if a["topics"]}
    assert all(d.verified and d.status == 200 for d in result.webhooks)
    assert len({d.webhook_id for d in result.webhooks}) == len(result.webhooks) == len(alerted_stories)
    assert len(result.emails) == len(alerted_stories)
    edit_alert = next(d for d in result.webhooks if d.payload["article"]["title"].startswith("Central Asian"))
    assert [m["topic"] for m in edit_alert.payload["matches"]] == ["mou"]
    assert result.runs[1].reports[0].updated == 1 and result.runs[1].reports[0].new == 0


def test_demo_command(tmp_path: Path) -> None:
    result = run_cli("demo", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "✓ verified" in result.stdout and "[monitor] mou, japan-trip, dprk-talks" in result.stdout
    assert "Traceback" not in result.stderr
    config = (tmp_path / "demo-config.yaml").read_text()
    assert "whsec_" in config


def test_extract_command(tmp_path: Path) -> None:
    seed = Path(__file__).parent / "fixtures" / "seed" / "seoul-beijing-visit.html"
    result = run_cli("extract", str(seed), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    expected = json.loads(seed.with_name("seoul-beijing-visit.expected.json").read_text())
    assert data["title"] == expected["title"] and data["byline"] == expected["byline"]
    assert data["captions"] == expected["captions"]
    text = run_cli("extract", str(seed))
    assert text.returncode == 0 and expected["title"] in text.stdout
    missing = run_cli("extract", str(tmp_path / "nope.html"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
