"""Alerts: the outbox deliverer, webhook and email channels, templates."""

from .outbox import Deliverer, DeliveryReport, requeue
from .render import AlertContent, Renderer, webhook_payload
from .webhook import sign_headers

__all__ = ["AlertContent", "Deliverer", "DeliveryReport", "Renderer", "requeue", "sign_headers", "webhook_payload"]
