"""Who a widget visitor is: server-signed visitor tokens and the host site's HMAC. Pure.

Visitor token: `v1.<base64url JSON claims>.<base64url HMAC-SHA256>`, keyed by a key
derived from the platform secret (domain-separated, so no other token of ours verifies
as one). The claims name the visitor and the widget; the visitor id inside is chosen
by the server, never by the browser, so changing it breaks the signature.

Identity verification: the host site, which knows who is signed in on its side, sends
`user_id` and `user_hash = hex(HMAC-SHA256(widget identity secret, user_id))` computed on
its server. The visitor id of a verified user is derived from the widget and the user id,
so the same user gets the same conversation on every device, and a visitor who changes
the user id without the matching hash is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

TOKEN_VERSION = "v1"  # noqa: S105 - a format tag, not a secret
TOKEN_TTL = timedelta(days=30)
MAX_TOKEN_LENGTH = 1000
_VISITOR_ID = re.compile(r"^[uv]-[0-9a-f]{32}$")
_KEY_ID = re.compile(r"^[0-9a-f]{32}$")
# Host-site user ids: printable, one line, bounded. Anything else is refused, not cleaned.
_USER_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


class InvalidToken(Exception):
    """A visitor token that is malformed, forged, expired or for another widget."""


class IdentityRefused(Exception):
    """A user id without a valid HMAC from the host site."""


@dataclass(frozen=True)
class VisitorClaims:
    visitor_id: str
    widget_key: str
    issued_at: int  # unix seconds
    expires_at: int


def token_key(platform_secret: bytes) -> bytes:
    """The visitor-token key: the platform secret, separated from its other uses."""
    return hmac.new(platform_secret, b"jietong/webchat/visitor-token/v1", hashlib.sha256).digest()


def anonymous_visitor_id() -> str:
    """A fresh visitor id: 128 random bits, so none can be guessed."""
    return "v-" + secrets.token_hex(16)


def verified_visitor_id(widget_key: str, user_id: str) -> str:
    """The visitor id of a verified host-site user of one widget (stable, opaque)."""
    digest = hashlib.sha256(f"{widget_key}\x00{user_id}".encode()).hexdigest()
    return "u-" + digest[:32]


def is_visitor_id(value: str) -> bool:
    return bool(_VISITOR_ID.match(value))


def issue(key: bytes, visitor_id: str, widget_key: str, *, now: datetime) -> tuple[str, int]:
    """A token for `visitor_id` on widget `widget_key`; returns it and its expiry."""
    issued = int(now.timestamp())
    expires = issued + int(TOKEN_TTL.total_seconds())
    claims = {"v": visitor_id, "w": widget_key, "iat": issued, "exp": expires}
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{TOKEN_VERSION}.{body}"
    return f"{signed}.{_b64(_mac(key, signed))}", expires


def verify(key: bytes, token: str, *, widget_key: str, now: datetime) -> VisitorClaims:
    """The claims of a token we issued for this widget and that has not expired;
    InvalidToken otherwise (the reason is for logs, never for the visitor)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("missing or oversized token")
    version, _, rest = token.partition(".")
    body, _, signature = rest.partition(".")
    if version != TOKEN_VERSION or not body or not signature:
        raise InvalidToken("malformed token")
    expected = _mac(key, f"{version}.{body}")
    if not hmac.compare_digest(expected, _unb64(signature)):
        raise InvalidToken("bad signature")
    claims = _claims(_unb64(body))
    if claims.widget_key != widget_key:
        raise InvalidToken("token of another widget")
    if now.timestamp() >= claims.expires_at:
        raise InvalidToken("token expired")
    return claims


def identity_hash(identity_secret: str, user_id: str) -> str:
    """What the host site's server computes for a signed-in user (documented for them)."""
    return hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def check_identity(identity_secret: str | None, user_id: str, user_hash: str) -> None:
    """IdentityRefused unless `user_hash` is the host site's HMAC of `user_id`."""
    if not identity_secret:
        raise IdentityRefused("this widget does not verify user ids (no identity secret)")
    if not _USER_ID.match(user_id):
        raise IdentityRefused("user_id must be 1-128 printable ASCII characters")
    expected = identity_hash(identity_secret, user_id)
    if not hmac.compare_digest(expected.encode(), user_hash.strip().lower().encode()):
        raise IdentityRefused("user_hash is not the HMAC of user_id")


def _claims(raw: bytes) -> VisitorClaims:
    try:
        data = json.loads(raw)
        claims = VisitorClaims(str(data["v"]), str(data["w"]), int(data["iat"]), int(data["exp"]))
    except (ValueError, KeyError, TypeError):
        raise InvalidToken("unreadable claims") from None
    if not _VISITOR_ID.match(claims.visitor_id) or not _KEY_ID.match(claims.widget_key):
        raise InvalidToken("claims out of shape")
    return claims


def _mac(key: bytes, data: str) -> bytes:
    return hmac.new(key, data.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("not base64url") from None
