"""SQL for agent presence, loads, skills and team rules. No decisions here."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jietong.storage.tables import InteractionRow, TeamMemberRow, UserRow, UserSkillRow
from jietong.storage.tables_routing import AgentPresenceRow, TeamRoutingRow

OPEN_INTERACTION_STATES = ("offered", "connected", "wrap_up")
"""Interaction states that count in an agent's load."""


def find_presence(
    session: Session, org_id: str, user_id: str, *, for_update: bool = False
) -> AgentPresenceRow | None:
    query = select(AgentPresenceRow).where(
        AgentPresenceRow.org_id == org_id, AgentPresenceRow.user_id == user_id
    )
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def lock_presences(
    session: Session, org_id: str, user_ids: Collection[str]
) -> dict[str, AgentPresenceRow]:
    """Lock several presence rows in id order (the same order everywhere: no deadlock)."""
    rows = session.scalars(
        select(AgentPresenceRow)
        .where(AgentPresenceRow.org_id == org_id, AgentPresenceRow.user_id.in_(sorted(user_ids)))
        .order_by(AgentPresenceRow.user_id)
        .with_for_update()
    )
    return {row.user_id: row for row in rows}


def presences(
    session: Session, org_id: str, *, states: Collection[str] | None = None
) -> list[AgentPresenceRow]:
    query = select(AgentPresenceRow).where(AgentPresenceRow.org_id == org_id)
    if states is not None:
        query = query.where(AgentPresenceRow.state.in_(sorted(states)))
    return list(session.scalars(query.order_by(AgentPresenceRow.user_id)))


def find_user(session: Session, org_id: str, user_id: str) -> UserRow | None:
    return session.scalar(select(UserRow).where(UserRow.org_id == org_id, UserRow.id == user_id))


def users(session: Session, org_id: str, user_ids: Collection[str]) -> dict[str, UserRow]:
    if not user_ids:
        return {}
    rows = session.scalars(
        select(UserRow).where(UserRow.org_id == org_id, UserRow.id.in_(sorted(user_ids)))
    )
    return {row.id: row for row in rows}


def loads(
    session: Session, org_id: str, user_ids: Collection[str] | None = None
) -> dict[str, dict[str, dict[str, int]]]:
    """Open interactions per agent, per state, per channel: {user: {state: {channel: n}}}."""
    query = (
        select(
            InteractionRow.assigned_user_id,
            InteractionRow.state,
            InteractionRow.channel,
            func.count(),
        )
        .where(
            InteractionRow.org_id == org_id,
            InteractionRow.assigned_user_id.is_not(None),
            InteractionRow.state.in_(OPEN_INTERACTION_STATES),
        )
        .group_by(InteractionRow.assigned_user_id, InteractionRow.state, InteractionRow.channel)
    )
    if user_ids is not None:
        query = query.where(InteractionRow.assigned_user_id.in_(sorted(user_ids)))
    result: dict[str, dict[str, dict[str, int]]] = {}
    for user_id, state, channel, count in session.execute(query):
        if user_id is not None:
            result.setdefault(user_id, {}).setdefault(state, {})[channel] = count
    return result


def wrap_ups_since(session: Session, org_id: str, user_id: str) -> list[InteractionRow]:
    """The agent's interactions in after-contact work, oldest end first."""
    return list(
        session.scalars(
            select(InteractionRow)
            .where(
                InteractionRow.org_id == org_id,
                InteractionRow.assigned_user_id == user_id,
                InteractionRow.state == "wrap_up",
            )
            .order_by(InteractionRow.ended_at)
        )
    )


def skills(session: Session, org_id: str, user_ids: Collection[str]) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {uid: {} for uid in user_ids}
    if not user_ids:
        return result
    rows = session.execute(
        select(UserSkillRow.user_id, UserSkillRow.skill_id, UserSkillRow.level).where(
            UserSkillRow.org_id == org_id, UserSkillRow.user_id.in_(sorted(user_ids))
        )
    )
    for user_id, skill_id, level in rows:
        result[user_id][skill_id] = level
    return result


def teams(session: Session, org_id: str, user_ids: Collection[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return result
    rows = session.execute(
        select(TeamMemberRow.user_id, TeamMemberRow.team_id).where(
            TeamMemberRow.org_id == org_id, TeamMemberRow.user_id.in_(sorted(user_ids))
        )
    )
    for user_id, team_id in rows:
        result[user_id].append(team_id)
    return result


def team_rules(session: Session, org_id: str) -> dict[str, dict[str, Any]]:
    rows = session.execute(
        select(TeamRoutingRow.team_id, TeamRoutingRow.rules).where(TeamRoutingRow.org_id == org_id)
    )
    return {team_id: rules for team_id, rules in rows}


def find_team_rules(session: Session, org_id: str, team_id: str) -> TeamRoutingRow | None:
    return session.scalar(
        select(TeamRoutingRow).where(
            TeamRoutingRow.org_id == org_id, TeamRoutingRow.team_id == team_id
        )
    )
