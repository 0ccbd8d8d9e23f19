"""Fetching inside real runs: every fault of the issue ends in its recorded outcome (``fetches``)
while the run goes on with the other sources; a listing unchanged by ETag costs one request and
no parsing; two sources on one host never have two requests in flight; ``monitor sources`` and
``monitor discover`` over loopback sites."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

import monitor.pipeline
from monitor.app import Monitor
from monitor.config import load_config, parse_config
from monitor.store import Store

from .conftest import SEED_HTML, make_config, run_cli
from .faults import Fault, FaultServer, InFlight, gzip_bomb

SEED_PATH = "/news/2026-01-03/Seoul-kicks-off-2026-with-Beijing-visit-to-rebuild-ties-1JqXyZ3kBz2/p.html"
ARTICLE = ("<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
           + "<p>{para} The talks covered trade, energy and the visit planned for spring. " * 6
           + "</p></article></body></html>")
CONSENT = ("<html><head><title>Before you continue</title></head><body><div class='cookie-consent'>"
           "<h2>We value your privacy</h2><p>We and our 842 partners use cookies and similar technologies to store "
           "and access information on your device, for personalised ads and content, ad and content measurement."
           "</p><button>Accept all</button><button>Reject all</button></div></body></html>")
SHELL = ("<html><head><title>App</title><script src='/static/js/main.3f2a.js'></script></head>"
         "<body><div id='root'></div><noscript>You need to enable JavaScript to run this app.</noscript></body></html>")
BOMB_FEED = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
             + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
             + ']><rss version="2.0"><channel><title>&i;</title></channel></rss>')


def fetch(config: Path) -> Any:
    async def go() -> Any:
        async with Monitor(load_config(config)) as mon:
            return await mon.fetch()
    return asyncio.run(go())


def rows(config: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with Store.open(load_config(config).database_path) as store:
        return store.query(sql, params or [])


def html(status: int = 200, body: str | bytes = "", ctype: str = "text/html; charset=utf-8", **kw: Any) -> Fault:
    return Fault(status, body.encode() if isinstance(body, str) else body, {"content-type": ctype}, **kw)


@pytest.fixture
def servers() -> Iterator[dict[str, FaultServer]]:
    made: dict[str, FaultServer] = {}

    def server(name: str, host: str) -> FaultServer:
        made[name] = FaultServer(host)
        return made[name]

    server("good", "127.0.0.1")
    server("unnamed", "127.0.0.2")  # not in the config: must see no request
    for i, name in enumerate(("faults", "slow", "feeds", "robots-no", "robots-500", "walls"), start=3):
        server(name, f"127.0.0.{i}")
    try:
        yield made
    finally:
        for s in made.values():
            s.stop()


def test_every_fault_ends_in_its_recorded_outcome_and_the_run_goes_on(tmp_path: Path,
                                                                      servers: dict[str, FaultServer]) -> None:
    good, unnamed, faults, slow = servers["good"], servers["unnamed"], servers["faults"], servers["slow"]
    feeds, walls = servers["feeds"], servers["walls"]
    good.page(SEED_PATH, SEED_HTML.read_bytes())
    good.page("/opinions", f"<ul><li><a href='{SEED_PATH}'>Seoul kicks off 2026</a></li></ul>")
    unnamed.page("/news/2026-01-03/a-story-on-an-internal-host", ARTICLE.format(title="Internal", para="x"))

    routes: dict[str, Fault] = {
        "/timeout": html(delay=3),
        "/reset": Fault(reset=True),
        "/drip": html(body="<p>" + "x" * 400, drip=0.01),
        "/500": html(500, "oops"),
        "/503": Fault(503, b"busy", {"retry-after": "1"}),
        "/429": Fault(429, b"slow down"),
        "/404": html(404, "<h1>not found</h1>"),
        "/410": html(410, "<h1>gone</h1>"),
        "/loop": Fault(302, b"", {"location": "/loop"}),
        "/jump": Fault(302, b"", {"location": unnamed.url + "/news/2026-01-03/a-story-on-an-internal-host"}),
        "/big": html(body="<p>" + "word " * 60_000),
        "/bomb": Fault(200, gzip_bomb(30_000_000), {"content-type": "text/html", "content-encoding": "gzip"}),
        "/binary": Fault(200, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, {"content-type": "image/png"}),
    }
    for path, fault in routes.items():
        (slow if path in ("/timeout", "/drip") else faults).route(path, fault)
    faults.page("/links", f"<ul><li><a href='{unnamed.url}/news/2026-01-03/a-story-on-an-internal-host'>x</a></li></ul>")
    feeds.route("/wrong-charset", html(body=ARTICLE.format(title="Déjà vu in Genève", para="Café crème à Zürich.")
                                       .encode("cp1252")))  # says UTF-8, is windows-1252
    feeds.route("/no-charset", html(body=ARTICLE.format(title="Grüße aus München", para="Schöne Straße.")
                                    .encode("cp1252"), ctype="text/html"))
    feeds.page("/malformed.xml", "<rss version='2.0'><channel><item><title>broken", "application/rss+xml")
    feeds.page("/garbage.xml", "this is not a feed at all", "application/rss+xml")
    feeds.page("/bomb.xml", BOMB_FEED, "application/rss+xml")
    servers["robots-no"].page("/robots.txt", "User-agent: *\nDisallow: /\n", "text/plain")
    servers["robots-no"].page("/news/2026-01-03/allowed-only-by-humans", ARTICLE.format(title="t", para="p"))
    servers["robots-500"].route("/robots.txt", Fault(500, b"oops"))
    servers["robots-500"].page("/news/2026-01-03/server-error-robots", ARTICLE.format(title="t", para="p"))
    walls.page("/consent-article", CONSENT)
    walls.route("/bot-check", Fault(403, b"<html><head><title>Just a moment...</title></head></html>",
                                    {"content-type": "text/html", "cf-mitigated": "challenge"}))
    walls.page("/app", SHELL)

    expected: dict[str, tuple[str, str, str | None]] = {
        # source name: (URL, outcome recorded for it, phrase of the error)
        "timeout": (slow.url + "/timeout", "timeout", None),  # the read timeout or the deadline, by the jitter
        "reset": (faults.url + "/reset", "connection_error", "connection failed (ReadError"),
        "drip": (slow.url + "/drip", "timeout", "fetch.deadline"),
        "e500": (faults.url + "/500", "http_error", "HTTP 500"),
        "e503": (faults.url + "/503", "http_error", "HTTP 503"),
        "e429": (faults.url + "/429", "http_error", "HTTP 429"),
        "e404": (faults.url + "/404", "http_error", "HTTP 404"),
        "e410": (faults.url + "/410", "http_error", "HTTP 410"),
        "loop": (faults.url + "/loop", "too_many_redirects", "redirects"),
        "redirect-to-unnamed": (faults.url + "/jump", "blocked_address", "not a public address"),
        "oversized": (faults.url + "/big", "too_large", "max_bytes"),
        "gzip-bomb": (faults.url + "/bomb", "too_large", "inflates past"),
        "binary": (faults.url + "/binary", "unsupported_type", "image/png"),
        "wrong-charset": (feeds.url + "/wrong-charset", "ok", None),
        "no-charset": (feeds.url + "/no-charset", "ok", None),
        "malformed-feed": (feeds.url + "/malformed.xml", "ok", None),
        "garbage-feed": (feeds.url + "/garbage.xml", "ok", None),
        "entity-bomb": (feeds.url + "/bomb.xml", "ok", None),
        "robots-disallow": (servers["robots-no"].url + "/news/2026-01-03/allowed-only-by-humans", "skipped_robots",
                            "disallowed by robots.txt"),
        "robots-500": (servers["robots-500"].url + "/news/2026-01-03/server-error-robots", "skipped_robots",
                       "HTTP 500"),
        "consent": (walls.url + "/consent-article", "consent_wall", "consent"),
        "bot-check": (walls.url + "/bot-check", "consent_wall", "bot check"),
        "js-shell": (walls.url + "/app", "unsupported_type", "needs a browser"),
    }
    kinds = {"malformed-feed": "feed", "garbage-feed": "feed", "entity-bomb": "feed"}
    sources = [{"name": "good", "url": good.url + "/opinions", "kind": "listing"},
               {"name": "link-to-unnamed", "url": faults.url + "/links", "kind": "listing", "follow": "127\\.0\\.0\\.2"}]
    sources += [{"name": name, "url": url, "kind": kinds.get(name, "page")} for name, (url, _, _) in expected.items()]
    config = make_config(tmp_path, sources, fetch={"timeout": "0.3s", "deadline": "2s", "retries": 1,
                                                   "max_bytes": "200KB"})
    summary = fetch(config)

    # The run went on: the good source stored its article.
    reports = {r.source: r for r in summary.reports}
    assert reports["good"].ok and reports["good"].new == 1
    assert summary.exit_code == 0
    # Each fault ended in its outcome, recorded once for its URL.
    for name, (url, outcome, phrase) in expected.items():
        recorded = rows(config, "SELECT outcome, error FROM fetches WHERE url = ?", [url])
        assert [r["outcome"] for r in recorded] == [outcome], (name, recorded)
        if phrase:
            assert phrase in (recorded[0]["error"] or "") + (reports[name].error or "") + " ".join(reports[name].errors), \
                (name, recorded, reports[name])
    # A link to an unnamed loopback host: blocked, and that host saw nothing at all.
    blocked = rows(config, "SELECT outcome FROM fetches WHERE source = 'link-to-unnamed' AND url LIKE ?",
                   [unnamed.url + "%"])
    assert [r["outcome"] for r in blocked] == ["blocked_address"]
    assert unnamed.hits() == 0
    # Robots: the pages were never asked for.
    assert servers["robots-no"].hits("/news/2026-01-03/allowed-only-by-humans") == 0
    assert servers["robots-500"].hits("/news/2026-01-03/server-error-robots") == 0
    # Retried where worth it, not where not.
    assert faults.hits("/500") == 2 and faults.hits("/429") == 2 and faults.hits("/503") == 2
    first, second = (s.time for s in faults.seen if s.path == "/503")
    assert second - first >= 0.95  # Retry-After: 1
    assert faults.hits("/404") == 1 and faults.hits("/410") == 1
    # Charsets: the text is right whatever the header said.
    titles = {r["title"] for r in rows(config, "SELECT title FROM articles")}
    assert {"Déjà vu in Genève", "Grüße aus München"} <= titles
    # Feeds that cannot be read are the source's clear error.
    states = {r["name"]: r for r in rows(config, "SELECT * FROM sources")}
    assert "not a readable feed" in (reports["garbage-feed"].error or "")
    assert "not a readable feed" in (reports["malformed-feed"].error or "")
    assert "declares entities" in (reports["entity-bomb"].error or "")
    for name in ("garbage-feed", "malformed-feed", "entity-bomb"):
        assert states[name]["state"] == "failing" and states[name]["last_error"] == reports[name].error
    # Source states.
    assert states["good"]["state"] == "healthy"
    assert states["robots-disallow"]["state"] == states["robots-500"]["state"] == "blocked_robots"
    assert states["consent"]["state"] == states["bot-check"]["state"] == "consent_wall"
    assert states["e404"]["state"] == "failing" and states["e404"]["consecutive_failures"] == 1

    # `monitor sources` shows it.
    result = run_cli("sources", "--config", str(config))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for phrase in ("healthy", "blocked by robots", "consent wall", "failing", "skipped_robots", "HTTP 404"):
        assert phrase in text, phrase
    data = json.loads(run_cli("sources", "--config", str(config), "--json").stdout)
    by_name = {d["name"]: d for d in data}
    assert by_name["robots-500"]["outcomes"] == {"skipped_robots": 1}
    assert by_name["good"]["outcomes"] == {"ok": 2} and by_name["good"]["failing_since"] is None
    assert by_name["e404"]["failing_since"] and "HTTP 404" in by_name["e404"]["last_error"]


def test_an_unchanged_listing_costs_one_request_and_no_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FaultServer("127.0.0.1") as site:
        listing = f"<ul><li><a href='{SEED_PATH}'>Seoul kicks off 2026</a></li></ul>"

        def with_etag(seen: Any) -> Fault:
            if seen.headers.get("if-none-match") == '"listing-v1"':
                return Fault(304, b"", {"etag": '"listing-v1"'})
            return Fault(200, listing.encode(), {"content-type": "text/html", "etag": '"listing-v1"'})
        site.route("/opinions", with_etag)
        site.page(SEED_PATH, SEED_HTML.read_bytes())
        config = make_config(tmp_path, [{"name": "cgtn", "url": site.url + "/opinions", "kind": "listing"}],
                             fetch={"respect_robots": False})
        calls: list[str] = []
        real = monitor.pipeline.discover

        def counting(page: Any, *args: Any, **kw: Any) -> Any:
            calls.append(page.url)
            return real(page, *args, **kw)
        monkeypatch.setattr(monitor.pipeline, "discover", counting)

        first = fetch(config)
        assert first.reports[0].new == 1 and calls == [site.url + "/opinions"]
        before = len(site.seen)
        second = fetch(config)
        after = site.seen[before:]
    assert [(s.path, s.headers.get("if-none-match")) for s in after] == [("/opinions", '"listing-v1"')]
    assert calls == [site.url + "/opinions"]  # not parsed again
    assert second.reports[0].ok and (second.reports[0].links, second.reports[0].new) == (0, 0)
    assert [r["outcome"] for r in rows(config, "SELECT outcome FROM fetches WHERE url LIKE '%/opinions'")] == \
        ["ok", "not_modified"]


def test_a_failed_link_makes_the_next_run_read_the_listing_again(tmp_path: Path) -> None:
    """An ETag must not hide a link that failed: after a run with failures the listing is read in full."""
    with FaultServer("127.0.0.1") as site:
        path = "/news/2026-01-03/a-story-that-fails-at-first"
        listing = f"<ul><li><a href='{path}'>A story</a></li></ul>"
        site.route("/l", lambda seen: Fault(304, b"") if seen.headers.get("if-none-match") == '"v"' else
                   Fault(200, listing.encode(), {"content-type": "text/html", "etag": '"v"'}))
        site.route(path, Fault(503, b"busy"))
        config = make_config(tmp_path, [{"name": "s", "url": site.url + "/l", "kind": "listing"}],
                             fetch={"respect_robots": False})
        assert fetch(config).reports[0].failed == 1
        site.page(path, ARTICLE.format(title="Now it works", para="Fine."))
        again = fetch(config)
    assert again.reports[0].new == 1
    assert [s.headers.get("if-none-match") for s in site.seen if s.path == "/l"] == [None, None]


def test_two_sources_on_one_host_never_have_two_requests_in_flight(tmp_path: Path) -> None:
    gauge = InFlight()
    with FaultServer("127.0.0.1", in_flight=gauge) as site, FaultServer("127.0.0.3", in_flight=gauge) as other:
        sources = []
        for server, names in ((site, ("a", "b")), (other, ("c",))):
            for name in names:
                items = ""
                for i in range(4):
                    path = f"/{name}/news/2026-01-0{i + 1}/story-number-{i}-of-{name}"
                    server.route(path, html(body=ARTICLE.format(title=f"{name} {i}", para=f"Story {i} of {name}."),
                                            hold=0.03))
                    items += f"<li><a href='{path}'>{name} {i}</a></li>"
                server.route(f"/{name}/list", html(body=f"<ul>{items}</ul>", hold=0.03))
                sources.append({"name": name, "url": server.url + f"/{name}/list", "kind": "listing"})
        config = make_config(tmp_path, sources, fetch={"concurrency": 8, "respect_robots": False})
        summary = fetch(config)
    assert [r.new for r in summary.reports] == [4, 4, 4]
    assert site.in_flight is gauge and site.hits() == 10
    peaks = (max_in_flight(site), max_in_flight(other))
    assert peaks == (1, 1)  # each host: one request at a time, measured from the server's side
    assert gauge.peak == 2  # the two hosts did overlap: the measurement can see concurrency


def max_in_flight(server: FaultServer) -> int:
    """The most requests this server had at once, from its own request log (start times and the
    hold each route has): a second, independent reading next to the shared gauge."""
    spans = sorted((s.time, s.time + 0.03) for s in server.seen)
    peak = 0
    for i, (start, _) in enumerate(spans):
        peak = max(peak, sum(1 for a, b in spans[: i + 1] if a <= start < b - 0.005))
    return peak


# ---------------------------------------------------------------------------- monitor discover

def quick_config(tmp_path: Path) -> str:
    """A config without sources whose fetch settings `monitor discover` uses: no per-host delay."""
    path = tmp_path / "discover.yaml"
    path.write_text("fetch:\n  per_host_delay: 0\n  retries: 0\n", "utf-8")
    return str(path)


def test_monitor_discover_lists_advertised_feeds_and_sitemaps(tmp_path: Path) -> None:
    with FaultServer("127.0.0.1") as site:
        site.page("/", f"""<html><head><title>Example News</title>
            <link rel="alternate" type="application/rss+xml" title="Top stories" href="/rss.xml">
            <link rel="alternate" type="application/feed+json" href="{site.url}/feed.json">
            <link rel="alternate" type="application/atom+xml" href="/missing.atom">
            </head><body><p>Home</p></body></html>""")
        site.page("/rss.xml", "<rss version='2.0'><channel><title>t</title><item><title>One</title>"
                              f"<link>/news/2026-01-03/one</link><pubDate>{format_datetime(datetime.now(UTC))}</pubDate>"
                              "</item></channel></rss>", "application/rss+xml")
        site.page("/feed.json", json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": []}),
                  "application/feed+json")
        site.page("/robots.txt", f"User-agent: *\nDisallow: /private/\nSitemap: {site.url}/sitemap-news.xml\n"
                                 f"Sitemap: {site.url}/sitemap-index.xml\n", "text/plain")
        site.page("/sitemap-news.xml", "<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                                       f"<url><loc>{site.url}/news/a</loc></url></urlset>", "application/xml")
        site.page("/sitemap-index.xml", "<sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                                        f"<sitemap><loc>{site.url}/s1.xml</loc></sitemap></sitemapindex>", "text/xml")
        config = quick_config(tmp_path)
        result = run_cli("discover", site.url + "/", "--config", config)
        no_check = run_cli("discover", site.url + "/", "--no-check", "--config", config)
        hits_without_check = site.hits("/rss.xml")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    text = result.stdout
    parsed = yaml.safe_load(text)
    urls = [(s["url"], s["kind"]) for s in parsed["sources"]]
    assert urls == [(site.url + "/rss.xml", "feed"), (site.url + "/feed.json", "feed"),
                    (site.url + "/sitemap-news.xml", "sitemap"), (site.url + "/sitemap-index.xml", "sitemap")]
    assert "/missing.atom" in text and "not usable" in text  # listed, commented out, with the reason
    assert '"Top stories"' in text and "1 entry, newest" in text and "1 entry of the last 7d" in text and "an index of 1 recent sitemaps" in text
    cfg = parse_config(yaml.safe_dump({"sources": parsed["sources"]}), "pasted.yaml", env={})
    assert len({s.name for s in cfg.sources}) == 4  # names are valid and unique
    assert no_check.returncode == 0 and "recent entries" not in no_check.stdout
    assert hits_without_check == 1  # --no-check fetched the home page and robots.txt only


def test_monitor_discover_without_adverts_suggests_the_listing(tmp_path: Path) -> None:
    with FaultServer("127.0.0.1") as site:
        site.page("/section", "<html><body><a href='/news/2026-01-03/a-b-c'>x</a></body></html>")
        result = run_cli("discover", site.url + "/section", "--config", quick_config(tmp_path))
        down = run_cli("discover", "http://127.0.0.1:9/", env={"MONITOR_CONFIG": str(tmp_path / "absent.yaml")})
    assert result.returncode == 0
    assert yaml.safe_load(result.stdout)["sources"] == [{"name": "127.0.0.1-section", "url": site.url + "/section",
                                                         "kind": "listing"}]
    assert "advertises no usable feed" in result.stderr
    assert down.returncode == 1 and "connection failed" in down.stderr and "Traceback" not in down.stderr


def test_monitor_sources_before_any_run(tmp_path: Path) -> None:
    config = make_config(tmp_path, [{"name": "cgtn", "url": "https://www.cgtn.com/opinions", "kind": "listing"}])
    missing = run_cli("sources", "--config", str(config))
    assert missing.returncode == 1 and "no database at" in missing.stderr and "Traceback" not in missing.stderr
    Store.open(load_config(config).database_path).close()
    fresh = run_cli("sources", "--config", str(config), "--since", "1h")
    assert fresh.returncode == 0 and "never run" in fresh.stdout and "last 1h" in fresh.stdout
    bad = run_cli("sources", "--config", str(config), "--since", "soon")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_monitor_sources_shows_each_schedule_and_its_backoff(tmp_path: Path) -> None:
    config = make_config(tmp_path, [
        {"name": "steady", "url": "https://a.example/news", "kind": "listing", "every": "15m"},
        {"name": "flaky", "url": "https://b.example/news", "kind": "listing", "every": "15m"},
        {"name": "mornings", "url": "https://c.example/news", "kind": "listing", "cron": "0 7 * * *",
         "timezone": "Asia/Seoul"},
    ])
    soon = datetime.now(UTC) + timedelta(hours=2)
    with Store.open(load_config(config).database_path) as store:
        store.record_source_run("steady", "https://a.example/news", ok=True)
        store.record_source_run("flaky", "https://b.example/news", ok=False, error="HTTP 503")
        store.record_schedule("flaky", interval=3600, backoff_until=soon, next_due=soon)
        store.record_schedule("steady", interval=900, backoff_until=None, next_due=soon)
    result = run_cli("sources", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line.strip().startswith("│")
             and len(line.split()) > 1}
    assert "15m" in lines["steady"] and "backed off" not in lines["steady"] and "(in 2h)" in lines["steady"]
    assert "1h (backed off from 15m)" in lines["flaky"]
    assert "cron 0 7 * * * (Asia/Seoul)" in lines["mornings"]
