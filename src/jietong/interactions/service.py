"""Interaction decisions: creation, lifecycle moves, messages, the customer timeline.

Every read is authorised: an actor who may not see an interaction is told it does not
exist (InteractionNotFound), so ids of other teams' or organisations' work never leak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from jietong.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from jietong.core.ids import new_id
from jietong.core.pagination import MAX_LIMIT, Page, decode_cursor, page_of
from jietong.core.permissions import Permission, require
from jietong.core.statemachine import Transition
from jietong.core.tenancy import SYSTEM_USER_ID, Actor
from jietong.events.catalogue import InteractionCreated, InteractionStateChanged, MessageAdded
from jietong.identity.service import CustomerNotFound, require_customer
from jietong.interactions import store
from jietong.interactions.model import (
    ASSIGNING_TRIGGERS,
    OFFEREE_TRIGGERS,
    REQUEUE_TRIGGERS,
    AuthorKind,
    Direction,
    InteractionState,
    InteractionTrigger,
    Milestones,
    ParticipantRole,
    lifecycle_for,
    reach_of,
    stamp,
    within_reach,
)
from jietong.interactions.schemas import InteractionCreate, MessageCreate
from jietong.storage.audience import remember_former_assignee
from jietong.storage.tables import (
    InteractionRow,
    MessageRow,
    ParticipantRow,
    TransitionRow,
    UserRow,
)
from jietong.storage.uow import UnitOfWork

ENTITY_TYPE = "interaction"
_ID = re.compile(r"^[0-9a-f]{32}$")
S = InteractionState
E = TypeVar("E", bound=StrEnum)


class InteractionNotFound(NotFound):
    pass


@dataclass(frozen=True)
class InteractionView:
    interaction: InteractionRow
    participants: list[ParticipantRow] = field(default_factory=list)

    @property
    def allowed_triggers(self) -> list[str]:
        """The triggers legal from the interaction's current state."""
        row = self.interaction
        lifecycle = lifecycle_for(Direction(row.direction))
        return lifecycle.triggers_from(InteractionState(row.state))


@dataclass(frozen=True)
class AddedMessage:
    """The stored message; `created` is False when its external id repeated an earlier
    delivery and the earlier message is returned instead."""

    message: MessageRow
    created: bool


def create_interaction(uow: UnitOfWork, actor: Actor, data: InteractionCreate) -> InteractionView:
    """Start an interaction in state 'arrived'. Its team is the queue's team unless given;
    every referenced id must belong to the actor's organisation (else InvalidInput)."""
    require(actor, Permission.INTERACTIONS_WRITE)
    team_id = _owning_team(uow, actor.org_id, data.queue_id, data.team_id)
    if data.customer_id is not None:
        _require_customer_ref(uow, actor.org_id, data.customer_id)
    if data.assigned_user_id is not None:
        require_user(uow, actor.org_id, data.assigned_user_id)
    row = InteractionRow(
        id=new_id(),
        org_id=actor.org_id,
        customer_id=data.customer_id,
        channel=data.channel,
        direction=data.direction.value,
        state=InteractionState.ARRIVED.value,
        queue_id=data.queue_id,
        team_id=team_id,
        assigned_user_id=data.assigned_user_id,
        subject=data.subject,
        external_ref=data.external_ref,
        arrived_at=uow.now,
        updated_at=uow.now,
    )
    uow.session.add(row)
    uow.session.flush()
    participants: list[ParticipantRow] = []
    if row.customer_id is not None:
        participants.append(_join(uow, row, ParticipantRole.CUSTOMER, customer_id=row.customer_id))
    uow.emit(
        InteractionCreated(
            org_id=actor.org_id,
            interaction_id=row.id,
            channel=row.channel,
            direction=row.direction,
            customer_id=row.customer_id,
            queue_id=row.queue_id,
            state=row.state,
            assigned_user_id=row.assigned_user_id,
        )
    )
    uow.audit(
        actor,
        "interaction.created",
        ENTITY_TYPE,
        row.id,
        {"channel": row.channel, "direction": row.direction, "queue_id": row.queue_id},
    )
    uow.commit()
    return InteractionView(row, participants)


def get_interaction(uow: UnitOfWork, actor: Actor, interaction_id: str) -> InteractionView:
    require(actor, Permission.INTERACTIONS_READ)
    row = require_interaction(uow, actor, interaction_id)
    return _views(uow, actor.org_id, [row])[0]


def list_interactions(
    uow: UnitOfWork,
    actor: Actor,
    *,
    state: InteractionState | None = None,
    channel: str | None = None,
    customer_id: str | None = None,
    queue_id: str | None = None,
    assigned_user_id: str | None = None,
    query: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[InteractionView]:
    """The interactions the actor may see, newest first; `query` matches the subject."""
    require(actor, Permission.INTERACTIONS_READ)
    where = store.InteractionFilter(
        state=None if state is None else state.value,
        channel=channel,
        customer_id=customer_id,
        queue_id=queue_id,
        assigned_user_id=assigned_user_id,
        text=search_text(query),
    )
    limit = bounded(limit)
    rows = store.search_interactions(
        uow.session,
        actor.org_id,
        reach=reach_of(actor),
        where=where,
        before_id=decode_cursor(cursor),
        limit=limit,
    )
    page = page_of(rows, limit)
    return Page(_views(uow, actor.org_id, page.items), page.next_cursor)


def customer_timeline(
    uow: UnitOfWork, actor: Actor, customer_id: str, *, cursor: str | None, limit: int
) -> Page[InteractionView]:
    """Every interaction of the customer the actor may see, across channels, latest
    arrival first. CustomerNotFound if the customer is not in the actor's organisation."""
    require(actor, Permission.INTERACTIONS_READ)
    if not _ID.match(customer_id):
        raise CustomerNotFound(f"customer {customer_id} not found")
    require_customer(uow, actor.org_id, customer_id)
    limit = bounded(limit)
    rows = store.interactions_of_customer(
        uow.session,
        actor.org_id,
        customer_id,
        reach=reach_of(actor),
        before=_timeline_position(uow, actor, customer_id, decode_cursor(cursor)),
        limit=limit,
    )
    page = page_of(rows, limit)
    return Page(_views(uow, actor.org_id, page.items), page.next_cursor)


def transition_interaction(
    uow: UnitOfWork,
    actor: Actor,
    interaction_id: str,
    trigger: str,
    *,
    assigned_user_id: str | None = None,
) -> InteractionView:
    """Fire `trigger`: IllegalTransition if the lifecycle forbids it from the current
    state. 'offer' needs `assigned_user_id`; only the offered agent (or someone who sees
    the whole organisation) may accept or decline; returning to the queue unassigns."""
    row = transition_interaction_uncommitted(
        uow, actor, interaction_id, trigger, assigned_user_id=assigned_user_id
    )
    uow.commit()
    return _views(uow, actor.org_id, [row])[0]


def transition_interaction_uncommitted(
    uow: UnitOfWork,
    actor: Actor,
    interaction_id: str,
    trigger: str,
    *,
    assigned_user_id: str | None = None,
) -> InteractionRow:
    """The same move without the commit: the caller commits (or rolls back) it together
    with its own changes — the routing engine lands all the offers of one decision in one
    commit. Raises (IllegalTransition, InteractionNotFound, InvalidInput,
    PermissionDenied) before changing anything. Returns the changed row."""
    require(actor, Permission.INTERACTIONS_WRITE)
    row = require_interaction(uow, actor, interaction_id, for_update=True)
    return transition_locked_uncommitted(
        uow, actor, row, trigger, assigned_user_id=assigned_user_id
    )


def transition_locked_uncommitted(
    uow: UnitOfWork,
    actor: Actor,
    row: InteractionRow,
    trigger: str,
    *,
    assigned_user_id: str | None = None,
) -> InteractionRow:
    """`transition_interaction_uncommitted` for a row the caller has already loaded and
    locked (`FOR UPDATE`) in this transaction — the routing engine locks a burst of
    arrivals with one query instead of one query each."""
    require(actor, Permission.INTERACTIONS_WRITE)
    if row.org_id != actor.org_id or not within_reach(
        reach_of(actor), row.team_id, row.assigned_user_id
    ):
        raise InteractionNotFound(f"interaction {row.id} not found")
    move = lifecycle_for(Direction(row.direction)).fire(InteractionState(row.state), trigger)
    _check_offeree(actor, row, move)
    assignee = _assignee_after(uow, actor, row, move, assigned_user_id)
    _apply(uow, row, move, assignee)
    record_transition(uow, actor, ENTITY_TYPE, row.id, move)
    uow.emit(
        InteractionStateChanged(
            org_id=actor.org_id,
            interaction_id=row.id,
            from_state=move.from_state.value,
            trigger=move.trigger,
            to_state=move.to_state.value,
            queue_id=row.queue_id,
            assigned_user_id=row.assigned_user_id,
        )
    )
    uow.audit(
        actor,
        "interaction.transitioned",
        ENTITY_TYPE,
        row.id,
        {
            "from": move.from_state.value,
            "trigger": move.trigger,
            "to": move.to_state.value,
            "assigned_user_id": row.assigned_user_id,
        },
    )
    return row


def list_transitions(uow: UnitOfWork, actor: Actor, interaction_id: str) -> list[TransitionRow]:
    """The interaction's recorded moves, oldest first."""
    require(actor, Permission.INTERACTIONS_READ)
    row = require_interaction(uow, actor, interaction_id)
    return store.transitions_of(uow.session, actor.org_id, ENTITY_TYPE, row.id)


def add_message(
    uow: UnitOfWork, actor: Actor, interaction_id: str, data: MessageCreate
) -> AddedMessage:
    """Store a message or internal note. A message whose (channel, external_id) was seen
    before is not stored twice: the first one is returned (Conflict if it belongs to
    another interaction). The UNIQUE constraint decides between racing deliveries."""
    require(actor, Permission.INTERACTIONS_WRITE)
    interaction = require_interaction(uow, actor, interaction_id)
    if data.internal and data.author_kind is AuthorKind.CUSTOMER:
        raise InvalidInput("an internal note cannot be authored by the customer")
    earlier = _earlier_delivery(uow, interaction, data.external_id)
    if earlier is not None:
        return earlier
    message = _new_message(uow, actor, interaction, data)
    if not _inserted(uow, message):
        # A concurrent delivery of the same external id committed first.
        earlier = _earlier_delivery(uow, interaction, data.external_id)
        if earlier is None:
            raise Conflict("the message could not be stored")
        return earlier
    interaction.updated_at = uow.now
    uow.emit(
        MessageAdded(
            org_id=actor.org_id,
            interaction_id=interaction.id,
            message_id=message.id,
            direction=message.direction,
            internal=message.internal,
            interaction_state=interaction.state,
        )
    )
    uow.audit(
        actor,
        "message.added",
        ENTITY_TYPE,
        interaction.id,
        {"message_id": message.id, "internal": message.internal},
    )
    uow.commit()
    return AddedMessage(message, created=True)


def list_messages(
    uow: UnitOfWork, actor: Actor, interaction_id: str, *, cursor: str | None, limit: int
) -> Page[MessageRow]:
    """The interaction's messages and notes in reading order (oldest first)."""
    require(actor, Permission.INTERACTIONS_READ)
    interaction = require_interaction(uow, actor, interaction_id)
    limit = bounded(limit)
    rows = store.messages_of(
        uow.session, actor.org_id, interaction.id, after_id=decode_cursor(cursor), limit=limit
    )
    return page_of(rows, limit)


def require_interaction(
    uow: UnitOfWork, actor: Actor, interaction_id: str, *, for_update: bool = False
) -> InteractionRow:
    """The interaction if it is in the actor's organisation and within their reach, else
    InteractionNotFound. Checks no permission: callers do (cases, attachments use it)."""
    row = None
    if _ID.match(interaction_id):
        row = store.find_interaction(
            uow.session, actor.org_id, interaction_id, for_update=for_update
        )
    if row is None or not within_reach(reach_of(actor), row.team_id, row.assigned_user_id):
        raise InteractionNotFound(f"interaction {interaction_id} not found")
    return row


def record_transition(
    uow: UnitOfWork, actor: Actor, entity_type: str, entity_id: str, move: Transition[E]
) -> None:
    """Append from -[trigger]-> to, by whom and when, to the transition history."""
    uow.session.add(
        TransitionRow(
            org_id=actor.org_id,
            entity_type=entity_type,
            entity_id=entity_id,
            from_state=move.from_state.value,
            trigger=move.trigger,
            to_state=move.to_state.value,
            actor_id=acting_user_id(actor),
            at=uow.now,
        )
    )


def acting_user_id(actor: Actor) -> str | None:
    """The actor's user id, or None for the platform itself (which has no user row)."""
    return None if actor.user_id == SYSTEM_USER_ID else actor.user_id


def require_user(uow: UnitOfWork, org_id: str, user_id: str) -> UserRow:
    """An active user of the organisation, else InvalidInput (a bad reference in a body)."""
    user = store.find_user(uow.session, org_id, user_id)
    if user is None or not user.active:
        raise InvalidInput(f"unknown or inactive user {user_id}")
    return user


def search_text(query: str | None) -> str | None:
    """The lower-case search text of a free-text query, or None for no search."""
    if query is None or not query.strip():
        return None
    if "\x00" in query:
        raise InvalidInput("the search text must not contain NUL characters")
    return query.strip().lower()[:200]


def bounded(limit: int) -> int:
    """A page size within 1..MAX_LIMIT, whatever a caller asked for."""
    return max(1, min(limit, MAX_LIMIT))


def _views(uow: UnitOfWork, org_id: str, rows: list[InteractionRow]) -> list[InteractionView]:
    participants = store.participants_of(uow.session, org_id, [r.id for r in rows])
    return [InteractionView(r, participants[r.id]) for r in rows]


def _owning_team(
    uow: UnitOfWork, org_id: str, queue_id: str | None, team_id: str | None
) -> str | None:
    queue_team = None
    if queue_id is not None:
        queue = store.find_queue(uow.session, org_id, queue_id)
        if queue is None:
            raise InvalidInput(f"unknown queue {queue_id}")
        queue_team = queue.team_id
    if team_id is None:
        return queue_team
    if store.find_team(uow.session, org_id, team_id) is None:
        raise InvalidInput(f"unknown team {team_id}")
    if queue_team is not None and queue_team != team_id:
        raise InvalidInput("team_id differs from the team of the queue")
    return team_id


def _require_customer_ref(uow: UnitOfWork, org_id: str, customer_id: str) -> None:
    try:
        require_customer(uow, org_id, customer_id)
    except CustomerNotFound:
        # A bad reference inside a request body is invalid input, not a missing resource.
        raise InvalidInput(f"unknown customer {customer_id}") from None


def _timeline_position(
    uow: UnitOfWork, actor: Actor, customer_id: str, last_id: str | None
) -> tuple[datetime, str] | None:
    if last_id is None:
        return None
    row = store.find_interaction(uow.session, actor.org_id, last_id)
    if (
        row is None
        or row.customer_id != customer_id
        or not within_reach(reach_of(actor), row.team_id, row.assigned_user_id)
    ):
        raise InvalidInput("malformed cursor")
    return row.arrived_at, row.id


def _check_offeree(actor: Actor, row: InteractionRow, move: Transition[InteractionState]) -> None:
    if move.trigger not in OFFEREE_TRIGGERS or actor.sees_whole_organisation:
        return
    if row.assigned_user_id != actor.user_id:
        raise PermissionDenied("only the offered agent may accept or decline an offer")


def _assignee_after(
    uow: UnitOfWork,
    actor: Actor,
    row: InteractionRow,
    move: Transition[InteractionState],
    assigned_user_id: str | None,
) -> str | None:
    trigger = move.trigger
    if assigned_user_id is not None and trigger not in ASSIGNING_TRIGGERS:
        raise InvalidInput("assigned_user_id applies only to offer, dial and connect")
    if assigned_user_id is not None:
        return require_user(uow, row.org_id, assigned_user_id).id
    if trigger == InteractionTrigger.OFFER:
        raise InvalidInput("an offer needs assigned_user_id: the agent offered")
    if trigger in REQUEUE_TRIGGERS:
        return None
    if trigger in ASSIGNING_TRIGGERS:
        agent = row.assigned_user_id or acting_user_id(actor)
        if agent is None:
            raise InvalidInput("an outbound contact needs assigned_user_id: the agent")
        return agent
    return row.assigned_user_id


def _apply(
    uow: UnitOfWork, row: InteractionRow, move: Transition[InteractionState], assignee: str | None
) -> None:
    now = uow.now
    after = stamp(_milestones(row), move.to_state, now)
    row.queued_at = after.queued_at
    row.offered_at = after.offered_at
    row.answered_at = after.answered_at
    row.ended_at = after.ended_at
    row.wrapup_ended_at = after.wrapup_ended_at
    row.state = move.to_state.value
    if assignee != row.assigned_user_id:
        # The event about this move must also reach the agent the work leaves.
        remember_former_assignee(uow.session, row.id, row.assigned_user_id)
    row.assigned_user_id = assignee
    row.updated_at = now
    _move_participants(uow, row, move)


def _milestones(row: InteractionRow) -> Milestones:
    return Milestones(
        arrived_at=row.arrived_at,
        queued_at=row.queued_at,
        offered_at=row.offered_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        wrapup_ended_at=row.wrapup_ended_at,
    )


def _move_participants(
    uow: UnitOfWork, row: InteractionRow, move: Transition[InteractionState]
) -> None:
    """Agents join when connected and leave when it ends or is transferred; the customer
    leaves when the conversation ends or is abandoned."""
    leaving: set[str] = set()
    if move.from_state is S.CONNECTED:
        leaving.add(ParticipantRole.AGENT.value)
    if move.to_state in (S.WRAP_UP, S.ABANDONED):
        leaving.add(ParticipantRole.CUSTOMER.value)
    if leaving:
        present = store.participants_of(uow.session, row.org_id, [row.id])[row.id]
        for participant in present:
            if participant.role in leaving and participant.left_at is None:
                participant.left_at = uow.now
    if move.to_state is S.CONNECTED and row.assigned_user_id is not None:
        _join(uow, row, ParticipantRole.AGENT, user_id=row.assigned_user_id)


def _join(
    uow: UnitOfWork,
    row: InteractionRow,
    role: ParticipantRole,
    *,
    user_id: str | None = None,
    customer_id: str | None = None,
) -> ParticipantRow:
    participant = ParticipantRow(
        id=new_id(),
        org_id=row.org_id,
        interaction_id=row.id,
        role=role.value,
        user_id=user_id,
        customer_id=customer_id,
        joined_at=uow.now,
    )
    uow.session.add(participant)
    return participant


def _earlier_delivery(
    uow: UnitOfWork, interaction: InteractionRow, external_id: str | None
) -> AddedMessage | None:
    if external_id is None:
        return None
    earlier = store.find_message_by_external_id(
        uow.session, interaction.org_id, interaction.channel, external_id
    )
    if earlier is None:
        return None
    if earlier.interaction_id != interaction.id:
        raise Conflict(f"external id {external_id} already belongs to another interaction")
    return AddedMessage(earlier, created=False)


def _new_message(
    uow: UnitOfWork, actor: Actor, interaction: InteractionRow, data: MessageCreate
) -> MessageRow:
    by_agent = data.author_kind is AuthorKind.AGENT
    return MessageRow(
        id=new_id(),
        org_id=interaction.org_id,
        interaction_id=interaction.id,
        channel=interaction.channel,
        external_id=data.external_id,
        direction=data.direction.value,
        author_kind=data.author_kind.value,
        author_user_id=acting_user_id(actor) if by_agent else None,
        internal=data.internal,
        body_text=data.body_text,
        created_at=uow.now,
    )


def _inserted(uow: UnitOfWork, row: MessageRow) -> bool:
    """Insert inside a savepoint; False if a UNIQUE constraint refused it. The savepoint
    keeps the rest of the transaction usable after the refusal."""
    try:
        with uow.session.begin_nested():
            uow.session.add(row)
    except IntegrityError:
        return False
    return True
