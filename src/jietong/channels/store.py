"""SQL for channel accounts, message sources and deliveries. No decisions here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from jietong.interactions.model import Reach
from jietong.storage.tables import InteractionRow
from jietong.storage.tables_channels import ChannelAccountRow, DeliveryRow, MessageSourceRow


def find_account(
    session: Session, account_id: str, *, org_id: str | None = None
) -> ChannelAccountRow | None:
    """By id; restricted to `org_id` when given (webhooks know no organisation yet)."""
    query = select(ChannelAccountRow).where(ChannelAccountRow.id == account_id)
    if org_id is not None:
        query = query.where(ChannelAccountRow.org_id == org_id)
    return session.scalar(query)


def list_accounts(
    session: Session, org_id: str, *, channel: str | None = None
) -> list[ChannelAccountRow]:
    query = select(ChannelAccountRow).where(ChannelAccountRow.org_id == org_id)
    if channel is not None:
        query = query.where(ChannelAccountRow.channel == channel)
    return list(session.scalars(query.order_by(ChannelAccountRow.id).limit(500)))


def all_accounts_for_update(session: Session) -> list[ChannelAccountRow]:
    """Every organisation's accounts, locked until the transaction ends (re-sealing
    their secrets must not overwrite an admin's change made meanwhile)."""
    query = select(ChannelAccountRow).order_by(ChannelAccountRow.id).with_for_update()
    return list(session.scalars(query))


def first_enabled_account(session: Session, org_id: str, channel: str) -> ChannelAccountRow | None:
    return session.scalar(
        select(ChannelAccountRow)
        .where(
            ChannelAccountRow.org_id == org_id,
            ChannelAccountRow.channel == channel,
            ChannelAccountRow.enabled.is_(True),
        )
        .order_by(ChannelAccountRow.id)
        .limit(1)
    )


def latest_source(session: Session, org_id: str, interaction_id: str) -> MessageSourceRow | None:
    """The source of the interaction's latest inbound message that was not automatic."""
    return session.scalar(
        select(MessageSourceRow)
        .where(
            MessageSourceRow.org_id == org_id,
            MessageSourceRow.interaction_id == interaction_id,
            MessageSourceRow.auto_generated.is_(False),
        )
        .order_by(MessageSourceRow.message_id.desc())
        .limit(1)
    )


def find_delivery(
    session: Session, org_id: str, delivery_id: str, *, for_update: bool = False
) -> DeliveryRow | None:
    query = select(DeliveryRow).where(DeliveryRow.org_id == org_id, DeliveryRow.id == delivery_id)
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def find_delivery_by_provider_id(
    session: Session, org_id: str, channel: str, provider_message_id: str
) -> DeliveryRow | None:
    return session.scalar(
        select(DeliveryRow)
        .where(
            DeliveryRow.org_id == org_id,
            DeliveryRow.channel == channel,
            DeliveryRow.provider_message_id == provider_message_id,
        )
        .with_for_update()
    )


def due_deliveries(session: Session, now: datetime, limit: int) -> list[DeliveryRow]:
    """Queued deliveries whose time has come and 'sending' ones whose lease ran out,
    locked for this worker (SKIP LOCKED on PostgreSQL: other workers take other rows)."""
    query = (
        select(DeliveryRow)
        .where(
            DeliveryRow.status.in_(("queued", "sending")),
            DeliveryRow.next_attempt_at <= now,
        )
        .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def search_deliveries(
    session: Session,
    org_id: str,
    *,
    reach: Reach | None,
    status: str | None,
    interaction_id: str | None,
    before_id: str | None,
    limit: int,
) -> list[DeliveryRow]:
    """Up to limit+1 deliveries the reach covers, newest first."""
    query = (
        select(DeliveryRow)
        .join(InteractionRow, InteractionRow.id == DeliveryRow.interaction_id)
        .where(DeliveryRow.org_id == org_id, _reachable(reach))
    )
    if status is not None:
        query = query.where(DeliveryRow.status == status)
    if interaction_id is not None:
        query = query.where(DeliveryRow.interaction_id == interaction_id)
    if before_id is not None:
        query = query.where(DeliveryRow.id < before_id)
    return list(session.scalars(query.order_by(DeliveryRow.id.desc()).limit(limit + 1)))


def _reachable(reach: Reach | None) -> ColumnElement[bool]:
    if reach is None:
        return true()
    clauses: list[ColumnElement[bool]] = [InteractionRow.assigned_user_id == reach.user_id]
    if reach.team_ids:
        clauses.append(InteractionRow.team_id.in_(sorted(reach.team_ids)))
    return or_(false(), *clauses)
