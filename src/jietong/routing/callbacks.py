"""Callback-in-queue: the customer stops holding but keeps their place (virtual hold), or
asks to be reached at a time they choose. A callback is a queue entry like any other: it
is routed by the same engine and policies, offered, accepted; on accept the
`CallbackStarted` event tells the voice or messaging channel to reach the customer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from jietong.core.errors import Conflict, InvalidInput
from jietong.core.ids import new_id
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor, system_actor
from jietong.events.routing import CallbackStarted
from jietong.interactions.model import Channel, Direction, InteractionTrigger
from jietong.interactions.schemas import InteractionCreate
from jietong.interactions.service import (
    create_interaction,
    require_interaction,
    transition_interaction,
    transition_interaction_uncommitted,
)
from jietong.routing import store
from jietong.routing.entries import base_priority, to_callback
from jietong.routing.model import LIVE_CHANNELS, EntryKind, EntryState
from jietong.routing.stats import NotQueued
from jietong.storage.tables_routing import RoutingEntryRow
from jietong.storage.uow import UnitOfWork

MAX_AHEAD = timedelta(days=30)
CALLBACK_CHANNELS = frozenset({"call", "sms", "wechat", "email"})


def request_callback(
    uow: UnitOfWork,
    actor: Actor,
    interaction_id: str,
    *,
    channel: str,
    to: str | None,
    at: datetime | None,
    now: datetime,
) -> RoutingEntryRow:
    """Turn a waiting interaction into a callback. Without ``at`` it keeps its place and
    is offered when its turn comes; with ``at`` it waits until then."""
    require(actor, Permission.INTERACTIONS_WRITE)
    _check(channel, at, now)
    row = require_interaction(uow, actor, interaction_id)
    _check_reachable(channel, row.customer_id)
    entry = store.find_entry_of(uow.session, actor.org_id, row.id, for_update=True)
    if entry is None or entry.state not in (EntryState.WAITING.value, EntryState.OFFERED.value):
        raise NotQueued(f"interaction {interaction_id} is not waiting in a queue")
    if entry.state == EntryState.OFFERED.value:
        raise Conflict("the interaction is being offered to an agent right now")
    to_callback(uow, entry, channel=channel, to=to, at=at, now=now)
    uow.audit(
        actor,
        "routing.callback_requested",
        "interaction",
        interaction_id,
        {"channel": channel, "at": None if at is None else at.isoformat()},
    )
    uow.commit()
    return entry


def schedule_callback(
    uow: UnitOfWork,
    actor: Actor,
    *,
    queue_id: str,
    channel: str,
    customer_id: str | None,
    to: str | None,
    at: datetime | None,
    subject: str | None,
    now: datetime,
) -> RoutingEntryRow:
    """A new callback request (from the web, the IVR or the API): an outbound interaction
    queued as a callback, at ``at`` or as soon as an agent is free."""
    require(actor, Permission.INTERACTIONS_WRITE)
    _check(channel, at, now)
    if customer_id is None and to is None:
        raise InvalidInput("a callback needs a customer_id or a 'to' address")
    _check_reachable(channel, customer_id)
    view = create_interaction(
        uow,
        actor,
        InteractionCreate(
            channel=Channel(channel),
            direction=Direction.OUTBOUND,
            customer_id=customer_id,
            queue_id=queue_id,
            subject=subject,
        ),
    )
    interaction = view.interaction
    entry = RoutingEntryRow(
        id=new_id(),
        org_id=actor.org_id,
        interaction_id=interaction.id,
        queue_id=queue_id,
        channel=interaction.channel,
        kind=EntryKind.CALLBACK.value,
        state=EntryState.WAITING.value,
        priority=base_priority(uow, interaction),
        enqueued_at=now,
        queue_entered_at=now,
        available_at=None,
        overflow_stage=0,
        offers=0,
        updated_at=now,
    )
    uow.session.add(entry)
    uow.session.flush()
    to_callback(uow, entry, channel=channel, to=to, at=at, now=now)
    uow.audit(
        actor,
        "routing.callback_scheduled",
        "interaction",
        interaction.id,
        {"channel": channel, "at": None if at is None else at.isoformat()},
    )
    # Queued and given its entry in one transaction (the interactions service commits).
    transition_interaction(uow, actor, interaction.id, InteractionTrigger.ENQUEUE)
    return entry


def _check_reachable(channel: str, customer_id: str | None) -> None:
    """A messaging callback becomes a conversation with the customer, and a reply goes
    to their contact point of the channel's kind: the customer must be known."""
    if channel not in LIVE_CHANNELS and customer_id is None:
        raise InvalidInput(f"a callback by {channel} needs a known customer (customer_id)")


def _check(channel: str, at: datetime | None, now: datetime) -> None:
    if channel not in CALLBACK_CHANNELS:
        raise InvalidInput(
            f"a callback reaches the customer by {', '.join(sorted(CALLBACK_CHANNELS))}"
        )
    if at is not None and not (now - timedelta(minutes=1) <= at <= now + MAX_AHEAD):
        raise InvalidInput("the callback time must be between now and 30 days ahead")


def open_conversation(uow: UnitOfWork, entry: RoutingEntryRow, agent_id: str) -> str:
    """The agent accepted a callback to be made on a messaging channel: the outbound
    conversation in which they write to the customer, connected to them; returns its id
    and emits `CallbackStarted`. A callback already on that channel (scheduled through
    `schedule_callback`) is its own conversation. Otherwise (a caller or chatter who
    asked to be answered by SMS, WeChat or email) a new outbound interaction is opened
    for the customer and the original one, now answered by it, ends and closes. Commits."""
    system = system_actor(entry.org_id)
    channel = entry.callback_channel or entry.channel
    original = require_interaction(uow, system, entry.interaction_id)
    conversation = original.id
    if original.channel != channel:
        view = create_interaction(
            uow,
            system,
            InteractionCreate(
                channel=channel,
                direction=Direction.OUTBOUND,
                customer_id=original.customer_id,
                queue_id=original.queue_id,
                team_id=original.team_id,
                subject=original.subject,
            ),
        )
        conversation = view.interaction.id
        transition_interaction_uncommitted(
            uow, system, conversation, InteractionTrigger.CONNECT, assigned_user_id=agent_id
        )
        for trigger in (InteractionTrigger.END, InteractionTrigger.CLOSE):
            transition_interaction_uncommitted(uow, system, original.id, trigger)
    uow.emit(
        CallbackStarted(
            org_id=entry.org_id,
            entry_id=entry.id,
            interaction_id=entry.interaction_id,
            agent_id=agent_id,
            channel=channel,
            to=entry.callback_to,
            conversation_id=conversation,
        )
    )
    uow.commit()
    return conversation
