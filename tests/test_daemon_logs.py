"""Logs of a real `monitor run` at -vv: every line about a source or an article names it, secrets
from the config never appear (webhook secret, SMTP password, an Authorization header, a secret in a
config that failed to reload), JSON with --log-format json and readable text otherwise."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path
from typing import Any

import yaml

from monitor.demo.httpd import Response
from monitor.demo.receivers import SmtpReceiver, WebhookReceiver
from monitor.logs import JsonFormatter, TextFormatter, config_secrets, redact, register_secrets

from .conftest import SECRET, SEED_HTML, Site, listing_html, make_config
from .daemon_process import DaemonProcess, wait_until

PASSWORD = "smtp-Pa55word-never-logged"
TOKEN = "Bearer tok-9f8e7d6c5b4a-never-logged"
BAD_SECRET = "notwhsec-SUPERSECRET42"
SEED = "/news/2026-01-03/seoul/p.html"


def scenario_config(tmp_path: Path, site: Site, webhook: WebhookReceiver, smtp: SmtpReceiver) -> Path:
    site.page(SEED, SEED_HTML.read_bytes())
    site.routes["/news/2026-01-03/missing/p.html"] = Response(404, b"<h1>no</h1>", {"content-type": "text/html"})
    site.page("/opinions", listing_html(site.url + SEED, site.url + "/news/2026-01-03/missing/p.html"))
    site.routes["/down"] = Response(503, b"busy", {"content-type": "text/html"})
    config = make_config(tmp_path, [
        {"name": "opinions", "url": site.url + "/opinions", "kind": "listing", "every": "1s"},
        {"name": "down", "url": site.url + "/down", "kind": "listing", "every": "1s", "alert_after_failures": 1}],
        webhook=webhook, smtp=smtp, ops_channels=["hook"])
    data = yaml.safe_load(config.read_text("utf-8"))
    mail = next(c for c in data["channels"] if c["type"] == "email")
    mail.update(username="monitor", password=PASSWORD)
    data["fetch"]["headers"] = {"Authorization": TOKEN}
    config.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return config


def run_scenario(config: Path, webhook: WebhookReceiver) -> str:
    with DaemonProcess(config, verbose=2) as daemon:
        daemon.wait_up()
        wait_until(lambda: len(webhook.successful) >= 2, what="the article and operator webhooks")
        wait_until(lambda: "SMTP" in daemon.log_text(), what="the failed email attempt (AUTH not offered)")
        # A reload whose config holds a bad secret fails, and says so without the secret.
        good = config.read_text("utf-8")
        config.write_text(good.replace(SECRET, BAD_SECRET), "utf-8")
        daemon.signal(signal.SIGHUP)
        wait_until(lambda: "config reload failed" in daemon.log_text(), what="the failed reload")
        config.write_text(good, "utf-8")
        code, _ = daemon.stop()
        assert code == 0
        return daemon.log_text()


def test_json_logs_name_their_source_and_hide_secrets(tmp_path: Path, site: Site, webhook: WebhookReceiver,
                                                      smtp: SmtpReceiver) -> None:
    config = scenario_config(tmp_path, site, webhook, smtp)
    text = run_scenario(config, webhook)
    for secret in (SECRET, SECRET.removeprefix("whsec_"), PASSWORD, TOKEN, "tok-9f8e7d6c5b4a", "SUPERSECRET42"):
        assert secret not in text, secret
    records = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    by_message = {r["message"]: r for r in records}
    assert any(r["level"] == "debug" for r in records), "-vv shows debug lines"

    def about(r: dict[str, Any]) -> bool:  # lines about one source or one article
        return site.url in r["message"] or r["logger"] in ("monitor.pipeline", "monitor.fetch") or any(
            r["message"].startswith(p) for p in ("run done", "failing", "SOURCE BROKEN", "run cancelled",
                                                  "recovered", "new article"))
    unnamed = [r for r in records if about(r) and not (r.get("source") or r.get("url"))]
    assert unnamed == [], unnamed
    new = next(r for m, r in by_message.items() if m.startswith("new article: Seoul kicks off"))
    assert new["source"] == "opinions" and new["url"] == site.url + SEED
    assert any(r["message"].startswith("SOURCE BROKEN") and r["source"] == "down" for r in records)
    assert any("HTTP 404" in r["message"] and r.get("url", "").endswith("/missing/p.html") for r in records)
    reload_failed = next(r for r in records if r["message"].startswith("config reload failed"))
    assert "secret" in reload_failed["message"] and "whsec_" in reload_failed["message"]


def test_text_logs_are_readable_and_hide_secrets(tmp_path: Path) -> None:
    """The text format (a terminal's): time, level, logger, message, then [source=... url=...]."""
    register_secrets([PASSWORD, "abc"])  # what the daemon registers from its config
    record = logging.LogRecord("monitor.pipeline", logging.WARNING, __file__, 1,
                               "login with %s failed for https://user:hunter2@h.example/x and whsec_AAAAbbbbCCCC",
                               (PASSWORD,), None)
    record.source, record.url = "cgtn", "https://www.cgtn.com/opinions"
    line = TextFormatter().format(record)
    assert line[8:] == (" warning pipeline: login with *** failed for https://user:***@h.example/x and whsec_***"
                        "  [source=cgtn url=https://www.cgtn.com/opinions]")
    as_json = JsonFormatter().format(record)
    assert PASSWORD not in as_json and "hunter2" not in as_json and '"source": "cgtn"' in as_json
    assert redact("abc and abcd") == "abc and abcd"  # values under 4 characters are not registered
    assert redact("password=abc123, token: xyz") == "password=***, token: ***"


def test_config_secrets_lists_what_must_be_masked(tmp_path: Path) -> None:
    from monitor.config import load_config

    config = make_config(tmp_path, [{"name": "a", "url": "https://a.example/", "proxy": "http://u:p4ss@proxy:3128",
                                     "cookies": {"session": "cookie-value-1"}, "headers": {"X-Api-Key": "k-123456",
                                                                                          "Accept": "text/html"}}])
    data = yaml.safe_load(config.read_text("utf-8"))
    data["channels"] = [{"name": "mail", "type": "email", "host": "127.0.0.1", "from": "m@localhost",
                         "to": ["d@localhost"], "password": PASSWORD},
                        {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/x", "secret": [SECRET, SECRET + "x"],
                         "headers": {"Authorization": TOKEN}}]
    config.write_text(yaml.safe_dump(data), "utf-8")
    found = set(config_secrets(load_config(config)))
    assert {PASSWORD, SECRET, SECRET + "x", TOKEN, "http://u:p4ss@proxy:3128", "cookie-value-1", "k-123456"} <= found
    assert "text/html" not in found
