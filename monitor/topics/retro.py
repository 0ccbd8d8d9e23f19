"""Topics over what is already stored: retro-matching (``monitor topics test``), backfill
(``monitor topics backfill``) and the life of one article (``monitor explain``).

Matching normally happens once, when an article is stored (or revised), against the topics configured
then; a topic added later therefore sees only articles fetched after it. This module matches topics
over the ``articles`` table instead. Only :func:`backfill` writes (``dry_run=False``), and it writes the
way the store does: the match row and the alerts, through :func:`~monitor.alerts.queue.queue_alerts`,
in one ``store.write()`` transaction per article, so an alert goes out once per story, channel and topic.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import dedup
from ..alerts.queue import queue_alerts
from ..errors import StoreError
from ..models import Match
from ..schema import MIGRATIONS
from ..store import Store
from ..units import parse_duration
from .document import Document
from .explain import Explanation
from .matcher import TopicMatcher

__all__ = [
    "ArticleTrace",
    "BackfillItem",
    "BackfillReport",
    "RetroHit",
    "RetroResult",
    "StoredArticle",
    "backfill",
    "explain_all",
    "open_readonly",
    "parse_since",
    "retro_match",
    "stored_articles",
    "trace_article",
]

_RELATIVE = re.compile(r"^\s*\d+(?:\.\d+)?\s*[smhdw]\s*$", re.IGNORECASE)
MAX_FETCHES_SHOWN = 10
_ARTICLE_COLUMNS = "id, story_id, source, url, title, byline, text, captions, lang, first_seen"


# ---------------------------------------------------------------------------- inputs
def parse_since(value: str, now: datetime) -> datetime:
    """``--since``: an ISO date or time (no offset: UTC), or an age such as ``24h`` or ``7d``
    counted back from ``now``. Returns an aware UTC datetime; raises ValueError."""
    text = value.strip()
    if _RELATIVE.match(text):
        return (now - timedelta(seconds=parse_duration(text))).astimezone(UTC)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date, time or age: {value!r} (use e.g. 2026-01-03, 2026-01-03T08:00+02:00, "
                         "24h or 7d)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def open_readonly(path: str) -> Store:
    """The database opened read-only (SQLite refuses every write), for the commands that only look."""
    if path == ":memory:" or not Path(path).is_file():
        raise StoreError(f"no database at {path} (run `monitor fetch` first, or give --db PATH)")
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        store = Store(conn, path=path)
        version = store.schema_version
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    if version < len(MIGRATIONS):
        store.close()
        raise StoreError(f"database {path} is at schema version {version}, this monitor needs "
                         f"{len(MIGRATIONS)}: run a command that writes (e.g. `monitor fetch`) once to migrate it")
    return store


# ---------------------------------------------------------------------------- stored articles
@dataclass(frozen=True, slots=True)
class StoredArticle:
    id: int
    story_id: int
    source: str
    url: str
    title: str
    first_seen: str
    document: Document


def _stored(row: Mapping[str, Any]) -> StoredArticle:
    doc = Document(title=row["title"] or "", text=row["text"] or "",
                   captions=tuple(json.loads(row["captions"] or "[]")), byline=row["byline"] or "",
                   source=row["source"], url=row["url"], lang=row["lang"])
    return StoredArticle(int(row["id"]), int(row["story_id"]), row["source"], row["url"], row["title"] or "",
                         row["first_seen"], doc)


def stored_articles(store: Store, *, since: datetime | None = None,
                    sources: Sequence[str] = ()) -> Iterator[StoredArticle]:
    """Stored articles first seen at or after ``since`` (all when None), oldest first, as they read now
    (the latest revision), one at a time."""
    where, params = ["1=1"], []
    if since is not None:
        where.append("first_seen >= ?")
        params.append(since.astimezone(UTC).isoformat())
    if sources:
        where.append(f"source IN ({','.join('?' * len(sources))})")
        params += list(sources)
    sql = f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE {' AND '.join(where)} ORDER BY first_seen, id"
    for row in store.db.query(sql, params):
        yield _stored(row)


# ---------------------------------------------------------------------------- retro-matching
@dataclass(frozen=True, slots=True)
class RetroHit:
    article: StoredArticle
    match: Match
    stored: bool | None  # the matches table has this topic for the article (None: an ad-hoc query)


@dataclass
class RetroResult:
    topic: str
    since: datetime | None
    scanned: int = 0
    hits: list[RetroHit] = field(default_factory=list)
    lost: list[StoredArticle] = field(default_factory=list)  # matched when stored, not now

    @property
    def new(self) -> int:
        return sum(1 for h in self.hits if h.stored is False)


def retro_match(store: Store, matcher: TopicMatcher, *, since: datetime | None = None,
                sources: Sequence[str] = (), stored_as: str | None = None) -> RetroResult:
    """Match ``matcher``'s one topic over the stored articles. ``stored_as`` names the configured topic
    whose stored matches the hits are compared with (None for an ad-hoc query)."""
    if len(matcher.names) != 1:
        raise ValueError("retro_match takes a matcher compiled from exactly one topic")
    result = RetroResult(topic=stored_as or matcher.names[0], since=since)
    known: set[int] = set()
    if stored_as is not None:
        known = {int(r["article_id"]) for r in store.db.query(
            "SELECT article_id FROM matches WHERE topic = ?", [stored_as])}
    for article in stored_articles(store, since=since, sources=sources):
        result.scanned += 1
        found = matcher.match(article.document)
        if found:
            result.hits.append(RetroHit(article, found[0], article.id in known if stored_as else None))
        elif article.id in known:
            result.lost.append(article)
    return result


# ---------------------------------------------------------------------------- backfill
@dataclass(frozen=True, slots=True)
class BackfillItem:
    article: StoredArticle
    match: Match
    new_match: bool  # no match row for this topic before
    queued: tuple[str, ...]  # channels an alert was (or, in a dry run, would be) queued for
    already: tuple[str, ...]  # channels where the story had been alerted for this topic


@dataclass
class BackfillReport:
    topic: str
    channels: tuple[str, ...]
    since: datetime
    dry_run: bool
    scanned: int = 0
    items: list[BackfillItem] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)

    @property
    def queued(self) -> int:
        return sum(len(i.queued) for i in self.items)

    @property
    def new_matches(self) -> int:
        return sum(1 for i in self.items if i.new_match)

    def per_channel(self) -> dict[str, int]:
        out = dict.fromkeys(self.channels, 0)
        for item in self.items:
            for channel in item.queued:
                out[channel] += 1
        return out


def backfill(store: Store, matcher: TopicMatcher, *, channels: Sequence[str], since: datetime,
             sources: Sequence[str] = (), dry_run: bool = False) -> BackfillReport:
    """Match the matcher's one (configured) topic over articles first seen since ``since``, store the
    matches and queue alerts for them on ``channels``, the oldest article of a story first. A story
    already alerted for this topic on a channel is not alerted again there; a second backfill queues
    nothing. With ``dry_run`` nothing is written and the report says what would be queued."""
    topic = matcher.names[0]
    found = retro_match(store, matcher, since=since, sources=sources, stored_as=topic)
    report = BackfillReport(topic, tuple(channels), since, dry_run, scanned=found.scanned)
    claimed: set[tuple[int, str]] = set()  # (story, channel) queued earlier in this dry run
    for hit in found.hits:
        a = hit.article
        if dry_run:
            done = _alerted(store, a.story_id, topic) | {c for s, c in claimed if s == a.story_id}
            queued = tuple(c for c in channels if c not in done)
            claimed.update((a.story_id, c) for c in queued)
        else:
            with store.write() as db:
                before = _alerted(store, a.story_id, topic)
                now = store.now()
                db.execute(
                    """INSERT INTO matches (article_id, topic, snippets, hits, matched_at) VALUES (?,?,?,?,?)
                       ON CONFLICT(article_id, topic) DO UPDATE SET snippets=excluded.snippets,
                       hits=excluded.hits""",
                    [a.id, topic, json.dumps(list(hit.match.snippets), ensure_ascii=False), hit.match.hits, now])
                queue_alerts(db, article_id=a.id, story_id=a.story_id, matches=[hit.match],
                             routes={topic: list(channels)}, now=now)
                rows = store.query("SELECT channel, alert_id FROM alerted WHERE story_id = ? AND topic = ?",
                                   [a.story_id, topic])
            fresh = {r["channel"]: int(r["alert_id"]) for r in rows if r["channel"] not in before}
            queued = tuple(c for c in channels if c in fresh)
            report.alert_ids += [fresh[c] for c in queued]
            done = before
        already = tuple(c for c in channels if c in done)
        report.items.append(BackfillItem(a, hit.match, not hit.stored, queued, already))
    return report


def _alerted(store: Store, story_id: int, topic: str) -> set[str]:
    return {r["channel"] for r in store.query("SELECT channel FROM alerted WHERE story_id = ? AND topic = ?",
                                              [story_id, topic])}


# ---------------------------------------------------------------------------- one article's life
@dataclass
class ArticleTrace:
    """Where one URL stands: fetched, extracted, stored, matched, alerted (rows from the tables)."""

    url: str
    article: dict[str, Any] | None = None
    fetched_urls: list[dict[str, Any]] = field(default_factory=list)  # rows of `urls`
    fetches: list[dict[str, Any]] = field(default_factory=list)  # the latest rows of `fetches`, newest first
    fetch_count: int = 0
    story: dict[str, Any] | None = None
    outlets: list[dict[str, Any]] = field(default_factory=list)  # the story's other articles
    revisions: list[dict[str, Any]] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # this article's alert rows
    story_alerts: list[dict[str, Any]] = field(default_factory=list)  # the story's, queued for other copies

    @property
    def document(self) -> Document:
        if self.article is None:
            raise ValueError("no stored article")
        return _stored(self.article).document


def trace_article(store: Store, url: str) -> ArticleTrace:
    """Look ``url`` up by its canonical key (any URL the article was reached by), or by the article's
    id (as ``monitor show`` and search results give it), and gather its rows. For a URL never
    stored, the fetch attempts made for it (by any spelling with the same key)."""
    trace = ArticleTrace(url)
    article = store.article_by_ref(url)
    if article is None and url.strip().isdigit():  # an id names no article: no URL to trace either
        return trace
    if article is None:
        urls = _spellings(store, url)
        trace.fetched_urls = [r for u in urls for r in store.query("SELECT * FROM urls WHERE url = ?", [u])]
        _fetches(store, trace, urls)
        return trace
    article.pop("html", None)
    trace.article = article
    aid, sid = article["id"], article["story_id"]
    trace.fetched_urls = store.query("SELECT * FROM urls WHERE article_id = ? ORDER BY last_fetched", [aid])
    urls = list(dict.fromkeys([article["url"], url, *(r["url"] for r in trace.fetched_urls)]))
    _fetches(store, trace, urls)
    trace.story = store.one("SELECT * FROM stories WHERE id = ?", [sid])
    trace.outlets = store.query("SELECT id, source, url, title, first_seen FROM articles WHERE story_id = ? "
                                "AND id != ? ORDER BY first_seen, id", [sid, aid])
    trace.revisions = store.query("SELECT id, time FROM revisions WHERE article_id = ? ORDER BY time", [aid])
    trace.matches = store.query("SELECT topic, hits, matched_at FROM matches WHERE article_id = ? "
                                "ORDER BY matched_at, topic", [aid])
    trace.alerts = store.query("SELECT id, channel, topics, kind, status, attempts, created, sent_at, "
                               "next_attempt, last_error FROM alerts WHERE article_id = ? ORDER BY id", [aid])
    trace.story_alerts = store.query(
        "SELECT l.id, l.article_id, l.channel, l.topics, l.status, l.sent_at, a.source, a.url "
        "FROM alerts l LEFT JOIN articles a ON a.id = l.article_id "
        "WHERE l.story_id = ? AND (l.article_id IS NULL OR l.article_id != ?) ORDER BY l.id", [sid, aid])
    return trace


def _spellings(store: Store, url: str) -> list[str]:
    """The fetched URLs with the same canonical key as ``url`` (tracking parameters, slashes, case)."""
    key = dedup.canonical_url(url)
    path = urlsplit(url).path.rstrip("/")
    like = "%" + path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = store.query("SELECT url FROM fetches WHERE url LIKE ? ESCAPE '\\' UNION "
                       "SELECT url FROM urls WHERE url LIKE ? ESCAPE '\\'", [like, like])
    return list(dict.fromkeys([url, *(r["url"] for r in rows if dedup.canonical_url(r["url"]) == key)]))


def _fetches(store: Store, trace: ArticleTrace, urls: Sequence[str]) -> None:
    marks = ",".join("?" * len(urls))
    row = store.one(f"SELECT count(*) AS n FROM fetches WHERE url IN ({marks})", list(urls))
    trace.fetch_count = int(row["n"]) if row else 0
    trace.fetches = store.query(f"SELECT * FROM fetches WHERE url IN ({marks}) ORDER BY time DESC, id DESC "
                                f"LIMIT {MAX_FETCHES_SHOWN}", list(urls))


def explain_all(matcher: TopicMatcher, doc: Document, names: Sequence[str] = ()) -> list[Explanation]:
    """Every topic's (or the named ones') explanation for one document, in config order."""
    return [matcher.explain(doc, name) for name in (names or matcher.names)]
