"""Outbound messages: replies are stored and queued in one transaction, then sent by the
delivery worker with retries and backoff. Nothing queued vanishes: a delivery ends
'sent' (and maybe 'delivered') or visibly 'failed' with its last error and an event.

Crash safety: the worker first marks a delivery 'sending' with a lease (committed), then
calls the adapter outside any transaction, then records the outcome. A process that dies
in between leaves the row 'sending'; when the lease runs out any worker claims it again
and calls the adapter with the same `delivery_id`, so providers that dedupe on it (the
generic SMS provider, the API channel's webhook receivers) see one message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from jietong.channels import store
from jietong.channels.accounts import to_channel_account
from jietong.channels.base import DeliveryResult, OutboundMessage, Party
from jietong.channels.registry import ChannelRegistry
from jietong.channels.reply_contents import (
    ContentGone,
    ReplyParts,
    check_parts,
    outbound_parts,
    store_parts,
)
from jietong.core.errors import Conflict, InvalidInput, NotFound
from jietong.core.ids import new_id
from jietong.core.pagination import Page, decode_cursor, page_of
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor, system_actor
from jietong.events.catalogue import MessageAdded
from jietong.events.channels import (
    DeliveryConfirmed,
    DeliveryFailed,
    DeliveryQueued,
    DeliveryRequeued,
    DeliveryRetryScheduled,
    DeliverySent,
)
from jietong.identity import store as identity_store
from jietong.identity.contact_points import ContactKind
from jietong.interactions.model import AuthorKind, Direction, reach_of
from jietong.interactions.service import acting_user_id, bounded, require_interaction
from jietong.storage.blobs import BlobStore
from jietong.storage.secretbox import UndecryptableSecret
from jietong.storage.tables import InteractionRow, MessageRow, UserRow
from jietong.storage.tables_channels import DeliveryRow
from jietong.storage.uow import UnitOfWork

ENTITY_TYPE = "delivery"
_ID = re.compile(r"^[0-9a-f]{32}$")
QUEUED, SENDING, SENT, DELIVERED, FAILED = "queued", "sending", "sent", "delivered", "failed"
STATUSES = (QUEUED, SENDING, SENT, DELIVERED, FAILED)


class DeliveryNotFound(NotFound):
    pass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: base * 2^(attempt-1), capped; failed after max_attempts."""

    max_attempts: int = 8
    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=2)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt (1-based)."""
        factor: int = 2 ** min(max(attempts - 1, 0), 30)
        delay: timedelta = min(self.cap, self.base * factor)
        return delay


PLAIN = ReplyParts()


@dataclass(frozen=True)
class Reply:
    message: MessageRow
    delivery: DeliveryRow
    parts: ReplyParts = PLAIN  # as stored: sanitised, deduplicated


@dataclass(frozen=True)
class DeliveryJob:
    """One claimed attempt: the worker hands `message` to the adapter of its channel."""

    delivery_id: str
    org_id: str
    attempt: int
    message: OutboundMessage


def send_reply(
    uow: UnitOfWork,
    actor: Actor,
    registry: ChannelRegistry,
    interaction_id: str,
    text: str,
    *,
    now: datetime,
    parts: ReplyParts = PLAIN,
    max_attachment_bytes: int = 25 * 1024 * 1024,
) -> Reply:
    """Store the agent's reply in the interaction and queue its delivery, in one
    transaction. The recipient is whoever wrote the interaction's latest inbound message,
    through the same account; without one, the customer's contact point of the channel's
    kind through the organisation's first account on the channel.

    `parts` (email only: sanitised HTML with `text` as its plain alternative, CC, files
    uploaded beforehand) go with it; see channels.reply_contents."""
    require(actor, Permission.INTERACTIONS_WRITE)
    interaction = require_interaction(uow, actor, interaction_id)
    adapter = registry.get(interaction.channel)
    recipient, account_id, thread = _addressee(uow, interaction, adapter.contact_kind)
    parts = check_parts(parts, kind=adapter.contact_kind, recipient=recipient.address)
    message = MessageRow(
        id=new_id(),
        org_id=interaction.org_id,
        interaction_id=interaction.id,
        channel=interaction.channel,
        direction=Direction.OUTBOUND.value,
        author_kind=AuthorKind.AGENT.value,
        author_user_id=acting_user_id(actor),
        internal=False,
        body_text=text,
        created_at=now,
    )
    uow.session.add(message)
    uow.session.flush()
    store_parts(uow, actor, interaction, message, parts, max_total_bytes=max_attachment_bytes)
    delivery = DeliveryRow(
        id=new_id(),
        org_id=interaction.org_id,
        channel=interaction.channel,
        account_id=account_id,
        interaction_id=interaction.id,
        message_id=message.id,
        recipient_kind=recipient.kind.value,
        recipient_address=recipient.address,
        thread=thread,
        status=QUEUED,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(delivery)
    interaction.updated_at = now
    _announce_reply(uow, actor, interaction, message, delivery)
    uow.commit()
    return Reply(message, delivery, parts)


def claim_due(
    uow: UnitOfWork,
    registry: ChannelRegistry,
    *,
    now: datetime,
    policy: RetryPolicy,
    limit: int,
    blobs: BlobStore | None = None,
) -> list[DeliveryJob]:
    """Mark up to `limit` due deliveries 'sending' (lease until now + policy.lease) and
    commit, so that a crash from here on leaves them to be claimed again. `blobs` holds
    the files replies carry; a reply whose file is gone fails at once (visibly), rather
    than going out without it."""
    rows = store.due_deliveries(uow.session, now, limit)
    jobs = []
    for row in rows:
        row.status = SENDING
        row.attempts += 1
        row.next_attempt_at = now + policy.lease
        row.updated_at = now
        try:
            jobs.append(_job(uow, registry, row, blobs))
        except (ContentGone, UndecryptableSecret) as exc:
            # Failed visibly (an admin can requeue it once the key is back), rather than
            # aborting the claim and blocking every delivery due after it.
            _mark_failed(uow, row, str(exc))
    uow.commit()
    return jobs


def record_attempt(
    uow: UnitOfWork, job: DeliveryJob, result: DeliveryResult, *, now: datetime, policy: RetryPolicy
) -> str | None:
    """Record what the attempt achieved; returns the new status, or None when the row
    was meanwhile claimed by another attempt (a lease that ran out) and is left alone."""
    row = store.find_delivery(uow.session, job.org_id, job.delivery_id, for_update=True)
    if row is None or row.status != SENDING or row.attempts != job.attempt:
        return None
    row.updated_at = now
    if result.ok:
        _mark_sent(uow, row, result, now)
    elif not result.retryable or row.attempts >= policy.max_attempts:
        _mark_failed(uow, row, result.error or "the provider refused the message")
    else:
        row.status = QUEUED
        row.last_error = _error(result.error)
        row.next_attempt_at = now + policy.delay(row.attempts)
        uow.emit(
            DeliveryRetryScheduled(
                org_id=row.org_id,
                delivery_id=row.id,
                interaction_id=row.interaction_id,
                attempts=row.attempts,
                error=row.last_error,
            )
        )
    uow.commit()
    return row.status


def record_provider_status(
    uow: UnitOfWork,
    org_id: str,
    channel: str,
    provider_message_id: str,
    *,
    delivered: bool | None,
    provider_status: str,
    error: str | None,
    now: datetime,
) -> DeliveryRow | None:
    """Apply a provider's status callback: `delivered` True confirms delivery, False
    marks the delivery failed (undeliverable), None only records the provider's word.
    Returns None for a message id we never sent (the caller answers 404)."""
    row = store.find_delivery_by_provider_id(uow.session, org_id, channel, provider_message_id)
    if row is None:
        return None
    row.provider_status = provider_status[:32]
    row.updated_at = now
    if delivered is True and row.status in (SENT, SENDING, QUEUED):
        row.status = DELIVERED
        row.delivered_at = now
        uow.emit(
            DeliveryConfirmed(
                org_id=org_id,
                delivery_id=row.id,
                interaction_id=row.interaction_id,
                channel=row.channel,
            )
        )
    elif delivered is False and row.status != FAILED:
        _mark_failed(uow, row, error or f"the provider reported '{provider_status}'")
    uow.commit()
    return row


def requeue_delivery(uow: UnitOfWork, actor: Actor, delivery_id: str) -> DeliveryRow:
    """Put a failed delivery back in the queue with fresh attempts (Conflict otherwise)."""
    require(actor, Permission.INTERACTIONS_WRITE)
    row = _visible(uow, actor, delivery_id, for_update=True)
    if row.status != FAILED:
        raise Conflict(f"only failed deliveries can be retried; this one is {row.status}")
    row.status = QUEUED
    row.attempts = 0
    row.next_attempt_at = uow.now
    row.updated_at = uow.now
    uow.emit(
        DeliveryRequeued(org_id=row.org_id, delivery_id=row.id, interaction_id=row.interaction_id)
    )
    uow.audit(actor, "delivery.requeued", ENTITY_TYPE, row.id, {"last_error": row.last_error})
    uow.commit()
    return row


def get_delivery(uow: UnitOfWork, actor: Actor, delivery_id: str) -> DeliveryRow:
    require(actor, Permission.INTERACTIONS_READ)
    return _visible(uow, actor, delivery_id)


def list_deliveries(
    uow: UnitOfWork,
    actor: Actor,
    *,
    status: str | None = None,
    interaction_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[DeliveryRow]:
    """Deliveries of the interactions the actor may see, newest first."""
    require(actor, Permission.INTERACTIONS_READ)
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown delivery status '{status}'")
    limit = bounded(limit)
    rows = store.search_deliveries(
        uow.session,
        actor.org_id,
        reach=reach_of(actor),
        status=status,
        interaction_id=interaction_id,
        before_id=decode_cursor(cursor),
        limit=limit,
    )
    return page_of(rows, limit)


def _addressee(
    uow: UnitOfWork, interaction: InteractionRow, kind: ContactKind
) -> tuple[Party, str | None, dict[str, str]]:
    source = store.latest_source(uow.session, interaction.org_id, interaction.id)
    if source is not None:
        thread = {"reply_to_message_id": source.message_id}
        if interaction.subject:
            thread["subject"] = interaction.subject
        replied = uow.session.get(MessageRow, source.message_id)
        if replied is not None and replied.external_id:
            # The provider's id of the message answered (email: its Message-ID), so the
            # reply threads under that message and not only under the conversation root.
            thread["in_reply_to"] = _bracketed(replied.external_id)
        if source.thread_key:
            thread["thread_key"] = source.thread_key
        if source.recipient:
            thread["our_address"] = source.recipient
        party = Party(kind=ContactKind(source.sender_kind), address=source.sender_address)
        return party, source.account_id, thread
    if interaction.customer_id is None:
        raise InvalidInput("this interaction has no customer to reply to")
    points = identity_store.contact_points_of(
        uow.session, interaction.org_id, [interaction.customer_id]
    )[interaction.customer_id]
    point = next((p for p in points if p.kind == kind.value), None)
    if point is None:
        raise InvalidInput(f"the customer has no {kind.value} to send to")
    account = store.first_enabled_account(uow.session, interaction.org_id, interaction.channel)
    return Party(kind=kind, address=point.value), None if account is None else account.id, {}


def _announce_reply(
    uow: UnitOfWork,
    actor: Actor,
    interaction: InteractionRow,
    message: MessageRow,
    delivery: DeliveryRow,
) -> None:
    uow.emit(
        MessageAdded(
            org_id=interaction.org_id,
            interaction_id=interaction.id,
            message_id=message.id,
            direction=message.direction,
            internal=False,
        )
    )
    uow.emit(
        DeliveryQueued(
            org_id=interaction.org_id,
            delivery_id=delivery.id,
            interaction_id=interaction.id,
            message_id=message.id,
            channel=delivery.channel,
        )
    )
    uow.audit(
        actor,
        "message.replied",
        "interaction",
        interaction.id,
        {"message_id": message.id, "delivery_id": delivery.id},
    )


def _job(
    uow: UnitOfWork, registry: ChannelRegistry, row: DeliveryRow, blobs: BlobStore | None
) -> DeliveryJob:
    message = uow.session.get(MessageRow, row.message_id)
    parts = outbound_parts(uow.session, blobs, row.message_id)
    account = None
    if row.account_id is not None:
        found = store.find_account(uow.session, row.account_id, org_id=row.org_id)
        account = None if found is None else to_channel_account(found, uow.secrets)
    sender = None
    if message is not None and message.author_user_id is not None:
        user = uow.session.get(UserRow, message.author_user_id)
        sender = None if user is None else user.display_name
    outbound = OutboundMessage(
        channel=row.channel,
        org_id=row.org_id,
        delivery_id=row.id,
        interaction_id=row.interaction_id,
        message_id=row.message_id,
        recipient=Party(kind=ContactKind(row.recipient_kind), address=row.recipient_address),
        text="" if message is None else message.body_text,
        html=parts.html,
        cc=parts.cc,
        attachments=parts.attachments,
        thread={str(k): str(v) for k, v in row.thread.items()},
        sender_name=sender,
        account=account,
    )
    return DeliveryJob(row.id, row.org_id, row.attempts, outbound)


def _mark_sent(uow: UnitOfWork, row: DeliveryRow, result: DeliveryResult, now: datetime) -> None:
    row.status = SENT
    row.sent_at = now
    row.next_attempt_at = None
    row.last_error = None
    if result.provider_message_id:
        row.provider_message_id = result.provider_message_id[:255]
    uow.emit(
        DeliverySent(
            org_id=row.org_id,
            delivery_id=row.id,
            interaction_id=row.interaction_id,
            channel=row.channel,
            attempts=row.attempts,
            provider_message_id=row.provider_message_id,
        )
    )


def _mark_failed(uow: UnitOfWork, row: DeliveryRow, error: str) -> None:
    row.status = FAILED
    row.next_attempt_at = None
    row.last_error = _error(error)
    uow.emit(
        DeliveryFailed(
            org_id=row.org_id,
            delivery_id=row.id,
            interaction_id=row.interaction_id,
            channel=row.channel,
            attempts=row.attempts,
            error=row.last_error,
        )
    )
    uow.audit(
        system_actor(row.org_id),
        "delivery.failed",
        ENTITY_TYPE,
        row.id,
        {"error": row.last_error, "attempts": row.attempts},
    )


def _visible(
    uow: UnitOfWork, actor: Actor, delivery_id: str, *, for_update: bool = False
) -> DeliveryRow:
    row = None
    if _ID.match(delivery_id):
        row = store.find_delivery(uow.session, actor.org_id, delivery_id, for_update=for_update)
    if row is None:
        raise DeliveryNotFound(f"delivery {delivery_id} not found")
    try:
        require_interaction(uow, actor, row.interaction_id)
    except NotFound:
        raise DeliveryNotFound(f"delivery {delivery_id} not found") from None
    return row


def _error(error: str | None) -> str:
    return (error or "unknown error")[:1000]


def _bracketed(message_id: str) -> str:
    return message_id if message_id.startswith("<") else f"<{message_id}>"
