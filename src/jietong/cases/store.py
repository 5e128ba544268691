"""SQL for cases and their links to interactions. No decisions here: callers pass the
visibility reach they computed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.orm import Session

from jietong.interactions.model import Reach
from jietong.storage.tables import (
    CaseInteractionRow,
    CaseRow,
    InteractionRow,
    OrganisationRow,
    TeamRow,
    TransitionRow,
)


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = None
    case_type: str | None = None
    priority: str | None = None
    owner_user_id: str | None = None
    department_id: str | None = None
    customer_id: str | None = None
    text: str | None = None  # lower-case substring of the subject
    number: int | None = None  # matched instead of, or as well as, the text


def find_case(
    session: Session, org_id: str, case_id: str, *, for_update: bool = False
) -> CaseRow | None:
    query = select(CaseRow).where(CaseRow.org_id == org_id, CaseRow.id == case_id)
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def lock_case_numbering(session: Session, org_id: str) -> None:
    """Hold the organisation's row until commit so that its case openings take numbers
    one after the other (PostgreSQL). NO KEY UPDATE leaves inserts that only reference
    the organisation unblocked; SQLite ignores the clause (its writers are serial)."""
    session.execute(
        select(OrganisationRow.id)
        .where(OrganisationRow.id == org_id)
        .with_for_update(key_share=True)
    )


def highest_case_number(session: Session, org_id: str) -> int:
    """The largest case number used in the organisation, 0 if none."""
    value = session.scalar(select(func.max(CaseRow.number)).where(CaseRow.org_id == org_id))
    return int(value or 0)


def search_cases(
    session: Session,
    org_id: str,
    *,
    reach: Reach | None,
    where: CaseFilter,
    before_id: str | None,
    limit: int,
) -> list[CaseRow]:
    """Up to limit+1 cases, newest first."""
    query = select(CaseRow).where(CaseRow.org_id == org_id, _reachable(reach), *_matching(where))
    if before_id is not None:
        query = query.where(CaseRow.id < before_id)
    return list(session.scalars(query.order_by(CaseRow.id.desc()).limit(limit + 1)))


def _reachable(reach: Reach | None) -> ColumnElement[bool]:
    if reach is None:
        return true()
    clauses: list[ColumnElement[bool]] = [CaseRow.owner_user_id == reach.user_id]
    if reach.team_ids:
        clauses.append(CaseRow.department_id.in_(sorted(reach.team_ids)))
    return or_(false(), *clauses)


def _matching(where: CaseFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for column, value in (
        (CaseRow.status, where.status),
        (CaseRow.case_type, where.case_type),
        (CaseRow.priority, where.priority),
        (CaseRow.owner_user_id, where.owner_user_id),
        (CaseRow.department_id, where.department_id),
        (CaseRow.customer_id, where.customer_id),
    ):
        if value is not None:
            clauses.append(column == value)
    searches: list[ColumnElement[bool]] = []
    if where.text:
        searches.append(func.lower(CaseRow.subject).contains(where.text, autoescape=True))
    if where.number is not None:
        searches.append(CaseRow.number == where.number)
    if searches:
        clauses.append(or_(*searches))
    return clauses


def linked_interactions(
    session: Session, org_id: str, case_ids: Sequence[str]
) -> dict[str, list[InteractionRow]]:
    """The interactions linked to each case, oldest first."""
    result: dict[str, list[InteractionRow]] = {cid: [] for cid in case_ids}
    if not case_ids:
        return result
    rows = session.execute(
        select(CaseInteractionRow.case_id, InteractionRow)
        .join(InteractionRow, CaseInteractionRow.interaction_id == InteractionRow.id)
        .where(CaseInteractionRow.org_id == org_id, CaseInteractionRow.case_id.in_(list(case_ids)))
        .order_by(InteractionRow.id)
    )
    for case_id, interaction in rows:
        result[case_id].append(interaction)
    return result


def find_link(
    session: Session, org_id: str, case_id: str, interaction_id: str
) -> CaseInteractionRow | None:
    return session.scalar(
        select(CaseInteractionRow).where(
            CaseInteractionRow.org_id == org_id,
            CaseInteractionRow.case_id == case_id,
            CaseInteractionRow.interaction_id == interaction_id,
        )
    )


def find_department(session: Session, org_id: str, team_id: str) -> TeamRow | None:
    return session.scalar(
        select(TeamRow).where(
            TeamRow.org_id == org_id, TeamRow.id == team_id, TeamRow.kind == "department"
        )
    )


def transitions_of(session: Session, org_id: str, case_id: str) -> list[TransitionRow]:
    """The recorded moves of one case, oldest first."""
    return list(
        session.scalars(
            select(TransitionRow)
            .where(
                TransitionRow.org_id == org_id,
                TransitionRow.entity_type == "case",
                TransitionRow.entity_id == case_id,
            )
            .order_by(TransitionRow.id)
        )
    )
