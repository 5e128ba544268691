"""SQL for interactions, participants, messages, attachments and their org references.
No decisions here: callers pass the visibility reach they computed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.orm import Session

from jietong.interactions.model import Reach
from jietong.storage.tables import (
    AttachmentRow,
    InteractionRow,
    MessageRow,
    ParticipantRow,
    QueueRow,
    TeamRow,
    TransitionRow,
    UserRow,
)


@dataclass(frozen=True)
class InteractionFilter:
    state: str | None = None
    channel: str | None = None
    customer_id: str | None = None
    queue_id: str | None = None
    assigned_user_id: str | None = None
    text: str | None = None  # lower-case substring of the subject


def find_interaction(
    session: Session, org_id: str, interaction_id: str, *, for_update: bool = False
) -> InteractionRow | None:
    query = select(InteractionRow).where(
        InteractionRow.org_id == org_id, InteractionRow.id == interaction_id
    )
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def search_interactions(
    session: Session,
    org_id: str,
    *,
    reach: Reach | None,
    where: InteractionFilter,
    before_id: str | None,
    limit: int,
) -> list[InteractionRow]:
    """Up to limit+1 interactions, newest first."""
    query = select(InteractionRow).where(
        InteractionRow.org_id == org_id, _reachable(reach), *_matching(where)
    )
    if before_id is not None:
        query = query.where(InteractionRow.id < before_id)
    return list(session.scalars(query.order_by(InteractionRow.id.desc()).limit(limit + 1)))


def interactions_of_customer(
    session: Session,
    org_id: str,
    customer_id: str,
    *,
    reach: Reach | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[InteractionRow]:
    """Up to limit+1 interactions of a customer, latest arrival first (ties by id)."""
    query = select(InteractionRow).where(
        InteractionRow.org_id == org_id,
        InteractionRow.customer_id == customer_id,
        _reachable(reach),
    )
    if before is not None:
        arrived_at, last_id = before
        query = query.where(
            or_(
                InteractionRow.arrived_at < arrived_at,
                and_(InteractionRow.arrived_at == arrived_at, InteractionRow.id < last_id),
            )
        )
    order = (InteractionRow.arrived_at.desc(), InteractionRow.id.desc())
    return list(session.scalars(query.order_by(*order).limit(limit + 1)))


def _reachable(reach: Reach | None) -> ColumnElement[bool]:
    if reach is None:
        return true()
    clauses: list[ColumnElement[bool]] = [InteractionRow.assigned_user_id == reach.user_id]
    if reach.team_ids:
        clauses.append(InteractionRow.team_id.in_(sorted(reach.team_ids)))
    return or_(false(), *clauses)


def _matching(where: InteractionFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for column, value in (
        (InteractionRow.state, where.state),
        (InteractionRow.channel, where.channel),
        (InteractionRow.customer_id, where.customer_id),
        (InteractionRow.queue_id, where.queue_id),
        (InteractionRow.assigned_user_id, where.assigned_user_id),
    ):
        if value is not None:
            clauses.append(column == value)
    if where.text:
        clauses.append(func.lower(InteractionRow.subject).contains(where.text, autoescape=True))
    return clauses


def participants_of(
    session: Session, org_id: str, interaction_ids: Sequence[str]
) -> dict[str, list[ParticipantRow]]:
    result: dict[str, list[ParticipantRow]] = {iid: [] for iid in interaction_ids}
    if not interaction_ids:
        return result
    rows = session.scalars(
        select(ParticipantRow)
        .where(
            ParticipantRow.org_id == org_id,
            ParticipantRow.interaction_id.in_(list(interaction_ids)),
        )
        .order_by(ParticipantRow.id)
    )
    for row in rows:
        result[row.interaction_id].append(row)
    return result


def transitions_of(
    session: Session, org_id: str, entity_type: str, entity_id: str
) -> list[TransitionRow]:
    """The recorded moves of one entity, oldest first."""
    return list(
        session.scalars(
            select(TransitionRow)
            .where(
                TransitionRow.org_id == org_id,
                TransitionRow.entity_type == entity_type,
                TransitionRow.entity_id == entity_id,
            )
            .order_by(TransitionRow.id)
        )
    )


def find_message(session: Session, org_id: str, message_id: str) -> MessageRow | None:
    return session.scalar(
        select(MessageRow).where(MessageRow.org_id == org_id, MessageRow.id == message_id)
    )


def find_message_by_external_id(
    session: Session, org_id: str, channel: str, external_id: str
) -> MessageRow | None:
    return session.scalar(
        select(MessageRow).where(
            MessageRow.org_id == org_id,
            MessageRow.channel == channel,
            MessageRow.external_id == external_id,
        )
    )


def messages_of(
    session: Session, org_id: str, interaction_id: str, *, after_id: str | None, limit: int
) -> list[MessageRow]:
    """Up to limit+1 messages of an interaction, oldest first (reading order)."""
    query = select(MessageRow).where(
        MessageRow.org_id == org_id, MessageRow.interaction_id == interaction_id
    )
    if after_id is not None:
        query = query.where(MessageRow.id > after_id)
    return list(session.scalars(query.order_by(MessageRow.id).limit(limit + 1)))


def find_attachment(session: Session, org_id: str, attachment_id: str) -> AttachmentRow | None:
    return session.scalar(
        select(AttachmentRow).where(
            AttachmentRow.org_id == org_id, AttachmentRow.id == attachment_id
        )
    )


def attachments_of(session: Session, org_id: str, interaction_id: str) -> list[AttachmentRow]:
    return list(
        session.scalars(
            select(AttachmentRow)
            .where(AttachmentRow.org_id == org_id, AttachmentRow.interaction_id == interaction_id)
            .order_by(AttachmentRow.id)
        )
    )


def find_queue(session: Session, org_id: str, queue_id: str) -> QueueRow | None:
    return session.scalar(
        select(QueueRow).where(QueueRow.org_id == org_id, QueueRow.id == queue_id)
    )


def find_team(session: Session, org_id: str, team_id: str) -> TeamRow | None:
    return session.scalar(select(TeamRow).where(TeamRow.org_id == org_id, TeamRow.id == team_id))


def find_user(session: Session, org_id: str, user_id: str) -> UserRow | None:
    return session.scalar(select(UserRow).where(UserRow.org_id == org_id, UserRow.id == user_id))
