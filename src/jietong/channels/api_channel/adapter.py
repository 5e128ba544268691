"""The API channel's adapter: replies go to the client's webhook as signed JSON.

The body is `{"event": "message.reply", "delivery_id", "interaction_id", "message_id",
"recipient": {"kind", "id"}, "text", "agent_name", "thread_key"}`, signed like every
Jietong webhook: `X-Jietong-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
with the account's `webhook_secret`; `Idempotency-Key` carries the delivery id, which
stays the same on retries, so receivers drop repeats. 2xx is success; 429 and 5xx and
network errors are retried; other 4xx fail the delivery.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import httpx

from jietong.channels.base import DeliveryResult, OutboundMessage
from jietong.channels.registry import AccountSpec
from jietong.channels.signing import signature_header
from jietong.core.clock import utcnow
from jietong.identity.contact_points import ContactKind

CHANNEL = "api"
ACCOUNTS = {
    "app": AccountSpec(
        optional_settings=frozenset({"webhook_url"}),
        secrets=frozenset({"inbound_token", "webhook_secret"}),
        webhook_suffixes=("/messages",),
    )
}


def reply_body(message: OutboundMessage) -> bytes:
    payload = {
        "event": "message.reply",
        "delivery_id": message.delivery_id,
        "interaction_id": message.interaction_id,
        "message_id": message.message_id,
        "recipient": {"kind": message.recipient.kind.value, "id": message.recipient.address},
        "text": message.text,
        "agent_name": message.sender_name,
        "thread_key": message.thread.get("thread_key"),
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class ApiChannelAdapter:
    """Apps, kiosks, POS terminals and in-house systems talking to us over HTTP."""

    def __init__(self, *, timeout: float = 10.0, clock: Callable[[], datetime] = utcnow) -> None:
        self._timeout = timeout
        self._clock = clock

    @property
    def name(self) -> str:
        return CHANNEL

    @property
    def contact_kind(self) -> ContactKind:
        return ContactKind.CHAT_VISITOR

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        account = message.account
        url = None if account is None else account.settings.get("webhook_url")
        if account is None or not url:
            return DeliveryResult(
                ok=False, error="the API client has no webhook_url", retryable=False
            )
        body = reply_body(message)
        signature = signature_header(
            account.secrets["webhook_secret"], int(self._clock().timestamp()), body
        )
        try:
            response = httpx.post(
                url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Jietong-Signature": signature,
                    "Idempotency-Key": message.delivery_id,
                },
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= response.status_code < 300:
            return DeliveryResult(ok=True, provider_message_id=None)
        retryable = response.status_code == 429 or response.status_code >= 500
        return DeliveryResult(
            ok=False, error=f"webhook answered HTTP {response.status_code}", retryable=retryable
        )
