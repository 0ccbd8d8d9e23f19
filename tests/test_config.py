"""Every rule of monitor/config made to fire: each error names the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config, parse_config, resolve_config_path
from monitor.errors import ConfigError, QueryError
from monitor.units import format_duration, parse_duration, parse_size

BASE = """\
database: test.db
sources:
  - name: cgtn
    url: https://www.cgtn.com/opinions
    kind: listing
topics:
  - name: mou
    query: 'MOU OR "memorandum of understanding"'
channels:
  - name: hook
    type: webhook
    url: https://hooks.example.org/x
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
"""


def fails(text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml", env=env or {})
    return info.value


CASES = [
    # (what, yaml, expected line, expected key, message fragment)
    ("unknown key", BASE.replace("    kind: listing\n", "    kind: listing\n    evrey: 5m\n"), 6,
     "sources[0].evrey", "did you mean 'every'"),
    ("unknown top-level key", BASE + "topcs: []\n", 14, "topcs", "did you mean 'topics'"),
    ("missing url", BASE.replace("    url: https://www.cgtn.com/opinions\n", ""), 3, "sources[0].url",
     "required key is missing"),
    ("unknown kind", BASE.replace("kind: listing", "kind: blog"), 5, "sources[0].kind",
     "valid kinds: feed, sitemap, listing, page"),
    ("not a url", BASE.replace("url: https://www.cgtn.com/opinions", "url: ftp://x.org/"), 4, "sources[0].url",
     "http:// or https://"),
    ("bad duration", BASE.replace("    kind: listing\n", "    kind: listing\n    every: soon\n"), 6,
     "sources[0].every", "not a duration"),
    ("zero interval", BASE.replace("    kind: listing\n", "    kind: listing\n    every: 0\n"), 6,
     "sources[0].every", "longer than 0"),
    ("bad regex", BASE.replace("    kind: listing\n", "    kind: listing\n    follow: '(['\n"), 6,
     "sources[0].follow", "not a valid regular expression"),
    ("bad timezone", BASE.replace("    kind: listing\n", "    kind: listing\n    timezone: Mars/Olympus\n"), 6,
     "sources[0].timezone", "unknown IANA time zone"),
    ("bad cron", BASE.replace("    kind: listing\n", "    kind: listing\n    cron: '99 * * * *'\n"), 6,
     "sources[0].cron", "crontab"),
    ("bad name", BASE.replace("name: cgtn", "name: 'has space'"), 3, "sources[0].name", "pattern"),
    ("duplicate source name", BASE.replace("sources:\n", "sources:\n  - name: cgtn\n    url: https://a.org/\n"),
     5, "sources[1].name", "used twice"),
    ("unknown channel type", BASE.replace("type: webhook", "type: pager"), 11, "channels[0].type",
     "valid types: webhook, email, apprise"),
    ("webhook secret prefix", BASE.replace("secret: whsec_", "secret: "), 13, "channels[0].secret", "whsec_"),
    ("email without to", BASE + "  - name: mail\n    type: email\n    host: smtp.example.org\n"
                                "    from: a@example.org\n    to: []\n", 18, "channels[1].to", "at least 1"),
    ("bad security", BASE + "  - name: mail\n    type: email\n    host: h\n    from: a@b\n    to: [c@d]\n"
                            "    security: tls\n", 19, "channels[1].security", "starttls"),
    ("topic routes to unknown channel", BASE.replace("    query: 'MOU", "    channels: [pager]\n    query: 'MOU"),
     8, "topics[0].channels[0]", "no channel named 'pager'"),
    ("topic limited to unknown source", BASE.replace("    query: 'MOU", "    sources: [bbc]\n    query: 'MOU"),
     8, "topics[0].sources[0]", "no source named 'bbc'"),
    ("ops channel unknown", BASE + "ops_channels: [nobody]\n", 14, "ops_channels[0]", "no channel named"),
    ("min_hits below 1", BASE.replace("    query: 'MOU", "    min_hits: 0\n    query: 'MOU"), 8,
     "topics[0].min_hits", "greater than or equal to 1"),
    ("digest time", BASE.replace("    query: 'MOU", "    digest: {at: '25:00'}\n    query: 'MOU"), 8,
     "topics[0].digest.at", "pattern"),
    ("digest zone", BASE.replace("    query: 'MOU", "    digest: {at: '08:00', timezone: Nowhere}\n    query: 'MOU"), 8,
     "topics[0].digest.timezone", "unknown IANA time zone"),
    ("bad size", BASE + "fetch:\n  max_bytes: lots\n", 15, "fetch.max_bytes", "not a size"),
    ("negative size", BASE + "fetch:\n  max_bytes: -5\n", 15, "fetch.max_bytes", "cannot be negative"),
    ("concurrency bounds", BASE + "fetch:\n  concurrency: 0\n", 15, "fetch.concurrency", "greater than or equal to 1"),
    ("bad retry", BASE + "alerts:\n  retry: [0s, later]\n", 15, "alerts.retry[1]", "not a duration"),
    ("wrong type", BASE + "fetch:\n  respect_robots: perhaps\n", 15, "fetch.respect_robots", "boolean"),
    ("quiet hours", BASE.replace("    type: webhook\n", "    type: webhook\n    quiet_hours: {start: '22:00'}\n"),
     12, "channels[0].quiet_hours", "need both `start` and `end`"),
]


@pytest.mark.parametrize("what,text,line,key,fragment", CASES, ids=[c[0] for c in CASES])
def test_rule_fires_with_file_line_and_key(what: str, text: str, line: int, key: str, fragment: str) -> None:
    exc = fails(text)
    assert exc.file == "cfg.yaml"
    assert exc.key == key, str(exc)
    assert exc.line == line, str(exc)
    assert fragment in str(exc)
    assert str(exc).startswith(f"cfg.yaml:{line}: {key}: ")


def test_query_error_names_topic_line_and_column() -> None:
    text = BASE.replace("""query: 'MOU OR "memorandum of understanding"'""", "query: '(Japan OR Tokyo) NEAR/4'")
    with pytest.raises(QueryError) as info:
        parse_config(text, "cfg.yaml", env={})
    assert str(info.value) == "cfg.yaml:8: topics.mou.query: col 24: expected a term after NEAR/4"


def test_yaml_syntax_error_has_line() -> None:
    exc = fails(BASE + "fetch: [unclosed\n")
    assert exc.line is not None and exc.line >= 14 and "not valid YAML" in str(exc)


def test_duplicate_yaml_key() -> None:
    exc = fails(BASE.replace("    kind: listing\n", "    kind: listing\n    kind: feed\n"))
    assert (exc.line, exc.key) == (6, "sources[0].kind") and "twice" in str(exc)


def test_top_level_must_be_mapping() -> None:
    assert "top level must be a mapping" in str(fails("- a\n- b\n"))


def test_merge_keys_refused() -> None:
    assert "merge keys" in str(fails("base: &b {timeout: 5}\nfetch:\n  <<: *b\n"))


def test_environment_substitution() -> None:
    text = BASE.replace("https://hooks.example.org/x", "${HOOK_URL}")
    cfg = parse_config(text, "cfg.yaml", env={"HOOK_URL": "https://hooks.example.org/from-env"})
    assert cfg.channel("hook").url == "https://hooks.example.org/from-env"  # type: ignore[union-attr]
    exc = fails(text)
    assert (exc.line, exc.key) == (12, "channels[0].url") and "${HOOK_URL} is not set" in str(exc)


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("whsec_FROMFILE0000000000000000000000\n")
    text = BASE.replace("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "${HOOK_SECRET}")
    cfg = parse_config(text, "cfg.yaml", env={"HOOK_SECRET_FILE": str(secret)})
    assert cfg.channel("hook").secret == "whsec_FROMFILE0000000000000000000000"  # type: ignore[union-attr]
    exc = fails(text, env={"HOOK_SECRET_FILE": str(tmp_path / "missing")})
    assert "cannot read HOOK_SECRET_FILE" in str(exc)


def test_defaults_and_relative_database(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "config.yaml"
    path.parent.mkdir()
    path.write_text(BASE)
    cfg = load_config(path)
    assert cfg.database_path == str(tmp_path / "conf" / "test.db")
    src = cfg.sources[0]
    assert (src.every, src.max_age, src.revisit) == (900.0, 604800.0, 21600.0)
    assert cfg.fetch.max_bytes == 10_000_000 and cfg.fetch.deadline == 60.0
    assert cfg.alerts.retry == [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    assert cfg.alerts.fetch_grace == 30.0
    assert cfg.topic_channels(cfg.topics[0]) == ["hook"]


def test_missing_file_and_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "config file not found" in str(info.value) and str(tmp_path / "nope.yaml") in str(info.value)
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    assert resolve_config_path(None) == "config.yaml"
    monkeypatch.setenv("MONITOR_CONFIG", "/etc/monitor.yaml")
    assert resolve_config_path(None) == "/etc/monitor.yaml"
    assert resolve_config_path("x.yaml") == "x.yaml"


def test_config_is_frozen() -> None:
    cfg = parse_config(BASE, "cfg.yaml", env={})
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        cfg.sources[0].every = 5  # type: ignore[misc]


@pytest.mark.parametrize("text,seconds", [(5, 5.0), (1.5, 1.5), ("1.5s", 1.5), ("15m", 900.0), ("2h", 7200.0),
                                          ("7d", 604800.0), ("250ms", 0.25), ("90", 90.0), ("1w", 604800.0)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "5 minutes", True, -1, None, "1y"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("text,size", [(100, 100), ("10MB", 10_000_000), ("10MiB", 10_485_760), ("1.5kB", 1500),
                                      ("2GiB", 2 * 2**30), ("512", 512), ("3 mb", 3_000_000)])
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["big", "10 MBs", True, -1, 1.5])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_size(bad)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (900, 5400, 4.5, 86400, 30)] == ["15m", "1.5h", "4.5s", "1d", "30s"]


def test_disabled_channel_gets_no_alerts() -> None:
    text = BASE + ("  - name: mail\n    type: email\n    host: h\n    from: a@b\n    to: [c@d]\n"
                   "    enabled: false\n")
    cfg = parse_config(text, "cfg.yaml", env={})
    assert cfg.topic_channels(cfg.topics[0]) == ["hook"]
    routed = parse_config(text.replace("    query: 'MOU", "    channels: [hook, mail]\n    query: 'MOU"), "cfg.yaml", env={})
    assert routed.topic_channels(routed.topics[0]) == ["hook"]


def test_public_names() -> None:
    import monitor.config as config
    from monitor.config import load, models

    assert sorted(config.__all__) == sorted([*models.__all__, *load.__all__])
    for name in config.__all__:
        assert getattr(config, name) is getattr(models if name in models.__all__ else load, name)


def test_the_package_exports_its_public_names() -> None:
    import monitor
    import monitor.pipeline  # noqa: F401 - imports the extract subpackage, which once turned monitor.extract into it
    from monitor.app import Monitor
    from monitor.extract import extract

    assert monitor.__all__ == ["Article", "Config", "Monitor", "MonitorError", "__version__", "extract", "load_config"]
    assert monitor.Monitor is Monitor and monitor.extract is extract and monitor.extract is extract  # and again
    assert all(getattr(monitor, name) is not None for name in monitor.__all__)
    with pytest.raises(AttributeError):
        monitor.no_such_name  # noqa: B018
