"""Commands over the stored records: db (migrate, info, vacuum, backup), search, show, export, reextract.

Presentation only: the work is in :mod:`monitor.store`, :mod:`monitor.store_read` and
:mod:`monitor.store_maint`; library errors become messages and exit codes in :mod:`monitor.cli`.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from .cli import Context, cli, common, err, handle_errors, out, pass_ctx
from .errors import StoreError
from .store import Store

__all__ = ["db", "export", "reextract", "search", "show"]

SINCE_HELP = ("Only articles first stored (first_seen) at or after DATE: 2026-01-03, 2026-01-03T08:00+02:00 "
              "(no offset: UTC), or a duration back from now such as 24h or 7d.")


def open_store(c: Context, *, must_exist: bool = True, migrate: bool = True) -> Store:
    path = c.db_path()
    if must_exist and path != ":memory:" and not Path(path).exists():
        raise StoreError(f"no database at {path} (run `monitor fetch` first, or pass --db PATH)")
    return Store.open(path, migrate=migrate)


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _since(value: str | None) -> str | None:
    from .store_read import parse_since

    return None if value is None else parse_since(value, datetime.now(UTC))


def _line(*parts: str | Text | tuple[str, str]) -> None:
    """One line of page-derived text: never read as rich markup."""
    out.print(Text.assemble(*parts), soft_wrap=True, highlight=False)


# ---------------------------------------------------------------------------- db
@cli.group()
def db() -> None:
    """The database: migrate, info, vacuum, backup."""


@db.command()
@common
@pass_ctx
@handle_errors
def migrate(c: Context) -> None:
    """Apply the schema migrations not yet applied (monitor does this on every open, too)."""
    with open_store(c, must_exist=False, migrate=False) as store:
        pending = store.pending_migrations()
        applied = store.migrate() if pending else []
        for name in applied:
            out.print(f"[green]applied[/] {name}", highlight=False)
        out.print(f"{store.path}: schema version {store.schema_version}, up to date", highlight=False)


@db.command()
@common
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_ctx
@handle_errors
def info(c: Context, as_json: bool) -> None:
    """Row counts, file size, schema version and migrations."""
    from dataclasses import asdict

    from .store_maint import db_info

    with open_store(c, migrate=False) as store:
        report = db_info(store)
    if as_json:
        click.echo(json.dumps(asdict(report), indent=2))
        return
    _line(("database: ", "bold"), report.path)
    _line(f"size: {_size(report.size)} (+ {_size(report.wal_size)} WAL), {_size(report.free_pages * report.page_size)} "
          f"free (reclaimed by `monitor db vacuum`); journal mode {report.journal_mode}; SQLite {report.sqlite_version}")
    pending = f"; pending: {', '.join(report.pending)}" if report.pending else ""
    _line(f"schema version {report.schema_version} ({len(report.migrations)} migrations applied{pending})")
    table = Table(title="rows", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in report.counts.items():
        table.add_row(name, f"{n:,}")
    out.print(table)
    _line(f"articles with full text: {report.full_text:,}; reduced to metadata by retention: {report.text_cleared:,}; "
          f"with stored HTML: {report.with_html:,}")
    if report.alerts_by_status:
        _line("alerts: " + ", ".join(f"{n:,} {s}" for s, n in sorted(report.alerts_by_status.items())))
    for name, applied_at in report.migrations:
        _line(("  migration ", "dim"), name, (f"  {_when(applied_at)}", "dim"))


@db.command()
@common
@pass_ctx
@handle_errors
def vacuum(c: Context) -> None:
    """Merge the search index and rebuild the file without free pages (waits for a running writer)."""
    from .store_maint import vacuum as do_vacuum

    with open_store(c) as store:
        before, after = do_vacuum(store)
    _line(f"{c.db_path()}: {_size(before)} -> {_size(after)}")


@db.command()
@common
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@pass_ctx
@handle_errors
def backup(c: Context, path: str, force: bool) -> None:
    """Copy the database to PATH with SQLite's online backup (safe while `monitor run` writes)."""
    from .store_maint import backup as do_backup

    with open_store(c) as store:
        report = do_backup(store, path, overwrite=force)
    _line(f"backup written to {report.path}: {_size(report.size)}, {report.articles:,} articles, check {report.check}")


# ---------------------------------------------------------------------------- search
def _snippet(text: str) -> Text:
    from .store_read import HIGHLIGHT_END, HIGHLIGHT_START

    styled = out.is_terminal  # on a pipe the matched words keep **markers** instead of colours
    line = Text()
    hit = False
    for part in text.replace(HIGHLIGHT_END, HIGHLIGHT_START).split(HIGHLIGHT_START):
        part = " ".join(part.split("\n"))
        if hit and not styled:
            part = f"**{part}**"
        line.append(part, style="bold black on yellow" if hit and styled else "")
        hit = not hit
    return line


@cli.command()
@common
@click.argument("query", nargs=-1, required=True)
@click.option("--since", metavar="DATE", help=SINCE_HELP)
@click.option("--source", metavar="NAME", help="Only this source's articles.")
@click.option("--limit", "-n", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--by-story", is_flag=True, help="One hit per story (its best-ranked article), with the story's "
              "other outlets; --limit counts stories.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit (snippet marks: **...**).")
@pass_ctx
@handle_errors
def search(c: Context, query: tuple[str, ...], since: str | None, source: str | None, limit: int,
           by_story: bool, as_json: bool) -> None:
    """Full-text search of the stored articles (title, byline, text, captions), best first.

    QUERY is FTS5 syntax: words (all must occur), "a phrase", OR, NOT, prefix*, NEAR(a b, 5),
    title:word. A query that is not valid FTS5 is searched as plain words.
    """
    from .store_read import HIGHLIGHT_END, HIGHLIGHT_START
    from .store_read import search as do_search

    with open_store(c) as store:
        hits, literal = do_search(store, " ".join(query), since=_since(since), source=source, limit=limit,
                                  by_story=by_story)
    if as_json:
        for h in hits:
            record: dict[str, Any] = {
                "id": h.id, "url": h.url, "title": h.title, "source": h.source, "first_seen": h.first_seen,
                "published": h.published, "story_id": h.story_id, "outlets": h.outlets, "score": h.score,
                "snippet": h.snippet.replace(HIGHLIGHT_START, "**").replace(HIGHLIGHT_END, "**")}
            if by_story:
                record["other_outlets"] = [{"source": src, "url": url} for src, url in h.others]
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    if literal:
        err.print("note: not a valid FTS5 query; searched for the words as written", highlight=False)
    if not hits:
        err.print("no articles match", highlight=False)
        sys.exit(1)
    for i, h in enumerate(hits, 1):
        _line((f"{i:>2}. ", "dim"), (h.title or "(no title)", "bold"))
        story = f" · story {h.story_id} ({h.outlets} outlets)" if h.outlets > 1 else ""
        _line("    ", (f"{h.source} · first seen {_when(h.first_seen)}"
                       f"{' · published ' + h.published[:10] if h.published else ''}{story}", "cyan"))
        _line("    ", (h.url, "dim"))
        if h.others:
            _line("    ", ("also: " + ", ".join(src for src, _url in h.others[:8])
                           + (f" and {len(h.others) - 8} more" if len(h.others) > 8 else ""), "dim"))
        _line("    ", _snippet(h.snippet))
        out.print()


# ---------------------------------------------------------------------------- show
@cli.command()
@common
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="The whole record as JSON.")
@pass_ctx
@handle_errors
def show(c: Context, url: str, as_json: bool) -> None:
    """One stored article by any URL it was reached by (or its id): the record, its story and the
    story's other outlets, its revisions with their diffs, and the alerts sent."""
    from dataclasses import asdict

    from .store_read import article_record

    with open_store(c) as store:
        rec = article_record(store, url)
    if rec is None:
        from .dedup import canonical_url

        raise StoreError(f"no stored article for {url} (looked up as {canonical_url(url)})")
    if as_json:
        click.echo(json.dumps(asdict(rec), ensure_ascii=False, indent=2, default=str))
        return
    a = rec.article
    _line((a["title"] or "(no title)", "bold"))
    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(style="dim")
    table.add_column(overflow="fold")
    for label, value in (("url", a["url"]), ("source", a["source"]), ("byline", a["byline"]),
                         ("published", a["published"]), ("modified", a["modified"]),
                         ("first seen", _when(a["first_seen"])), ("last seen", _when(a["last_seen"])),
                         ("revisions", str(a["revisions"])), ("id", str(a["id"])),
                         ("found by", "\n".join(rec.urls))):
        if value:
            table.add_row(label, Text(str(value)))
    out.print(table)
    if a.get("text_cleared"):
        _line(("text removed by retention on ", "yellow"), _when(a["text_cleared"]))
    out.rule(f"story {a['story_id']}")
    if rec.story:
        _line("first told as: ", Text(rec.story.get("title") or ""))
    if rec.also_seen_at:
        _line(("also seen at:", "bold"))
        for o in rec.also_seen_at:
            _line("  ", (o["source"], "cyan"), f" {_when(o['first_seen'])} ", o["url"])
    else:
        _line(("no other outlet carries this story", "dim"))
    out.rule("topics")
    for m in rec.matches:
        snippets = json.loads(m["snippets"] or "[]")
        hits = f"{m['hits']} hit" + ("" if m["hits"] == 1 else "s")
        _line((m["topic"], "bold"), f" ({hits}) ", Text(snippets[0] if snippets else ""))
    if not rec.matches:
        _line(("matches no topic", "dim"))
    out.rule(f"revisions ({len(rec.revisions)})")
    for r in rec.revisions:
        _line((_when(r["time"]), "bold"), f" {r['reason']}")
        if r["diff"]:
            out.print(Syntax(r["diff"], "diff", word_wrap=True, theme="ansi_dark", background_color="default"))
        else:
            _line(("  (diff removed by retention)", "dim"))
    out.rule(f"alerts ({len(rec.alerts)})")
    if rec.alerts:
        table = Table()
        for col in ("id", "channel", "topics", "status", "attempts", "created", "sent", "queued by"):
            table.add_column(col)
        for al in rec.alerts:
            via = "this article" if al["article_id"] == a["id"] else (al["article_source"] or al["kind"])
            table.add_row(str(al["id"]), al["channel"], ", ".join(json.loads(al["topics"])), al["status"],
                          str(al["attempts"]), _when(al["created"]), _when(al["sent_at"]), Text(via))
        out.print(table)


# ---------------------------------------------------------------------------- export
@cli.command()
@common
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--since", metavar="DATE", help=SINCE_HELP)
@click.option("--source", metavar="NAME", help="Only this source's articles.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              help="File to write (default: standard output).")
@pass_ctx
@handle_errors
def export(c: Context, fmt: str, since: str | None, source: str | None, output: str) -> None:
    """Every stored article, oldest first, as JSON lines or CSV (streamed: constant memory).

    Columns: id, url, source, story_id, title, byline, authors, published, modified, first_seen,
    last_seen, updated, revisions, lang, site_name, description, tags, captions, topics, text,
    text_cleared. In CSV, list columns (authors, tags, captions, topics) are JSON arrays.
    """
    from .store_read import export_rows, write_export

    with open_store(c) as store:
        rows = export_rows(store, since=_since(since), source=source)
        try:
            if output == "-":
                n = write_export(rows, sys.stdout, fmt)
                sys.stdout.flush()
            else:
                with open(output, "w", encoding="utf-8", newline="") as fh:
                    n = write_export(rows, fh, fmt)
        except BrokenPipeError:  # `monitor export | head`: the reader has all it wants
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except OSError as exc:
            raise StoreError(f"cannot write {output}: {exc.strerror}") from None
        finally:
            rows.close()  # end the read before the database closes
    err.print(f"exported {n:,} articles", highlight=False)


# ---------------------------------------------------------------------------- reextract
@cli.command()
@common
@click.option("--source", metavar="NAME", help="Only this source's articles.")
@click.option("--alert", is_flag=True, help="Queue alerts for topics that newly match (default: none).")
@pass_ctx
@handle_errors
def reextract(c: Context, source: str | None, alert: bool) -> None:
    """Extract the stored HTML again (store_html: true), e.g. after an upgrade of the extractor.

    A changed text becomes a revision (reason: reextract) and the topics are matched again.
    """
    from .store_maint import reextract as do_reextract

    cfg = c.config()
    with open_store(c) as store:
        report = do_reextract(store, cfg, source=source, alert=alert)
    if report.checked == 0:
        note = "" if cfg.store_html else " (store_html is off in the config: pages are not kept)"
        err.print(f"no stored HTML to extract{note}", highlight=False)
    _line(f"{report.checked:,} pages: {report.changed:,} changed, {report.unchanged:,} unchanged, "
          f"{len(report.failed):,} failed" + (f", {report.alerts} alerts queued" if alert else ""))
    for line in report.failed[:10]:
        err.print(Text(f"  {line}"), highlight=False)
    if report.checked and len(report.failed) == report.checked:
        sys.exit(1)
