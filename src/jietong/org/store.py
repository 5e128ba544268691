"""SQL for organisations, users, teams, skills and queues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from jietong.storage.tables import (
    OrganisationRow,
    QueueRow,
    SkillRow,
    TeamMemberRow,
    TeamRow,
    UserRow,
    UserSkillRow,
)

OrgRow = TypeVar("OrgRow", TeamRow, SkillRow, QueueRow)


def find_org_by_slug(session: Session, slug: str) -> OrganisationRow | None:
    return session.scalar(select(OrganisationRow).where(OrganisationRow.slug == slug))


def find_user(session: Session, org_id: str, user_id: str) -> UserRow | None:
    return session.scalar(select(UserRow).where(UserRow.org_id == org_id, UserRow.id == user_id))


def find_user_by_username(session: Session, username: str) -> UserRow | None:
    return session.scalar(select(UserRow).where(UserRow.username == username))


def list_users(
    session: Session, org_id: str, *, text: str | None, before_id: str | None, limit: int
) -> list[UserRow]:
    query = select(UserRow).where(UserRow.org_id == org_id)
    if text:
        pattern = f"%{text.lower()}%"
        query = query.where(UserRow.username.ilike(pattern) | UserRow.display_name.ilike(pattern))
    if before_id:
        query = query.where(UserRow.id < before_id)
    return list(session.scalars(query.order_by(UserRow.id.desc()).limit(limit + 1)))


def team_ids_of(session: Session, org_id: str, user_ids: Sequence[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {uid: [] for uid in user_ids}
    rows = session.execute(
        select(TeamMemberRow.user_id, TeamMemberRow.team_id).where(
            TeamMemberRow.org_id == org_id, TeamMemberRow.user_id.in_(user_ids)
        )
    )
    for user_id, team_id in rows:
        result[user_id].append(team_id)
    return result


def skills_of(session: Session, org_id: str, user_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {uid: {} for uid in user_ids}
    rows = session.execute(
        select(UserSkillRow.user_id, UserSkillRow.skill_id, UserSkillRow.level).where(
            UserSkillRow.org_id == org_id, UserSkillRow.user_id.in_(user_ids)
        )
    )
    for user_id, skill_id, level in rows:
        result[user_id][skill_id] = level
    return result


def replace_memberships(
    session: Session, org_id: str, user_id: str, team_ids: Sequence[str]
) -> None:
    session.execute(
        delete(TeamMemberRow).where(
            TeamMemberRow.org_id == org_id, TeamMemberRow.user_id == user_id
        )
    )
    session.add_all(TeamMemberRow(team_id=t, user_id=user_id, org_id=org_id) for t in team_ids)


def replace_skills(session: Session, org_id: str, user_id: str, levels: dict[str, int]) -> None:
    session.execute(
        delete(UserSkillRow).where(UserSkillRow.org_id == org_id, UserSkillRow.user_id == user_id)
    )
    session.add_all(
        UserSkillRow(user_id=user_id, skill_id=s, level=lvl, org_id=org_id)
        for s, lvl in levels.items()
    )


def existing_ids(
    session: Session,
    row: type[OrgRow],
    org_id: str,
    ids: Sequence[str],
) -> set[str]:
    if not ids:
        return set()
    return set(session.scalars(select(row.id).where(row.org_id == org_id, row.id.in_(ids))))


def find_in_org(session: Session, row: type[OrgRow], org_id: str, row_id: str) -> OrgRow | None:
    return session.scalar(select(row).where(row.org_id == org_id, row.id == row_id))


def list_in_org(
    session: Session,
    row: type[OrgRow],
    org_id: str,
    *,
    text: str | None = None,
    before_id: str | None,
    limit: int,
) -> list[OrgRow]:
    query = select(row).where(row.org_id == org_id)
    if text:
        query = query.where(row.name.ilike(f"%{_escape_like(text)}%", escape="\\"))
    if before_id:
        query = query.where(row.id < before_id)
    return list(session.scalars(query.order_by(row.id.desc()).limit(limit + 1)))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def queues_requiring_skill(session: Session, org_id: str, skill_id: str) -> list[str]:
    queues = session.scalars(select(QueueRow).where(QueueRow.org_id == org_id))
    return [q.name for q in queues if skill_id in (q.required_skills or {})]


def is_referenced(
    session: Session, column: Any, org_id_column: Any, org_id: str, value: str
) -> bool:
    """Whether any row has `column == value` (used to refuse deleting what is in use)."""
    return (
        session.scalar(select(column).where(org_id_column == org_id, column == value).limit(1))
        is not None
    )
