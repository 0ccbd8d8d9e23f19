"""The topic language, table-driven from tests/fixtures/topics/cases.yaml, plus the seed page."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.errors import QueryError
from monitor.topics import Document, TopicMatcher, compile_topics, parse_query, plain

FIXTURES = Path(__file__).parent / "fixtures" / "topics"
CASES: dict[str, Any] = yaml.safe_load((FIXTURES / "cases.yaml").read_text(encoding="utf-8"))
SEED: dict[str, Any] = json.loads((FIXTURES / "seed_paragraphs.json").read_text(encoding="utf-8"))
ALIASES: dict[str, list[str]] = CASES["aliases"]


@dataclass(frozen=True)
class Topic:
    """Stands in for config.TopicConfig: compile_topics reads only these attributes."""

    name: str
    query: str
    exclude: str | None = None
    min_hits: int = 1
    sources: list[str] | None = None
    lang: list[str] | None = None


def _doc(case: dict[str, Any]) -> Document:
    return Document(title=case.get("title", ""), text=case.get("text", ""), captions=case.get("captions", ()),
                    byline=case.get("byline", ""), source=case.get("source", ""), url=case.get("url", ""),
                    lang=case.get("lang"))


def _matcher(case: dict[str, Any], name: str = "t") -> TopicMatcher:
    topic = Topic(name, case["query"], case.get("exclude"), case.get("min_hits", 1), case.get("sources"),
                  case.get("langs"))
    return compile_topics([topic], case.get("aliases", ALIASES))


@pytest.mark.parametrize("case", CASES["matches"], ids=[c["id"] for c in CASES["matches"]])
def test_match(case: dict[str, Any]) -> None:
    matcher = _matcher(case)
    doc = _doc(case)
    found = matcher.match(doc)
    assert bool(found) == case["match"], matcher.explain(doc, "t").render()
    explanation = matcher.explain(doc, "t")
    assert explanation.matched == case["match"]  # explain and match agree
    if not found:
        return
    (match,) = found
    assert match.topic == "t"
    assert 1 <= len(match.snippets) <= 3
    if "snippet" in case:
        assert any(case["snippet"] in s for s in match.snippets), match.snippets
    if "snippet_max" in case:
        assert all(len(s) <= case["snippet_max"] for s in match.snippets), match.snippets
    if "hits" in case:
        assert match.hits == case["hits"]


@pytest.mark.parametrize("case", CASES["trees"], ids=[c["query"] for c in CASES["trees"]])
def test_tree(case: dict[str, str]) -> None:
    assert str(parse_query(case["query"])) == case["tree"]


@pytest.mark.parametrize("case", CASES["errors"], ids=[f"{c['query']!r}/{c.get('exclude')!r}" for c in CASES["errors"]])
def test_error(case: dict[str, Any]) -> None:
    with pytest.raises(QueryError) as info:
        _matcher(case, name="japan-trip")
    err = info.value
    field = case.get("field", "query")
    assert case["message"] in err.detail
    assert (err.topic, err.field, err.col) == ("japan-trip", field, case["col"])
    assert str(err) == f"topics.japan-trip.{field}: col {case['col']}: {err.detail}"


def test_error_reads_like_the_issue() -> None:
    with pytest.raises(QueryError) as info:
        parse_query("(Japan OR Tokyo) NEAR/4", topic="japan-trip")
    assert str(info.value) == "topics.japan-trip.query: col 24: expected a term after NEAR/4"


def test_parse_query_error_without_topic() -> None:
    with pytest.raises(QueryError) as info:
        parse_query("Japan OR")
    assert str(info.value) == "query: col 9: expected a term after OR"


def test_unknown_alias_when_none_defined() -> None:
    with pytest.raises(QueryError, match=r"unknown alias @DPRK: .*none are defined"):
        parse_query("@DPRK")


@pytest.mark.parametrize("aliases, message", [
    ({"X": [""]}, "entry 1 ('') has no words"),
    ({"X": ["ok", "--"]}, "entry 2 ('--') has no words"),
    ({"X": []}, "expected a list of words or phrases"),
])
def test_bad_alias(aliases: dict[str, list[str]], message: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_topics([Topic("t", "Japan")], aliases)
    assert message in str(info.value)
    assert info.value.topic is None and info.value.field == "aliases.X"


# ---------------------------------------------------------------------------- the example topics

def _examples() -> TopicMatcher:
    topics = [Topic(name, query) for name, query in CASES["examples"]["topics"].items()]
    return compile_topics(topics, {})


def _seed() -> Document:
    return Document(title=SEED["title"], text="\n\n".join(SEED["paragraphs"]), captions=SEED["captions"],
                    source="cgtn", lang="en")


def test_examples_match_the_seed_page() -> None:
    matches = {m.topic: m for m in _examples().match(_seed())}
    assert list(matches) == ["mou", "japan-trip", "dprk-talks"]  # config order
    for topic, passage in SEED["topics_that_must_match"].items():
        assert any(passage in plain(s) for s in matches[topic].snippets), (topic, matches[topic].snippets)
    assert "**Japan trip**" in matches["japan-trip"].snippets[0]
    assert "**memoranda of understanding**" in matches["mou"].snippets[0]


@pytest.mark.parametrize("text", CASES["examples"]["near_misses"])
def test_examples_skip_near_misses(text: str) -> None:
    matcher = _examples()
    doc = Document(title="", text=text)
    assert matcher.match(doc) == [], {n: matcher.explain(doc, n).render() for n in matcher.names}


def test_enough_near_misses() -> None:
    assert len(CASES["examples"]["near_misses"]) >= 10


def test_seed_snippets_are_short_and_marked() -> None:
    for match in _examples().match(_seed()):
        assert 1 <= len(match.snippets) <= 3
        for snippet in match.snippets:
            assert "**" in snippet and len(snippet) <= 300 and "\n" not in snippet


# ---------------------------------------------------------------------------- explain

def test_explain_matched() -> None:
    explanation = _examples().explain(_seed(), "japan-trip")
    assert explanation.matched
    text = explanation.render()
    assert text.startswith("japan-trip: MATCHED")
    assert '1 pair within 4 words: text "Japan trip"' in text
    assert "✓ Tokyo" in text and "snippets:" in text


def test_explain_not_matched_names_the_failed_clause() -> None:
    doc = Document(title="", text="He landed in Japan on Sunday, and the long-planned trip ended well.")
    explanation = _examples().explain(doc, "japan-trip")
    assert not explanation.matched
    assert any(line.startswith("✗ (Japan OR Tokyo) NEAR/4 (trip OR visit): no pair within 4 words "
                               "(closest 7 apart)") for line in explanation.lines), explanation.lines
    assert "✗ Tokyo: not found" in explanation.render()
    explanation = _examples().explain(doc, "dprk-talks")
    assert "✗ DPRK OR \"North Korea\" OR Pyongyang: no part holds" in explanation.render()


def test_explain_filters_and_exclude() -> None:
    matcher = compile_topics([Topic("t", "Japan", exclude="Olympics", sources=["cgtn"], lang=["en"])], {})
    text = matcher.explain(Document(title="", text="Japan Olympics", source="bbc", lang="fr"), "t").render()
    assert "✗ sources: cgtn (article: bbc)" in text
    assert "✗ lang: en (article: fr)" in text
    text = matcher.explain(Document(title="", text="Japan Olympics", source="cgtn"), "t").render()
    assert "NOT MATCHED (the exclude query holds)" in text and "exclude: Olympics: holds: vetoes the match" in text


def test_explain_unknown_topic() -> None:
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError, match="no topic named 'nope'; topics: mou, japan-trip, dprk-talks"):
        _examples().explain(_seed(), "nope")


# ---------------------------------------------------------------------------- one pass for all topics

def test_only_topics_whose_words_are_seen_are_evaluated() -> None:
    topics = [Topic("korea", '"North Korea" talks'), Topic("japan", "Japan NEAR/3 trip"),
              Topic("regex", "/\\bG\\d+/"), Topic("mixed", "(Seoul OR Tokyo) AND summit NOT Olympics")]
    matcher = compile_topics(topics, {})
    scan = matcher.scan(Document(title="", text="The Japan summit"))
    names = [matcher.names[i] for i in matcher.candidates(scan)]
    assert names == ["japan", "regex", "mixed"]  # korea has none of its words; a regex is always evaluated


def test_pruning_never_skips_a_topic_that_matches() -> None:
    """Generated topics (bench/topics.py) on the seed page: match() == every topic evaluated."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_topics", Path(__file__).parent.parent / "bench" / "topics.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_topics"] = bench  # dataclasses look their module up
    spec.loader.exec_module(bench)
    matcher = compile_topics(bench.generate_topics(400), bench.ALIASES)
    docs = [_seed(), *(Document(title="", text=t) for t in CASES["examples"]["near_misses"])]
    total = 0
    for doc in docs:
        scan = matcher.scan(doc)
        every = [t.name for t in matcher.topics if matcher.outcome(scan, t, snippets=False).matched]
        assert [m.topic for m in matcher.match(doc)] == every
        total += len(every)
    assert total > 10


def test_rarest_word_triggers_an_and() -> None:
    matcher = compile_topics([Topic("t", "the AND Pyongyang")], {})
    assert matcher.candidates(matcher.scan(Document(title="", text="the the the"))) == []


def test_match_returns_config_order() -> None:
    topics = [Topic(n, q) for n, q in (("b", "trip"), ("a", "Japan"), ("c", "nothing"))]
    found = compile_topics(topics, {}).match(Document(title="", text="Japan trip"))
    assert [m.topic for m in found] == ["b", "a"]


def test_leaves_are_shared_between_topics() -> None:
    matcher = compile_topics([Topic("a", '"North Korea" talks'), Topic("b", '"North Korea" OR talks')], {})
    assert len(matcher.program.leaves) == 2
    assert len(matcher.program.atom_word) == 3


# ---------------------------------------------------------------------------- integration

def test_document_from_article() -> None:
    from monitor.models import Article

    article = Article(url="https://x.example/a", title="Japan trip", paragraphs=["One.", "Two."],
                      captions=["Cap"], byline="By A", lang="en")
    doc = Document.from_article(article, source="cgtn")
    assert (doc.text, doc.captions, doc.source, doc.url, doc.lang) == (
        "One.\n\nTwo.", ("Cap",), "cgtn", "https://x.example/a", "en")


def test_config_reports_query_errors_with_file_and_line() -> None:
    from monitor.config import parse_config

    text = ("aliases:\n  DPRK: [North Korea]\n"
            "topics:\n  - name: ok\n    query: '@DPRK'\n  - name: japan-trip\n    query: Japan\n"
            "    exclude: 'Olympics OR'\n")
    with pytest.raises(QueryError) as info:
        parse_config(text, "config.yaml")
    assert str(info.value) == "config.yaml:8: topics.japan-trip.exclude: col 12: expected a term after OR"


def test_public_names() -> None:
    import monitor.topics as topics

    for name in ("compile_topics", "Document", "TopicMatcher", "parse_query", "Explanation", "plain"):
        assert name in topics.__all__ and hasattr(topics, name)
