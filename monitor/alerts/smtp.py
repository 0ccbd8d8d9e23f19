"""Email delivery over SMTP: STARTTLS or implicit TLS with verified certificates (``verify: false``
only for test servers; ``ca_file`` for a private CA), optional AUTH, a Message-ID and a Date,
plain text and HTML alternatives.

``security: starttls`` never falls back to plain text: a server that does not offer STARTTLS is
an error. The envelope recipients are the channel's ``to`` and nothing else, whatever the
message's headers say.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from ..config import EmailChannel
from ..errors import DeliveryError
from .render import header_safe

__all__ = ["build_message", "send_email", "tls_context"]


def build_message(channel: EmailChannel, subject: str, text: str, html: str, *, message_id: str,
                  now: datetime) -> EmailMessage:
    # Lines up to RFC 5322's 998 characters: a long subject stays on one line instead of folding
    # in a way some clients show as a leading space.
    msg = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
    msg["Subject"] = header_safe(subject, limit=250)
    msg["From"] = header_safe(channel.from_)
    msg["To"] = ", ".join(header_safe(addr) for addr in channel.to)
    msg["Date"] = format_datetime(now)
    domain = channel.from_.rsplit("@", 1)[-1].strip("> ") or "monitor.invalid"
    # The alert's id is the Message-ID, so a resend after a crash is recognisably the same mail
    # (mail clients and many servers drop a second copy).
    msg["Message-ID"] = f"<{message_id}@{header_safe(domain)}>"
    msg["X-Monitor-Alert"] = message_id
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def tls_context(channel: EmailChannel) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=channel.ca_file)
    if not channel.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _send_sync(channel: EmailChannel, msg: EmailMessage) -> str:
    context = tls_context(channel)
    smtp: smtplib.SMTP
    if channel.security == "ssl":
        smtp = smtplib.SMTP_SSL(channel.host, channel.smtp_port, timeout=channel.timeout, context=context)
    else:
        smtp = smtplib.SMTP(channel.host, channel.smtp_port, timeout=channel.timeout)
    with smtp:
        smtp.ehlo()
        if channel.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if channel.username:
            smtp.login(channel.username, channel.password or "")
        refused = smtp.send_message(msg, from_addr=channel.from_, to_addrs=list(channel.to))
    ok = len(channel.to) - len(refused)
    return f"accepted for {ok} of {len(channel.to)} recipients" + (f"; refused: {', '.join(refused)}" if refused else "")


async def send_email(channel: EmailChannel, msg: EmailMessage) -> str:
    """Send one message; returns a short account of the server's answer. Raises DeliveryError."""
    where = f"{channel.host}:{channel.smtp_port}"
    try:
        return await asyncio.to_thread(_send_sync, channel, msg)
    except ssl.SSLCertVerificationError as exc:
        why = str(exc.verify_message or exc.reason).rstrip(".")
        hint = ("use the host name the certificate names" if "mismatch" in why else
                "give its CA in `ca_file`, or `verify: false` for a test server")
        raise DeliveryError(f"TLS certificate of {where} not trusted: {why} ({hint})", channel=channel.name) from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"TLS with {where} failed: {exc.reason or exc}", channel=channel.name) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"{where} does not offer {'STARTTLS' if 'STARTTLS' in str(exc) else 'that'}: {exc} "
                            "(security: starttls never falls back to plain text)", channel=channel.name) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"{where} refused the login ({exc.smtp_code}): {_text(exc.smtp_error)}",
                            channel=channel.name, status=exc.smtp_code) from None
    except smtplib.SMTPRecipientsRefused as exc:
        detail = "; ".join(f"{rcpt}: {code} {_text(text)}" for rcpt, (code, text) in exc.recipients.items())
        raise DeliveryError(f"{where} refused every recipient: {detail}", channel=channel.name) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.smtp_code} from {where}: {_text(exc.smtp_error)}", channel=channel.name,
                            status=exc.smtp_code) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP with {where} failed: {exc or type(exc).__name__}", channel=channel.name) from None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
