"""Email delivery over SMTP: STARTTLS or implicit TLS with verified certificates (``verify: false``
only for test servers), optional AUTH, a Message-ID and a Date, plain text and HTML alternatives."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ..config import EmailChannel
from ..errors import DeliveryError
from .render import header_safe

__all__ = ["build_message", "send_email"]


def build_message(channel: EmailChannel, subject: str, text: str, html: str, *, message_id: str,
                  now: datetime) -> EmailMessage:
    # Lines up to RFC 5322's 998 characters: a long subject stays on one line instead of folding
    # in a way some clients show as a leading space.
    msg = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
    msg["Subject"] = header_safe(subject, limit=250)
    msg["From"] = header_safe(channel.from_)
    msg["To"] = ", ".join(header_safe(addr) for addr in channel.to)
    msg["Date"] = format_datetime(now)
    domain = channel.from_.rsplit("@", 1)[-1].strip("> ") or None
    # The alert's id makes the Message-ID, so a resend after a crash is recognisably the same mail.
    msg["Message-ID"] = make_msgid(idstring=message_id, domain=domain)
    msg["X-Monitor-Alert"] = message_id
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def _send_sync(channel: EmailChannel, msg: EmailMessage) -> None:
    context = ssl.create_default_context()
    if not channel.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
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
        smtp.send_message(msg)


async def send_email(channel: EmailChannel, msg: EmailMessage) -> None:
    try:
        await asyncio.to_thread(_send_sync, channel, msg)
    except smtplib.SMTPResponseException as exc:
        detail = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise DeliveryError(f"SMTP {exc.smtp_code}: {detail}", channel=channel.name, status=exc.smtp_code) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"SMTP failed: {exc or type(exc).__name__}", channel=channel.name) from None
