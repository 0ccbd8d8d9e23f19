"""Topic commands: ``topics test``, ``topics backfill``, ``explain``. Presentation only: the work is
in :mod:`monitor.topics.retro`. ``topics test`` and ``explain`` open the database read-only."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import click
from rich.text import Text

from .cli import Context, cli, common, err, handle_errors, out, pass_ctx
from .config import Config, TopicConfig
from .errors import QueryError

__all__ = ["explain", "topics"]

QUERY_NAME = "query"  # the name an ad-hoc --query is matched under


def _since(_ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    from .topics.retro import parse_since

    try:
        return None if value is None else parse_since(value, datetime.now(UTC))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from None


SINCE_HELP = "Articles first stored at or after DATE: 2026-01-03, 2026-01-03T08:00+02:00 (no offset: UTC), or 24h, 7d."


def when(iso: str | None) -> str:
    """A stored ISO time as ``2026-01-03 08:10:00 UTC``."""
    if not iso:
        return "-"
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return iso


def snippet(text: str, styled: bool) -> Text:
    """A snippet with its ``**hits**`` in bold on a terminal, the markers kept otherwise."""
    if not styled:
        return Text(text)
    line = Text()
    for i, part in enumerate(text.split("**")):
        line.append(part, style="bold yellow" if i % 2 else "")
    return line


def say(*parts: str | Text | tuple[str, str]) -> None:
    """One line of page-derived text: never read as rich markup, never broken up."""
    out.print(Text.assemble(*parts), soft_wrap=True, highlight=False)


def pick_topic(cfg: Config, name: str | None, query: str | None) -> tuple[TopicConfig, str | None]:
    """The topic to run and the configured name its stored matches are under (None: ad hoc)."""
    from .topics import parse_query

    topic = None
    if name is not None:
        topic = next((t for t in cfg.topics if t.name == name), None)
        if topic is None:
            raise click.BadParameter(unknown_topic(cfg, name), param_hint="NAME")
    if query is None:
        if topic is None:
            raise click.UsageError("give a topic NAME, a --query, or both (the query then replaces NAME's)")
        return topic, topic.name
    parse_query(query, aliases=cfg.aliases, field="--query")  # QueryError with the column
    if topic is None:
        return TopicConfig(name=QUERY_NAME, query=query), None
    return topic.model_copy(update={"query": query}), topic.name


def unknown_topic(cfg: Config, name: str) -> str:
    return f"no topic named {name!r}; topics: {', '.join(t.name for t in cfg.topics) or 'none'}"


def query_error(exc: QueryError, query: str) -> NoReturn:
    err.print(Text.assemble(("query error: ", "bold red"), str(exc)), highlight=False)
    if exc.col is not None:
        err.print("  " + query, markup=False, highlight=False, soft_wrap=True)
        err.print("  " + " " * (exc.col - 1) + "^", markup=False, highlight=False)
    sys.exit(2)


def topic_header(topic: TopicConfig, since: datetime | None, sources: Sequence[str], label: str) -> None:
    say((label, "bold"), ": ", topic.query)
    extras = [f"exclude: {topic.exclude}"] if topic.exclude else []
    extras += [f"min_hits {topic.min_hits}"] if topic.min_hits > 1 else []
    extras += [f"sources: {', '.join(topic.sources)}"] if topic.sources else []
    extras += [f"lang: {', '.join(topic.lang)}"] if topic.lang else []
    if extras:
        say("  " + "; ".join(extras))
    scope = f"articles first stored since {when(since.isoformat())}" if since else "all stored articles"
    say(f"over {scope}", f" ({', '.join(sources)})" if sources else " (every source)")
    out.print()


# ---------------------------------------------------------------------------- topics
@cli.group()
def topics() -> None:
    """Run topics over the stored articles: try a query, backfill a new topic."""


@topics.command("test")
@common
@click.argument("name", required=False)
@click.option("--query", "-q", metavar="Q", help="Run this query instead (with NAME: in place of NAME's query).")
@click.option("--since", callback=_since, default=None, metavar="DATE", help=SINCE_HELP)
@click.option("--source", "-s", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--limit", "-n", type=click.IntRange(min=0), default=20, show_default=True,
              help="Matches shown (0: all); the count covers all.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per matching article (newest first).")
@pass_ctx
@handle_errors
def test_cmd(c: Context, name: str | None, query: str | None, since: datetime | None, sources: tuple[str, ...],
             limit: int, as_json: bool) -> None:
    """Show which stored articles topic NAME (or --query Q) matches, with snippets. Writes nothing.

    Use it before a topic goes live, or to try a change to a query on what was already fetched.
    """
    from .topics import compile_topics
    from .topics.retro import open_readonly, retro_match

    cfg = c.config()
    try:
        topic, stored_as = pick_topic(cfg, name, query)
    except QueryError as exc:
        query_error(exc, query or "")
    matcher = compile_topics([topic], cfg.aliases)
    with open_readonly(c.db_path(cfg)) as store:
        result = retro_match(store, matcher, since=since, sources=sources, stored_as=stored_as)
    if as_json:
        for hit in result.hits[::-1] if limit == 0 else result.hits[::-1][:limit]:
            a = hit.article
            click.echo(json.dumps({"id": a.id, "story_id": a.story_id, "source": a.source, "url": a.url,
                                   "title": a.title, "first_seen": a.first_seen, "hits": hit.match.hits,
                                   "snippets": list(hit.match.snippets), "matched_when_stored": hit.stored},
                                  ensure_ascii=False))
        return
    if stored_as is None:
        label, shown_name = "query", "the query"
    else:
        label, shown_name = f"topic {topic.name}" if query is None else f"new query for {topic.name}", topic.name
    topic_header(topic, since, sources, label)
    styled = out.is_terminal
    shown = result.hits[::-1] if limit == 0 else result.hits[::-1][:limit]  # newest first
    for hit in shown:
        a = hit.article
        say(("MATCHED ", "bold green"), a.title or "(no title)")
        state = ("" if hit.stored is None else " · matched when stored" if hit.stored
                 else " · new: not matched when stored")
        say(f"  {a.source} · first seen {when(a.first_seen)} · {hit.match.hits} hit"
            f"{'' if hit.match.hits == 1 else 's'} · article {a.id}, story {a.story_id}{state}")
        say("  " + a.url)
        for s in hit.match.snippets:
            say("  - ", snippet(s, styled))
        out.print()
    if len(shown) < len(result.hits):
        say(f"... and {len(result.hits) - len(shown)} more (--limit 0 shows all)")
    n, of = len(result.hits), result.scanned
    if n == 0:
        say(("no match", "bold"), f": 0 of {of} stored article{'' if of == 1 else 's'} match {shown_name}.")
    else:
        tally = f" ({n - result.new} matched when stored, {result.new} new)" if stored_as else ""
        say((f"{n} of {of}", "bold"), f" stored article{'' if of == 1 else 's'} match {shown_name}{tally}.")
    if result.lost:
        say(f"{len(result.lost)} matched {stored_as} when stored and do not match now:")
        for a in result.lost[-limit or None:]:
            say(f"  - {a.title} ({a.url})")


@topics.command("backfill")
@common
@click.argument("name")
@click.option("--since", callback=_since, required=True, metavar="DATE", help=SINCE_HELP)
@click.option("--source", "-s", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--dry-run", is_flag=True, help="Say what would be stored and queued; write nothing.")
@click.option("--deliver/--no-deliver", default=True, show_default=True,
              help="Deliver the queued alerts now (waiting up to alerts.fetch_grace for retries), or leave "
                   "them to `monitor run` / the next `monitor fetch`.")
@pass_ctx
@handle_errors
def backfill_cmd(c: Context, name: str, since: datetime, sources: tuple[str, ...], dry_run: bool,
                 deliver: bool) -> None:
    """Match topic NAME over articles stored since DATE, store the matches and alert them.

    A topic added to the config matches only articles fetched after it; this brings it to the ones
    already stored, on request. A story already alerted for NAME on a channel is not alerted again,
    so running it twice queues nothing the second time.
    """
    from .store import Store
    from .topics import compile_topics
    from .topics.retro import backfill, open_readonly

    cfg = c.config()
    topic, _ = pick_topic(cfg, name, None)
    channels = cfg.topic_channels(topic)
    matcher = compile_topics([topic], cfg.aliases)
    path = c.db_path(cfg)
    store = open_readonly(path) if dry_run else Store.open(path)
    with store:
        report = backfill(store, matcher, channels=channels, since=since, sources=sources, dry_run=dry_run)
    topic_header(topic, since, sources, f"backfill {topic.name}")
    would = "would queue" if dry_run else "queued"
    for item in report.items:
        a = item.article
        if item.queued:
            say(("QUEUED  " if not dry_run else "WOULD   ", "bold green"), a.title or a.url,
                f" -> {', '.join(item.queued)}")
        else:
            say(("SKIPPED ", "bold"), a.title or a.url)
        notes = [f"article {a.id}, story {a.story_id}", "new match" if item.new_match else "match already stored"]
        if item.already:
            notes.append(f"story already alerted (or queued) for {topic.name} on {', '.join(item.already)}")
        if not channels:
            notes.append("the topic has no channel")
        say("  " + " · ".join(notes))
        say("  " + a.url)
    if report.items:
        out.print()
    per = ", ".join(f"{ch} {n}" for ch, n in report.per_channel().items())
    stored = "would store" if dry_run else "stored"
    say((f"{len(report.items)} of {report.scanned}", "bold"), f" stored articles match {topic.name}; "
        f"{stored} {report.new_matches} new match{'' if report.new_matches == 1 else 'es'}; "
        f"{would} {report.queued} alert{'' if report.queued == 1 else 's'}" + (f" ({per})" if per else "") + ".")
    if dry_run:
        say("dry run: nothing was written.")
        return
    if report.queued and not deliver:
        say("left in the outbox: `monitor run` or the next `monitor fetch` delivers them.")
        return
    if report.queued:
        delivery, pending = asyncio.run(_deliver(cfg, path))
        say(f"alerts: {delivery.sent} sent, {delivery.failed} failed attempts, {delivery.dead} dead, "
            f"{pending} pending")


async def _deliver(cfg: Config, path: str) -> tuple[Any, int]:
    """Deliver like `monitor fetch` does: what is due, then retries falling due within fetch_grace."""
    from .alerts import Deliverer
    from .store import Store

    with Store.open(path) as store:
        deliverer = Deliverer(cfg, store)
        try:
            report = await deliverer.deliver_within(cfg.alerts.fetch_grace)
        finally:
            await deliverer.aclose()
        row = store.one("SELECT count(*) AS n FROM alerts WHERE status = 'pending'")
    return report, int(row["n"]) if row else 0


# ---------------------------------------------------------------------------- explain
@cli.command()
@common
@click.argument("url")
@click.option("--topic", "-t", "names", multiple=True, metavar="NAME", help="Only this topic (repeatable).")
@pass_ctx
@handle_errors
def explain(c: Context, url: str, names: tuple[str, ...]) -> None:
    """Where the article at URL (or with that id) stands (fetched, extracted, stored, matched,
    alerted) and, for every topic, why it matches or not, clause by clause. Writes nothing.

    Exit code 1 when no article was stored for URL.
    """
    from .topics import compile_topics
    from .topics.retro import explain_all, open_readonly, trace_article

    cfg = c.config()
    matcher = compile_topics(cfg.topics, cfg.aliases)
    for name in names:
        if name not in matcher.names:
            raise click.BadParameter(unknown_topic(cfg, name), param_hint="--topic")
    with open_readonly(c.db_path(cfg)) as store:
        trace = trace_article(store, url)
    if trace.article is None:
        _never_stored(trace)
        sys.exit(1)
    _pipeline(trace, matcher.names)
    out.print()
    say(("topics", "bold"))
    if not matcher.names:
        say("no topics are configured")
    stored = {m["topic"]: m for m in trace.matches}
    for exp in explain_all(matcher, trace.document, names):
        for i, line in enumerate(exp.lines):
            if i == 0:
                say((line, "bold green" if exp.matched else "bold red"))
            else:
                say("  " + line)
        if exp.matched and exp.topic not in stored:
            say("  note: matches now but did not when the article was stored (a newer topic or query): "
                f"`monitor topics backfill {exp.topic} --since DATE` alerts it")
        elif not exp.matched and exp.topic in stored:
            say(f"  note: matched when stored ({when(stored[exp.topic]['matched_at'])}); the query changed since")
        out.print()


def _never_stored(trace: Any) -> None:
    if trace.url.strip().isdigit():
        say(("no article ", "bold red"), trace.url, ": no stored article has that id")
        return
    if not trace.fetches and not trace.fetched_urls:
        say(("never fetched: ", "bold red"), trace.url)
        say("no article is stored under this URL (or any URL with the same canonical form), and no fetch of it "
            "was recorded. Is it linked from a configured source's feed, sitemap or listing page?")
        return
    say(("not stored: ", "bold red"), trace.url)
    ok = [f for f in trace.fetches if f["outcome"] in ("ok", "not_modified")]
    if trace.fetches and trace.fetches[0]["outcome"] == "consent_wall":
        say("it was fetched, but a consent, paywall or bot-check page came instead of the article")
    elif ok:
        say("it was fetched, but no article was stored from it: extraction found no article text "
            "(see `monitor extract URL`)")
    else:
        say("every recorded fetch of it failed:")
    _fetch_lines(trace)


def _fetch_lines(trace: Any) -> None:
    for f in reversed(trace.fetches):  # the latest ones, in time order
        status = f"HTTP {f['status']}" if f["status"] else "no response"
        line = f"  {when(f['time'])}  {f['outcome']:<14} {status:<11} {f['url']}"
        error = (f["error"] or "").removeprefix(f"{f['url']}: ")
        say(line + (f"  ({error})" if error and f["outcome"] not in ("ok", "not_modified") else ""))
    if trace.fetch_count > len(trace.fetches):
        say(f"  ({trace.fetch_count - len(trace.fetches)} earlier fetches not shown)")


def _pipeline(trace: Any, names: Sequence[str]) -> None:
    order = {name: i for i, name in enumerate(names)}
    a = trace.article
    say((a["title"] or "(no title)", "bold"))
    say(a["url"])
    say(f"article {a['id']} · story {a['story_id']} · source {a['source']}")
    out.print()
    last = trace.fetches[0] if trace.fetches else None
    if last:
        status = f"HTTP {last['status']}" if last["status"] else "no response"
        say(("fetched    ", "bold"), f"last {when(last['time'])}: {last['outcome']} ({status}); "
            f"{trace.fetch_count} fetch{'' if trace.fetch_count == 1 else 'es'} of "
            f"{len(trace.fetched_urls) or 1} URL{'' if len(trace.fetched_urls) <= 1 else 's'}")
        _fetch_lines(trace)
    else:
        say(("fetched    ", "bold"), "no fetch recorded (stored by an older version or imported)")
    captions = json.loads(a["captions"] or "[]")
    text_len = len(a["text"] or "")
    say(("extracted  ", "bold"), f"title {a['title']!r}" + (f", by {a['byline']}" if a["byline"] else ", no byline"))
    say(f"           {text_len:,} characters of text, {len(captions)} caption{'' if len(captions) == 1 else 's'}"
        + (f", published {a['published']}" if a["published"] else ", no publication date")
        + (f", lang {a['lang']}" if a["lang"] else ""))
    revs = trace.revisions
    say(("stored     ", "bold"), f"first seen {when(a['first_seen'])}, last seen {when(a['last_seen'])}, "
        f"{len(revs)} revision{'' if len(revs) == 1 else 's'}"
        + (f" (latest {when(revs[-1]['time'])})" if revs else ""))
    story = trace.story or {}
    say(f"           story {a['story_id']}: {story.get('title') or ''}"
        + ("" if trace.outlets else " (no other outlet)"))
    for o in trace.outlets:
        say(f"           also at {o['source']}: {o['url']} (first seen {when(o['first_seen'])})")
    if trace.matches:
        groups: dict[str, list[str]] = {}  # topics matched at one time, in config order
        for m in sorted(trace.matches, key=lambda m: (m["matched_at"], order.get(m["topic"], len(order)))):
            groups.setdefault(m["matched_at"], []).append(m["topic"])
        say(("matched    ", "bold"), "; ".join(f"{', '.join(t)} ({when(at)})" for at, t in groups.items()))
    else:
        say(("matched    ", "bold"), "no topic matched when it was stored")
    if not trace.alerts:
        say(("alerted    ", "bold"), "no alert for this article")
    for i, al in enumerate(trace.alerts):
        sent = f"sent {when(al['sent_at'])}" if al["status"] == "sent" else al["status"]
        if al["status"] == "pending":
            sent += f", next attempt {when(al['next_attempt'])}"
        line = (f"{al['channel']}: {sent}, {al['attempts']} attempt{'' if al['attempts'] == 1 else 's'}, "
                f"alert {al['id']} [{', '.join(json.loads(al['topics']))}] queued {when(al['created'])}")
        if al["last_error"] and al["status"] != "sent":
            line += f" (last error: {al['last_error']})"
        say(("alerted    " if i == 0 else "           ", "bold"), line)
    for al in trace.story_alerts:
        sent = f"sent {when(al['sent_at'])}" if al["status"] == "sent" else al["status"]
        who = f"its copy at {al['source']} (article {al['article_id']})" if al["article_id"] else "a digest"
        say(f"           the story was alerted for {who} on {al['channel']}: "
            f"[{', '.join(json.loads(al['topics']))}] {sent}")
