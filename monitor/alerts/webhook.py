"""Webhook delivery, signed per the Standard Webhooks spec (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``; several ``whsec_`` secrets sign at once during a rotation)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from ..config import WebhookChannel
from ..errors import ChannelGone, DeliveryError
from ..retry import parse_retry_after

__all__ = ["send_webhook", "sign_headers"]

BODY_EXCERPT = 500


def sign_headers(secrets: list[str], message_id: str, body: str, when: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (one ``v1,`` signature per secret)."""
    when = when.astimezone(UTC)
    signatures = " ".join(Webhook(secret).sign(message_id, when, body) for secret in secrets)
    return {"webhook-id": message_id, "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": signatures}


async def send_webhook(client: httpx.AsyncClient, channel: WebhookChannel, message_id: str,
                       payload: dict[str, Any], now: datetime) -> tuple[int, str]:
    """POST one message. Returns (status, body excerpt) on 2xx; raises DeliveryError otherwise, and
    ChannelGone on 410."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    headers = {"content-type": "application/json", "user-agent": "monitor-webhooks/0.1",
               **channel.headers, **sign_headers(channel.secrets, message_id, body, now)}
    try:
        # The timeout bounds the whole exchange, not each phase: a receiver that drips its answer
        # cannot hold a lease past its end.
        async with asyncio.timeout(channel.timeout):
            response = await client.post(channel.url, content=body.encode("utf-8"), headers=headers,
                                         timeout=channel.timeout)
    except (httpx.TimeoutException, TimeoutError):
        raise DeliveryError(f"no answer within {channel.timeout:g}s", channel=channel.name) from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"connection failed: {exc or type(exc).__name__}", channel=channel.name) from None
    excerpt = response.text[:BODY_EXCERPT]
    if 200 <= response.status_code < 300:
        return response.status_code, excerpt
    if response.status_code == 410:
        raise ChannelGone("the receiver answered 410 Gone: channel disabled", channel=channel.name,
                          status=410, body=excerpt)
    raise DeliveryError(f"HTTP {response.status_code}", channel=channel.name, status=response.status_code,
                        retry_after=parse_retry_after(response.headers.get("retry-after"), cap=86400),
                        body=excerpt)
