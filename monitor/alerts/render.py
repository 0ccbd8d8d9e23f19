"""What an alert says: the webhook JSON, Slack blocks, and the email's subject, text and HTML from
Jinja2 templates (bundled ones in ``templates/``, overridable file by file).

Everything derived from a page is untrusted: HTML is escaped by Jinja2's autoescape, Slack text
by Slack's three escapes, and header values lose their line breaks so a title cannot inject a
header.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from ..errors import ConfigError
from ..topics import MARK_CLOSE, MARK_OPEN

__all__ = ["TEMPLATES", "AlertContent", "Renderer", "header_safe", "slack_blocks", "webhook_payload"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
# The template files, by the kind of message (an operator alert is a "notice").
TEMPLATES = {
    "article": ("subject.txt", "email.txt", "email.html"),
    "digest": ("digest_subject.txt", "digest.txt", "digest.html"),
    "notice": ("notice_subject.txt", "notice.txt", "notice.html"),
}


@dataclass(frozen=True)
class AlertContent:
    """The facts of one alert, read from the database when it is sent (``content.py``)."""

    message_id: str
    kind: str  # article | digest | anything else: an operator notice (source.broken, test, ...)
    created: str
    channel: str
    topics: Sequence[str]
    article: dict[str, Any]  # url, title, byline, published, source, captions, also_seen_at, story_id
    matches: Sequence[dict[str, Any]]  # [{"topic", "snippets"}]
    extra: dict[str, Any] = field(default_factory=dict)  # a notice's subject, text...; a digest's topic
    outlets: Sequence[dict[str, Any]] = ()  # the story's other articles: source, site_name, url, title
    items: Sequence[dict[str, Any]] = ()  # a digest's entries: article, outlets, topic, snippets, added


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


def _plain(snippet: str) -> str:
    return snippet.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")


def _date(value: str | None) -> str:
    """``2026-01-03T14:02:00+08:00`` -> ``3 Jan 2026, 14:02 (UTC+08:00)``; anything else as it is."""
    if not value:
        return ""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return value
    text = f"{when.day} {when:%b %Y, %H:%M}"
    if when.tzinfo is not None:
        offset = when.strftime("%z")
        text += " (UTC)" if offset in ("+0000", "-0000") else f" (UTC{offset[:3]}:{offset[3:]})"
    return text


def webhook_payload(content: AlertContent) -> dict[str, Any]:
    """The JSON body of a webhook: ``article.matched``, ``digest``, or an operator notice."""
    if content.kind == "digest":
        return {
            "type": "digest",
            "timestamp": content.extra.get("until") or content.created,
            "topic": content.extra.get("topic"),
            "since": content.extra.get("since"),
            "articles": [{**i["article"], "snippets": list(i["snippets"])} for i in content.items],
        }
    if content.kind != "article":
        return {"type": content.kind, "timestamp": content.created, **content.extra}
    return {
        "type": "article.matched",
        "timestamp": content.created,
        "article": content.article,
        "matches": [{"topic": m["topic"], "snippets": list(m["snippets"])} for m in content.matches],
        "topics": list(content.topics),
    }


def _slack(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str | None, text: str) -> str:
    if not url:
        return text
    return f"<{_slack(url).replace('|', '%7C')}|{text}>"


def slack_blocks(content: AlertContent) -> dict[str, Any]:
    """A Slack-compatible message (incoming webhooks accept ``text`` plus ``blocks``)."""

    def section(text: str) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}

    if content.kind == "digest":
        topic = str(content.extra.get("topic") or ", ".join(content.topics))
        head = f"[monitor] digest for {topic}: {len(content.items)} article{'s' * (len(content.items) != 1)}"
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": head[:150]}}]
        for item in content.items[:45]:  # Slack allows 50 blocks
            a = item["article"]
            title = _slack(a.get("title") or a.get("url") or "")
            line = f"*{_slack_link(a.get('url'), title)}*\n{_slack(a.get('source') or '')}"
            if item["snippets"]:
                line += "\n> " + _slack(_plain(item["snippets"][0]))
            blocks.append(section(line))
        return {"text": head, "blocks": blocks}
    if content.kind != "article":
        subject = str(content.extra.get("subject") or content.kind)
        text = str(content.extra.get("text") or "")
        return {"text": f"[monitor] {subject}",
                "blocks": [section(f"*{_slack(subject)}*" + (f"\n{_slack(text)}" if text else ""))]}
    a = content.article
    title = _slack(a.get("title") or a.get("url") or "")
    meta = " · ".join(x for x in (", ".join(content.topics), a.get("byline") or "", a.get("source") or "") if x)
    blocks = [section(f"*{_slack_link(a.get('url'), title)}*"),
              {"type": "context", "elements": [{"type": "mrkdwn", "text": _slack(meta) or " "}]}]
    for m in content.matches:
        for s in list(m["snippets"])[:2]:
            quoted = _slack(s).replace(MARK_OPEN, "*").replace(MARK_CLOSE, "*")  # Slack bold
            blocks.append(section(f"> {quoted}"))
    if content.outlets:
        links = ", ".join(_slack_link(o["url"], _slack(o["site_name"] or o["source"])) for o in content.outlets)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Also at {links}"}]})
    return {"text": f"[monitor] {', '.join(content.topics)}: {a.get('title')}", "blocks": blocks}


class Renderer:
    """Email subject, text and HTML from Jinja2 templates; ``template_dir`` overrides the bundled
    ones file by file (see :data:`TEMPLATES`). Overrides are compiled at once, so a mistake is a
    config error naming the file and line, not a failed delivery at 3 a.m."""

    def __init__(self, template_dir: str | Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if template_dir:
            loaders.append(jinja2.FileSystemLoader(str(template_dir)))
        loaders.append(jinja2.PackageLoader("monitor.alerts", "templates"))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.ChainableUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["mark"] = _mark
        self.env.filters["plain"] = _plain
        self.env.filters["date"] = _date
        for names in TEMPLATES.values():
            for name in names:
                try:
                    self.env.get_template(name)
                except jinja2.TemplateSyntaxError as exc:
                    raise ConfigError(f"template error: {exc.message}", file=exc.filename or name,
                                      line=exc.lineno, key="alerts.templates") from None

    def render(self, content: AlertContent) -> tuple[str, str, str]:
        """Returns (subject, text, html)."""
        family = content.kind if content.kind in ("article", "digest") else "notice"
        ctx = {"article": content.article, "topics": list(content.topics), "matches": content.matches,
               "outlets": list(content.outlets), "items": list(content.items), "kind": content.kind,
               "extra": content.extra, **content.extra}
        subject_t, text_t, html_t = TEMPLATES[family]
        subject = header_safe(self._render(subject_t, ctx), limit=250)
        text = self._render(text_t, ctx).strip() + "\n"
        html = self._render(html_t, ctx)
        return subject, text, html

    def _render(self, name: str, ctx: dict[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(ctx)
        except Exception as exc:  # noqa: BLE001 - a template may fail in any way; say which one
            raise ConfigError(f"template error in {name}: {exc}", key="alerts.templates") from None
