"""SQL of the call model and CDRs: no decisions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from jietong.interactions.model import Reach
from jietong.storage.tables_voice import VoiceCallRow, VoiceCdrRow, VoiceLegEventRow, VoiceLegRow


def find_call(
    session: Session, org_id: str, call_id: str, *, for_update: bool = False
) -> VoiceCallRow | None:
    query = select(VoiceCallRow).where(VoiceCallRow.org_id == org_id, VoiceCallRow.id == call_id)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).first()


def legs_of(session: Session, call_id: str) -> list[VoiceLegRow]:
    query = select(VoiceLegRow).where(VoiceLegRow.call_id == call_id).order_by(VoiceLegRow.id)
    return list(session.scalars(query))


def events_of(session: Session, call_id: str) -> list[VoiceLegEventRow]:
    query = (
        select(VoiceLegEventRow)
        .where(VoiceLegEventRow.call_id == call_id)
        .order_by(VoiceLegEventRow.id)
    )
    return list(session.scalars(query))


def calls_with_media_legs(
    session: Session, call_ids: Iterable[str], media_leg_ids: Iterable[str]
) -> list[VoiceCallRow]:
    """Calls, of any organisation, that are still active and are named or own a media
    leg named (what a dead media process reports)."""
    ids, legs = list(call_ids), list(media_leg_ids)
    by_leg = select(VoiceLegRow.call_id).where(VoiceLegRow.media_leg_id.in_(legs))
    query = select(VoiceCallRow).where(
        VoiceCallRow.state != "ended", or_(VoiceCallRow.id.in_(ids), VoiceCallRow.id.in_(by_leg))
    )
    return list(session.scalars(query.order_by(VoiceCallRow.id).with_for_update()))


@dataclass(frozen=True)
class CdrFilter:
    since: datetime | None = None
    until: datetime | None = None
    queue_id: str | None = None
    agent_user_id: str | None = None
    abandoned: bool | None = None


def search_cdrs(
    session: Session,
    org_id: str,
    reach: Reach | None,
    where: CdrFilter,
    *,
    before_id: str | None,
    limit: int | None,
) -> list[VoiceCdrRow]:
    """CDRs newest first (call ids are time-ordered); `limit` None: all of them."""
    query = select(VoiceCdrRow).where(VoiceCdrRow.org_id == org_id, *_matching(where))
    if reach is not None:
        query = query.where(
            or_(
                VoiceCdrRow.team_id.in_(sorted(reach.team_ids)),
                VoiceCdrRow.agent_user_id == reach.user_id,
            )
        )
    if before_id is not None:
        query = query.where(VoiceCdrRow.call_id < before_id)
    query = query.order_by(VoiceCdrRow.call_id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def _matching(where: CdrFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if where.since is not None:
        clauses.append(VoiceCdrRow.arrived_at >= where.since)
    if where.until is not None:
        clauses.append(VoiceCdrRow.arrived_at < where.until)
    if where.queue_id is not None:
        clauses.append(VoiceCdrRow.queue_id == where.queue_id)
    if where.agent_user_id is not None:
        clauses.append(VoiceCdrRow.agent_user_id == where.agent_user_id)
    if where.abandoned is not None:
        clauses.append(VoiceCdrRow.abandoned.is_(where.abandoned))
    return clauses
