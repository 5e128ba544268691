"""Channel intake: one inbound message, stored once, attached to one customer, threaded
into one conversation, in ONE transaction.

Every channel adapter ends here with a parsed `InboundMessage`. `receive` commits the
message, its raw payload, its attachments, any new customer or interaction and the
events together; the caller acknowledges the provider (HTTP 200, SMTP 250) only after
it returned. A repeated delivery of the same (organisation, channel, external id) is
refused by the UNIQUE constraint on messages and answered with the stored message.

Threading, in order: the channel's thread key, then the external ids the message
references (earlier inbound messages or our outbound ones), then the customer's latest
conversation on the channel. An open conversation active within `open_window` takes the
message; a resolved one (wrap-up or closed) within `reopen_window` is followed up by a
new conversation linked to the same cases; anything else opens a fresh one. Automatic
mail (bounces, auto-replies) is stored where it belongs but never opens a conversation.

`receive` is `prepare` (checks; large bytes made durable in the blob store), `stage`
(everything in a savepoint of the caller's transaction) and a commit. The intake
committer (`interactions.committer`) calls `prepare` in the caller's thread and `stage`
for many messages in one transaction, so that they share one commit (one fsync).
A raw payload up to INLINE_RAW_MAX bytes is kept in its source row, committed with it;
only a larger one becomes a blob file (see `raw_source`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from jietong.channels.base import InboundAttachment, InboundMessage
from jietong.core.errors import InvalidInput, PayloadTooLarge
from jietong.core.ids import new_id
from jietong.core.tenancy import system_actor
from jietong.events.catalogue import (
    AttachmentStored,
    ContactPointAdded,
    CustomerCreated,
    InteractionCreated,
    MessageAdded,
)
from jietong.events.channels import ConversationOpened, InboundMessageReceived
from jietong.identity.contact_points import normalise
from jietong.interactions import store
from jietong.interactions.attachments import sanitise_filename, sniff_content_type
from jietong.interactions.model import (
    AuthorKind,
    Direction,
    InteractionState,
    ParticipantRole,
)
from jietong.storage.blobs import BlobStore
from jietong.storage.tables import (
    AttachmentRow,
    CaseInteractionRow,
    ContactPointRow,
    CustomerRow,
    InteractionRow,
    MessageRow,
    ParticipantRow,
)
from jietong.storage.tables_channels import DeliveryRow, MessageSourceRow
from jietong.storage.uow import UnitOfWork

S = InteractionState
# States in which a conversation is still being worked: a new message joins it.
OPEN_STATES = frozenset({S.ARRIVED, S.QUEUED, S.OFFERED, S.CONNECTED})
DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
MAX_TEXT = 100_000
MAX_REFERENCES = 50
# Raw payloads up to this size live in the database row: webhooks, chats and most mail
# are far smaller, and the row's commit is the only fsync they need. A blob file costs
# its own fsync (write, fsync, rename) on the critical path of the acknowledgement.
INLINE_RAW_MAX = 64 * 1024

DedupeKey = tuple[str, str, str]  # (org id, channel, external id): UNIQUE on messages


@dataclass(frozen=True)
class ThreadingPolicy:
    """How long a conversation stays joinable (`open_window`, since its last activity)
    and how long after it was resolved a new message follows it up (`reopen_window`)."""

    open_window: timedelta = timedelta(hours=72)
    reopen_window: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class IntakeResult:
    """What `receive` stored. `duplicate` means the message had been stored before and
    nothing changed; the ids are those of the earlier delivery."""

    message_id: str
    interaction_id: str
    customer_id: str | None
    duplicate: bool
    opened_interaction: bool = False
    created_customer: bool = False


@dataclass(frozen=True)
class PreparedMessage:
    """A message that passed intake's checks, with the bytes that do not go into the
    database already durable in the blob store: the raw payload when it is over
    INLINE_RAW_MAX (`raw_key`) and each attachment (`attachment_keys`, in order). A
    prepared message whose transaction fails leaves unreferenced blobs, never a row
    without its bytes."""

    message: InboundMessage
    raw_key: str | None = None
    attachment_keys: tuple[str, ...] = ()


class BatchSpoiled(Exception):
    """A message failed half-way inside a batch staged without savepoints: the batch's
    transaction must be dropped and its messages stored one by one (the committer does)."""


@dataclass
class BatchLookups:
    """What a batch looked up for all its messages at once (one query each, `prefetch`)
    and what its earlier messages created since: `stage` reads these instead of querying
    per message. Absent keys mean "none": the prefetch covered every sender, customer
    and thread key of the batch."""

    owners: dict[tuple[str, str, str], CustomerRow]  # (org, kind, address)
    latest: dict[tuple[str, str, str], InteractionRow]  # (org, customer, channel)
    by_thread_key: dict[tuple[str, str, str], InteractionRow]  # (org, channel, key)
    queues: dict[tuple[str, str], tuple[str | None, str | None]]  # (org, queue) -> ids


@dataclass(frozen=True)
class _Thread:
    interaction: InteractionRow | None  # the conversation to join, if any
    follows: InteractionRow | None  # the resolved conversation a new one follows up


def receive(
    uow: UnitOfWork,
    message: InboundMessage,
    *,
    default_region: str,
    now: datetime,
    blobs: BlobStore | None = None,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    policy: ThreadingPolicy = ThreadingPolicy(),
) -> IntakeResult:
    """Store `message` in one transaction and commit it; see the module docstring.

    InvalidInput for a sender address that is not a valid contact point of its kind or
    a malformed message; PayloadTooLarge for an attachment over `max_attachment_bytes`.
    Either way nothing is stored. `blobs` is needed when the message carries attachments
    or a raw payload over INLINE_RAW_MAX."""
    prepared = prepare(message, blobs=blobs, max_attachment_bytes=max_attachment_bytes)
    result = stage(uow, prepared, default_region=default_region, now=now, policy=policy)
    if not result.duplicate:
        uow.commit()
    return result


def prepare(
    message: InboundMessage,
    *,
    blobs: BlobStore | None,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
) -> PreparedMessage:
    """Check `message` (InvalidInput, PayloadTooLarge) and write the bytes that do not go
    into its rows to the blob store. Needs no transaction: callers run it in their own
    thread, so the blob files' fsyncs overlap instead of queueing behind the writer."""
    _check(message, max_attachment_bytes, blobs)
    raw = message.raw
    raw_key = None
    if raw is not None and len(raw) > INLINE_RAW_MAX and blobs is not None:
        raw_key = blobs.put(raw)
    keys = () if blobs is None else tuple(blobs.put(a.data) for a in message.attachments)
    return PreparedMessage(message, raw_key, keys)


def stage(
    uow: UnitOfWork,
    prepared: PreparedMessage,
    *,
    default_region: str,
    now: datetime,
    policy: ThreadingPolicy = ThreadingPolicy(),
    known_new: bool = False,
    lookups: BatchLookups | None = None,
) -> IntakeResult:
    """Everything `receive` does except the commit, inside a savepoint of `uow`: when it
    raises, this message's rows and events are undone and the rest of the transaction
    (other messages of the same batch) stands. The caller commits; until then the result
    must not be acknowledged. A duplicate returns the earlier delivery and adds nothing.

    `known_new`: the caller checked in this transaction that the external id is not
    stored (`stored_external_ids`), so the first look-up is skipped; a racing insert
    still meets the UNIQUE constraint and is looked up then.

    `lookups` (the committer's batches): no savepoint and no per-message look-ups; a
    failure after the first write raises BatchSpoiled (the batch is then redone one
    message at a time, with savepoints)."""
    message = prepared.message
    earlier = None if known_new else _earlier(uow, message)
    if earlier is not None:
        return earlier  # a repeated delivery is answered whatever else is wrong with it
    address = normalise(message.sender.kind, message.sender.address, default_region)
    if lookups is not None:
        try:
            return _store(uow, prepared, address, policy, now, lookups)
        except Exception as exc:
            raise BatchSpoiled(f"{type(exc).__name__}: {exc}") from exc
    for attempt in (1, 2):
        mark = uow.later_mark()
        try:
            with uow.session.begin_nested():
                return _store(uow, prepared, address, policy, now)
        except BaseException as exc:
            uow.drop_later(mark)  # deferred rows (see below) go with the savepoint
            if not isinstance(exc, IntegrityError):
                raise
            # A concurrent delivery of the same external id committed first (another
            # process, or a caller outside the committer): answer with it.
            earlier = _earlier(uow, message)
            if earlier is not None:
                return earlier
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def raw_source(source: MessageSourceRow, blobs: BlobStore) -> bytes | None:
    """The payload as received: from the row when it was small, else from the blob store.
    `source` must still be attached to its session (`raw_inline` is loaded on demand)."""
    if source.raw_inline is not None:
        return source.raw_inline
    return None if source.raw_key is None else blobs.get(source.raw_key)


def _store(
    uow: UnitOfWork,
    prepared: PreparedMessage,
    address: str,
    policy: ThreadingPolicy,
    now: datetime,
    lookups: BatchLookups | None = None,
) -> IntakeResult:
    message = prepared.message
    customer, created_customer = _resolve_customer(uow, message, address, now, lookups)
    thread = _thread(uow, message, customer, policy, now, lookups)
    interaction, created = _conversation(uow, message, customer, thread, now, lookups)
    opened = created and not message.auto_generated
    row = _message(message, interaction, now)
    if message.attachments:
        # Attachment rows point at the message; without relationships the ORM orders a
        # flush by class name, so the message must be in first.
        uow.session.add(row)
        uow.session.flush()
    else:
        # Flushed with the savepoint, or — in the committer's batches (deferred inserts)
        # — inserted with the batch's other messages in one statement before the commit.
        # Either way the UNIQUE (org, channel, external id) decides.
        uow.add_later(row)
    _store_source(uow, prepared, row, interaction, address, now)
    if opened and thread.follows is not None:
        _link_cases(uow, thread.follows, interaction)
    _emit(uow, message, customer, interaction, row, created=created, follows=thread.follows)
    return IntakeResult(
        message_id=row.id,
        interaction_id=interaction.id,
        customer_id=customer.id,
        duplicate=False,
        opened_interaction=opened,
        created_customer=created_customer,
    )


def _check(message: InboundMessage, max_bytes: int, blobs: BlobStore | None) -> None:
    if not message.external_id or len(message.external_id) > 500:
        raise InvalidInput("a message needs an external id of 1..500 characters")
    if "\x00" in message.external_id or (message.thread_key or "").count("\x00"):
        raise InvalidInput("ids must not contain NUL characters")
    if message.thread_key is not None and len(message.thread_key) > 500:
        raise InvalidInput("the thread key is longer than 500 characters")
    for attachment in message.attachments:
        if len(attachment.data) > max_bytes:
            raise PayloadTooLarge(
                f"attachment '{sanitise_filename(attachment.filename)}' is over the"
                f" {max_bytes} byte limit"
            )
    large_raw = message.raw is not None and len(message.raw) > INLINE_RAW_MAX
    if blobs is None and (message.attachments or large_raw):
        raise ValueError("intake needs a blob store for attachments and large raw payloads")


def _earlier(uow: UnitOfWork, message: InboundMessage) -> IntakeResult | None:
    # Columns, not entities: a duplicate needs three ids, and most messages are not one.
    found = uow.session.execute(
        select(MessageRow.id, MessageRow.interaction_id, InteractionRow.customer_id)
        .outerjoin(InteractionRow, InteractionRow.id == MessageRow.interaction_id)
        .where(
            MessageRow.org_id == message.org_id,
            MessageRow.channel == message.channel,
            MessageRow.external_id == message.external_id,
        )
    ).first()
    if found is None:
        return None
    message_id, interaction_id, customer_id = found
    return IntakeResult(message_id, interaction_id, customer_id, duplicate=True)


def find_earlier(uow: UnitOfWork, message: InboundMessage) -> IntakeResult | None:
    """The stored delivery of `message`'s external id, rows deferred by this transaction
    included (how a batch answers a repeat of one of its own messages)."""
    uow.flush_later()
    return _earlier(uow, message)


def stored_external_ids(uow: UnitOfWork, messages: Sequence[InboundMessage]) -> set[DedupeKey]:
    """Which of `messages` are stored already, by (org, channel, external id), in one
    query: a batch asks once instead of once per message."""
    groups: dict[tuple[str, str], set[str]] = {}
    for org_id, channel, external_id in {dedupe_key(m) for m in messages}:
        groups.setdefault((org_id, channel), set()).add(external_id)
    found: set[DedupeKey] = set()
    for (org_id, channel), ids in groups.items():  # each uses the UNIQUE index
        rows = uow.session.execute(
            select(MessageRow.external_id).where(
                MessageRow.org_id == org_id,
                MessageRow.channel == channel,
                MessageRow.external_id.in_(sorted(ids)),
            )
        )
        found.update((org_id, channel, e) for (e,) in rows if e is not None)
    return found


def prefetch(uow: UnitOfWork, senders: Sequence[tuple[InboundMessage, str]]) -> BatchLookups:
    """The look-ups of a batch in a few queries: the customers owning the senders'
    (normalised) addresses, locked as `_owner` locks them, their latest conversation per
    channel, and the latest conversation of each thread key."""
    lookups = BatchLookups({}, {}, {}, {})
    for org_id, group in _by_org(senders).items():
        pairs = sorted({(m.sender.kind.value, address) for m, address in group})
        rows = uow.session.execute(
            select(ContactPointRow.kind, ContactPointRow.value, CustomerRow)
            .join(CustomerRow, CustomerRow.id == ContactPointRow.customer_id)
            .where(
                ContactPointRow.org_id == org_id,
                tuple_(ContactPointRow.kind, ContactPointRow.value).in_(pairs),
                CustomerRow.org_id == org_id,
            )
            .order_by(CustomerRow.id)  # a fixed lock order between concurrent batches
            .with_for_update(of=CustomerRow)
        )
        for kind, value, customer in rows:
            lookups.owners[(org_id, kind, value)] = customer
        customers = sorted({c.id for (o, _k, _v), c in lookups.owners.items() if o == org_id})
        channels = sorted({m.channel for m, _a in group})
        if customers:
            latest = _latest(
                org_id,
                InteractionRow.customer_id.in_(customers),
                (InteractionRow.customer_id, InteractionRow.channel),
                InteractionRow.updated_at,
                channels,
            )
            for row in uow.session.scalars(latest):
                assert row.customer_id is not None
                lookups.latest[(org_id, row.customer_id, row.channel)] = row
        keys = sorted({m.thread_key for m, _a in group if m.thread_key})
        if keys:
            by_key = _latest(
                org_id,
                InteractionRow.external_ref.in_(keys),
                (InteractionRow.channel, InteractionRow.external_ref),
                InteractionRow.arrived_at,
                channels,
            )
            for row in uow.session.scalars(by_key):
                assert row.external_ref is not None
                lookups.by_thread_key[(org_id, row.channel, row.external_ref)] = row
    return lookups


def _by_org(
    senders: Sequence[tuple[InboundMessage, str]],
) -> dict[str, list[tuple[InboundMessage, str]]]:
    groups: dict[str, list[tuple[InboundMessage, str]]] = {}
    for message, address in senders:
        groups.setdefault(message.org_id, []).append((message, address))
    return groups


def _latest(
    org_id: str,
    which: ColumnElement[bool],
    partition: tuple[InstrumentedAttribute[Any], ...],
    newest: InstrumentedAttribute[datetime],
    channels: list[str],
) -> Select[InteractionRow]:
    """The newest interaction per `partition` among `which` (as the per-message queries
    order them: `newest`, then id)."""
    ranked = (
        select(
            InteractionRow.id,
            func.row_number()
            .over(partition_by=partition, order_by=(newest.desc(), InteractionRow.id.desc()))
            .label("rank"),
        )
        .where(InteractionRow.org_id == org_id, InteractionRow.channel.in_(channels), which)
        .subquery()
    )
    return (
        select(InteractionRow)
        .join(ranked, ranked.c.id == InteractionRow.id)
        .where(ranked.c.rank == 1)
    )


def dedupe_key(message: InboundMessage) -> DedupeKey:
    return (message.org_id, message.channel, message.external_id)


# -- identity ---------------------------------------------------------------------------


def _resolve_customer(
    uow: UnitOfWork,
    message: InboundMessage,
    address: str,
    now: datetime,
    lookups: BatchLookups | None = None,
) -> tuple[CustomerRow, bool]:
    """The customer owning the sender's contact point, else a new one. Two first messages
    from one new address racing each other meet at the contact point's UNIQUE constraint;
    the loser's savepoint is rolled back and it takes the winner's customer (in a batch:
    the batch fails at its commit and is redone one by one, which gets here)."""
    kind = message.sender.kind.value
    key = (message.org_id, kind, address)
    if lookups is not None:
        found = lookups.owners.get(key)
    else:
        found = _owner(uow, message.org_id, kind, address)
    if found is not None:
        return found, False
    customer = CustomerRow(
        id=new_id(),
        org_id=message.org_id,
        display_name=_display_name(message.sender.display_name, address),
        company=None,
        tags=[],
        attributes={},
        created_at=now,
        updated_at=now,
    )
    point = ContactPointRow(
        id=new_id(),
        org_id=message.org_id,
        customer_id=customer.id,
        kind=kind,
        value=address,
        label=None,
        created_at=now,
    )
    customer.search_text = f"{customer.display_name} {address}".lower()
    if lookups is not None:
        uow.session.add(customer)
        uow.session.flush()  # before its contact point: the ORM orders by class name
        uow.add_later(point)
        lookups.owners[key] = customer
    else:
        try:
            with uow.session.begin_nested():
                uow.session.add(customer)
                uow.session.flush()
                uow.session.add(point)
        except IntegrityError:
            found = _owner(uow, message.org_id, kind, address)
            if found is None:
                raise
            return found, False
    _announce_customer(uow, message, customer, point)
    return customer, True


def _owner(uow: UnitOfWork, org_id: str, kind: str, value: str) -> CustomerRow | None:
    # One query for the contact point and its customer. The customer is locked so that
    # concurrent messages of one customer thread one by one.
    return uow.session.scalar(
        select(CustomerRow)
        .join(ContactPointRow, ContactPointRow.customer_id == CustomerRow.id)
        .where(
            ContactPointRow.org_id == org_id,
            ContactPointRow.kind == kind,
            ContactPointRow.value == value,
            CustomerRow.org_id == org_id,
        )
        .with_for_update(of=CustomerRow)
    )


def _display_name(given: str | None, address: str) -> str:
    name = " ".join((given or "").split())  # one line: no CR/LF, no tabs
    name = "".join(c for c in name if c.isprintable())
    return (name or address)[:200]


def _announce_customer(
    uow: UnitOfWork, message: InboundMessage, customer: CustomerRow, point: ContactPointRow
) -> None:
    org_id = message.org_id
    uow.emit(
        CustomerCreated(org_id=org_id, customer_id=customer.id, display_name=customer.display_name)
    )
    uow.emit(
        ContactPointAdded(
            org_id=org_id, customer_id=customer.id, contact_point_id=point.id, kind=point.kind
        )
    )
    uow.audit(
        system_actor(org_id),
        "customer.created",
        "customer",
        customer.id,
        {"name": customer.display_name, "source": message.channel, point.kind: point.value},
    )


# -- threading --------------------------------------------------------------------------


def _thread(
    uow: UnitOfWork,
    message: InboundMessage,
    customer: CustomerRow,
    policy: ThreadingPolicy,
    now: datetime,
    lookups: BatchLookups | None = None,
) -> _Thread:
    if lookups is None:
        candidate = (
            _by_thread_key(uow, message)
            or _by_references(uow, message)
            or _latest_of_customer(uow, message, customer.id)
        )
    else:
        org_id, channel = message.org_id, message.channel
        candidate = (
            (lookups.by_thread_key.get((org_id, channel, message.thread_key or "")))
            or _by_references(uow, message)
            or lookups.latest.get((org_id, customer.id, channel))
        )
    if candidate is None:
        return _Thread(None, None)
    if message.auto_generated:
        return _Thread(candidate, None)  # stored where it belongs, whatever its state
    state = InteractionState(candidate.state)
    if state in OPEN_STATES and candidate.updated_at >= now - policy.open_window:
        return _Thread(candidate, None)
    resolved_at = candidate.ended_at or candidate.updated_at
    if state not in OPEN_STATES and resolved_at >= now - policy.reopen_window:
        return _Thread(None, candidate)
    return _Thread(None, None)


def _by_thread_key(uow: UnitOfWork, message: InboundMessage) -> InteractionRow | None:
    if not message.thread_key:
        return None
    return uow.session.scalar(
        select(InteractionRow)
        .where(
            InteractionRow.org_id == message.org_id,
            InteractionRow.channel == message.channel,
            InteractionRow.external_ref == message.thread_key,
        )
        .order_by(InteractionRow.arrived_at.desc(), InteractionRow.id.desc())
        .limit(1)
    )


def _by_references(uow: UnitOfWork, message: InboundMessage) -> InteractionRow | None:
    refs = [r for r in message.references[-MAX_REFERENCES:] if r and len(r) <= 500]
    if not refs:
        return None
    uow.flush_later()  # a reference may name a message of the same batch
    inbound = select(MessageRow.interaction_id).where(
        MessageRow.org_id == message.org_id,
        MessageRow.channel == message.channel,
        MessageRow.external_id.in_(refs),
    )
    outbound = select(DeliveryRow.interaction_id).where(
        DeliveryRow.org_id == message.org_id,
        DeliveryRow.channel == message.channel,
        DeliveryRow.provider_message_id.in_(refs),
    )
    return uow.session.scalar(
        select(InteractionRow)
        .where(
            InteractionRow.org_id == message.org_id,
            InteractionRow.id.in_(inbound.union(outbound).scalar_subquery()),
        )
        .order_by(InteractionRow.arrived_at.desc(), InteractionRow.id.desc())
        .limit(1)
    )


def _latest_of_customer(
    uow: UnitOfWork, message: InboundMessage, customer_id: str
) -> InteractionRow | None:
    return uow.session.scalar(
        select(InteractionRow)
        .where(
            InteractionRow.org_id == message.org_id,
            InteractionRow.customer_id == customer_id,
            InteractionRow.channel == message.channel,
        )
        .order_by(InteractionRow.updated_at.desc(), InteractionRow.id.desc())
        .limit(1)
    )


# -- storing ----------------------------------------------------------------------------


def _conversation(
    uow: UnitOfWork,
    message: InboundMessage,
    customer: CustomerRow,
    thread: _Thread,
    now: datetime,
    lookups: BatchLookups | None = None,
) -> tuple[InteractionRow, bool]:
    """The interaction to store into, and whether it was created for this message."""
    if thread.interaction is not None:
        uow.update_later(thread.interaction, updated_at=now)
        row, created = thread.interaction, False
    else:
        row, created = _open(uow, message, customer, now, lookups), True
    if lookups is not None:
        # Keep the batch's look-ups what the queries would now answer: the conversation
        # just touched is the latest (updated_at) of ITS customer — who may not be the
        # sender, when a thread key joined them — and, if new, the newest of its key.
        if row.customer_id is not None:
            lookups.latest[(message.org_id, row.customer_id, row.channel)] = row
        if created and row.external_ref:
            lookups.by_thread_key[(message.org_id, row.channel, row.external_ref)] = row
    return row, created


def _open(
    uow: UnitOfWork,
    message: InboundMessage,
    customer: CustomerRow,
    now: datetime,
    lookups: BatchLookups | None,
) -> InteractionRow:
    if lookups is not None and message.queue_id is not None:
        queue_key = (message.org_id, message.queue_id)
        if queue_key not in lookups.queues:
            lookups.queues[queue_key] = _queue_of(uow, message)
        queue_id, team_id = lookups.queues[queue_key]
    else:
        queue_id, team_id = _queue_of(uow, message)
    # Automatic mail with nowhere to go is kept in a conversation that is already over:
    # it never waits in a queue nor asks anyone to answer.
    state = S.CLOSED if message.auto_generated else S.ARRIVED
    row = InteractionRow(
        id=new_id(),
        org_id=message.org_id,
        customer_id=customer.id,
        channel=message.channel,
        direction=Direction.INBOUND.value,
        state=state.value,
        queue_id=queue_id,
        team_id=team_id,
        subject=_one_line(message.subject, 500),
        external_ref=message.thread_key,
        arrived_at=now,
        ended_at=now if message.auto_generated else None,
        wrapup_ended_at=now if message.auto_generated else None,
        updated_at=now,
    )
    uow.session.add(row)
    uow.session.flush()  # rows without relationships are inserted in the order flushed
    uow.add_later(
        ParticipantRow(
            id=new_id(),
            org_id=message.org_id,
            interaction_id=row.id,
            role=ParticipantRole.CUSTOMER.value,
            customer_id=customer.id,
            joined_at=now,
            left_at=now if message.auto_generated else None,
        )
    )
    return row


def _queue_of(uow: UnitOfWork, message: InboundMessage) -> tuple[str | None, str | None]:
    if message.queue_id is None:
        return None, None
    queue = store.find_queue(uow.session, message.org_id, message.queue_id)
    return (None, None) if queue is None else (queue.id, queue.team_id)


def _message(message: InboundMessage, interaction: InteractionRow, now: datetime) -> MessageRow:
    return MessageRow(
        id=new_id(),
        org_id=message.org_id,
        interaction_id=interaction.id,
        channel=message.channel,
        external_id=message.external_id,
        direction=Direction.INBOUND.value,
        author_kind=AuthorKind.CUSTOMER.value,
        internal=False,
        body_text=_text(message.text, MAX_TEXT),
        created_at=now,
    )


def _store_source(
    uow: UnitOfWork,
    prepared: PreparedMessage,
    row: MessageRow,
    interaction: InteractionRow,
    address: str,
    now: datetime,
) -> None:
    message = prepared.message
    source = _source(message, row, interaction, address, prepared.raw_key, now)
    if prepared.raw_key is None and message.raw is not None:
        source.raw_inline = message.raw
    uow.add_later(source)
    for attachment, key in zip(message.attachments, prepared.attachment_keys, strict=True):
        _store_attachment(uow, key, row, attachment, now)


def _source(
    message: InboundMessage,
    row: MessageRow,
    interaction: InteractionRow,
    address: str,
    raw_key: str | None,
    now: datetime,
) -> MessageSourceRow:
    return MessageSourceRow(
        message_id=row.id,
        org_id=message.org_id,
        interaction_id=interaction.id,
        channel=message.channel,
        account_id=message.account_id,
        sender_kind=message.sender.kind.value,
        sender_address=address,
        recipient=_one_line(message.recipient, 320),
        thread_key=message.thread_key,
        subject=_one_line(message.subject, 500),
        quoted_text=None if message.quoted_text is None else _text(message.quoted_text, MAX_TEXT),
        html=None if message.html is None else _text(message.html, 1_000_000),
        auto_generated=message.auto_generated,
        raw_key=raw_key,
        extra={k[:100]: _text(v, 2000) for k, v in list(message.metadata.items())[:50]},
        received_at=message.received_at if message.received_at.tzinfo else now,
    )


def _store_attachment(
    uow: UnitOfWork, key: str, message: MessageRow, part: InboundAttachment, now: datetime
) -> None:
    """The same safety as uploads: sniffed type, sanitised name, bytes in the blob store
    (under `key`, by `prepare`) before the row commits."""
    declared = part.declared_content_type
    row = AttachmentRow(
        id=new_id(),
        org_id=message.org_id,
        message_id=message.id,
        interaction_id=message.interaction_id,
        filename=sanitise_filename(part.filename),
        declared_content_type=None if declared is None else _one_line(declared, 255),
        content_type=sniff_content_type(part.data),
        size_bytes=len(part.data),
        sha256=hashlib.sha256(part.data).hexdigest(),
        storage_key=key,
        uploaded_by=None,
        created_at=now,
    )
    uow.session.add(row)
    uow.emit(
        AttachmentStored(
            org_id=message.org_id,
            attachment_id=row.id,
            interaction_id=row.interaction_id,
            content_type=row.content_type,
            size_bytes=row.size_bytes,
        )
    )


def _link_cases(uow: UnitOfWork, previous: InteractionRow, current: InteractionRow) -> None:
    """A follow-up conversation joins the cases of the conversation it follows."""
    case_ids = uow.session.scalars(
        select(CaseInteractionRow.case_id).where(
            CaseInteractionRow.org_id == previous.org_id,
            CaseInteractionRow.interaction_id == previous.id,
        )
    )
    for case_id in list(case_ids):
        uow.session.add(
            CaseInteractionRow(case_id=case_id, interaction_id=current.id, org_id=current.org_id)
        )


def _emit(
    uow: UnitOfWork,
    message: InboundMessage,
    customer: CustomerRow,
    interaction: InteractionRow,
    row: MessageRow,
    *,
    created: bool,
    follows: InteractionRow | None,
) -> None:
    org_id = message.org_id
    opened = created and not message.auto_generated
    if created:
        uow.emit(
            InteractionCreated(
                org_id=org_id,
                interaction_id=interaction.id,
                channel=interaction.channel,
                direction=interaction.direction,
                customer_id=customer.id,
                queue_id=interaction.queue_id,
                state=interaction.state,
                assigned_user_id=interaction.assigned_user_id,
            )
        )
    if opened:
        uow.emit(
            ConversationOpened(
                org_id=org_id,
                interaction_id=interaction.id,
                customer_id=customer.id,
                channel=interaction.channel,
                queue_id=interaction.queue_id,
                continues_interaction_id=None if follows is None else follows.id,
            )
        )
    uow.emit(
        MessageAdded(
            org_id=org_id,
            interaction_id=interaction.id,
            message_id=row.id,
            direction=row.direction,
            internal=False,
            interaction_state=interaction.state,
        )
    )
    uow.emit(
        InboundMessageReceived(
            org_id=org_id,
            interaction_id=interaction.id,
            message_id=row.id,
            customer_id=customer.id,
            channel=message.channel,
            opened_interaction=opened,
            auto_generated=message.auto_generated,
        )
    )
    uow.audit(
        system_actor(org_id),
        "message.received",
        "interaction",
        interaction.id,
        {"message_id": row.id, "channel": message.channel, "opened": opened},
    )


def _one_line(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    cleaned = "".join(c for c in value if c.isprintable() or c == " ").strip()
    return cleaned[:limit] or None


def _text(value: str, limit: int) -> str:
    return value.replace("\x00", "")[:limit]
