"""Outgoing webhooks: signed JSON notifications of domain events.

``WebhookSender`` is an ``EventSink``: it turns each ``UnitStatusChanged``
into a ``unit.status_changed`` POST to every configured URL, signed with
HMAC-SHA256, delivered in the background with retries, never in the request
that caused it.
"""

from __future__ import annotations

from taco_adapters.webhooks.sender import SIGNATURE_HEADER, WebhookSender, signature

__all__ = ["SIGNATURE_HEADER", "WebhookSender", "signature"]
