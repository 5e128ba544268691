"""SQL for the screens' snapshots: read-only queries over interactions, messages, agent
presence, offers, the organisation's directory and the outbox. No decisions here; the
visibility predicate mirrors ``interactions.model.within_reach`` exactly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from jietong.interactions.model import Reach
from jietong.storage.tables import (
    InteractionRow,
    MessageRow,
    OutboxRow,
    QueueRow,
    TeamMemberRow,
    TeamRow,
    UserRow,
)
from jietong.storage.tables_routing import AgentPresenceRow, RoutingEntryRow, RoutingOfferRow

OPEN_STATES = ("arrived", "queued", "offered", "connected", "wrap_up")


def use_snapshot_isolation(session: Session) -> None:
    """Make every read of this transaction see one moment. SQLite transactions begin
    IMMEDIATE (serialised with writers and the relay), so only PostgreSQL needs it."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def reachable(reach: Reach | None) -> ColumnElement[bool]:
    """SQL for `within_reach(reach, team_id, assigned_user_id)`."""
    if reach is None:
        return true()
    return or_(
        InteractionRow.team_id.in_(sorted(reach.team_ids)),
        InteractionRow.assigned_user_id == reach.user_id,
    )


def position(session: Session) -> int:
    """The newest publication number (what the stream's `hello` reports)."""
    return session.scalar(select(func.max(OutboxRow.published_seq))) or 0


def unpublished(session: Session, org_id: str) -> list[OutboxRow]:
    """Committed events of the organisation the relay has not published yet."""
    return list(
        session.scalars(
            select(OutboxRow)
            .where(OutboxRow.org_id == org_id, OutboxRow.published_seq.is_(None))
            .order_by(OutboxRow.seq)
        )
    )


def open_interactions(session: Session, org_id: str, reach: Reach | None) -> list[InteractionRow]:
    return list(
        session.scalars(
            select(InteractionRow).where(
                InteractionRow.org_id == org_id,
                InteractionRow.state.in_(OPEN_STATES),
                reachable(reach),
            )
        )
    )


@dataclass(frozen=True)
class MessageTally:
    interaction_id: str
    direction: str
    internal: bool
    count: int


def message_tallies(session: Session, org_id: str, reach: Reach | None) -> list[MessageTally]:
    """Messages of the open interactions in reach, counted by direction and internal."""
    rows = session.execute(
        select(MessageRow.interaction_id, MessageRow.direction, MessageRow.internal, func.count())
        .join(InteractionRow, InteractionRow.id == MessageRow.interaction_id)
        .where(_open_in_reach(org_id, reach), MessageRow.org_id == org_id)
        .group_by(MessageRow.interaction_id, MessageRow.direction, MessageRow.internal)
    )
    return [MessageTally(r[0], r[1], bool(r[2]), int(r[3])) for r in rows]


def last_messages(session: Session, org_id: str, ids: list[str]) -> dict[str, datetime]:
    """Interaction id -> when its latest message (or note) was stored."""
    rows = session.execute(
        select(MessageRow.interaction_id, func.max(MessageRow.created_at))
        .where(MessageRow.org_id == org_id, MessageRow.interaction_id.in_(ids))
        .group_by(MessageRow.interaction_id)
    )
    return {r[0]: r[1] for r in rows}


def awaiting_since(session: Session, org_id: str, ids: list[str]) -> dict[str, datetime]:
    """Interaction id -> its first customer message after our latest reply (if any)."""
    reply = aliased(MessageRow)
    latest_reply = (
        select(func.max(reply.created_at))
        .where(
            reply.interaction_id == MessageRow.interaction_id,
            reply.direction == "outbound",
            reply.internal.is_(False),
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(MessageRow.interaction_id, func.min(MessageRow.created_at))
        .where(
            MessageRow.org_id == org_id,
            MessageRow.interaction_id.in_(ids),
            MessageRow.direction == "inbound",
            MessageRow.internal.is_(False),
            or_(latest_reply.is_(None), MessageRow.created_at > latest_reply),
        )
        .group_by(MessageRow.interaction_id)
    )
    return {r[0]: r[1] for r in rows}


def queued_between(
    session: Session, org_id: str, reach: Reach | None, start: datetime, end: datetime
) -> list[tuple[InteractionRow, str | None]]:
    """Interactions of any state first queued in [start, end) (today's figures), each
    with the queue of its routing entry (None without one)."""
    rows = session.execute(
        select(InteractionRow, RoutingEntryRow.queue_id)
        .outerjoin(RoutingEntryRow, RoutingEntryRow.interaction_id == InteractionRow.id)
        .where(
            InteractionRow.org_id == org_id,
            InteractionRow.queued_at >= start,
            InteractionRow.queued_at < end,
            reachable(reach),
        )
    )
    return [(row, queue_id) for row, queue_id in rows]


def routed_queues(session: Session, org_id: str, reach: Reach | None) -> dict[str, str]:
    """Open interaction id -> the queue of its routing entry (where routing has it)."""
    rows = session.execute(
        select(RoutingEntryRow.interaction_id, RoutingEntryRow.queue_id)
        .join(InteractionRow, InteractionRow.id == RoutingEntryRow.interaction_id)
        .where(_open_in_reach(org_id, reach), RoutingEntryRow.org_id == org_id)
    )
    return {interaction_id: queue_id for interaction_id, queue_id in rows}


def presences(session: Session, org_id: str, user_id: str | None) -> list[AgentPresenceRow]:
    """Presence rows not offline: every agent's, or one user's."""
    query = select(AgentPresenceRow).where(
        AgentPresenceRow.org_id == org_id, AgentPresenceRow.state != "offline"
    )
    if user_id is not None:
        query = query.where(AgentPresenceRow.user_id == user_id)
    return list(session.scalars(query))


def pending_offers(session: Session, org_id: str, reach: Reach | None) -> list[RoutingOfferRow]:
    """Pending offers to the viewer or on interactions within their reach."""
    query = (
        select(RoutingOfferRow)
        .join(InteractionRow, InteractionRow.id == RoutingOfferRow.interaction_id)
        .where(RoutingOfferRow.org_id == org_id, RoutingOfferRow.state == "pending")
    )
    if reach is not None:
        query = query.where(or_(RoutingOfferRow.agent_id == reach.user_id, reachable(reach)))
    return list(session.scalars(query))


def users(session: Session, org_id: str) -> list[UserRow]:
    return list(
        session.scalars(
            select(UserRow)
            .where(UserRow.org_id == org_id, UserRow.active.is_(True))
            .order_by(UserRow.display_name, UserRow.id)
        )
    )


def memberships(session: Session, org_id: str) -> dict[str, list[str]]:
    """User id -> team ids."""
    teams: dict[str, list[str]] = {}
    rows = session.execute(
        select(TeamMemberRow.user_id, TeamMemberRow.team_id)
        .where(TeamMemberRow.org_id == org_id)
        .order_by(TeamMemberRow.team_id)
    )
    for user_id, team_id in rows:
        teams.setdefault(user_id, []).append(team_id)
    return teams


def queues(session: Session, org_id: str) -> list[QueueRow]:
    return list(
        session.scalars(
            select(QueueRow).where(QueueRow.org_id == org_id).order_by(QueueRow.name, QueueRow.id)
        )
    )


def teams(session: Session, org_id: str) -> list[TeamRow]:
    return list(
        session.scalars(
            select(TeamRow).where(TeamRow.org_id == org_id).order_by(TeamRow.name, TeamRow.id)
        )
    )


def _open_in_reach(org_id: str, reach: Reach | None) -> ColumnElement[bool]:
    return and_(
        InteractionRow.org_id == org_id,
        InteractionRow.state.in_(OPEN_STATES),
        reachable(reach),
    )
