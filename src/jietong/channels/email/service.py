"""Received mail into intake: parse, decide the thread safely, store in one transaction,
or quarantine; bounces mark our deliveries failed.

`receive_mail` returns only when the mail is durably stored (intake committed it) or
quarantined (its raw bytes and the reason committed for an admin); anything else
raises, and the SMTP receiver answers 451 / the IMAP poller leaves the mail unread.
One unparseable mail is quarantined and never blocks the mail after it.

Storing goes through the platform's intake committer (`interactions.committer`, ADR
0012): mails arriving together — concurrent SMTP sessions, the recipients of one
delivery, a group fetched from an IMAP folder (`receive_mails`) — share its commits,
and each is answered only after the commit that holds it.

Threading guard: a token of ours that verifies (HMAC) joins its conversation whoever
sends it, because only a recipient of our mail can know it. Plain Message-ID
references are trusted only when the conversations they point to belong to the sender:
otherwise anyone who learnt a Message-ID (a CC'd outsider, a forger) could write into
another customer's conversation. Subjects are never used for threading.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

from jietong.channels.base import InboundMessage
from jietong.channels.email import inbound, store, tokens
from jietong.channels.email.imap_in import AllAtOnce
from jietong.channels.email.parse import ParsedEmail, parse_email
from jietong.core.errors import InvalidInput, PayloadTooLarge
from jietong.core.ids import new_id
from jietong.identity.contact_points import ContactKind, try_normalise
from jietong.interactions import intake
from jietong.interactions.committer import IntakeRequest
from jietong.storage.blobs import BlobStore
from jietong.storage.tables_channels import ChannelAccountRow
from jietong.storage.tables_email import EmailMailboxPositionRow, EmailQuarantineRow
from jietong.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

# Marks a delivery failed from a bounce: (uow, org, our Message-ID, summary, now).
BounceRecorder = Callable[[UnitOfWork, str, str, str, datetime], None]


# Queue a prepared message with the intake committer; the future resolves after commit.
SubmitToIntake = Callable[[IntakeRequest], Future[intake.IntakeResult]]


@dataclass(frozen=True)
class MailContext:
    """What storing received mail needs from the platform. `submit` is the platform's
    intake committer; `read_uow` opens a read-only unit of work for the look-ups."""

    new_uow: Callable[[], UnitOfWork]
    read_uow: Callable[[], UnitOfWork]
    submit: SubmitToIntake
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


@dataclass(frozen=True)
class Arrived:
    """One received mail for one recipient mailbox."""

    raw: bytes
    recipient: Recipient
    envelope_from: str | None


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
    """Store `raw` for the recipient's organisation (see the module docstring); raises
    when it was neither stored nor quarantined (the caller must not acknowledge it)."""
    [outcome] = receive_mails(context, [Arrived(raw, recipient, envelope_from)])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def receive_mails(context: MailContext, mails: Sequence[Arrived]) -> list[Outcome | Exception]:
    """Store several mails through the intake committer so that they share its commits;
    per mail, in order, its outcome or the exception that kept it from being stored
    (that mail alone must not be acknowledged; the others stand).

    Each mail is parsed and its thread decided before it is submitted, from the
    committed state. A mail whose Message-IDs name one still pending here waits for
    that one's commit first, so the threading guard decides exactly as it would with
    one transaction per mail (a foreign reference to a mail of the same batch must not
    slip past it because that mail was not yet stored)."""
    outcomes: list[Outcome | Exception | None] = [None] * len(mails)
    pending: list[_Pending] = []
    for index, arrived in enumerate(mails):
        try:
            step = _submit(context, index, arrived, pending, outcomes)
        except Exception as exc:  # not submitted: this mail alone is not acknowledged
            outcomes[index] = exc
            continue
        if isinstance(step, Outcome):
            outcomes[index] = step
        else:
            pending.append(step)
    _settle(context, pending, outcomes)
    return [o if o is not None else RuntimeError("mail not processed") for o in outcomes]


def receive_delivery(
    context: MailContext, raw: bytes, addresses: Sequence[str], *, envelope_from: str | None
) -> list[Outcome]:
    """One SMTP delivery: the mail once for each recipient mailbox (its organisation),
    submitted together. Raises the first failure: the receiver answers 451 and the
    sending server retries the whole delivery (what was stored meanwhile is then a
    duplicate, recognised by its Message-ID)."""
    arrived = []
    with context.read_uow() as uow:
        for address in addresses:
            recipient = find_recipient(uow, address)
            if recipient is None:
                # Accepted at RCPT, account disabled since: keep nothing for nobody.
                log.warning("mail for %s arrived after its account was disabled", address)
                continue
            arrived.append(Arrived(raw, recipient, envelope_from))
    outcomes = receive_mails(context, arrived)
    failed = [o for o in outcomes if isinstance(o, Exception)]
    if failed:
        raise failed[0]
    return [o for o in outcomes if isinstance(o, Outcome)]


def accepts(context: MailContext, address: str) -> bool:
    """Whether some organisation receives mail at `address` (a read: on SQLite it does
    not wait behind the intake committer's write lock)."""
    with context.read_uow() as uow:
        return find_recipient(uow, address) is not None


def mailbox_delivery(context: MailContext, recipient: Recipient) -> AllAtOnce:
    """The IMAP poller's delivery for one polled mailbox: each fetched group of mails
    through `receive_mails` together; quarantined mail counts as delivered."""

    def deliver(raws: Sequence[bytes]) -> list[Exception | None]:
        outcomes = receive_mails(context, [Arrived(raw, recipient, None) for raw in raws])
        return [o if isinstance(o, Exception) else None for o in outcomes]

    return AllAtOnce(deliver)


@dataclass(frozen=True)
class _Pending:
    """A mail submitted to the committer, waiting for its commit."""

    arrived: Arrived
    parsed: ParsedEmail
    future: Future[intake.IntakeResult]
    names: frozenset[tuple[str, str]]  # (org, Message-ID) that later mail may refer to
    now: datetime
    index: int  # its place in the caller's list


def _submit(
    context: MailContext,
    index: int,
    arrived: Arrived,
    pending: list[_Pending],
    outcomes: list[Outcome | Exception | None],
) -> Outcome | _Pending:
    """Parse (or quarantine), decide the thread, check and submit one mail."""
    now = context.clock()
    raw, recipient = arrived.raw, arrived.recipient
    try:
        parsed = parse_email(raw, envelope_sender=arrived.envelope_from)
    except Exception as exc:  # any parser failure, expected or not, quarantines
        return quarantine(
            context,
            raw,
            recipient,
            reason=f"unreadable mail: {exc}"[:500],
            envelope_from=arrived.envelope_from,
            now=now,
        )
    org = recipient.org_id
    refers_to = {(org, inbound.root_message_id(parsed))}
    refers_to.update((org, r) for r in inbound.thread_references(parsed))
    if any(p.names & refers_to for p in pending):
        _settle(context, pending, outcomes)  # its thread's owner must be committed first
        pending.clear()
    message = _inbound_message(context, parsed, raw, recipient, now)
    try:
        prepared = intake.prepare(
            message, blobs=context.blobs, max_attachment_bytes=context.max_attachment_bytes
        )
    except (InvalidInput, PayloadTooLarge) as exc:
        return _refused(context, arrived, parsed, exc, now)
    request = IntakeRequest(prepared, default_region=context.default_region)
    names = frozenset(
        (org, name) for name in (message.external_id, message.thread_key) if name is not None
    )
    return _Pending(arrived, parsed, context.submit(request), names, now, index)


def _settle(
    context: MailContext, pending: Sequence[_Pending], outcomes: list[Outcome | Exception | None]
) -> None:
    """Wait for the pending mails' commits and record each outcome (quarantine for a
    mail intake refused, bounces applied for one stored)."""
    for item in pending:
        try:
            outcomes[item.index] = _settled(context, item)
        except Exception as exc:
            outcomes[item.index] = exc


def _settled(context: MailContext, item: _Pending) -> Outcome:
    try:
        result = item.future.result()
    except (InvalidInput, PayloadTooLarge) as exc:
        # Quarantined once the committer's transaction is closed (on SQLite that
        # transaction held the write lock).
        return _refused(context, item.arrived, item.parsed, exc, item.now)
    _bounce(context, item.parsed, item.arrived.recipient.org_id, item.now)
    kind = "duplicate" if result.duplicate else "stored"
    return Outcome(kind, result.message_id, result.interaction_id)


def _refused(
    context: MailContext,
    arrived: Arrived,
    parsed: ParsedEmail,
    exc: InvalidInput | PayloadTooLarge,
    now: datetime,
) -> Outcome:
    return quarantine(
        context,
        arrived.raw,
        arrived.recipient,
        reason=f"refused by intake: {exc.detail}"[:500],
        envelope_from=arrived.envelope_from,
        now=now,
        parsed=parsed,
    )


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
    # Reads only: they see the committed state and, on SQLite, do not queue for the
    # write lock the committer holds through each commit.
    with context.read_uow() as uow:
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
