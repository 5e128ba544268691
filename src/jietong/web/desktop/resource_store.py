"""SQL for the desktop's own tables: canned responses, wrap-up codes, wrap-ups, mentions."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from jietong.storage.tables import TeamRow, UserRow
from jietong.storage.tables_desktop import (
    CannedResponseRow,
    MentionRow,
    WrapUpCodeRow,
    WrapUpRow,
)


def canned_responses(
    session: Session, org_id: str, team_ids: Collection[str] | None
) -> list[CannedResponseRow]:
    """Organisation-wide answers and those of `team_ids` (every team's if None)."""
    query = select(CannedResponseRow).where(CannedResponseRow.org_id == org_id)
    if team_ids is not None:
        query = query.where(
            or_(CannedResponseRow.team_id.is_(None), CannedResponseRow.team_id.in_(team_ids))
        )
    return list(session.scalars(query.order_by(CannedResponseRow.title)))


def find_canned(session: Session, org_id: str, canned_id: str) -> CannedResponseRow | None:
    row = session.get(CannedResponseRow, canned_id)
    return row if row is not None and row.org_id == org_id else None


def wrapup_codes(session: Session, org_id: str) -> list[WrapUpCodeRow]:
    return list(
        session.scalars(
            select(WrapUpCodeRow)
            .where(WrapUpCodeRow.org_id == org_id)
            .order_by(WrapUpCodeRow.position, WrapUpCodeRow.code)
        )
    )


def find_wrapup_code(session: Session, org_id: str, code_id: str) -> WrapUpCodeRow | None:
    row = session.get(WrapUpCodeRow, code_id)
    return row if row is not None and row.org_id == org_id else None


def wrapup_code_in_use(session: Session, code_id: str) -> bool:
    used = session.scalar(select(func.count()).where(WrapUpRow.code_id == code_id))
    return bool(used)


def find_wrapup(session: Session, interaction_id: str, user_id: str | None) -> WrapUpRow | None:
    return session.scalar(
        select(WrapUpRow).where(
            WrapUpRow.interaction_id == interaction_id, WrapUpRow.user_id == user_id
        )
    )


def wrapups_of(session: Session, org_id: str, interaction_id: str) -> list[WrapUpRow]:
    return list(
        session.scalars(
            select(WrapUpRow)
            .where(WrapUpRow.org_id == org_id, WrapUpRow.interaction_id == interaction_id)
            .order_by(WrapUpRow.created_at)
        )
    )


def active_users(session: Session, org_id: str, user_ids: Collection[str]) -> list[str]:
    """Those of `user_ids` that are active users of the organisation."""
    return list(
        session.scalars(
            select(UserRow.id).where(
                UserRow.org_id == org_id, UserRow.id.in_(user_ids), UserRow.active.is_(True)
            )
        )
    )


def find_team(session: Session, org_id: str, team_id: str) -> TeamRow | None:
    row = session.get(TeamRow, team_id)
    return row if row is not None and row.org_id == org_id else None


def mentions_of(session: Session, org_id: str, user_id: str, *, unread: bool) -> list[MentionRow]:
    query = select(MentionRow).where(
        MentionRow.org_id == org_id, MentionRow.mentioned_user_id == user_id
    )
    if unread:
        query = query.where(MentionRow.read_at.is_(None))
    return list(session.scalars(query.order_by(MentionRow.created_at.desc()).limit(100)))


def find_mention(session: Session, org_id: str, mention_id: str) -> MentionRow | None:
    row = session.get(MentionRow, mention_id)
    return row if row is not None and row.org_id == org_id else None
