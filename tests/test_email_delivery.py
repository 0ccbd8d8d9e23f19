"""Email against a real aiosmtpd server on loopback: STARTTLS and implicit TLS with a certificate
made at test time (verify: true refuses it unless its CA is given; verify: false accepts it), AUTH,
no fallback to plain text, and a page title that tries to inject a header."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.store import Store

from .test_alerts import add_article, alert_config, alerts, deliver, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from open_store(tmp_path)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (its own CA), and its key."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "monitor test SMTP")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Collect:
    """Keeps each message with its envelope (what the server was asked to deliver, to whom)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


USERS = {"monitor": "s3cret"}


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and USERS.get(data.login.decode()) == data.password.decode()
    return AuthResult(success=ok, handled=False)


class Server:
    def __init__(self, cert: tuple[Path, Path] | None, *, implicit: bool = False, auth: bool = False,
                 host: str = "127.0.0.1") -> None:
        with socket.socket() as s:
            s.bind((host, 0))
            self.port = int(s.getsockname()[1])
        self.host = host
        self.handler = Collect()
        kwargs: dict[str, Any] = {}
        if cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*cert)
            kwargs["ssl_context" if implicit else "tls_context"] = context
            if not implicit:
                kwargs["require_starttls"] = True
        if auth:
            kwargs.update(authenticator=authenticate, auth_require_tls=True)
        self.controller = Controller(self.handler, hostname=self.host, port=self.port, **kwargs)

    def __enter__(self) -> Server:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def email(server: Server, **extra: Any) -> dict[str, Any]:
    return {"name": "mail", "type": "email", "host": "127.0.0.1", "port": server.port, "from": "monitor@localhost",
            "to": ["desk@localhost"], "timeout": "5s", **extra}


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_verify_true_refuses_a_self_signed_certificate(tmp_path: Path, store: Store, cert: tuple[Path, Path],
                                                       security: str) -> None:
    with Server(cert, implicit=security == "ssl") as server:
        cfg = alert_config(tmp_path, [email(server, security=security)], retry=["0s"])
        add_article(store, 1, channels=("mail",))
        assert deliver(cfg, store).dead == 1
        assert server.handler.received == []
    [row] = alerts(store)
    assert row["last_error"].startswith(f"channel mail: TLS certificate of 127.0.0.1:{server.port} not trusted: "
                                        "self-signed certificate")
    assert "ca_file" in row["last_error"] and "verify: false" in row["last_error"]


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_verify_false_accepts_it_and_ca_file_trusts_it(tmp_path: Path, store: Store, cert: tuple[Path, Path],
                                                       security: str) -> None:
    with Server(cert, implicit=security == "ssl") as server:
        for n, extra in enumerate([{"verify": False}, {"ca_file": str(cert[0])}]):
            cfg = alert_config(tmp_path, [email(server, security=security, **extra)], retry=["0s"])
            add_article(store, n, channels=("mail",))
            assert deliver(cfg, store).sent == 1, alerts(store)[-1]["last_error"]
        assert len(server.handler.received) == 2


def test_ca_file_still_checks_the_host_name(tmp_path: Path, store: Store, cert: tuple[Path, Path]) -> None:
    with Server(cert, implicit=True, host="127.0.0.2") as server:
        cfg = alert_config(tmp_path, [email(server, security="ssl", ca_file=str(cert[0]), host="127.0.0.2")],
                           retry=["0s"])
        add_article(store, 1, channels=("mail",))
        # the server is on 127.0.0.2 (loopback too), but its certificate names only 127.0.0.1 and localhost
        assert deliver(cfg, store).dead == 1
    assert "not trusted: IP address mismatch" in alerts(store)[0]["last_error"]


def test_starttls_never_falls_back_to_plain_text(tmp_path: Path, store: Store) -> None:
    with Server(None) as server:
        cfg = alert_config(tmp_path, [email(server, security="starttls", verify=False)], retry=["0s"])
        add_article(store, 1, channels=("mail",))
        deliver(cfg, store)
        assert server.handler.received == []
    assert "does not offer STARTTLS" in alerts(store)[0]["last_error"]


def test_auth_over_starttls(tmp_path: Path, store: Store, cert: tuple[Path, Path]) -> None:
    with Server(cert, auth=True) as server:
        bad = alert_config(tmp_path, [email(server, verify=False, username="monitor", password="wrong")],
                           retry=["0s"])
        add_article(store, 1, channels=("mail",))
        assert deliver(bad, store).dead == 1
        assert "refused the login (535)" in alerts(store)[0]["last_error"]
        assert server.handler.received == []
        good = alert_config(tmp_path, [email(server, verify=False, username="monitor", password="s3cret")])
        add_article(store, 2, channels=("mail",))
        assert deliver(good, store).sent == 1
        [(sender, rcpts, msg)] = server.handler.received
    assert (sender, rcpts) == ("monitor@localhost", ["desk@localhost"])
    assert msg["Subject"] == "[monitor] mou: Story 2: an MOU is signed"


def test_a_title_cannot_inject_a_header(tmp_path: Path, store: Store) -> None:
    title = "Seoul and Tokyo sign an MOU\r\nBcc: victim@example.org\r\n<script>alert(1)</script>"
    with Server(None) as server:
        cfg = alert_config(tmp_path, [email(server, security="none")])
        add_article(store, 1, channels=("mail",), title=title,
                    snippet="they signed an **MOU** <script>steal()</script> & more")
        assert deliver(cfg, store).sent == 1
        [(sender, rcpts, msg)] = server.handler.received
    assert rcpts == ["desk@localhost"]  # nobody else was asked to receive it
    assert sorted(msg.keys()) == ["Content-Type", "Date", "From", "MIME-Version", "Message-ID", "Subject", "To",
                                  "X-Monitor-Alert"]
    assert msg["To"] == "desk@localhost"
    subject = msg["Subject"]
    assert "\r" not in subject and "\n" not in subject
    assert subject == "[monitor] mou: Seoul and Tokyo sign an MOU Bcc: victim@example.org <script>alert(1)</script>"
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<mark>MOU</mark> &lt;script&gt;steal()&lt;/script&gt; &amp; more" in html
    text = msg.get_body(("plain",)).get_content()
    assert "they signed an MOU <script>steal()</script> & more" in text  # plain text stays plain
    assert msg["Message-ID"] == f"<{alerts(store)[0]['message_id']}@localhost>"
    assert msg["Date"]
