"""From a parsed mail to the channel-agnostic `InboundMessage` that intake stores.

Pure. The threading decision that needs the database (does the thread's conversation
belong to this sender?) is made by the caller, which passes `thread_key` and
`references`; this module offers the pure parts of it: which conversation a verified
token names, and which Message-ID is the root of the thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jietong.channels.base import InboundAttachment, InboundMessage, Party
from jietong.channels.email import tokens
from jietong.channels.email.parse import ParsedEmail
from jietong.channels.email.quotes import split_reply
from jietong.channels.email.sanitize import sanitise_html
from jietong.identity.contact_points import ContactKind

CHANNEL = "email"


@dataclass(frozen=True)
class Arrival:
    """How a mail reached us: for which organisation and address, through which account."""

    org_id: str
    recipient: str  # the address the mail was delivered to (may carry a reply token)
    received_at: datetime
    account_id: str | None = None
    queue_id: str | None = None
    raw: bytes | None = None  # kept by intake, so that nothing acknowledged is lost


def external_id(parsed: ParsedEmail) -> str:
    """The de-duplication key: the Message-ID, or a digest of the bytes for mail that has
    none (a retransmission of the same bytes is then still recognised)."""
    return parsed.message_id or f"sha256:{parsed.sha256}"


def thread_references(parsed: ParsedEmail) -> tuple[str, ...]:
    """The Message-IDs this mail answers, oldest first (References, then In-Reply-To)."""
    return tuple(dict.fromkeys((*parsed.references, *parsed.in_reply_to)))


def root_message_id(parsed: ParsedEmail) -> str:
    """The first Message-ID of the thread: what every later mail of it refers to."""
    refs = thread_references(parsed)
    return refs[0] if refs else external_id(parsed)


def verified_interaction(
    parsed: ParsedEmail, recipient: str, *, secret: bytes, org_id: str
) -> str | None:
    """The interaction a genuine token of ours names: a reply token in the plus address
    the mail was delivered to (or, for polled mailboxes, addressed to in To/Cc), else a
    Message-ID of ours that the mail answers. None when there is no token or it does not
    verify (forged, altered, or another organisation's)."""
    addresses = (recipient, *(a.address for a in (*parsed.to, *parsed.cc)))
    for address in addresses:
        _base, detail = tokens.split_plus_address(address)
        found = None if not detail else tokens.verify_reply_token(secret, org_id, detail)
        if found is not None:
            return found
    for reference in reversed(thread_references(parsed)):
        ours = tokens.verify_message_id(secret, org_id, reference)
        if ours is not None:
            return ours.interaction_id
    return None


def to_inbound(
    parsed: ParsedEmail,
    arrival: Arrival,
    *,
    thread_key: str | None,
    references: tuple[str, ...],
    auto_reason: str | None = None,
) -> InboundMessage:
    """The message intake stores. `auto_reason` adds a reason found by the caller (mail
    from one of our own addresses) to the parser's own."""
    split = split_reply(parsed.text)
    clean = None if parsed.html is None else sanitise_html(parsed.html)
    reason = parsed.auto_reason or auto_reason
    return InboundMessage(
        channel=CHANNEL,
        org_id=arrival.org_id,
        external_id=external_id(parsed),
        sender=Party(ContactKind.EMAIL, parsed.sender.address, parsed.sender.name),
        received_at=arrival.received_at,
        text=split.text,
        html=None if clean is None else clean.html,
        quoted_text=split.quoted,
        subject=parsed.subject or None,
        thread_key=thread_key,
        references=references,
        recipient=arrival.recipient,
        attachments=tuple(
            InboundAttachment(a.filename, a.content_type, a.data, a.content_id)
            for a in parsed.attachments
        ),
        auto_generated=reason is not None,
        metadata=_metadata(parsed, reason, 0 if clean is None else clean.remote_images_blocked),
        raw=arrival.raw,
        account_id=arrival.account_id,
        queue_id=arrival.queue_id,
    )


def _metadata(parsed: ParsedEmail, reason: str | None, blocked: int) -> dict[str, str]:
    found: dict[str, str] = {}
    if reason is not None:
        found["auto_reason"] = reason
    if parsed.report is not None:
        found["dsn_original_message_id"] = parsed.report.original_message_id or ""
        found["dsn"] = parsed.report.summary
    if blocked:
        found["remote_images_blocked"] = str(blocked)
    if parsed.reply_to:
        found["reply_to"] = ", ".join(a.address for a in parsed.reply_to)[:500]
    if parsed.cc:
        found["cc"] = ", ".join(a.address for a in parsed.cc)[:1000]
    if parsed.date is not None:
        found["date"] = parsed.date.isoformat()
    if parsed.defects:
        found["mime_defects"] = str(parsed.defects)
    return found
