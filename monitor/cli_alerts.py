"""Commands over the alert outbox: ``monitor alerts`` (list), ``alerts show ID``, ``alerts retry
ID...|--dead``, ``alerts test CHANNEL``. A thin layer over :mod:`monitor.alerts`."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

import click
from rich.table import Table

from .cli import Context, cli, common, err, handle_errors, out, pass_ctx
from .errors import DeliveryError

__all__ = ["alerts"]

STATUSES = ("pending", "held", "sent", "dead", "digested")
STYLE = {"pending": "yellow", "held": "cyan", "sent": "green", "dead": "bold red", "digested": "dim"}


def _open(c: Context) -> Any:
    from .store import Store

    cfg = c.config()
    return cfg, Store.open(c.db_path(cfg))


def _what(row: dict[str, Any]) -> str:
    if row["kind"] == "article":
        return str(row.get("title") or row.get("url") or "")
    payload = json.loads(row["payload"]) if row.get("payload") else {}
    if row["kind"] == "digest":
        n = row.get("items") or 0
        return f"digest of {n} article{'s' * (n != 1)}"
    return str(payload.get("subject") or row["kind"])


@cli.group(invoke_without_command=True)
@common
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only alerts in this state.")
@click.option("--channel", default=None, metavar="NAME", help="Only alerts for this channel.")
@click.option("--limit", "-n", default=50, show_default=True, help="How many (newest first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per alert (for scripts).")
@click.pass_context
@handle_errors
def alerts(ctx: click.Context, status: str | None, channel: str | None, limit: int, as_json: bool) -> None:
    """List the alert outbox: pending, held (digests, quiet hours), sent, dead, digested.

    \b
    monitor alerts --status dead
    monitor alerts show 12            # one alert with every attempt
    monitor alerts retry 12 13        # or --dead: queue again, fresh schedule
    monitor alerts test hook          # send a test message to a channel now
    """
    if ctx.invoked_subcommand:
        return
    c = ctx.find_object(Context) or Context()
    _cfg, store = _open(c)
    with store:
        rows = store.query(
            "SELECT l.*, a.title, a.url, (SELECT count(*) FROM digest_items d WHERE d.digest_id = l.id) AS items "
            "FROM alerts l LEFT JOIN articles a ON a.id = l.article_id WHERE (? IS NULL OR l.status = ?) "
            "AND (? IS NULL OR l.channel = ?) ORDER BY l.id DESC LIMIT ?",
            [status, status, channel, channel, limit])
        counts = {r["status"]: r["n"] for r in store.query("SELECT status, count(*) AS n FROM alerts GROUP BY status")}
        disabled = store.query("SELECT * FROM channels WHERE disabled IS NOT NULL")
    if as_json:
        for r in rows:
            click.echo(json.dumps({
                "id": r["id"], "message_id": r["message_id"], "status": r["status"], "channel": r["channel"],
                "kind": r["kind"], "topics": json.loads(r["topics"] or "[]"), "article_id": r["article_id"],
                "title": r["title"], "url": r["url"], "digest_items": r["items"] if r["kind"] == "digest" else None,
                "attempts": r["attempts"], "created": r["created"], "next_attempt": r["next_attempt"],
                "sent_at": r["sent_at"], "last_error": r["last_error"],
                "channel_disabled": next((ch["reason"] for ch in disabled if ch["name"] == r["channel"]), None)},
                ensure_ascii=False))
        return
    for ch in disabled:
        err.print(f"[bold red]channel {ch['name']} is DISABLED[/] since {ch['disabled']}: {ch['reason']}\n"
                  "  change its config (URL, secret...) or run `monitor alerts retry --dead` to try it again",
                  highlight=False)
    table = Table(title="alerts", title_justify="left")
    for col in ("id", "status", "channel", "kind", "topics", "what", "tries", "when", "last error"):
        table.add_column(col, overflow="fold")
    for r in rows:
        when = r["sent_at"] if r["status"] == "sent" else r["next_attempt"] if r["status"] in ("pending", "held") else ""
        table.add_row(str(r["id"]), f"[{STYLE[r['status']]}]{r['status']}[/]", r["channel"], r["kind"],
                      ", ".join(json.loads(r["topics"] or "[]")), _what(r), str(r["attempts"]),
                      (when or "")[:19].replace("T", " "),
                      (r["last_error"] or "")[:80] if r["status"] != "sent" else "")
    out.print(table)
    out.print(", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES), highlight=False)


@alerts.command("show")
@common
@click.argument("alert_id", type=int)
@pass_ctx
@handle_errors
def show(c: Context, alert_id: int) -> None:
    """One alert and every attempt to deliver it."""
    _cfg, store = _open(c)
    with store:
        row = store.one("SELECT * FROM alerts WHERE id = ?", [alert_id])
        if row is None:
            raise click.BadParameter(f"no alert with id {alert_id}", param_hint="ID")
        attempts = store.query("SELECT * FROM attempts WHERE alert_id = ? ORDER BY id", [alert_id])
        from .alerts.content import load_content

        content = load_content(store, row)
    for key in ("id", "message_id", "status", "channel", "kind", "topics", "attempts", "created", "next_attempt",
                "sent_at", "last_error"):
        out.print(f"[bold]{key}:[/] {row[key] if row[key] is not None else ''}", highlight=False)
    if content.article:
        out.print(f"[bold]article:[/] {content.article.get('title')} <{content.article.get('url')}>", highlight=False)
    for item in content.items:
        out.print(f"  - {item['article'].get('title')} <{item['article'].get('url')}>", highlight=False)
    table = Table(title="attempts", title_justify="left")
    for col in ("time", "code", "error", "response", "seconds"):
        table.add_column(col, overflow="fold")
    for a in attempts:
        table.add_row(a["time"][:23].replace("T", " "), str(a["status_code"] or ""), a["error"] or "",
                      (a["response"] or "")[:120], f"{a['elapsed'] or 0:.2f}")
    out.print(table)


@alerts.command("retry")
@common
@click.argument("ids", nargs=-1, type=int, metavar="ID...")
@click.option("--dead", is_flag=True, help="Every dead alert.")
@click.option("--now", "deliver_now", is_flag=True, help="Deliver them now instead of leaving them to the next run.")
@pass_ctx
@handle_errors
def retry(c: Context, ids: tuple[int, ...], dead: bool, deliver_now: bool) -> None:
    """Queue alerts again (by id, or --dead) with a fresh retry schedule.

    A channel that a 410 disabled is enabled again for them. `monitor run` sends them within a
    second; otherwise the next `monitor fetch` does, or --now.
    """
    from .alerts import requeue

    if bool(ids) == dead:
        raise click.UsageError("give alert ids or --dead (not both)")
    cfg, store = _open(c)
    with store:
        if ids:
            found = {r["id"]: r["status"] for r in store.query(
                "SELECT id, status FROM alerts WHERE id IN (SELECT value FROM json_each(?))", [json.dumps(ids)])}
            missing = [i for i in ids if i not in found]
            if missing:
                raise click.BadParameter(f"no alert with id {', '.join(map(str, missing))}", param_hint="ID")
            stuck = [f"{i} ({found[i]})" for i in ids if found[i] in ("held", "digested")]
            if stuck:
                raise click.BadParameter(f"not retried: {', '.join(stuck)}: a held alert goes at its time, a "
                                         "digested one went out in its digest", param_hint="ID")
        n = requeue(store, list(ids), dead=dead)
        out.print(f"re-queued {n} alert{'s' * (n != 1)}", highlight=False)
        if deliver_now and n:
            report = asyncio.run(_deliver(cfg, store))
            out.print(f"sent {report.sent}, failed {report.failed}, dead {report.dead}", highlight=False)
            if report.failed or report.dead:
                sys.exit(1)


async def _deliver(cfg: Any, store: Any) -> Any:
    from .alerts import Deliverer

    deliverer = Deliverer(cfg, store)
    try:
        return await deliverer.deliver_due()
    finally:
        await deliverer.aclose()


@alerts.command("test")
@common
@click.argument("channel")
@pass_ctx
@handle_errors
def send_test(c: Context, channel: str) -> None:
    """Send a test message to CHANNEL now (not through the outbox) and show the answer."""
    from .alerts import Deliverer
    from .alerts.queue import new_message_id
    from .alerts.render import AlertContent
    from .store import Store

    cfg = c.config()
    target = cfg.channel(channel)  # ConfigError lists the channels
    content = AlertContent(
        message_id=new_message_id(), kind="test", created=datetime.now(UTC).isoformat(), channel=target.name, topics=[],
        article={}, matches=[],
        extra={"subject": f"Test message to the {target.name} channel",
               "text": f"If you can read this, monitor can reach the {target.type} channel {target.name!r}."})

    async def go() -> tuple[int | None, str]:
        with Store.open(c.db_path(cfg)) as store:
            deliverer = Deliverer(cfg, store)
            try:
                return await deliverer.send(target, content)
            finally:
                await deliverer.aclose()

    try:
        code, response = asyncio.run(go())
    except DeliveryError as exc:
        err.print(f"[bold red]✗[/] {exc}", highlight=False)
        sys.exit(1)
    detail = f"{code} " if code else ""
    out.print(f"[green]✓[/] sent to {target.name}: {detail}{response[:200]}".rstrip(), highlight=False)
