"""The command line: a thin layer over the library. Library errors become one clear line and an
exit code here, and only here: 0 ok, 1 the work failed, 2 a usage or config error."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from . import __version__
from .config import Config, load_config, resolve_config_path
from .errors import ConfigError, MonitorError
from .logs import setup_logging

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])
out = Console()
err = Console(stderr=True)


class Context:
    def __init__(self) -> None:
        self.config_path: str | None = None
        self.db: str | None = None

    def config(self) -> Config:
        from .logs import config_secrets, register_secrets

        cfg = load_config(resolve_config_path(self.config_path))
        register_secrets(config_secrets(cfg))  # every command's log lines mask them, not only `run`'s
        return cfg

    def db_path(self, cfg: Config | None = None) -> str:
        if self.db:
            return self.db
        return (cfg or self.config()).database_path


def _set_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Context).config_path = value


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Context).db = value


def common(fn: F) -> F:
    """--config and --db, accepted after the subcommand as well as before it."""
    fn = click.option("--db", "db", metavar="PATH", expose_value=False, callback=_set_db, envvar="MONITOR_DB",
                      help="SQLite database (default: $MONITOR_DB, else the config's `database`).")(fn)
    fn = click.option("--config", "-c", "config", metavar="PATH", expose_value=False, callback=_set_config,
                      help="Config file (default: $MONITOR_CONFIG, else ./config.yaml).")(fn)
    return fn


def handle_errors(fn: F) -> F:
    """Turn library errors into a clear message and an exit code; no stack trace for what we foresee."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            err.print(f"[bold red]config error:[/] {exc}", markup=True, highlight=False)
            sys.exit(2)
        except MonitorError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            sys.exit(1)
        except KeyboardInterrupt:
            err.print("interrupted")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="monitor")
@common
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines as readable text or JSON lines.")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, log_format: str, verbose: int) -> None:
    """monitor: follow news sites, extract articles, match topics, send alerts.

    The config is --config, else $MONITOR_CONFIG, else ./config.yaml.
    """
    ctx.ensure_object(Context)
    setup_logging(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING, log_format)


pass_ctx = click.make_pass_decorator(Context, ensure=True)


# ---------------------------------------------------------------------------- check
@cli.command()
@common
@pass_ctx
@handle_errors
def check(c: Context) -> None:
    """Validate the config and show what it will do."""
    from .alerts.schedule import describe, describe_quiet, next_fire
    from .units import format_duration

    path = resolve_config_path(c.config_path)
    cfg = c.config()
    out.print(f"[green]✓[/] {path} is valid", highlight=False)
    out.print(f"database: {c.db_path(cfg)}", highlight=False)
    table = Table(title="sources", title_justify="left")
    for col in ("name", "kind", "every", "url", "follow"):
        table.add_column(col)
    for s in cfg.sources:
        table.add_row(s.name, s.kind or "auto", s.cron or format_duration(s.every), s.url, s.follow or "")
    out.print(table)
    table = Table(title="topics", title_justify="left")
    for col in ("name", "query", "channels", "sends"):
        table.add_column(col)
    now = datetime.now(UTC)
    for t in cfg.topics:
        sends = "at once"
        if t.digest is not None:
            sends = f"digest {describe(t.digest)}; next {next_fire(t.digest, now):%Y-%m-%d %H:%M} UTC"
        table.add_row(t.name, t.query, ", ".join(cfg.topic_channels(t)), sends)
    out.print(table)
    table = Table(title="channels", title_justify="left")
    for col in ("name", "type", "to", "quiet"):
        table.add_column(col)
    for ch in cfg.channels:
        target = getattr(ch, "url", None) or ", ".join(getattr(ch, "to", []) or getattr(ch, "urls", []))
        table.add_row(ch.name, ch.type, str(target), describe_quiet(ch.quiet_hours) if ch.quiet_hours else "")
    out.print(table)


# ---------------------------------------------------------------------------- fetch
def summary_table(reports: list[Any]) -> Table:
    table = Table(title="monitor fetch", title_justify="left")
    for col in ("source", "links", "fetched", "new", "updated", "unchanged", "failed", "alerts sent", "status"):
        table.add_column(col, justify="right" if col not in ("source", "status") else "left")
    for r in reports:
        status = "[green]ok[/]" if r.ok else f"[red]{r.error}[/]"
        table.add_row(r.source, str(r.links), str(r.fetched), str(r.new), str(r.updated), str(r.unchanged),
                      str(r.failed), str(r.alerts_sent), status)
    return table


@cli.command()
@common
@click.option("--source", "-s", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option("--workers", "-w", type=click.IntRange(1, 64), default=None, metavar="N",
              help="Worker processes, each owning some of the hosts (default: the config's `workers`, else the "
                   "number of cores).")
@pass_ctx
@handle_errors
def fetch(c: Context, sources: tuple[str, ...], progress: bool | None, workers: int | None) -> None:
    """Run every source (or --source NAME) once: discover, fetch, extract, store, match, alert.

    Delivers alerts before it exits, waiting up to alerts.fetch_grace for retries.
    Exit code 0 when at least one source worked, 1 when all failed, 2 on a usage or config error.
    """
    from .app import Monitor
    from .shard import tune_gc
    from .workers import fetch_in_workers, worker_count

    tune_gc()
    cfg = c.config()
    show = err.is_terminal if progress is None else progress
    chosen = Monitor(cfg).select(list(sources))
    names = [s.name for s in chosen]
    n = worker_count(cfg, workers)

    async def go() -> Any:
        async with Monitor(cfg, db_path=c.db_path(cfg)) as mon:
            if not show:
                return await mon.fetch(names)
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          console=err, transient=True) as bar:
                tasks = {s.name: bar.add_task(s.name, total=None) for s in chosen}
                pipe = mon.pipeline(lambda name, k: bar.advance(tasks[name], k))
                pipe.on_links = lambda name, k: bar.update(tasks[name], total=k)
                return await mon.fetch(names, pipeline=pipe)

    def in_workers() -> Any:
        if not show:
            return fetch_in_workers(cfg, workers=n, db_path=c.db_path(cfg), sources=names)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        # redrawn when told, not by a thread: worker processes are forked only while no thread runs
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=err, transient=True, auto_refresh=False) as bar:
            tasks = {s.name: bar.add_task(s.name, total=None) for s in chosen}
            drawn = [0.0]

            def redraw() -> None:
                if time.monotonic() - drawn[0] >= 0.1:
                    drawn[0] = time.monotonic()
                    bar.refresh()

            def advance(name: str, k: int) -> None:
                bar.advance(tasks[name], k)
                redraw()

            def total(name: str, k: int) -> None:
                bar.update(tasks[name], total=k)
                redraw()

            return fetch_in_workers(cfg, workers=n, db_path=c.db_path(cfg), sources=names, progress=advance,
                                    on_links=total)

    summary = in_workers() if n > 1 else asyncio.run(go())
    out.print(summary_table(summary.reports))
    for r in summary.reports:
        for line in r.errors[:10]:
            err.print(f"  [yellow]{r.source}[/]: {line}", highlight=False)
        if len(r.errors) > 10:
            err.print(f"  [yellow]{r.source}[/]: ... and {len(r.errors) - 10} more", highlight=False)
    d = summary.delivery
    out.print(f"alerts: {d.sent} sent, {d.failed} failed attempts, {d.dead} dead, {summary.pending} pending",
              highlight=False)
    sys.exit(summary.exit_code)


# ---------------------------------------------------------------------------- run
@cli.command()
@common
@click.option("--listen", metavar="HOST:PORT", envvar="MONITOR_LISTEN", default=None,
              help="Serve /healthz, /readyz, /metrics and /status here (default: the config's server.listen, "
                   "else off). Also $MONITOR_LISTEN.")
@pass_ctx
@handle_errors
def run(c: Context, listen: str | None) -> None:
    """Run as a daemon: each source on its own schedule, alerts delivered as they fall due.

    SIGTERM or SIGINT stops it cleanly within 10 s (exit 0); SIGHUP reloads the config (a bad one is
    reported and the running one kept).
    """
    from .config import parse_listen
    from .daemon import Daemon

    if listen:
        try:
            parse_listen(listen)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--listen") from None
    path = resolve_config_path(c.config_path)
    cfg = c.config()
    daemon = Daemon(cfg, config_path=path, db_path=c.db_path(cfg), listen=listen or None)
    code = asyncio.run(daemon.serve())
    stuck = daemon.stuck_threads()
    if stuck:  # a blocking send (SMTP) that would hold the exit for its whole timeout: its alert stays pending
        logging.getLogger("monitor.daemon").warning("exiting without waiting for %d send(s) in progress; their "
                                                    "alerts stay pending", len(stuck))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


# ---------------------------------------------------------------------------- demo
@cli.command()
@click.option("--dir", "workdir", type=click.Path(file_okay=False), default=None,
              help="Folder for the demo config and database (default: a new temporary folder).")
@handle_errors
def demo(workdir: str | None) -> None:
    """Run the whole product offline against a bundled demo news site.

    Serves the site on 127.0.0.1, starts a webhook receiver and an SMTP server, runs `fetch` twice
    (one page changes in between) and shows what was stored and what arrived.
    """
    from rich.markup import escape

    from .demo import payload_topics, run_demo

    def on_run(n: int, summary: Any) -> None:
        out.rule(f"run {n}" + (" (one page was edited since run 1)" if n == 2 else ""))
        out.print(summary_table(summary.reports))

    result = run_demo(workdir, on_run=on_run)
    out.rule("stored articles")
    table = Table()
    for col in ("id", "source", "title", "byline", "story", "rev", "topics"):
        table.add_column(col)
    for a in result.articles:
        table.add_row(str(a["id"]), a["source"], a["title"], a["byline"] or "", str(a["story_id"]),
                      str(a["revisions"]), a["topics"] or "")
    out.print(table)
    out.rule("webhooks received (signatures verified)")
    for d in result.webhooks:
        title = (d.payload or {}).get("article", {}).get("title", "") if isinstance(d.payload, dict) else ""
        mark = "[green]✓ verified[/]" if d.verified else f"[red]✗ {d.error}[/]"
        out.print(f"{mark} {d.webhook_id} {escape('[' + payload_topics(d) + ']')} {escape(title)}", highlight=False)
    out.rule("emails received")
    for m in result.emails:
        out.print(f"✉ {m['Subject']}", highlight=False, markup=False)
    out.print(f"\nconfig: {result.config_path}\ndatabase: {result.database}\n"
              f"try: monitor --config {result.config_path} search visit\n"
              f"     monitor --config {result.config_path} search ASEAN --by-story   (one story, two outlets)\n"
              f"     monitor --config {result.config_path} explain 1", highlight=False)
    ok = result.webhooks and result.emails and all(d.verified for d in result.webhooks)
    sys.exit(0 if ok else 1)


# ---------------------------------------------------------------------------- extract
@cli.command("extract")
@click.argument("target", metavar="FILE_OR_URL")
@click.option("--json", "as_json", is_flag=True, help="Print the whole extraction as JSON.")
@click.option("--url", "base_url", default=None, help="The page's URL, when TARGET is a file.")
@handle_errors
def extract_cmd(target: str, as_json: bool, base_url: str | None) -> None:
    """Print the extraction of one page (a file, or a URL fetched politely)."""
    from .extract import extract

    if target.startswith(("http://", "https://")):
        from .config import FetchConfig
        from .fetch import Fetcher

        async def get() -> Any:
            from urllib.parse import urlsplit

            async with Fetcher(FetchConfig(), trusted_hosts={urlsplit(target).hostname or ""}) as f:
                return await f.fetch(target)

        page = asyncio.run(get())
        article = extract(page.text, url=page.final_url)
    else:
        path = Path(target)
        if not path.is_file():
            raise click.BadParameter(f"no such file: {target}", param_hint="FILE_OR_URL")
        article = extract(path.read_bytes(), url=base_url)
    if as_json:
        out.print_json(json.dumps(article.as_dict(), ensure_ascii=False))
        return
    out.print(f"[bold]{article.title}[/]", highlight=False)
    meta = [x for x in (article.byline, article.published and article.published.isoformat(),
                        article.modified and f"updated {article.modified.isoformat()}", article.url) if x]
    out.print(" · ".join(str(m) for m in meta), highlight=False)
    if article.is_consent_wall:
        out.print("[red]this is a consent, paywall or bot-check page, not an article[/]")
    out.print()
    for para in article.paragraphs:
        out.print(para, highlight=False)
        out.print()
    for cap in article.captions:
        out.print(f"[dim]caption:[/] {cap}", highlight=False)


# Commands by concern, each module registering its own on `cli` when imported.
COMMAND_MODULES = ("cli_store", "cli_alerts", "cli_ops", "cli_topics", "cli_daemon")


def main() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{name}")
    cli(prog_name="monitor")
