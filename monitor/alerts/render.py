"""What an alert says: the webhook JSON and the email's subject, text and HTML, from templates.

Everything derived from a page is untrusted: HTML is escaped by Jinja2's autoescape, and header
values lose their line breaks so a title cannot inject a header.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from ..topics import MARK_CLOSE, MARK_OPEN

__all__ = ["AlertContent", "Renderer", "header_safe", "slack_blocks", "webhook_payload"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


@dataclass(frozen=True)
class AlertContent:
    """The facts of one alert, read from the database when it is sent."""

    message_id: str
    kind: str
    created: str
    channel: str
    topics: Sequence[str]
    article: dict[str, Any]  # url, title, byline, published, source, captions, also_seen_at
    matches: Sequence[dict[str, Any]]  # [{"topic", "snippets"}]
    extra: dict[str, Any] = field(default_factory=dict)


def header_safe(value: str, limit: int = 200) -> str:
    """One line, no control characters, at most ``limit`` characters: safe in an email header."""
    value = " ".join(_CONTROL.sub(" ", value).split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _mark(snippet: str) -> Markup:
    """Escape a snippet, then turn its hit markers (``**hit**``) into <mark> tags."""
    out, rest = [], snippet
    while MARK_OPEN in rest:
        before, _, after = rest.partition(MARK_OPEN)
        hit, found, rest = after.partition(MARK_CLOSE)
        if not found:
            rest = MARK_OPEN + hit
            break
        out.append(f"{escape(before)}<mark>{escape(hit)}</mark>")
    out.append(str(escape(rest)))
    return Markup("".join(out))


def webhook_payload(content: AlertContent) -> dict[str, Any]:
    """The JSON body of an ``article.matched`` webhook (top-level keys as the README documents)."""
    if content.kind != "article":
        return {"type": content.kind, "timestamp": content.created, **content.extra}
    return {
        "type": "article.matched",
        "timestamp": content.created,
        "article": content.article,
        "matches": [{"topic": m["topic"], "snippets": list(m["snippets"])} for m in content.matches],
        "topics": list(content.topics),
    }


def slack_blocks(content: AlertContent) -> dict[str, Any]:
    """A Slack-compatible message (incoming webhooks accept ``text`` plus ``blocks``)."""
    a = content.article
    if content.kind != "article":
        text = str(content.extra.get("text") or content.kind)
        return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}

    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    title = esc(a.get("title") or a.get("url") or "")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{a.get('url')}|{title}>*"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": esc(
            " · ".join(x for x in (", ".join(content.topics), a.get("byline") or "", a.get("source") or "") if x))}]},
    ]
    for m in content.matches:
        for s in list(m["snippets"])[:2]:
            quoted = esc(s).replace(MARK_OPEN, "*").replace(MARK_CLOSE, "*")  # Slack bold
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"> {quoted}"}})
    return {"text": f"[monitor] {', '.join(content.topics)}: {a.get('title')}", "blocks": blocks}


class Renderer:
    """Email subject, text and HTML from Jinja2 templates; ``template_dir`` overrides the bundled ones
    file by file (subject.txt, email.txt, email.html)."""

    def __init__(self, template_dir: str | Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if template_dir:
            loaders.append(jinja2.FileSystemLoader(str(template_dir)))
        loaders.append(jinja2.PackageLoader("monitor.alerts", "templates"))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.ChainableUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            keep_trailing_newline=False)
        self.env.filters["mark"] = _mark

    def render(self, content: AlertContent) -> tuple[str, str, str]:
        """Returns (subject, text, html)."""
        ctx = {"article": content.article, "topics": list(content.topics), "matches": content.matches,
               "kind": content.kind, **content.extra}
        if content.kind != "article":
            subject = header_safe(f"[monitor] {content.extra.get('subject') or content.kind}")
            text = str(content.extra.get("text") or "")
            html = f"<!doctype html><html><body><pre>{escape(text)}</pre></body></html>"
            return subject, text, html
        subject = header_safe(self.env.get_template("subject.txt").render(ctx), limit=250)
        text = self.env.get_template("email.txt").render(ctx)
        html = self.env.get_template("email.html").render(ctx)
        return subject, text, html
