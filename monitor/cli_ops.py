"""Operating commands: ``monitor sources`` (how each source is doing) and ``monitor discover URL``
(the feeds and sitemaps a site advertises, as config lines ready to paste).

Presentation only: the state is kept by :mod:`monitor.state`, the fetching done by
:mod:`monitor.fetch`, the reading by :mod:`monitor.discover`.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import yaml
from rich.table import Table
from rich.text import Text

from .cli import Context, cli, common, err, handle_errors, out, pass_ctx
from .config import Config, FetchConfig, SourceConfig, resolve_config_path
from .errors import DiscoverError, FetchError, StoreError
from .units import format_duration, parse_duration

__all__ = ["discover_cmd", "sources"]

# How a source's state reads in the table (data): label and colour.
STATES: dict[str, tuple[str, str]] = {
    "healthy": ("healthy", "green"), "failing": ("failing", "red"), "blocked_robots": ("blocked by robots", "yellow"),
    "consent_wall": ("consent wall", "yellow"), "new": ("never run", "dim"),
}


def _every(source: SourceConfig | None, interval: float | None) -> Text:
    """The source's schedule: its cron line, or its interval; the daemon's longer interval while it
    backs off a failing source, in yellow."""
    if source is None:
        return Text("-")
    if source.cron:
        return Text(f"cron {source.cron}" + (f" ({source.timezone})" if source.timezone != "UTC" else ""))
    if interval and interval > source.every + 1:
        return Text(f"{format_duration(interval)} (backed off from {format_duration(source.every)})", style="yellow")
    return Text(format_duration(source.every))


def _when(iso: str | None, now: datetime) -> str:
    if not iso:
        return "-"
    try:
        then = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    ago = (now - then).total_seconds()
    stamp = then.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if ago >= 0:
        return f"{stamp} ({format_duration(max(60, round(ago / 60) * 60))} ago)"
    return f"{stamp} (in {format_duration(max(60, round(-ago / 60) * 60))})"


# ---------------------------------------------------------------------------- sources
@cli.command()
@common
@click.option("--since", default="24h", show_default=True, metavar="DURATION",
              help="Count fetch outcomes over this window (e.g. 1h, 24h, 7d).")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
@pass_ctx
@handle_errors
def sources(c: Context, since: str, as_json: bool) -> None:
    """How each source is doing: healthy, failing since when, blocked by robots.txt, behind a
    consent wall; its last success and error, and how its fetches ended recently."""
    from .store import Store

    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    cfg = c.config()
    path = c.db_path(cfg)
    if path != ":memory:" and not Path(path).exists():
        raise StoreError(f"no database at {path} (run `monitor fetch` first, or pass --db PATH)")
    now = datetime.now(UTC)
    with Store.open(path) as store:
        rows = {r["name"]: r for r in store.source_overview((now - timedelta(seconds=window)).isoformat())}
    configured = [s.name for s in cfg.sources]
    names = configured + sorted(set(rows) - set(configured))
    records = []
    for name in names:
        row = rows.get(name) or {"name": name, "state": "new", "outcomes": {}}
        records.append({**row, "configured": name in configured,
                        "enabled": next((s.enabled for s in cfg.sources if s.name == name), False)})
    if as_json:
        out.print_json(json.dumps(records, default=str))
        return
    table = Table(title=f"sources (fetch outcomes over the last {format_duration(window)})", title_justify="left")
    for col in ("source", "state", "every", "next run", "last success", "failing since", "fails", "fetches",
                "last error"):
        table.add_column(col, overflow="fold", justify="right" if col == "fails" else "left")
    configs = {s.name: s for s in cfg.sources}
    for r in records:
        label, colour = STATES.get(r.get("state") or "new", (str(r.get("state")), "white"))
        if not r["configured"]:
            label += " (not in config)"
        elif not r["enabled"]:
            label += " (disabled)"
        outcomes = r["outcomes"]
        counts = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0])))
        table.add_row(Text(r["name"]), Text(label, style=colour), _every(configs.get(r["name"]), r.get("interval")),
                      _when(r.get("next_due"), now), _when(r.get("last_success"), now),
                      _when(r.get("failing_since"), now), str(r.get("consecutive_failures") or 0),
                      Text(counts or "-"), Text(r.get("last_error") or ""))
    out.print(table)


# ---------------------------------------------------------------------------- discover
@dataclass
class _Found:
    url: str
    kind: str
    note: str
    ok: bool = True


@cli.command("discover")
@common
@click.argument("url")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Fetch each feed and sitemap found to confirm its kind and count its entries.")
@pass_ctx
@handle_errors
def discover_cmd(c: Context, url: str, check: bool) -> None:
    """List the feeds and sitemaps a site advertises, as config lines ready to paste.

    Reads URL (a home page) for <link rel="alternate"> feeds and the site's robots.txt for
    Sitemap: lines, politely (robots.txt is obeyed, one request at a time). The fetch settings
    of the config are used when there is one.
    """
    if not re.match(r"^https?://[^/\s]+", url):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="URL")
    fetch_cfg = _fetch_config(c)
    found = asyncio.run(_discover(url, fetch_cfg, check))
    host = (urlsplit(url).hostname or "site").removeprefix("www.")
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "-", host).strip("-.") or "site"
    shown = list(found)
    if not any(f.ok for f in found):
        err.print(f"{url} advertises no usable feed or sitemap; follow the page itself as a listing:",
                  highlight=False)
        shown.append(_Found(url, "listing", "the page itself: its article links are found automatically"))
    lines = [f"# sources found at {url} (paste under `sources:`)", "sources:"]
    used: set[str] = set()
    for f in shown:
        entry = yaml.safe_dump([{"name": _name(prefix, f, used), "url": f.url, "kind": f.kind}], sort_keys=False,
                               allow_unicode=True, width=1000)
        lines.append(f"  # {f.note}")
        lines += [("  " if f.ok else "  # ") + line for line in entry.splitlines()]
    out.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def _fetch_config(c: Context) -> FetchConfig:
    """The config's fetch settings when there is a config file, else the defaults."""
    if c.config_path or Path(resolve_config_path(None)).exists():
        cfg: Config = c.config()
        return cfg.fetch
    return FetchConfig()


def _name(prefix: str, found: _Found, used: set[str]) -> str:
    tail = Path(urlsplit(found.url).path).name.split(".", 1)[0] or found.kind
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{prefix}-{tail}").strip("-.")
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    used.add(name)
    return name


async def _discover(url: str, cfg: FetchConfig, check: bool) -> list[_Found]:
    from .discover import advertised, detect_kind
    from .fetch import Fetcher

    async with Fetcher(cfg, trusted_hosts={urlsplit(url).hostname or ""}) as fetcher:
        page = await fetcher.fetch(url)
        kind = detect_kind(page)
        if kind in ("feed", "sitemap"):  # the URL is itself one
            return [await _probe(fetcher, url, kind, f"{url} is itself a {kind}", check)]
        found: list[_Found] = []
        for ad in advertised(page):
            title = f' "{ad.title}"' if ad.title else ""
            found.append(await _probe(fetcher, ad.url, "feed", f"{ad.format} feed{title}, "
                                      f'<link rel="alternate"> on {ad.found_in}', check))
        robots = await fetcher.robots_for(url)
        for sitemap in robots.sitemaps:
            if sitemap.startswith(("http://", "https://")) and all(f.url != sitemap for f in found):
                found.append(await _probe(fetcher, sitemap, "sitemap", "sitemap, named in robots.txt", check))
        return found


async def _probe(fetcher: Any, url: str, kind: str, note: str, check: bool) -> _Found:
    """Fetch a candidate and count what it lists (``--check``)."""
    from .discover import detect_kind, discover

    if not check:
        return _Found(url, kind, note)
    try:
        page = await fetcher.fetch(url)
        detected = detect_kind(page)
        kind = detected if detected in ("feed", "sitemap") else kind
        probe = SourceConfig.model_validate({"name": "probe", "url": url, "kind": kind, "max_links": 100_000})
        links, children = discover(page, probe)
    except (FetchError, DiscoverError) as exc:
        return _Found(url, kind, f"{note}; not usable: {exc}", ok=False)
    if children:
        return _Found(url, kind, f"{note}; an index of {len(children)} recent sitemaps")
    dated = [lk.published for lk in links if lk.published]
    newest = f", newest {max(dated).astimezone(UTC):%Y-%m-%d %H:%M} UTC" if dated else ""
    entries = f"{len(links)} {'entry' if len(links) == 1 else 'entries'}"
    if kind == "sitemap":
        entries += f" of the last {format_duration(probe.max_age)}"
    return _Found(url, kind, f"{note}; {entries}{newest}")
