"""Other services (Slack, Telegram, Discord, Teams, ntfy, ...) through apprise, an optional extra
(``pip install 'monitor[apprise]'``). Same outbox, same retries as webhooks and email."""

from __future__ import annotations

import asyncio

from ..config import AppriseChannel
from ..errors import DeliveryError

__all__ = ["send_apprise"]


async def send_apprise(channel: AppriseChannel, subject: str, text: str) -> None:
    try:
        import apprise
    except ImportError:
        raise DeliveryError("the apprise channel type needs `pip install 'monitor[apprise]'`",
                            channel=channel.name) from None

    def send() -> bool:
        app = apprise.Apprise()
        for url in channel.urls:
            app.add(url)
        return bool(app.notify(title=subject, body=text))

    if not await asyncio.to_thread(send):
        raise DeliveryError("apprise reported a failed notification", channel=channel.name)
