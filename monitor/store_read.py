"""Reading the store for people: full-text search, one article's whole record, and exports.

Search runs FTS5 (``articles_fts``: title, byline, text, captions) ranked by bm25 with the title
weighted most, with ``snippet()`` marking the matched words. ``--since`` filters on ``first_seen``
(when monitor first stored the article: always known, unlike ``published``). Exports stream rows
from one cursor, so memory stays flat however many rows there are.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import StoreError
from .store import Store

__all__ = ["EXPORT_COLUMNS", "ArticleRecord", "SearchHit", "article_record", "export_rows", "parse_since",
           "search", "write_export"]

HIGHLIGHT_START, HIGHLIGHT_END = "\x02", "\x03"  # snippet() markers: never in extracted text
BM25_WEIGHTS = (10.0, 3.0, 1.0, 2.0)  # title, byline, text, captions
SNIPPET_TOKENS = 24


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: int
    url: str
    title: str
    source: str
    first_seen: str
    published: str | None
    story_id: int | None
    snippet: str  # matched words between HIGHLIGHT_START and HIGHLIGHT_END
    score: float  # bm25: lower is better
    outlets: int  # articles in the same story
    others: tuple[tuple[str, str], ...] = ()  # with by_story: (source, url) of the story's other articles


def parse_since(value: str, now: datetime) -> str:
    """``2026-01-03``, an ISO 8601 time, or a duration back from now (``7d``, ``12h``) -> ISO UTC."""
    from .units import parse_duration

    text = value.strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = now - timedelta(seconds=parse_duration(text))
        except (ValueError, TypeError):
            raise StoreError(f"--since {value!r}: give a date (2026-01-03), a time (2026-01-03T08:00) "
                             "or a duration back from now (7d, 12h)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat()


def search(store: Store, query: str, *, since: str | None = None, source: str | None = None,
           limit: int = 20, by_story: bool = False) -> tuple[list[SearchHit], bool]:
    """Ranked hits for an FTS5 query; returns (hits, literal) where ``literal`` says the query was
    not valid FTS5 syntax and was searched as plain words instead. ``by_story``: one hit per story
    (its best-ranked article), with the story's other articles in ``others``."""
    if not query.strip():
        raise StoreError("search: give some words to look for")
    try:
        return _search(store, query, since, source, limit, by_story), False
    except sqlite3.OperationalError as exc:
        if not any(word in str(exc) for word in ("fts5", "syntax", "no such column", "unterminated")):
            raise StoreError(f"search failed: {exc}") from None
    literal = " ".join('"' + word.replace('"', '""') + '"' for word in query.split())
    try:
        return _search(store, literal, since, source, limit, by_story), True
    except sqlite3.OperationalError as exc:
        raise StoreError(f"search: cannot search for {query!r}: {exc}") from None


def _search(store: Store, query: str, since: str | None, source: str | None, limit: int,
            by_story: bool) -> list[SearchHit]:
    """Rank first (bm25 over every match, nothing else computed), then build snippets and read the
    records for the hits kept: snippet() on every match would cost more than the ranking. By story,
    each match is numbered within its story (an article without one is its own) and the first kept."""
    where, params = ["articles_fts MATCH ?"], [query]
    if since:
        where.append("a.first_seen >= ?")
        params.append(since)
    if source:
        where.append("a.source = ?")
        params.append(source)
    join = "JOIN articles a ON a.id = articles_fts.rowid" if since or source or by_story else ""
    w = ", ".join(str(x) for x in BM25_WEIGHTS)
    if by_story:
        top = (f"WITH ranked AS (SELECT articles_fts.rowid AS id, bm25(articles_fts, {w}) AS score, "
               f"coalesce(a.story_id, -a.id) AS story FROM articles_fts {join} WHERE {' AND '.join(where)}), "
               f"firsts AS (SELECT id, score, row_number() OVER (PARTITION BY story ORDER BY score, id) AS n "
               f"FROM ranked), "
               f"top AS (SELECT id, score FROM firsts WHERE n = 1 ORDER BY score, id LIMIT ?) ")
    else:
        top = (f"WITH top AS (SELECT articles_fts.rowid AS id, bm25(articles_fts, {w}) AS score FROM articles_fts "
               f"{join} WHERE {' AND '.join(where)} ORDER BY score LIMIT ?) ")
    sql = (f"{top}"
           f"SELECT a.id, a.url, a.title, a.source, a.first_seen, a.published, a.story_id, "
           f"snippet(articles_fts, -1, ?, ?, '…', {SNIPPET_TOKENS}) AS snip, top.score, "
           f"(SELECT count(*) FROM articles o WHERE o.story_id = a.story_id) AS outlets "
           f"FROM top JOIN articles a ON a.id = top.id JOIN articles_fts ON articles_fts.rowid = top.id "
           f"WHERE articles_fts MATCH ? ORDER BY top.score, a.id")
    rows = store.conn.execute(sql, [*params, max(1, limit), HIGHLIGHT_START, HIGHLIGHT_END, query]).fetchall()
    hits = [SearchHit(id=r[0], url=r[1], title=r[2] or "", source=r[3], first_seen=r[4], published=r[5],
                      story_id=r[6], snippet=r[7] or "", score=float(r[8]), outlets=int(r[9])) for r in rows]
    if by_story:
        hits = _with_others(store, hits)
    return hits


def _with_others(store: Store, hits: list[SearchHit]) -> list[SearchHit]:
    """Each hit with the (source, url) of its story's other articles, oldest first."""
    stories = [h.story_id for h in hits if h.story_id is not None and h.outlets > 1]
    if not stories:
        return hits
    others: dict[int, list[tuple[int, str, str]]] = {}
    marks = ", ".join("?" * len(stories))
    for story, article, src, url in store.conn.execute(
            f"SELECT story_id, id, source, url FROM articles WHERE story_id IN ({marks}) ORDER BY first_seen, id",
            stories):
        others.setdefault(story, []).append((article, src, url))
    return [replace(h, others=tuple((src, url) for article, src, url in others.get(h.story_id, []) if article != h.id))
            if h.story_id is not None else h for h in hits]


# ---------------------------------------------------------------------------- one record

@dataclass(slots=True)
class ArticleRecord:
    """An article with its story, the story's other outlets, its revisions, matches and alerts."""

    article: dict[str, Any]
    story: dict[str, Any] | None = None
    also_seen_at: list[dict[str, Any]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)  # the keys it is found by
    revisions: list[dict[str, Any]] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # this story's alerts, from any of its outlets


def article_record(store: Store, url: str) -> ArticleRecord | None:
    article = store.article_by_ref(url)
    if article is None:
        return None
    article.pop("html", None)
    aid, sid = article["id"], article["story_id"]
    return ArticleRecord(
        article=article,
        story=store.one("SELECT * FROM stories WHERE id = ?", [sid]),
        also_seen_at=store.query("SELECT id, source, url, title, first_seen FROM articles "
                                 "WHERE story_id = ? AND id != ? ORDER BY first_seen, id", [sid, aid]),
        urls=[r["url_key"] for r in store.query("SELECT url_key FROM article_urls WHERE article_id = ? "
                                                 "ORDER BY url_key", [aid])],
        revisions=store.query("SELECT id, time, reason, title, diff FROM revisions WHERE article_id = ? "
                              "ORDER BY time, id", [aid]),
        matches=store.query("SELECT topic, hits, snippets, matched_at FROM matches WHERE article_id = ? "
                            "ORDER BY matched_at, topic", [aid]),
        alerts=store.query("SELECT l.id, l.article_id, l.channel, l.topics, l.kind, l.status, l.attempts, "
                           "l.created, l.sent_at, l.last_error, a.url AS article_url, a.source AS article_source FROM alerts l "
                           "LEFT JOIN articles a ON a.id = l.article_id WHERE l.story_id = ? OR l.article_id = ? "
                           "ORDER BY l.id", [sid, aid]),
    )


# ---------------------------------------------------------------------------- export

EXPORT_COLUMNS: tuple[str, ...] = (
    "id", "url", "source", "story_id", "title", "byline", "authors", "published", "modified", "first_seen",
    "last_seen", "updated", "revisions", "lang", "site_name", "description", "tags", "captions", "topics",
    "text", "text_cleared",
)
_JSON_COLUMNS = ("authors", "tags", "captions", "topics")


def export_rows(store: Store, *, since: str | None = None,
                source: str | None = None) -> Generator[dict[str, Any], None, None]:
    """Every article (oldest first) as a dict of :data:`EXPORT_COLUMNS`; lists decoded. Streams from one
    cursor on its own read transaction: constant memory."""
    where, params = [], []
    if since:
        where.append("a.first_seen >= ?")
        params.append(since)
    if source:
        where.append("a.source = ?")
        params.append(source)
    cols = ", ".join(f"a.{c}" for c in EXPORT_COLUMNS if c != "topics")
    sql = (f"SELECT {cols}, (SELECT json_group_array(topic) FROM matches m WHERE m.article_id = a.id) AS topics "
           f"FROM articles a {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY a.first_seen, a.id")
    cursor = store.conn.execute(sql, params)
    names = [d[0] for d in cursor.description]
    try:
        for values in cursor:
            row = dict(zip(names, values, strict=True))
            for key in _JSON_COLUMNS:
                row[key] = json.loads(row[key]) if row[key] else []
            yield {c: row[c] for c in EXPORT_COLUMNS}
    finally:
        cursor.close()


def write_export(rows: Iterator[dict[str, Any]], out: io.TextIOBase | Any, fmt: str) -> int:
    """Write rows as JSON lines or CSV (lists as JSON arrays in their cell); returns how many."""
    n = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        return n
    if fmt != "csv":
        raise StoreError(f"unknown export format {fmt!r}; formats: jsonl, csv")
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([json.dumps(row[c], ensure_ascii=False) if c in _JSON_COLUMNS else row[c]
                         for c in EXPORT_COLUMNS])
        n += 1
    return n
