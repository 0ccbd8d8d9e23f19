"""Alerts: the outbox deliverer, webhook, email and apprise channels, digests, quiet hours, templates."""

from .outbox import Deliverer, DeliveryReport, requeue
from .queue import queue_alerts, queue_ops_alert
from .render import AlertContent, Renderer, webhook_payload
from .schedule import next_fire, quiet_until
from .webhook import sign_headers

__all__ = ["AlertContent", "Deliverer", "DeliveryReport", "Renderer", "next_fire", "queue_alerts",
           "queue_ops_alert", "quiet_until", "requeue", "sign_headers", "webhook_payload"]
