"""SMS wire formats, pure: Twilio's form-encoded webhooks and X-Twilio-Signature, and a
generic JSON format signed with HMAC-SHA256. No I/O, so every function is tested from
recorded payloads (`tests/channels/sms/fixtures/`).

Twilio signs `url + key1 + value1 + key2 + value2 ...` (keys sorted; a repeated key
contributes each distinct value, sorted) with HMAC-SHA1 keyed by the Auth Token, base64;
or with HMAC-SHA256 and a shared key when the request carries
X-Twilio-Webhooks-Signature-Settings naming that algorithm. Twilio may sign the URL with
or without the default port, so both are accepted.

The generic format is signed like every Jietong webhook (`jietong.channels.signing`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jietong.channels.base import InboundMessage, Party, ProviderStatus
from jietong.channels.errors import BadSignature
from jietong.core.errors import InvalidInput
from jietong.identity.contact_points import ContactKind

CHANNEL = "sms"
TWILIO_SIGNATURE_HEADER = "x-twilio-signature"
TWILIO_SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"
_ALGORITHMS = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}
MAX_BODY = 10_000
MAX_MEDIA = 10

# Twilio MessageStatus values, and what each says about delivery to the handset.
_TWILIO_DELIVERED: dict[str, bool | None] = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": None,
    "receiving": None,
    "received": None,
    "read": True,
    "delivered": True,
    "undelivered": False,
    "failed": False,
    "canceled": False,
}
_GENERIC_DELIVERED: dict[str, bool | None] = {
    "accepted": None,
    "sent": None,
    "delivered": True,
    "undelivered": False,
    "failed": False,
}

Params = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Origin:
    """Which organisation and account a webhook hit, and when it arrived."""

    org_id: str
    account_id: str
    queue_id: str | None
    received_at: datetime


# -- Twilio -----------------------------------------------------------------------------


def twilio_signature(secret: str, url: str, params: Params, algorithm: str = "HMAC_SHA1") -> str:
    """The X-Twilio-Signature Twilio would send for a POST of `params` to `url`."""
    digest = _ALGORITHMS.get(algorithm.upper())
    if digest is None:
        raise BadSignature(f"unsupported signature algorithm {algorithm!r}")
    values: dict[str, set[str]] = {}
    for key, value in params:
        values.setdefault(key, set()).add(value)
    data = url + "".join(key + value for key in sorted(values) for value in sorted(values[key]))
    mac = hmac.new(secret.encode(), data.encode(), digest).digest()
    return base64.b64encode(mac).decode()


def signature_algorithm(settings_header: str | None) -> str:
    """The algorithm named by X-Twilio-Webhooks-Signature-Settings (default HMAC_SHA1)."""
    for part in (settings_header or "").split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return "HMAC_SHA1"


def verify_twilio(
    secret: str, url: str, params: Params, signature: str | None, algorithm: str = "HMAC_SHA1"
) -> None:
    """BadSignature unless `signature` signs `params` at `url` (with or without port)."""
    if not signature or not secret:
        raise BadSignature("missing X-Twilio-Signature")
    for candidate in _url_variants(url):
        expected = twilio_signature(secret, candidate, params, algorithm)
        if hmac.compare_digest(expected.encode(), signature.strip().encode()):
            return
    raise BadSignature("X-Twilio-Signature does not match")


def _url_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    without = urlunsplit(parts._replace(netloc=prefix + host))
    with_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{parts.port or default}"))
    return [url, without, with_port]


def parse_twilio_inbound(
    params: Params, origin: Origin, raw: bytes | None = None
) -> InboundMessage:
    """An inbound SMS/MMS webhook (MessageSid, From, To, Body, NumMedia, MediaUrlN...).
    Media is listed, never fetched by the server (the URLs are the provider's)."""
    fields = _single(params)
    sid = _required(fields, "MessageSid", alternatives=("SmsSid",))
    sender = _required(fields, "From")
    ours = _required(fields, "To")
    body = fields.get("Body", "")
    media = _twilio_media(fields)
    metadata = {"provider": "twilio", **media}
    if "AccountSid" in fields:
        metadata["account_sid"] = fields["AccountSid"][:64]
    return InboundMessage(
        channel=CHANNEL,
        org_id=origin.org_id,
        external_id=sid,
        sender=Party(kind=ContactKind.PHONE, address=sender),
        received_at=origin.received_at,
        text=_text(body, media),
        thread_key=f"{ours}|{sender}",
        recipient=ours,
        metadata=metadata,
        raw=raw,
        account_id=origin.account_id,
        queue_id=origin.queue_id,
    )


def parse_twilio_status(params: Params) -> ProviderStatus:
    """A status callback (MessageSid, MessageStatus, ErrorCode)."""
    fields = _single(params)
    sid = _required(fields, "MessageSid", alternatives=("SmsSid",))
    status = _required(fields, "MessageStatus", alternatives=("SmsStatus",)).lower()
    if status not in _TWILIO_DELIVERED:
        raise InvalidInput(f"unknown MessageStatus '{status[:32]}'")
    code = fields.get("ErrorCode")
    error = f"Twilio error {code}" if code else None
    return ProviderStatus(sid, status, _TWILIO_DELIVERED[status], error)


def _twilio_media(fields: Mapping[str, str]) -> dict[str, str]:
    try:
        count = int(fields.get("NumMedia", "0") or "0")
    except ValueError:
        raise InvalidInput("NumMedia is not a number") from None
    if not 0 <= count <= MAX_MEDIA:
        raise InvalidInput(f"NumMedia must be 0..{MAX_MEDIA}")
    media: dict[str, str] = {}
    for index in range(count):
        url = fields.get(f"MediaUrl{index}")
        if url:
            media[f"media_url_{index}"] = url[:2000]
            media[f"media_type_{index}"] = fields.get(f"MediaContentType{index}", "")[:255]
    return media


# -- generic JSON -----------------------------------------------------------------------


def parse_generic_inbound(body: bytes, origin: Origin) -> InboundMessage:
    """`{"id", "from", "to", "text", "media": [{"url", "content_type"}]}` (UTF-8 JSON)."""
    data = _json_object(body)
    message_id = _string(data, "id")
    sender = _string(data, "from")
    ours = _string(data, "to")
    text = data.get("text", "")
    if not isinstance(text, str):
        raise InvalidInput("'text' must be a string")
    media = _generic_media(data.get("media", []))
    return InboundMessage(
        channel=CHANNEL,
        org_id=origin.org_id,
        external_id=message_id,
        sender=Party(kind=ContactKind.PHONE, address=sender),
        received_at=origin.received_at,
        text=_text(text, media),
        thread_key=f"{ours}|{sender}",
        recipient=ours,
        metadata={"provider": "generic", **media},
        raw=body,
        account_id=origin.account_id,
        queue_id=origin.queue_id,
    )


def parse_generic_status(body: bytes) -> ProviderStatus:
    """`{"id": "<provider message id>", "status": "delivered", "error": null}`."""
    data = _json_object(body)
    message_id = _string(data, "id")
    status = _string(data, "status").lower()
    if status not in _GENERIC_DELIVERED:
        raise InvalidInput(f"unknown status '{status[:32]}'")
    error = data.get("error")
    return ProviderStatus(
        message_id, status, _GENERIC_DELIVERED[status], None if error is None else str(error)[:500]
    )


def generic_outbound(
    delivery_id: str, sender: str | None, recipient: str, text: str, now: datetime
) -> bytes:
    """The JSON a generic provider receives to send one SMS; `idempotency_key` lets it
    drop the repeat of a send we retried after a crash."""
    payload = {
        "idempotency_key": delivery_id,
        "from": sender,
        "to": recipient,
        "text": text,
        "segments": count_segments(text).segments,
        "created_at": now.astimezone(UTC).isoformat(),
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _generic_media(value: Any) -> dict[str, str]:
    if not isinstance(value, list) or len(value) > MAX_MEDIA:
        raise InvalidInput(f"'media' must be a list of at most {MAX_MEDIA} items")
    media: dict[str, str] = {}
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise InvalidInput("every media item needs a 'url' string")
        media[f"media_url_{index}"] = item["url"][:2000]
        media[f"media_type_{index}"] = str(item.get("content_type") or "")[:255]
    return media


# -- shared -----------------------------------------------------------------------------


def _single(params: Iterable[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, value in params:
        if "\x00" in value:
            raise InvalidInput(f"{key[:50]} contains a NUL character")
        fields.setdefault(key, value)
    return fields


def _required(fields: Mapping[str, str], name: str, alternatives: Sequence[str] = ()) -> str:
    for key in (name, *alternatives):
        value = fields.get(key, "").strip()
        if value:
            if len(value) > 320:
                raise InvalidInput(f"{key} is too long")
            return value
    raise InvalidInput(f"the webhook has no {name}")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("the body is not UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


def _string(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > 320:
        raise InvalidInput(f"'{name}' must be a non-empty string of at most 320 characters")
    if "\x00" in value:
        raise InvalidInput(f"'{name}' contains a NUL character")
    return value.strip()


def _text(body: str, media: Mapping[str, str]) -> str:
    text = body.replace("\x00", "")[:MAX_BODY]
    urls = [v for k, v in sorted(media.items()) if k.startswith("media_url_")]
    if urls:
        text = (text + "\n" if text else "") + "\n".join(f"[media] {u}" for u in urls)
    return text


# The GSM 03.38 alphabet: the basic set costs one septet, the extension set two (escape).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class SegmentCount:
    """How an SMS text is encoded and split: `units` are septets (GSM-7) or UTF-16 code
    units (UCS-2); one segment holds 160/70, a concatenated part 153/67."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int
    segments: int


def count_segments(text: str) -> SegmentCount:
    """Segments a handset will receive. A GSM escape pair or a UTF-16 surrogate pair is
    never split across two parts, so the greedy packing below can exceed ceil(n/153)."""
    if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text):
        sizes = [2 if c in GSM_EXTENSION else 1 for c in text]
        return SegmentCount("GSM-7", sum(sizes), _pack(sizes, single=160, part=153))
    sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return SegmentCount("UCS-2", sum(sizes), _pack(sizes, single=70, part=67))


def _pack(sizes: Sequence[int], *, single: int, part: int) -> int:
    total = sum(sizes)
    if total <= single:
        return 1
    segments, used = 1, 0
    for size in sizes:
        if used + size > part:
            segments += 1
            used = 0
        used += size
    return segments
