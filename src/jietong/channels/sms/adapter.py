"""The SMS adapter: sends through the account's provider (Twilio REST or the generic JSON
provider). Blocking HTTP, called by the delivery worker in a thread; never touches storage.

Errors are sorted into permanent (a 4xx other than 429: bad number, unsubscribed
recipient, wrong credentials — retrying cannot help) and passing (network errors,
timeouts, 429, 5xx), which the worker retries with backoff.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import httpx

from jietong.channels.base import ChannelAccount, DeliveryResult, OutboundMessage
from jietong.channels.registry import AccountSpec
from jietong.channels.signing import signature_header
from jietong.channels.sms import wire
from jietong.core.clock import utcnow
from jietong.identity.contact_points import ContactKind

TWILIO_API = "https://api.twilio.com"
ACCOUNTS = {
    "twilio": AccountSpec(
        settings=frozenset({"account_sid"}),
        optional_settings=frozenset(
            {"api_base_url", "status_callback_url", "messaging_service_sid", "webhook_base_url"}
        ),
        secrets=frozenset({"auth_token"}),
        optional_secrets=frozenset({"webhook_shared_key"}),
        webhook_suffixes=("/twilio", "/twilio/status"),
    ),
    "generic": AccountSpec(
        settings=frozenset({"send_url"}),
        secrets=frozenset({"signing_secret"}),
        webhook_suffixes=("/generic", "/generic/status"),
    ),
}


class SmsAdapter:
    """SMS through per-organisation provider accounts."""

    def __init__(self, *, timeout: float = 15.0, clock: Callable[[], datetime] = utcnow) -> None:
        self._timeout = timeout
        self._clock = clock

    @property
    def name(self) -> str:
        return wire.CHANNEL

    @property
    def contact_kind(self) -> ContactKind:
        return ContactKind.PHONE

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        account = message.account
        if account is None:
            return DeliveryResult(ok=False, error="no SMS account to send through", retryable=False)
        try:
            if account.provider == "twilio":
                return self._twilio(account, message)
            if account.provider == "generic":
                return self._generic(account, message)
        except httpx.HTTPError as exc:
            return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        return DeliveryResult(
            ok=False, error=f"unknown provider {account.provider}", retryable=False
        )

    def _twilio(self, account: ChannelAccount, message: OutboundMessage) -> DeliveryResult:
        sid = account.settings["account_sid"]
        base = account.settings.get("api_base_url") or TWILIO_API
        form = {"To": message.recipient.address, "Body": message.text}
        service = account.settings.get("messaging_service_sid")
        if service:
            form["MessagingServiceSid"] = service
        else:
            form["From"] = message.thread.get("our_address") or account.address or ""
        callback = account.settings.get("status_callback_url")
        if callback:
            form["StatusCallback"] = callback
        response = httpx.post(
            f"{base.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json",
            data=form,
            auth=(sid, account.secrets["auth_token"]),
            timeout=self._timeout,
        )
        body = _json(response)
        sid_out = body.get("sid")
        if response.status_code in (200, 201) and isinstance(sid_out, str):
            return DeliveryResult(ok=True, provider_message_id=sid_out)
        error = f"Twilio {response.status_code}: {body.get('code', '')} {body.get('message', '')}"
        return DeliveryResult(ok=False, error=error.strip(), retryable=_passing(response))

    def _generic(self, account: ChannelAccount, message: OutboundMessage) -> DeliveryResult:
        now = self._clock()
        sender = message.thread.get("our_address") or account.address
        body = wire.generic_outbound(
            message.delivery_id, sender, message.recipient.address, message.text, now
        )
        signature = signature_header(account.secrets["signing_secret"], int(now.timestamp()), body)
        response = httpx.post(
            account.settings["send_url"],
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Jietong-Signature": signature,
                "Idempotency-Key": message.delivery_id,
            },
            timeout=self._timeout,
        )
        data = _json(response)
        provider_id = data.get("id")
        if 200 <= response.status_code < 300 and isinstance(provider_id, str):
            return DeliveryResult(ok=True, provider_message_id=provider_id)
        error = f"provider {response.status_code}: {str(data.get('error', ''))[:300]}"
        return DeliveryResult(ok=False, error=error.strip(), retryable=_passing(response))


def _passing(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        data = json.loads(response.content or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
