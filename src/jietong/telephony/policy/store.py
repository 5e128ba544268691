"""SQL of recording policies. No decisions here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from jietong.storage.tables import InteractionRow
from jietong.storage.tables_voice import VoiceQueuePolicyRow


def find_policy(session: Session, org_id: str, queue_id: str) -> VoiceQueuePolicyRow | None:
    return session.scalars(
        select(VoiceQueuePolicyRow).where(
            VoiceQueuePolicyRow.org_id == org_id, VoiceQueuePolicyRow.queue_id == queue_id
        )
    ).one_or_none()


def queue_of_interaction(session: Session, org_id: str, interaction_id: str) -> str | None:
    return session.scalar(
        select(InteractionRow.queue_id).where(
            InteractionRow.org_id == org_id, InteractionRow.id == interaction_id
        )
    )


def retention_of_interactions(
    session: Session, org_id: str, interaction_ids: list[str]
) -> dict[str, int | None]:
    """Each interaction's queue's retention days (None: no queue or no policy days)."""
    found: dict[str, int | None] = {}
    for start in range(0, len(interaction_ids), 500):  # bounded IN lists
        chunk = interaction_ids[start : start + 500]
        rows = session.execute(
            select(InteractionRow.id, VoiceQueuePolicyRow.retention_days)
            .outerjoin(
                VoiceQueuePolicyRow,
                (VoiceQueuePolicyRow.queue_id == InteractionRow.queue_id)
                & (VoiceQueuePolicyRow.org_id == InteractionRow.org_id),
            )
            .where(InteractionRow.org_id == org_id, InteractionRow.id.in_(chunk))
        )
        found.update({iid: days for iid, days in rows.all()})
    return found
