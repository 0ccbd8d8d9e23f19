"""Webhook delivery against a real receiver on loopback: failures and retries keep one webhook-id,
a receiver that is down (refusing connections) and comes back gets each alert once, Retry-After,
410 Gone, timeouts, the dead end of the schedule, Slack blocks, secret rotation."""

from __future__ import annotations

import json
import logging
import socket
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from monitor.alerts import requeue
from monitor.demo.httpd import LocalServer, Request, Response
from monitor.demo.receivers import WebhookReceiver
from monitor.store import Store

from .conftest import SECRET
from .test_alerts import add_article, alert_config, alerts, deliver, deliver_once, hook, open_store

N_DOWN = 3


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from open_store(tmp_path)


def test_receiver_down_for_n_attempts_gets_each_alert_once(tmp_path: Path, store: Store) -> None:
    receiver = WebhookReceiver(SECRET)
    seen: Counter[str] = Counter()
    raw_verified: list[bool] = []

    def handle(request: Request) -> Response:
        wid = request.headers.get("webhook-id", "")
        seen[wid] += 1
        Webhook(SECRET).verify(request.body, request.headers)  # raises if not signed right
        raw_verified.append(True)
        if seen[wid] <= N_DOWN:
            receiver.answers.insert(0, 503)  # down for this alert's first N attempts
        return receiver.handle(request)

    with LocalServer(handle) as server:
        cfg = alert_config(tmp_path, [hook(server.url + "/hooks")])
        for n in range(3):
            add_article(store, n)
        report = deliver(cfg, store)
    assert (report.sent, report.failed, report.dead) == (3, 3 * N_DOWN, 0)
    rows = alerts(store)
    assert len(rows) == 3 and len(raw_verified) == 3 * (N_DOWN + 1)
    for row in rows:
        mine = [d for d in receiver.deliveries if d.webhook_id == row["message_id"]]
        assert [d.status for d in mine] == [503] * N_DOWN + [200]
        assert all(d.verified for d in mine)
        assert (row["status"], row["attempts"]) == ("sent", N_DOWN + 1)
        codes = [a["status_code"] for a in store.query("SELECT status_code FROM attempts WHERE alert_id = ? "
                                                      "ORDER BY id", [row["id"]])]
        assert codes == [503] * N_DOWN + [200]
    successes = Counter(d.webhook_id for d in receiver.successful)
    assert sorted(successes.values()) == [1, 1, 1]
    assert {d.payload["article"]["url"] for d in receiver.successful} == {f"https://news.example.org/a/{n}"
                                                                          for n in range(3)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_receiver_refusing_connections_then_up_on_the_same_port(tmp_path: Path, store: Store) -> None:
    port = free_port()
    cfg = alert_config(tmp_path, [hook(f"http://127.0.0.1:{port}/hooks")])
    add_article(store, 1)
    add_article(store, 2)
    for _ in range(2):  # nobody listens: two passes, two refused attempts per alert
        report = deliver_once(cfg, store)
        assert report.failed == 2
        with store.write() as db:  # skip the wait the schedule asks for
            db.execute("UPDATE alerts SET next_attempt = ?", [store.now()])
    rows = alerts(store)
    assert all(r["status"] == "pending" and r["attempts"] == 2 for r in rows)
    assert all("connection failed" in r["last_error"] for r in rows)
    receiver = WebhookReceiver(SECRET)
    with LocalServer(receiver.handle, port=port):
        report = deliver(cfg, store)
    assert report.sent == 2
    assert len(receiver.deliveries) == 2 and all(d.verified and d.status == 200 for d in receiver.deliveries)
    assert sorted(d.webhook_id for d in receiver.deliveries) == sorted(r["message_id"] for r in rows)
    for row in alerts(store):
        assert (row["status"], row["attempts"]) == ("sent", 3)
        attempts = store.query("SELECT status_code, error FROM attempts WHERE alert_id = ? ORDER BY id", [row["id"]])
        assert [a["status_code"] for a in attempts] == [None, None, 200]
        assert all("connection failed" in a["error"] for a in attempts[:2])


def test_retry_after_is_honoured(tmp_path: Path, store: Store) -> None:
    receiver = WebhookReceiver(SECRET)

    def handle(request: Request) -> Response:
        if not receiver.deliveries:
            receiver.handle(request)
            return Response(429, b"slow down", {"retry-after": "30"})
        return receiver.handle(request)

    with LocalServer(handle) as server:
        cfg = alert_config(tmp_path, [hook(server.url)])
        add_article(store, 1)
        assert deliver(cfg, store, grace=1.0).failed == 1  # 30 s is past the grace: it stays queued
    [row] = alerts(store)
    [attempt] = store.query("SELECT * FROM attempts")
    wait = (datetime.fromisoformat(row["next_attempt"]) - datetime.fromisoformat(attempt["time"])).total_seconds()
    assert 29.9 <= wait <= 30.1  # the schedule said 0.05 s; the receiver asked for 30
    assert (row["status"], attempt["status_code"], attempt["response"]) == ("pending", 429, "slow down")
    assert "HTTP 429" in row["last_error"]


def test_410_disables_the_channel_loudly_until_its_config_changes(tmp_path: Path, store: Store,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    receiver = WebhookReceiver(SECRET, answers=[410])
    with LocalServer(receiver.handle) as server:
        cfg = alert_config(tmp_path, [hook(server.url)])
        add_article(store, 1)
        with caplog.at_level(logging.ERROR):
            assert deliver(cfg, store).dead == 1
        assert "CHANNEL DISABLED" in caplog.text and "410" in caplog.text
        [row] = alerts(store)
        assert row["status"] == "dead" and "410" in row["last_error"]
        [ch] = store.query("SELECT * FROM channels")
        assert ch["name"] == "hook" and ch["disabled"] and "410" in ch["reason"]

        add_article(store, 2)  # while disabled, nothing is sent to it
        assert deliver(cfg, store).dead == 1
        assert len(receiver.deliveries) == 1
        assert "channel disabled" in alerts(store)[1]["last_error"]

        # The receiver was fixed at a new address (any change to the channel's config): tried again.
        moved = alert_config(tmp_path, [hook(server.url + "/v2")])
        add_article(store, 3)
        assert deliver(moved, store).sent == 1
        # And `monitor alerts retry --dead` sends what died meanwhile.
        assert requeue(store, dead=True) == 2
        assert deliver(moved, store).sent == 2
    assert [a["status"] for a in alerts(store)] == ["sent"] * 3
    assert len(receiver.successful) == 3


def test_dead_after_the_schedule(tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    receiver = WebhookReceiver(SECRET, answers=[500] * 10)
    with LocalServer(receiver.handle) as server:
        cfg = alert_config(tmp_path, [hook(server.url)], retry=["0s", "0.05s", "0.05s"])
        add_article(store, 1)
        with caplog.at_level(logging.ERROR):
            report = deliver(cfg, store)
    assert (report.failed, report.dead) == (2, 1)
    assert [d.status for d in receiver.deliveries] == [500, 500, 500]
    assert len({d.webhook_id for d in receiver.deliveries}) == 1
    [row] = alerts(store)
    assert (row["status"], row["attempts"]) == ("dead", 3)
    assert "is dead after 3 attempts" in caplog.text
    # the attempts keep the code and a body excerpt
    assert [a["response"] for a in store.query("SELECT response FROM attempts")] == ['{"error": "try again"}'] * 3


def test_a_receiver_that_does_not_answer_is_cut_off_at_the_timeout(tmp_path: Path, store: Store) -> None:
    receiver = WebhookReceiver(SECRET)

    def slow(request: Request) -> Response:
        response = receiver.handle(request)
        response.delay = 2.0
        return response

    with LocalServer(slow) as server:
        cfg = alert_config(tmp_path, [hook(server.url, timeout="0.3s")], retry=["0s"])
        add_article(store, 1)
        deliver(cfg, store)
    [attempt] = store.query("SELECT * FROM attempts")
    assert "no answer within 0.3s" in attempt["error"]
    assert attempt["elapsed"] < 1.5


def test_slack_format(tmp_path: Path, store: Store) -> None:
    receiver = WebhookReceiver(SECRET).start()
    try:
        cfg = alert_config(tmp_path, [hook(receiver.url, format="slack")])
        add_article(store, 1, title="Seoul <b>& Tokyo</b> sign an MOU")
        deliver(cfg, store)
    finally:
        receiver.stop()
    [d] = receiver.deliveries
    assert d.verified
    assert d.payload["text"] == "[monitor] mou: Seoul <b>& Tokyo</b> sign an MOU"  # plain notification text
    first = d.payload["blocks"][0]["text"]["text"]
    assert first == "*<https://news.example.org/a/1|Seoul &lt;b&gt;&amp; Tokyo&lt;/b&gt; sign an MOU>*"
    assert any("*MOU*" in b.get("text", {}).get("text", "") for b in d.payload["blocks"])


def test_several_secrets_sign_at_once_for_rotation(tmp_path: Path, store: Store) -> None:
    new = "whsec_" + "bmV3LXNlY3JldC1mb3Itcm90YXRpb24xMjM0NTY="
    old_side, new_side = WebhookReceiver(SECRET), WebhookReceiver(new)

    def both(request: Request) -> Response:
        old_side.handle(request)
        return new_side.handle(request)

    with LocalServer(both) as server:
        cfg = alert_config(tmp_path, [{**hook(server.url), "secret": [SECRET, new]}])
        add_article(store, 1)
        assert deliver(cfg, store).sent == 1
    assert old_side.deliveries[0].verified and new_side.deliveries[0].verified
    signatures = old_side.deliveries[0].headers["webhook-signature"].split()
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert json.loads(json.dumps(new_side.deliveries[0].payload))["type"] == "article.matched"
