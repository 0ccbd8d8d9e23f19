"""Daemon commands: ``monitor health`` checks the running daemon's HTTP endpoint from a shell, for
Docker's HEALTHCHECK (exit 0 healthy, 1 not)."""

from __future__ import annotations

import os
import sys

import click

from .cli import Context, cli, common, err, out, pass_ctx
from .errors import MonitorError

__all__ = ["endpoint_url", "health"]


def endpoint_url(listen: str) -> str:
    """The URL to reach a daemon listening on ``listen`` from the same host (0.0.0.0 -> 127.0.0.1)."""
    from .config import parse_listen

    host, port = parse_listen(listen)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _base_url(c: Context, url: str | None) -> str:
    if url:
        return url.rstrip("/")
    listen = os.environ.get("MONITOR_LISTEN")
    if not listen:
        listen = c.config().server.listen
    if not listen:
        raise MonitorError("no endpoint to check: give --url, set $MONITOR_LISTEN, or set server.listen in the config")
    return endpoint_url(listen)


@cli.command()
@common
@click.option("--url", metavar="URL", default=None,
              help="The daemon's endpoint (default: from $MONITOR_LISTEN, else the config's server.listen).")
@click.option("--live", is_flag=True, help="Only check that the process lives (/healthz), not that it is ready.")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds to wait for the answer.")
@pass_ctx
def health(c: Context, url: str | None, live: bool, timeout: float) -> None:
    """Check a running `monitor run` through its HTTP endpoint: exit 0 when it is ready
    (scheduler running, database writable, no alert pending for too long), 1 otherwise.

    For Docker: HEALTHCHECK CMD ["monitor", "health"].
    """
    import httpx

    try:
        base = _base_url(c, url)
    except (MonitorError, ValueError) as exc:
        err.print(f"monitor health: {exc}", highlight=False, markup=False)
        sys.exit(1)
    target = base + ("/healthz" if live else "/readyz")
    try:
        response = httpx.get(target, timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        err.print(f"monitor health: cannot reach {target}: {exc or type(exc).__name__}", highlight=False,
                  markup=False)
        sys.exit(1)
    try:
        data = response.json()
    except ValueError:
        data = {}
    ok = response.status_code == 200
    out.print(f"{'ok' if ok else 'NOT OK'}: {target} answered {response.status_code} "
              f"{data.get('status', '') if isinstance(data, dict) else ''}", highlight=False, markup=False)
    checks = data.get("checks", {}) if isinstance(data, dict) else {}
    for name, check in checks.items():
        mark = "ok " if check.get("ok") else "BAD"
        out.print(f"  {mark} {name}: {check.get('detail', '')}", highlight=False, markup=False)
    if not checks and isinstance(data, dict) and data.get("detail"):
        out.print(f"  {data['detail']}", highlight=False, markup=False)
    sys.exit(0 if ok else 1)
