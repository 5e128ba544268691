"""MIME structure of one received mail: headers, body text and HTML, attachments.

Pure: bytes in, a frozen `ParsedEmail` out. Forgiving where real mail is sloppy (wrong
charset labels, 8-bit headers, missing brackets, bad base64), strict only where nothing
useful can be made of the input: `MalformedEmail` then, and the caller quarantines the
raw bytes for an admin instead of dropping them or stalling the intake.

Messages are parsed with the compat32 policy: the modern policy decodes headers itself,
with Python's strict codecs, which garbles GBK-in-GB2312 and raw 8-bit headers.
"""

from __future__ import annotations

import email
import email.utils
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import Message

from jietong.channels.email import attachments as parts
from jietong.channels.email.dsn import DeliveryReport, delivery_report
from jietong.channels.email.headers import (
    Address,
    decode_header_value,
    parse_addresses,
    parse_message_ids,
)
from jietong.channels.email.htmltext import html_to_text
from jietong.channels.email.loops import auto_generated_reason

MAX_TEXT_CHARS = 1_000_000
MAX_SUBJECT_CHARS = 500


class MalformedEmail(ValueError):
    """The bytes are not a mail that can be stored as a message (quarantine them)."""


@dataclass(frozen=True)
class ParsedEmail:
    """A received mail. `text` is the whole plain body (from text/plain, else derived
    from the HTML); `html` is the sender's HTML, NOT yet sanitised."""

    sha256: str
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    sender: Address
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    date: datetime | None
    text: str
    html: str | None
    attachments: tuple[parts.ParsedAttachment, ...]
    auto_reason: str | None  # why it was generated automatically; None: a person wrote it
    report: DeliveryReport | None  # set for delivery-status notifications
    defects: int  # MIME defects the parser worked around


def parse_email(raw: bytes, *, envelope_sender: str | None = None) -> ParsedEmail:
    """Parse `raw` (RFC 5322 bytes). `envelope_sender` is the SMTP MAIL FROM when known
    ("" for bounces); it stands in for a missing From."""
    if not raw.strip():
        raise MalformedEmail("empty message")
    message = email.message_from_bytes(raw, policy=policy.compat32)
    if not message.keys():
        raise MalformedEmail("no header section")
    body = parts.collect(message)
    return ParsedEmail(
        sha256=hashlib.sha256(raw).hexdigest(),
        message_id=next(iter(parse_message_ids(message.get("Message-ID"))), None),
        in_reply_to=parse_message_ids(message.get("In-Reply-To")),
        references=parse_message_ids(message.get("References")),
        sender=_sender(message, envelope_sender),
        reply_to=parse_addresses(message.get("Reply-To")),
        to=parse_addresses(message.get("To")),
        cc=parse_addresses(message.get("Cc")),
        subject=decode_header_value(message.get("Subject"))[:MAX_SUBJECT_CHARS],
        date=_date(message.get("Date")),
        text=_text(body)[:MAX_TEXT_CHARS],
        html=body.html,
        attachments=body.attachments,
        auto_reason=auto_generated_reason(message, envelope_sender),
        report=delivery_report(message),
        defects=body.defects + len(message.defects),
    )


def _sender(message: Message, envelope_sender: str | None) -> Address:
    for header in ("From", "Sender"):
        found = parse_addresses(message.get(header))
        if found:
            return found[0]
    if envelope_sender and "@" in envelope_sender:
        return Address(None, envelope_sender.strip("<> "))
    raise MalformedEmail("no sender address (From, Sender or envelope)")


def _date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(decode_header_value(raw))
    except (TypeError, ValueError, IndexError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(body: parts.Body) -> str:
    if body.text.strip():
        return body.text.strip()
    return html_to_text(body.html) if body.html else ""
