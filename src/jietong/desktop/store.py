"""SQL for replaying published events from the outbox."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jietong.storage.tables import OutboxRow


def published_after(session: Session, org_id: str, after: int, limit: int) -> list[OutboxRow]:
    """Published events of one organisation with published_seq > after, in order."""
    return list(
        session.scalars(
            select(OutboxRow)
            .where(
                OutboxRow.org_id == org_id,
                OutboxRow.published_seq.is_not(None),
                OutboxRow.published_seq > after,
            )
            .order_by(OutboxRow.published_seq)
            .limit(limit)
        )
    )


def last_published(session: Session) -> int:
    return session.scalar(select(func.max(OutboxRow.published_seq))) or 0
