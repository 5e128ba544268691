"""Delivery-status notifications (RFC 3464): which of our messages bounced, for whom.

A DSN is a multipart/report with a message/delivery-status part (per-recipient blocks
with Final-Recipient, Action and Status) and usually the returned message or just its
headers; from those we read the Message-ID we sent, which names the delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

from jietong.channels.email.headers import decode_header_value, parse_message_ids

_FAILED_ACTIONS = frozenset({"failed"})


@dataclass(frozen=True)
class RecipientStatus:
    recipient: str
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # RFC 3463 code, e.g. 5.1.1
    diagnostic: str | None


@dataclass(frozen=True)
class DeliveryReport:
    original_message_id: str | None
    recipients: tuple[RecipientStatus, ...]

    @property
    def failed(self) -> bool:
        """Whether the report says delivery failed permanently for some recipient."""
        return any(r.action in _FAILED_ACTIONS for r in self.recipients)

    @property
    def summary(self) -> str:
        return "; ".join(
            f"{r.recipient}: {r.action} {r.status} {r.diagnostic or ''}".strip()
            for r in self.recipients
        )[:500]


def delivery_report(message: Message) -> DeliveryReport | None:
    """The report in `message`, or None if it is not a delivery-status notification."""
    if message.get_content_type() != "multipart/report":
        return None
    if str(message.get_param("report-type") or "").lower() != "delivery-status":
        return None
    recipients: list[RecipientStatus] = []
    original: str | None = None
    for part in _children(message):
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            recipients.extend(_recipients(part))
        elif kind in ("message/rfc822", "text/rfc822-headers") and original is None:
            original = _original_message_id(part)
    return DeliveryReport(original, tuple(recipients))


def _children(message: Message) -> list[Message]:
    payload = message.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _recipients(part: Message) -> list[RecipientStatus]:
    blocks = part.get_payload()
    if not isinstance(blocks, list):
        # Some MTAs send the report base64-encoded: parse the decoded text as blocks.
        data = part.get_payload(decode=True)
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(blocks)
        blocks = [HeaderParser().parsestr(chunk) for chunk in text.split("\n\n")]
    found = []
    for block in blocks:
        if not isinstance(block, Message):
            continue
        recipient = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
        if recipient is None:
            continue
        found.append(
            RecipientStatus(
                recipient=recipient,
                action=decode_header_value(block.get("Action")).lower()[:20],
                status=decode_header_value(block.get("Status"))[:20],
                diagnostic=decode_header_value(block.get("Diagnostic-Code"))[:300] or None,
            )
        )
    return found


def _address(value: str | None) -> str | None:
    """The address of "rfc822; someone@example.com"."""
    text = decode_header_value(value)
    address = text.split(";", 1)[-1].strip().strip("<>")
    return address if "@" in address else None


def _original_message_id(part: Message) -> str | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        headers: Message = payload[0]
    else:
        data = part.get_payload(decode=True)
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload)
        headers = HeaderParser().parsestr(text)
    return next(iter(parse_message_ids(headers.get("Message-ID"))), None)
