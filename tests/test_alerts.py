"""The outbox and its parts against real loopback receivers: operator notices, templates, apprise,
leases held by live and dead processes. Also the helpers the other test_alerts*/test_email*/
test_webhook*/test_digest* files share."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from standardwebhooks import Webhook

from monitor.alerts import Deliverer, DeliveryReport, queue_ops_alert
from monitor.alerts.content import load_content
from monitor.alerts.lease import LeaseOwner
from monitor.alerts.render import AlertContent, Renderer, slack_blocks, webhook_payload
from monitor.config import Config, load_config
from monitor.demo.httpd import LocalServer, Request, Response
from monitor.demo.receivers import SmtpReceiver, WebhookReceiver
from monitor.errors import ConfigError
from monitor.models import Article, Match, StoreResult
from monitor.store import Store

from .conftest import SECRET

TOPICS = [{"name": "mou", "query": "MOU"}, {"name": "visit", "query": "visit"}]
FAST_RETRY = ["0s", "0.05s", "0.05s", "0.05s", "0.05s", "0.05s"]


# ---------------------------------------------------------------------------- shared helpers
class FakeClock:
    """An injected clock: tests move it by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when


def hook(url: str, name: str = "hook", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "url": url, "secret": SECRET, **extra}


def mail(server: SmtpReceiver | Any, name: str = "mail", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "email", "host": server.host, "port": server.port, "security": "none",
            "from": "monitor@localhost", "to": ["desk@localhost"], **extra}


def alert_config(tmp_path: Path, channels: list[dict[str, Any]], *, topics: list[dict[str, Any]] | None = None,
                 **alerts: Any) -> Config:
    data = {"database": str(tmp_path / "monitor.db"), "topics": topics or TOPICS, "channels": channels,
            "alerts": {"retry": FAST_RETRY, "jitter": 0, "fetch_grace": "5s", **alerts}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    return load_config(path)


def add_article(store: Store, n: int | str, *, topics: Sequence[str] = ("mou",), channels: Sequence[str] = ("hook",),
                title: str | None = None, source: str = "wire", snippet: str | None = None,
                body: str | None = None, url: str | None = None) -> StoreResult:
    """Store one article (distinct body, so it is its own story unless ``body`` says otherwise)."""
    words = " ".join(uuid.uuid4().hex[i:i + 6] for i in range(0, 30, 6))
    article = Article(url=url or f"https://news.example.org/a/{n}", title=title or f"Story {n}: an MOU is signed",
                      byline="Gabriela Bernal", published=datetime(2026, 1, 3, 14, 2, tzinfo=timezone(timedelta(hours=8))),
                      paragraphs=[body or f"Body of story {n}: the ministers signed an MOU. {words} " * 3])
    matches = [Match(t, (snippet or f"the ministers signed an **MOU** in story {n}",), 1) for t in topics]
    return store.save_article(source=source, article=article, fetched_url=article.url, matches=matches,
                              routes={t: list(channels) for t in topics})


def deliver(cfg: Config, store: Store, *, grace: float = 5.0, **kwargs: Any) -> DeliveryReport:
    async def go() -> DeliveryReport:
        d = Deliverer(cfg, store, **kwargs)
        try:
            return await d.deliver_within(grace)
        finally:
            await d.aclose()

    return asyncio.run(go())


def deliver_once(cfg: Config, store: Store, **kwargs: Any) -> DeliveryReport:
    async def go() -> DeliveryReport:
        d = Deliverer(cfg, store, **kwargs)
        try:
            return await d.deliver_due()
        finally:
            await d.aclose()

    return asyncio.run(go())


def alerts(store: Store) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM alerts ORDER BY id")


def open_store(tmp_path: Path, **kwargs: Any) -> Iterator[Store]:
    s = Store.open(tmp_path / "monitor.db", **kwargs)
    yield s
    s.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from open_store(tmp_path)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(SECRET).start()
    yield r
    r.stop()


# ---------------------------------------------------------------------------- operator notices
def test_ops_notice_goes_out_on_every_channel_type(tmp_path: Path, store: Store, receiver: WebhookReceiver,
                                                   smtp: SmtpReceiver) -> None:
    slack = WebhookReceiver(SECRET).start()
    try:
        cfg = alert_config(tmp_path, [hook(receiver.url), hook(slack.url, name="slack", format="slack"), mail(smtp)])
        with store.write() as db:
            for ch in ("hook", "slack", "mail"):
                queue_ops_alert(db, ch, "Source cgtn is failing", "3 runs failed since 08:00:\nHTTP 503 <b>",
                                store.now(), kind="source.broken", details={"source": "cgtn", "failures": 3})
        report = deliver(cfg, store)
    finally:
        slack.stop()
    assert report.sent == 3
    [d] = receiver.deliveries
    assert d.verified
    assert d.payload["type"] == "source.broken"
    assert d.payload["subject"] == "Source cgtn is failing"
    assert d.payload["details"] == {"source": "cgtn", "failures": 3}
    [s] = slack.deliveries
    assert s.payload["text"] == "[monitor] Source cgtn is failing"
    assert "HTTP 503 &lt;b&gt;" in s.payload["blocks"][0]["text"]["text"]
    [m] = smtp.messages
    assert m["Subject"] == "[monitor] Source cgtn is failing"
    html = m.get_body(("html",)).get_content()
    assert "HTTP 503 &lt;b&gt;" in html and "<b>" not in html
    assert "3 runs failed since 08:00" in m.get_body(("plain",)).get_content()
    assert all(a["status"] == "sent" for a in alerts(store))


def test_ops_kind_cannot_pose_as_an_article(store: Store) -> None:
    with store.write() as db, pytest.raises(ValueError, match="reserved"):
        queue_ops_alert(db, "hook", "x", "y", store.now(), kind="article")


# ---------------------------------------------------------------------------- content and templates
def test_article_content_names_the_other_outlets(tmp_path: Path, store: Store) -> None:
    body = "The two ministers signed an MOU on trade and culture. " * 12
    first = add_article(store, 1, body=body, source="cgtn")
    copy = add_article(store, 2, body=body, source="globaltimes", topics=("mou", "visit"),
                       url="https://www.globaltimes.example/copy/2")
    assert copy.story_id == first.story_id
    rows = alerts(store)
    assert [json.loads(r["topics"]) for r in rows] == [["mou"], ["visit"]]  # the copy alerts its new topic only
    content = load_content(store, rows[0])
    assert [o["source"] for o in content.outlets] == ["globaltimes"]
    assert content.article["also_seen_at"] == ["https://www.globaltimes.example/copy/2"]
    subject, text, html = Renderer().render(content)
    assert subject == "[monitor] mou: Story 1: an MOU is signed"
    assert "The same story elsewhere" in text and "https://www.globaltimes.example/copy/2" in text
    assert 'href="https://www.globaltimes.example/copy/2"' in html
    assert "<mark>MOU</mark>" in html and "**" not in html
    assert "3 Jan 2026, 14:02 (UTC+08:00)" in html
    payload = webhook_payload(content)
    assert set(payload) == {"type", "timestamp", "article", "matches", "topics"}


def test_templates_folder_overrides_file_by_file(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "subject.txt").write_text("NEWS {{ article.title | upper }} ({{ topics | length }})")
    add_article(store, 1)
    content = load_content(store, alerts(store)[0])
    subject, text, html = Renderer(folder).render(content)
    assert subject == "NEWS STORY 1: AN MOU IS SIGNED (1)"
    assert "Read the article" in html  # the bundled email.html still serves
    (folder / "email.html").write_text("<p>{{ article.title }}</p>\n{% for m in matches %}{{ m.topic")
    with pytest.raises(ConfigError) as info:
        Renderer(folder)
    assert "email.html" in str(info.value) and "template error" in str(info.value)
    assert info.value.line == 2


def test_templates_from_config_reach_the_email(tmp_path: Path, store: Store, smtp: SmtpReceiver) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "email.txt").write_text("Custom: {{ article.title }} -> {{ article.url }}")
    cfg = alert_config(tmp_path, [mail(smtp)], templates="tpl")
    add_article(store, 1, channels=("mail",))
    assert deliver(cfg, store).sent == 1
    [m] = smtp.messages
    assert m.get_body(("plain",)).get_content().strip() == \
        "Custom: Story 1: an MOU is signed -> https://news.example.org/a/1"


def test_a_reload_reads_a_relative_templates_folder_beside_the_config(tmp_path: Path, smtp: SmtpReceiver) -> None:
    """SIGHUP path (Monitor.reconfigure): ``alerts.templates: tpl`` is the folder beside config.yaml,
    not one in the daemon's working directory."""
    from monitor.app import Monitor

    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "email.txt").write_text("Reloaded: {{ article.title }}")
    before = alert_config(tmp_path, [mail(smtp)])
    after = alert_config(tmp_path, [mail(smtp)], templates="tpl")
    assert not (Path.cwd() / "tpl").exists()

    async def go() -> DeliveryReport:
        async with Monitor(before) as mon:
            mon.reconfigure(after)
            add_article(mon.store, 1, channels=("mail",))
            return await mon.deliverer.deliver_due()

    assert asyncio.run(go()).sent == 1
    [m] = smtp.messages
    assert m.get_body(("plain",)).get_content().strip() == "Reloaded: Story 1: an MOU is signed"


def test_slack_blocks_escape_page_text() -> None:
    content = AlertContent(message_id="msg_1", kind="article", created="2026-01-03T00:00:00+00:00", channel="s",
                           topics=["mou"], article={"url": "https://x.example/a?b=1|2", "title": "<!channel> & co",
                                                    "source": "wire", "byline": ""},
                           matches=[{"topic": "mou", "snippets": ["a **MOU** <@U123>"]}],
                           outlets=[{"source": "gt", "site_name": "Global <Times>", "url": "https://gt.example/1",
                                     "title": "t"}])
    payload = slack_blocks(content)
    blob = json.dumps(payload["blocks"])
    assert "<!channel>" not in blob and "<@U123>" not in blob
    assert "&lt;!channel&gt; &amp; co" in blob
    assert "<https://x.example/a?b=1%7C2|" in blob
    assert "a *MOU* &lt;@U123&gt;" in blob
    assert "Global &lt;Times&gt;" in blob


# ---------------------------------------------------------------------------- apprise
def test_apprise_channel_with_the_same_retries(tmp_path: Path, store: Store) -> None:
    got: list[Request] = []
    answers = [500, 200]

    def handle(request: Request) -> Response:
        got.append(request)
        return Response(answers.pop(0) if answers else 200, b"{}", {"content-type": "application/json"})

    with LocalServer(handle) as server:
        cfg = alert_config(tmp_path, [{"name": "push", "type": "apprise",
                                       "urls": [f"json://127.0.0.1:{server.port}/notify"]}])
        add_article(store, 1, channels=("push",), title="Seoul & Tokyo sign an MOU <today>")
        report = deliver(cfg, store)
    assert (report.sent, report.failed) == (1, 1)
    assert len(got) == 2
    body = json.loads(got[-1].body)
    assert body["title"] == "[monitor] mou: Seoul & Tokyo sign an MOU <today>"
    assert "https://news.example.org/a/1" in body["message"]
    [a] = alerts(store)
    assert (a["status"], a["attempts"]) == ("sent", 2)
    assert "apprise reported a failed notification" in a["last_error"]


# ---------------------------------------------------------------------------- leases
HOLD = """
import sys, time
from monitor.alerts.lease import LeaseOwner
owner = LeaseOwner(sys.argv[1])
print(owner.token, flush=True)
time.sleep(60)
"""


def test_a_lease_held_by_a_live_process_is_respected_and_a_dead_ones_is_not(tmp_path: Path, store: Store,
                                                                               receiver: WebhookReceiver) -> None:
    cfg = alert_config(tmp_path, [hook(receiver.url)])
    add_article(store, 1)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, store.path], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        token = proc.stdout.readline().strip()
        assert token.startswith("f-")
        with store.write() as db:  # the other process claimed the alert and is "sending" it
            db.execute("UPDATE alerts SET lease_until = ?, lease_owner = ?",
                       [(datetime.now(UTC) + timedelta(minutes=5)).isoformat(), token])
        mine = LeaseOwner(store.path)
        assert mine.alive(token)
        assert deliver_once(cfg, store, owner=mine).sent == 0
        assert receiver.deliveries == []
        proc.kill()
        proc.wait(10)
        assert not mine.alive(token)
        assert not Path(store.path + "-leases", token + ".lock").exists()  # cleared away
        assert deliver_once(cfg, store, owner=mine).sent == 1
        mine.close()
    finally:
        proc.kill()
        proc.wait(10)
    assert len(receiver.successful) == 1
    assert alerts(store)[0]["lease_owner"] is None


def test_an_expired_lease_is_free_whoever_holds_it(tmp_path: Path, store: Store, receiver: WebhookReceiver) -> None:
    cfg = alert_config(tmp_path, [hook(receiver.url)])
    add_article(store, 1)
    with store.write() as db:  # an owner that cannot be checked (no lock file): only expiry frees it
        db.execute("UPDATE alerts SET lease_until = ?, lease_owner = 'x-elsewhere'",
                   [(datetime.now(UTC) - timedelta(seconds=1)).isoformat()])
    assert deliver_once(cfg, store).sent == 1


def test_an_unconfigured_channel_is_dead_not_stuck(tmp_path: Path, store: Store, receiver: WebhookReceiver,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    cfg = alert_config(tmp_path, [hook(receiver.url)])
    add_article(store, 1, channels=("gone",))
    report = deliver(cfg, store)
    assert report.dead == 1
    [a] = alerts(store)
    assert a["status"] == "dead" and "no longer configured" in a["last_error"]


def test_a_broken_template_fails_the_alert_not_the_run(tmp_path: Path, store: Store, smtp: SmtpReceiver,
                                                       receiver: WebhookReceiver,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "email.txt").write_text("{{ article.title / 0 }}")  # compiles, fails when rendered
    cfg = alert_config(tmp_path, [mail(smtp), hook(receiver.url)], templates="tpl", retry=["0s"])
    add_article(store, 1, channels=("mail", "hook"))
    with caplog.at_level(logging.ERROR):
        report = deliver(cfg, store)
    assert (report.sent, report.dead) == (1, 1)
    by_channel = {a["channel"]: a for a in alerts(store)}
    assert by_channel["hook"]["status"] == "sent"
    assert by_channel["mail"]["status"] == "dead" and "template error" in by_channel["mail"]["last_error"]
    assert smtp.messages == []


def test_webhook_payload_verifies_with_standardwebhooks(tmp_path: Path, store: Store,
                                                        receiver: WebhookReceiver) -> None:
    cfg = alert_config(tmp_path, [hook(receiver.url)])
    add_article(store, 1, topics=("mou", "visit"))
    deliver(cfg, store)
    [d] = receiver.deliveries
    raw = next(r for r in receiver._server.requests if r.method == "POST")  # type: ignore[union-attr]
    payload = Webhook(SECRET).verify(raw.body, raw.headers)
    assert payload["type"] == "article.matched" and payload["topics"] == ["mou", "visit"]
    assert d.webhook_id == alerts(store)[0]["message_id"]
