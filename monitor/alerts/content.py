"""What an alert is about, read from the database when it is sent: the article, its topics and
snippets, the story's other outlets (an article alert); the collected articles (a digest); or the
subject and text an operator alert was queued with (any other kind)."""

from __future__ import annotations

import json
from typing import Any

from ..store import Store
from .digest import digest_items
from .render import AlertContent

__all__ = ["load_content"]

ARTICLE_COLUMNS = "id, url, title, byline, published, source, site_name, captions, story_id"


def load_content(store: Store, row: dict[str, Any]) -> AlertContent:
    topics: list[str] = json.loads(row["topics"] or "[]")
    extra: dict[str, Any] = json.loads(row["payload"]) if row.get("payload") else {}
    base = {"message_id": row["message_id"], "kind": row["kind"], "created": row["created"],
            "channel": row["channel"], "topics": topics}
    if row["kind"] == "digest":
        items = []
        for item in digest_items(store.query, row["id"]):
            article, outlets = _article(store, item["article_id"])
            if not article:
                continue  # removed by retention since: nothing to say about it
            items.append({"article": article, "outlets": outlets, "topic": item["topic"], "added": item["added"],
                          "snippets": _snippets(store, item["article_id"], item["topic"])})
        extra = {**extra, "until": row["next_attempt"]}
        return AlertContent(**base, article={}, matches=[], extra=extra, items=items)
    if row["kind"] != "article" or row["article_id"] is None:
        return AlertContent(**base, article={}, matches=[], extra=extra)
    article, outlets = _article(store, row["article_id"])
    matches = [{"topic": t, "snippets": _snippets(store, row["article_id"], t)} for t in topics]
    return AlertContent(**base, article=article, matches=matches, extra=extra, outlets=outlets)


def _article(store: Store, article_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    a = store.one(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ?", [article_id])
    if a is None:
        return {}, []
    others = store.query(f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE story_id = ? AND id != ? ORDER BY id",
                         [a["story_id"], a["id"]])
    article = {"url": a["url"], "title": a["title"], "byline": a["byline"], "published": a["published"],
               "source": a["source"], "captions": json.loads(a["captions"] or "[]"),
               "also_seen_at": [o["url"] for o in others], "story_id": a["story_id"]}
    outlets = [{"source": o["source"], "site_name": o["site_name"] or o["source"], "url": o["url"],
                "title": o["title"], "published": o["published"]} for o in others]
    return article, outlets


def _snippets(store: Store, article_id: int, topic: str) -> list[str]:
    m = store.one("SELECT snippets FROM matches WHERE article_id = ? AND topic = ?", [article_id, topic])
    return list(json.loads(m["snippets"])) if m and m["snippets"] else []
