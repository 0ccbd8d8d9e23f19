"""The alert keys of monitor/config: every rule made to fire, with its file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config, parse_config
from monitor.errors import ConfigError

BASE = """\
database: test.db
topics:
  - name: mou
    query: 'MOU'
channels:
  - name: hook
    type: webhook
    url: https://hooks.example.org/x
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
"""
MAIL = """\
  - name: mail
    type: email
    host: 127.0.0.1
    from: monitor@localhost
    to: [desk@localhost]
"""


def digest(spec: str) -> str:
    return BASE.replace("    query: 'MOU'\n", f"    query: 'MOU'\n    digest: {spec}\n")


def fails(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml", env={})
    return info.value


CASES = [
    ("digest with neither", digest("{timezone: Asia/Seoul}"), 5, "topics[0].digest", "either `every`"),
    ("digest with both", digest("{every: 1h, at: '08:00'}"), 5, "topics[0].digest", "not both"),
    ("digest too often", digest("{every: 10s}"), 5, "topics[0].digest.every", "between 1m and 1d"),
    ("digest too rare", digest("{every: 2d}"), 5, "topics[0].digest.every", "use `at`"),
    ("digest on no day", digest("{at: '09:00', days: [mon, someday]}"), 5, "topics[0].digest.days",
     "'someday' is not a weekday"),
    ("digest days empty", digest("{at: '09:00', days: []}"), 5, "topics[0].digest.days", "names weekdays"),
    ("digest days with every", digest("{every: 1h, days: [mon]}"), 5, "topics[0].digest", "goes with `at`"),
    ("quiet hours zone", BASE.replace("    type: webhook\n", "    type: webhook\n    quiet_hours: "
                                      "{start: '22:00', end: '07:00', timezone: Nowhere/Land}\n"),
     8, "channels[0].quiet_hours.timezone", "unknown IANA time zone"),
    ("quiet hours empty", BASE.replace("    type: webhook\n", "    type: webhook\n    quiet_hours: "
                                       "{start: '22:00', end: '22:00'}\n"),
     8, "channels[0].quiet_hours", "never end"),
    ("quiet hours nothing", BASE.replace("    type: webhook\n", "    type: webhook\n    quiet_hours: "
                                         "{timezone: UTC}\n"), 8, "channels[0].quiet_hours", "or `days`"),
    ("quiet every day", BASE.replace("    type: webhook\n", "    type: webhook\n    quiet_hours: "
                                     "{days: [weekdays, weekends]}\n"), 8, "channels[0].quiet_hours", "never end"),
    ("quiet on no day", BASE.replace("    type: webhook\n", "    type: webhook\n    quiet_hours: "
                                     "{days: [caturday]}\n"), 8, "channels[0].quiet_hours.days", "not a weekday"),
    ("empty retry", BASE + "alerts:\n  retry: []\n", 11, "alerts.retry", "at least 1"),
    ("negative retry", BASE + "alerts:\n  retry: [0s, -5]\n", 11, "alerts.retry[1]", "cannot be negative"),
    ("webhook header with a line break", BASE.replace("    type: webhook\n", "    type: webhook\n    headers:\n"
                                                      "      X-Token: \"abc\\r\\nX-Evil: 1\"\n"),
     8, "channels[0].headers", "contains a line break"),
    ("webhook header name", BASE.replace("    type: webhook\n", "    type: webhook\n    headers: {'Bad Name': x}\n"),
     8, "channels[0].headers", "not a valid header"),
    ("webhook header monitor signs", BASE.replace("    type: webhook\n", "    type: webhook\n    headers: "
                                                  "{Webhook-Signature: 'v1,forged'}\n"),
     8, "channels[0].headers", "set by monitor"),
    ("missing templates", BASE + "alerts:\n  templates: /nonexistent/templates\n", 11, "alerts.templates",
     "no such folder"),
    ("missing ca file", BASE + MAIL.replace("    to:", "    ca_file: /nonexistent/ca.pem\n    to:"), 14,
     "channels[1].ca_file", "no such file"),
]


@pytest.mark.parametrize("what,text,line,key,fragment", CASES, ids=[c[0] for c in CASES])
def test_alert_rule_fires(what: str, text: str, line: int, key: str, fragment: str) -> None:
    exc = fails(text)
    assert exc.file == "cfg.yaml"
    assert exc.key == key, str(exc)
    assert exc.line == line, str(exc)
    assert fragment in str(exc), str(exc)


def test_good_alert_keys_parse(tmp_path: Path) -> None:
    (tmp_path / "mytemplates").mkdir()
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    text = (digest("{at: '08:00', timezone: Asia/Seoul}").replace("    type: webhook\n", "    type: webhook\n"
            "    quiet_hours: {start: '22:00', end: '07:00', timezone: America/New_York}\n")
            + MAIL.replace("    to:", f"    ca_file: {ca}\n    to:") + "alerts:\n  templates: mytemplates\n")
    path = tmp_path / "config.yaml"
    path.write_text(text)
    cfg = load_config(path)
    d = cfg.topics[0].digest
    assert d is not None and (d.at, d.every, d.timezone) == ("08:00", None, "Asia/Seoul")
    q = cfg.channels[0].quiet_hours
    assert q is not None and (q.start, q.end, q.timezone) == ("22:00", "07:00", "America/New_York")
    assert cfg.templates_path == str(tmp_path.resolve() / "mytemplates")
    assert getattr(cfg.channels[1], "ca_file", None) == str(ca)
    hourly = parse_config(digest("{every: 1h}"), "cfg.yaml", env={})
    assert hourly.topics[0].digest is not None and hourly.topics[0].digest.every == 3600.0
    weekly = parse_config(digest("{at: '09:00', days: [Friday, mon, fri]}"), "cfg.yaml", env={})
    assert weekly.topics[0].digest is not None and weekly.topics[0].digest.days == ("mon", "fri")
    workdays = parse_config(digest("{at: '09:00', days: weekdays}"), "cfg.yaml", env={})
    assert workdays.topics[0].digest is not None
    assert workdays.topics[0].digest.days == ("mon", "tue", "wed", "thu", "fri")


def test_a_relative_ca_file_is_beside_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("not checked here")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the daemon started from another folder
    path = tmp_path / "config.yaml"
    path.write_text(BASE + MAIL.replace("    to:", "    ca_file: certs/ca.pem\n    to:"))
    cfg = load_config(path)
    assert getattr(cfg.channels[1], "ca_file", None) == str(tmp_path.resolve() / "certs" / "ca.pem")
    path.write_text(BASE + MAIL.replace("    to:", "    ca_file: certs/missing.pem\n    to:"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "channels[1].ca_file" and str(tmp_path.resolve() / "certs" / "missing.pem") in str(info.value)
