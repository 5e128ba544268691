"""Received mail into intake: parse, decide the thread safely, store in one transaction,
or quarantine; bounces mark our deliveries failed.

`receive_mail` returns only when the mail is durably stored (intake committed it) or
quarantined (its raw bytes and the reason committed for an admin); anything else
raises, and the SMTP receiver answers 451 / the IMAP poller leaves the mail unread.
One unparseable mail is quarantined and never blocks the mail after it.

Threading guard: a token of ours that verifies (HMAC) joins its conversation whoever
sends it, because only a recipient of our mail can know it. Plain Message-ID
references are trusted only when the conversations they point to belong to the sender:
otherwise anyone who learnt a Message-ID (a CC'd outsider, a forger) could write into
another customer's conversation. Subjects are never used for threading.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from jietong.channels.base import InboundMessage
from jietong.channels.email import inbound, store, tokens
from jietong.channels.email.parse import ParsedEmail, parse_email
from jietong.core.errors import InvalidInput, PayloadTooLarge
from jietong.core.ids import new_id
from jietong.identity.contact_points import ContactKind, try_normalise
from jietong.interactions import intake
from jietong.storage.blobs import BlobStore
from jietong.storage.tables_channels import ChannelAccountRow
from jietong.storage.tables_email import EmailMailboxPositionRow, EmailQuarantineRow
from jietong.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# Marks a delivery failed from a bounce: (uow, org, our Message-ID, summary, now).
BounceRecorder = Callable[[UnitOfWork, str, str, str, datetime], None]


@dataclass(frozen=True)
class MailContext:
    """What storing received mail needs from the platform."""

    new_uow: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    blobs: BlobStore
    secret: bytes
    default_region: str
    max_attachment_bytes: int
    record_bounce: BounceRecorder | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one received mail for one organisation."""

    kind: str  # stored | duplicate | quarantined
    message_id: str | None = None  # our message id (stored/duplicate)
    interaction_id: str | None = None
    reason: str | None = None  # why it was quarantined


@dataclass(frozen=True)
class Recipient:
    """An address of ours that received the mail, and the account behind it."""

    address: str
    account_id: str
    org_id: str
    queue_id: str | None


def find_recipient(uow: UnitOfWork, address: str) -> Recipient | None:
    """The account receiving at `address` (a plus detail such as a reply token is
    ignored for the lookup), or None: the SMTP receiver refuses such a RCPT."""
    base, _detail = tokens.split_plus_address(address)
    if "@" not in base or len(base) > 320:
        return None
    row = store.account_for_address(uow.session, base)
    if row is None:
        return None
    return Recipient(address.strip(), row.id, row.org_id, row.queue_id)


def receive_mail(
    context: MailContext, raw: bytes, recipient: Recipient, *, envelope_from: str | None
) -> Outcome:
    """Store `raw` for the recipient's organisation (see the module docstring)."""
    now = context.clock()
    try:
        parsed = parse_email(raw, envelope_sender=envelope_from)
    except Exception as exc:  # any parser failure, expected or not, quarantines
        return quarantine(
            context,
            raw,
            recipient,
            reason=f"unreadable mail: {exc}"[:500],
            envelope_from=envelope_from,
            now=now,
        )
    message = _inbound_message(context, parsed, raw, recipient, now)
    try:
        with context.new_uow() as uow:
            result = intake.receive(
                uow,
                message,
                default_region=context.default_region,
                now=now,
                blobs=context.blobs,
                max_attachment_bytes=context.max_attachment_bytes,
            )
    except (InvalidInput, PayloadTooLarge) as exc:
        # Quarantined after the intake transaction is closed: on SQLite it still held
        # the write lock.
        return quarantine(
            context,
            raw,
            recipient,
            reason=f"refused by intake: {exc.detail}"[:500],
            envelope_from=envelope_from,
            now=now,
            parsed=parsed,
        )
    _bounce(context, parsed, recipient.org_id, now)
    kind = "duplicate" if result.duplicate else "stored"
    return Outcome(kind, result.message_id, result.interaction_id)


def quarantine(
    context: MailContext,
    raw: bytes,
    recipient: Recipient,
    *,
    reason: str,
    envelope_from: str | None,
    now: datetime,
    parsed: ParsedEmail | None = None,
) -> Outcome:
    """Keep the raw bytes and the reason for an admin; committed before returning."""
    log.warning("email quarantined for org %s: %s", recipient.org_id, reason)
    key = context.blobs.put(raw)
    row = EmailQuarantineRow(
        id=new_id(),
        org_id=recipient.org_id,
        account_id=recipient.account_id,
        reason=reason[:500],
        envelope_from=None if envelope_from is None else envelope_from[:320],
        recipient=recipient.address[:320],
        sender=None if parsed is None else parsed.sender.address[:320],
        subject=None if parsed is None else parsed.subject[:500],
        size_bytes=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        raw_key=key,
        received_at=now,
    )
    with context.new_uow() as uow:
        uow.session.add(row)
        uow.commit()
    return Outcome("quarantined", reason=reason)


def load_position(uow: UnitOfWork, account_id: str, folder: str) -> tuple[int, int] | None:
    row = store.find_position(uow.session, account_id, folder)
    return None if row is None else (row.uidvalidity, row.last_uid)


def save_position(
    uow: UnitOfWork, account: ChannelAccountRow, folder: str, uidvalidity: int, last_uid: int
) -> None:
    row = store.find_position(uow.session, account.id, folder)
    if row is None:
        row = EmailMailboxPositionRow(account_id=account.id, folder=folder, org_id=account.org_id)
        uow.session.add(row)
    row.uidvalidity = uidvalidity
    row.last_uid = last_uid
    row.updated_at = uow.now
    uow.commit()


def _inbound_message(
    context: MailContext, parsed: ParsedEmail, raw: bytes, recipient: Recipient, now: datetime
) -> InboundMessage:
    with context.new_uow() as uow:
        thread_key, references = _thread(uow, context, parsed, recipient)
        own = _from_our_own_address(uow, recipient.org_id, parsed)
    arrival = inbound.Arrival(
        org_id=recipient.org_id,
        recipient=recipient.address,
        received_at=now,
        account_id=recipient.account_id,
        queue_id=recipient.queue_id,
        raw=raw,
    )
    return inbound.to_inbound(
        parsed,
        arrival,
        thread_key=thread_key,
        references=references,
        auto_reason="sent from one of our own addresses" if own else None,
    )


def _thread(
    uow: UnitOfWork, context: MailContext, parsed: ParsedEmail, recipient: Recipient
) -> tuple[str, tuple[str, ...]]:
    """(thread key, references) for intake; see the module docstring."""
    org_id = recipient.org_id
    references = inbound.thread_references(parsed)
    verified = inbound.verified_interaction(
        parsed, recipient.address, secret=context.secret, org_id=org_id
    )
    if verified is not None:
        interaction = store.find_interaction(uow.session, org_id, verified)
        if interaction is not None and interaction.external_ref:
            return interaction.external_ref, references
        if interaction is not None:
            return inbound.root_message_id(parsed), references
    key = inbound.root_message_id(parsed)
    owners = store.customers_of_thread(uow.session, org_id, key, references)
    sender = _sender_customer(uow, org_id, parsed, context.default_region)
    if owners and owners != {sender}:
        # The references lead to someone else's conversation: start a fresh thread.
        return inbound.external_id(parsed), ()
    return key, references


def _sender_customer(uow: UnitOfWork, org_id: str, parsed: ParsedEmail, region: str) -> str | None:
    address = try_normalise(ContactKind.EMAIL, parsed.sender.address, region)
    return None if address is None else store.customer_with_email(uow.session, org_id, address)


def _from_our_own_address(uow: UnitOfWork, org_id: str, parsed: ParsedEmail) -> bool:
    sender = parsed.sender.address.strip().lower()
    return any(
        (a.address or "").lower() == sender for a in store.accounts_of_org(uow.session, org_id)
    )


def _bounce(context: MailContext, parsed: ParsedEmail, org_id: str, now: datetime) -> None:
    """A delivery-status notification about a mail of ours marks its delivery failed."""
    report = parsed.report
    if report is None or not report.failed or report.original_message_id is None:
        return
    ours = tokens.verify_message_id(context.secret, org_id, report.original_message_id)
    if ours is None or context.record_bounce is None:
        return
    with context.new_uow() as uow:
        context.record_bounce(uow, org_id, report.original_message_id, report.summary, now)
