"""The fetch and source keys added for fetching and discovery: every rule made to fire, with its
file, line and key."""

from __future__ import annotations

import pytest

from monitor.config import parse_config
from monitor.errors import ConfigError

BASE = """\
fetch:
  timeout: 5s
sources:
  - name: cgtn
    url: https://www.cgtn.com/opinions
    kind: listing
"""


def fails(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml", env={})
    return info.value


def source_key(text: str) -> str:
    return BASE + "".join(f"    {line}\n" for line in text.splitlines())


def fetch_key(text: str) -> str:
    return BASE.replace("  timeout: 5s\n", "".join(f"  {line}\n" for line in text.splitlines()))


@pytest.mark.parametrize("what, text, line, key, fragment", [
    ("zero timeout", fetch_key("timeout: 0"), 2, "fetch.timeout", "longer than 0"),
    ("zero deadline", fetch_key("deadline: 0s"), 2, "fetch.deadline", "longer than 0"),
    ("tiny max_bytes", fetch_key("max_bytes: 100"), 2, "fetch.max_bytes", "at least 1KiB"),
    ("empty user agent", fetch_key("user_agent: ' '"), 2, "fetch.user_agent", "non-empty line"),
    ("user agent with a line break", fetch_key('user_agent: "a\\nb"'), 2, "fetch.user_agent", "one non-empty line"),
    ("proxy not a URL", fetch_key("proxy: proxy.example:3128"), 2, "fetch.proxy", "socks5h:// URL"),
    ("socks4 proxy", fetch_key("proxy: socks4://127.0.0.1:1080"), 2, "fetch.proxy", "socks5:// or socks5h://"),
    ("header name with a space", fetch_key("headers:\n  'X Bad': 'v'"), 2, "fetch.headers", "not a valid header"),
    ("header value with a line break", fetch_key('headers:\n  X-Ok: "a\\r\\nSet-Cookie: x"'), 2,
     "fetch.headers", "line break"),
    ("cookie name with a semicolon", fetch_key("cookies:\n  'a;b': 'v'"), 2, "fetch.cookies", "not a valid"),
    ("source proxy", source_key("proxy: ftp://proxy.example"), 7, "sources[0].proxy", "http://, https://"),
    ("source header value", source_key('headers:\n  Referer: "x\\ny"'), 7, "sources[0].headers", "line break"),
    ("source cookie name", source_key("cookies:\n  'bad name': 'v'"), 7, "sources[0].cookies", "not a valid"),
    ("links selector", source_key("links: 'div >> a'"), 7, "sources[0].links", "not a valid CSS selector"),
    ("follow regex", source_key("follow: '(unclosed'"), 7, "sources[0].follow", "not a valid regular expression"),
    ("unknown kind", BASE.replace("kind: listing", "kind: rss"), 6, "sources[0].kind", "valid kinds: feed"),
])
def test_rule_fires(what: str, text: str, line: int, key: str, fragment: str) -> None:
    err = fails(text)
    assert (err.line, err.key) == (line, key), (what, str(err))
    assert fragment in str(err), (what, str(err))
    assert str(err).startswith(f"cfg.yaml:{line}: {key}: "), what


def test_defaults_and_good_values() -> None:
    cfg = parse_config(BASE, "cfg.yaml", env={})
    f = cfg.fetch
    assert (f.timeout, f.deadline, f.max_bytes, f.max_redirects, f.per_host_delay) == (5.0, 60.0, 10_000_000, 5, 1.0)
    assert (f.respect_robots, f.allow_private_networks, f.proxy) == (True, False, None)
    good = parse_config(
        fetch_key("proxy: http://proxy.example:3128\nheaders:\n  X-Trace: abc\ncookies:\n  CONSENT: YES+1\n"
                  "max_bytes: 2MiB\ndeadline: 30s")
        + "    links: 'ul.list li > a'\n    proxy: https://other.example:8443/\n"
          "    cookies:\n      euconsent-v2: 'CP...'\n", "cfg.yaml", env={})
    assert good.fetch.proxy == "http://proxy.example:3128" and good.fetch.max_bytes == 2 * 2**20
    assert good.fetch.cookies == {"CONSENT": "YES+1"} and good.fetch.deadline == 30.0
    src = good.sources[0]
    assert (src.links, src.proxy, src.cookies) == ("ul.list li > a", "https://other.example:8443/",
                                                   {"euconsent-v2": "CP..."})
    assert src.kind == "listing" and parse_config(BASE.replace("    kind: listing\n", ""), "c", env={}).sources[0].kind is None
    for socks in ("socks5://127.0.0.1:1080", "socks5h://u:p@tor.internal:9050/"):
        assert parse_config(fetch_key(f"proxy: {socks}"), "cfg.yaml", env={}).fetch.proxy == socks
