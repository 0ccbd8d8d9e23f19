"""`monitor alerts`, `alerts show`, `alerts retry`, `alerts test` against a real database and
receivers (in-process through click's runner, and once as a real subprocess)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import monitor.cli_alerts  # noqa: F401 - registers the commands
from monitor.cli import cli
from monitor.demo.httpd import LocalServer
from monitor.demo.receivers import SmtpReceiver, WebhookReceiver
from monitor.store import Store

from .conftest import SECRET, run_cli
from .test_alerts import add_article, alert_config, alerts, deliver, hook, mail, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from open_store(tmp_path)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's rich consoles were made at import; give them a wide terminal for these tests."""
    from monitor import cli as cli_module

    for console in (cli_module.out, cli_module.err):
        monkeypatch.setattr(console, "width", 200)


def invoke(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--config", str(tmp_path / "config.yaml")], catch_exceptions=False,
                              terminal_width=200)


def test_list_show_retry(tmp_path: Path, store: Store) -> None:
    receiver = WebhookReceiver(SECRET, answers=[500] * 4)
    with LocalServer(receiver.handle) as server:
        cfg = alert_config(tmp_path, [hook(server.url)], retry=["0s", "0.05s"])
        add_article(store, 1, title="Seoul and Tokyo sign an MOU")
        add_article(store, 2, title="Second story on an MOU")
        deliver(cfg, store)  # both fail twice: dead
        assert [a["status"] for a in alerts(store)] == ["dead", "dead"]

        listing = invoke(tmp_path, "alerts")
        assert listing.exit_code == 0, listing.output
        assert "Seoul and Tokyo sign an MOU" in listing.output and "HTTP 500" in listing.output
        assert "0 pending, 0 held, 0 sent, 2 dead, 0 digested" in listing.output
        assert "Second story" not in invoke(tmp_path, "alerts", "--status", "sent").output
        rows = [json.loads(line) for line in invoke(tmp_path, "alerts", "--json").output.splitlines()]
        assert [(r["id"], r["status"], r["title"], r["attempts"]) for r in rows] == [
            (2, "dead", "Second story on an MOU", 2), (1, "dead", "Seoul and Tokyo sign an MOU", 2)]
        assert rows[0]["topics"] == ["mou"] and "HTTP 500" in rows[0]["last_error"]
        assert rows[0]["message_id"].startswith("msg_") and rows[0]["channel_disabled"] is None
        assert invoke(tmp_path, "alerts", "--json", "--status", "sent").output == ""

        shown = invoke(tmp_path, "alerts", "show", "1")
        assert shown.exit_code == 0
        assert shown.output.count("500") >= 2 and "try again" in shown.output

        missing = invoke(tmp_path, "alerts", "retry", "99")
        assert missing.exit_code == 2 and "no alert with id 99" in missing.output
        assert invoke(tmp_path, "alerts", "retry").exit_code == 2

        again = invoke(tmp_path, "alerts", "retry", "1", "--now")
        assert again.exit_code == 0, again.output
        assert "re-queued 1 alert" in again.output and "sent 1" in again.output
        rest = invoke(tmp_path, "alerts", "retry", "--dead", "--now")
        assert "re-queued 1 alert" in rest.output and "sent 1" in rest.output
    assert [a["status"] for a in alerts(store)] == ["sent", "sent"]
    assert len(receiver.successful) == 2
    listing = invoke(tmp_path, "alerts", "--status", "sent")
    assert "2 sent" in listing.output


def test_a_disabled_channel_is_shown_loudly(tmp_path: Path, store: Store) -> None:
    receiver = WebhookReceiver(SECRET, answers=[410])
    with LocalServer(receiver.handle) as server:
        cfg = alert_config(tmp_path, [hook(server.url)])
        add_article(store, 1)
        deliver(cfg, store)
    result = invoke(tmp_path, "alerts")
    assert "channel hook is DISABLED" in result.output and "410 Gone" in result.output
    [row] = [json.loads(line) for line in invoke(tmp_path, "alerts", "--json").output.splitlines()]
    assert "410" in row["channel_disabled"]


def test_send_a_test_message(tmp_path: Path, smtp: SmtpReceiver) -> None:
    receiver = WebhookReceiver(SECRET).start()
    try:
        alert_config(tmp_path, [hook(receiver.url), mail(smtp),
                                hook("http://127.0.0.1:9/nothing", name="broken")])
        ok = invoke(tmp_path, "alerts", "test", "hook")
        assert ok.exit_code == 0, ok.output
        assert "✓ sent to hook: 200" in ok.output
        [d] = receiver.deliveries
        assert d.verified and d.payload["type"] == "test" and "hook" in d.payload["subject"]
        assert invoke(tmp_path, "alerts", "test", "mail").exit_code == 0
        assert smtp.messages[0]["Subject"] == "[monitor] Test message to the mail channel"
        bad = invoke(tmp_path, "alerts", "test", "broken")
        assert bad.exit_code == 1 and "connection failed" in bad.output
        unknown = invoke(tmp_path, "alerts", "test", "nope")
        assert unknown.exit_code == 2 and "no channel named 'nope'" in unknown.output
    finally:
        receiver.stop()


def test_as_a_real_command(tmp_path: Path, store: Store, webhook: Any) -> None:
    alert_config(tmp_path, [hook(webhook.url)])
    add_article(store, 1)
    result = run_cli("alerts", "--config", str(tmp_path / "config.yaml"))
    assert result.returncode == 0, result.stderr
    assert "Story 1: an MOU is signed" in result.stdout and "1 pending" in result.stdout
    assert "Traceback" not in result.stderr
