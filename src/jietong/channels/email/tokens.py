"""Unforgeable conversation tokens in reply addresses and in our Message-IDs.

A customer's reply must land in the conversation it answers, and nobody else may put a
message into that conversation by guessing or editing an address. So what we send
carries an HMAC (key: the platform secret) over the organisation and the interaction:

- Reply-To `support+r<interaction><mac>@domain` (plus addressing; 43 characters);
- Message-ID `<jt.<interaction>.<delivery>.<mac>@domain>`, which replies quote in
  In-Reply-To/References even when a mail client drops the Reply-To.

Ids travel as lower-case base32 because mail systems may change the case of local parts.
Each token kind has its own HMAC label, so a reply token is never a valid Message-ID
MAC and the reverse. 80-bit MACs make online guessing hopeless (2^-80 per try).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

_REPLY_LABEL = b"jietong/email/reply-token/v1"
_MSGID_LABEL = b"jietong/email/message-id/v1"
_MAC_BYTES = 10
_ID_CHARS = 26  # 16 bytes of a UUID in unpadded base32
_MAC_CHARS = 16
_B32 = "[a-z2-7]"
_REPLY_TOKEN = re.compile(rf"^r({_B32}{{{_ID_CHARS}}})({_B32}{{{_MAC_CHARS}}})$")
_OUR_MSGID = re.compile(
    rf"^jt\.({_B32}{{{_ID_CHARS}}})\.({_B32}{{{_ID_CHARS}}})\.({_B32}{{{_MAC_CHARS}}})@"
)
_HEX_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_LOCAL_PART = 64  # RFC 5321


@dataclass(frozen=True)
class OurMessageId:
    """What a verified Message-ID of ours says: which conversation and which delivery."""

    interaction_id: str
    delivery_id: str


def reply_token(secret: bytes, org_id: str, interaction_id: str) -> str:
    """The token for `interaction_id` of `org_id` (ids are 32 hex digits)."""
    packed = _pack(interaction_id)
    return f"r{packed}{_mac(secret, _REPLY_LABEL, org_id, packed)}"


def verify_reply_token(secret: bytes, org_id: str, token: str) -> str | None:
    """The interaction id the token was made for in `org_id`, or None if forged, altered,
    made for another organisation or not a token at all."""
    match = _REPLY_TOKEN.match(token.lower())
    if match is None:
        return None
    packed, mac = match.groups()
    if not hmac.compare_digest(mac, _mac(secret, _REPLY_LABEL, org_id, packed)):
        return None
    return _unpack(packed)


def reply_address(mailbox: str, token: str) -> str:
    """`mailbox` with the token as its plus-address detail; the bare mailbox if the local
    part would grow past the RFC 5321 limit (threading then rests on the Message-ID)."""
    local, _, domain = mailbox.rpartition("@")
    base = local.split("+", 1)[0]
    if not local or len(base) + 1 + len(token) > MAX_LOCAL_PART:
        return mailbox
    return f"{base}+{token}@{domain}"


def split_plus_address(address: str) -> tuple[str, str | None]:
    """(`base@domain`, detail) of a plus address, lower-cased; detail None if absent."""
    local, _, domain = address.strip().lower().rpartition("@")
    base, plus, detail = local.partition("+")
    return f"{base}@{domain}", (detail if plus else None)


def our_message_id(
    secret: bytes, org_id: str, interaction_id: str, delivery_id: str, domain: str
) -> str:
    """A Message-ID (without brackets) naming the conversation and the delivery; the same
    arguments always give the same id, so a retried send repeats it (recipients dedupe)."""
    inter, deliv = _pack(interaction_id), _pack(delivery_id)
    mac = _mac(secret, _MSGID_LABEL, org_id, f"{inter}.{deliv}")
    return f"jt.{inter}.{deliv}.{mac}@{domain}"


def verify_message_id(secret: bytes, org_id: str, message_id: str) -> OurMessageId | None:
    """What a Message-ID of ours names, or None if it is not ours, or forged."""
    match = _OUR_MSGID.match(message_id.lower())
    if match is None:
        return None
    inter, deliv, mac = match.groups()
    if not hmac.compare_digest(mac, _mac(secret, _MSGID_LABEL, org_id, f"{inter}.{deliv}")):
        return None
    return OurMessageId(_unpack(inter), _unpack(deliv))


def _mac(secret: bytes, label: bytes, org_id: str, payload: str) -> str:
    message = b"\x00".join((label, org_id.encode(), payload.encode()))
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.b32encode(digest).decode().lower()


def _pack(hex_id: str) -> str:
    if not _HEX_ID.match(hex_id):
        raise ValueError("ids in tokens are 32 lower-case hex digits")
    return base64.b32encode(bytes.fromhex(hex_id)).decode().rstrip("=").lower()


def _unpack(packed: str) -> str:
    return base64.b32decode(packed.upper() + "======").hex()
