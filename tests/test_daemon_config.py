"""The daemon's config keys: every rule made to fire, with its file, line and key."""

from __future__ import annotations

import pytest

from monitor.config import parse_config, parse_listen
from monitor.errors import ConfigError

BASE = """\
sources:
  - name: cgtn
    url: https://www.cgtn.com/opinions
    kind: listing
server:
  max_alert_age: 1h
"""


def fails(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml", env={})
    return info.value


@pytest.mark.parametrize("what, text, line, key, fragment", [
    ("zero backoff cap", BASE.replace("kind: listing\n", "kind: listing\n    backoff_max: 0\n"), 5,
     "sources[0].backoff_max", "longer than 0"),
    ("zero expect_every", BASE.replace("kind: listing\n", "kind: listing\n    expect_every: 0s\n"), 5,
     "sources[0].expect_every", "longer than 0"),
    ("zero failures before the alert", BASE.replace("kind: listing\n", "kind: listing\n    alert_after_failures: 0\n"),
     5, "sources[0].alert_after_failures", "greater than or equal to 1"),
    ("listen without a port", BASE + "  listen: localhost\n", 7, "server.listen", "HOST:PORT"),
    ("listen port out of range", BASE + "  listen: 127.0.0.1:99999\n", 7, "server.listen", "HOST:PORT"),
    ("listen IPv6 without brackets", BASE + "  listen: '::1:8080'\n", 7, "server.listen", "in brackets"),
])
def test_rule_fires(what: str, text: str, line: int, key: str, fragment: str) -> None:
    err = fails(text)
    assert (err.line, err.key) == (line, key), what
    assert fragment in str(err), what
    assert str(err).startswith(f"cfg.yaml:{line}: {key}: "), what


def test_defaults_and_good_values() -> None:
    cfg = parse_config(BASE.replace("kind: listing\n", "kind: listing\n    expect_every: 2d\n    backoff_max: 1h\n")
                       + "  listen: 0.0.0.0:8080\n", "cfg.yaml", env={})
    src = cfg.sources[0]
    assert (src.expect_every, src.backoff_max, src.alert_after_failures) == (2 * 86400, 3600, 3)
    assert cfg.server.listen == "0.0.0.0:8080" and cfg.server.max_alert_age == 3600
    default = parse_config(BASE, "cfg.yaml", env={})
    assert default.server.listen is None and default.sources[0].backoff_max == 6 * 3600


@pytest.mark.parametrize("value, expected", [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)),
    (":9000", ("0.0.0.0", 9000)),
    ("[::1]:0", ("::1", 0)),
    ("localhost:80", ("localhost", 80)),
])
def test_parse_listen(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


def test_a_bad_secret_is_not_echoed() -> None:
    err = fails(BASE + "channels:\n  - name: hook\n    type: webhook\n    url: https://h.example/x\n"
                       "    secret: notwhsec-SUPERSECRET42\n")
    assert err.key == "channels[0].secret" and "starts with 'whsec_'" in str(err)
    assert "SUPERSECRET42" not in str(err)
