"""The signature of Jietong's own webhooks (generic SMS provider, API channel), both ways.

`X-Jietong-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. The
timestamp is inside the signed data, and a receiver refuses signatures older than a few
minutes, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from jietong.channels.errors import BadSignature

SIGNATURE_HEADER = "x-jietong-signature"


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Jietong-Signature header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, body: bytes, header: str | None, *, now: datetime, max_age_seconds: int
) -> None:
    """BadSignature unless `header` signs `body` and is at most `max_age_seconds` old."""
    if not header or not secret:
        raise BadSignature("missing X-Jietong-Signature")
    parts = dict(p.strip().partition("=")[::2] for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        raise BadSignature("X-Jietong-Signature has no timestamp") from None
    if abs(now.timestamp() - timestamp) > max_age_seconds:
        raise BadSignature("the signature is too old (or from the future); replay refused")
    expected = signature_header(secret, timestamp, body).rpartition("v1=")[2]
    if not hmac.compare_digest(expected.encode(), parts.get("v1", "").encode()):
        raise BadSignature("X-Jietong-Signature does not match")
