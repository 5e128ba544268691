"""Routing settings of queues and capacity rules of teams: read, validated, replaced.

Stored settings are validated again when read; a row that no longer validates (a schema
change) falls back to the defaults rather than stopping the engine.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from jietong.agents import store as agent_store
from jietong.agents.model import DEFAULT_RULES, TeamRules
from jietong.agents.service import parse_rules
from jietong.core.errors import InvalidInput, NotFound
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.routing import store
from jietong.routing.model import DEFAULT_SETTINGS, QueueSettings
from jietong.storage.tables import TeamRow
from jietong.storage.tables_routing import QueueRoutingRow, TeamRoutingRow
from jietong.storage.uow import UnitOfWork


class QueueNotFound(NotFound):
    pass


class TeamNotFound(NotFound):
    pass


def parse_settings(raw: dict[str, object] | None) -> QueueSettings:
    """Stored settings, or the defaults when absent or no longer valid."""
    if not raw:
        return DEFAULT_SETTINGS
    try:
        return QueueSettings.model_validate(raw)
    except ValidationError:
        return DEFAULT_SETTINGS


def settings_of_org(uow: UnitOfWork, org_id: str) -> dict[str, QueueSettings]:
    """Settings of every queue that has some (others use `DEFAULT_SETTINGS`)."""
    rows = store.queue_settings(uow.session, org_id)
    return {queue_id: parse_settings(row.settings) for queue_id, row in rows.items()}


def get_queue_settings(uow: UnitOfWork, actor: Actor, queue_id: str) -> QueueSettings:
    require(actor, Permission.INTERACTIONS_READ)
    _require_queue(uow, actor.org_id, queue_id)
    row = store.find_queue_settings(uow.session, actor.org_id, queue_id)
    return parse_settings(None if row is None else row.settings)


def set_queue_settings(
    uow: UnitOfWork, actor: Actor, queue_id: str, settings: QueueSettings, *, now: datetime
) -> QueueSettings:
    """Replace a queue's routing settings; queues and skills they name must be the org's."""
    require(actor, Permission.QUEUES_MANAGE)
    _require_queue(uow, actor.org_id, queue_id)
    _check_references(uow, actor.org_id, queue_id, settings)
    data = settings.model_dump(mode="json")
    row = store.find_queue_settings(uow.session, actor.org_id, queue_id)
    if row is None:
        uow.session.add(
            QueueRoutingRow(
                queue_id=queue_id,
                org_id=actor.org_id,
                settings=data,
                rr_cursor=None,
                updated_at=now,
            )
        )
    else:
        row.settings = data
        row.updated_at = now
    uow.audit(actor, "queue.routing_set", "queue", queue_id, data)
    uow.commit()
    return settings


def get_team_rules(uow: UnitOfWork, actor: Actor, team_id: str) -> TeamRules:
    require(actor, Permission.USERS_READ)
    _require_team(uow, actor.org_id, team_id)
    row = agent_store.find_team_rules(uow.session, actor.org_id, team_id)
    return (parse_rules(row.rules) if row is not None else None) or DEFAULT_RULES


def set_team_rules(
    uow: UnitOfWork, actor: Actor, team_id: str, rules: TeamRules, *, now: datetime
) -> TeamRules:
    """Replace a team's capacity, blending, wrap-up and missed-offer rules."""
    require(actor, Permission.TEAMS_MANAGE)
    _require_team(uow, actor.org_id, team_id)
    data = rules.model_dump(mode="json")
    row = agent_store.find_team_rules(uow.session, actor.org_id, team_id)
    if row is None:
        uow.session.add(
            TeamRoutingRow(team_id=team_id, org_id=actor.org_id, rules=data, updated_at=now)
        )
    else:
        row.rules = data
        row.updated_at = now
    uow.audit(actor, "team.routing_rules_set", "team", team_id, data)
    uow.commit()
    return rules


def _require_queue(uow: UnitOfWork, org_id: str, queue_id: str) -> None:
    if store.find_queue(uow.session, org_id, queue_id) is None:
        raise QueueNotFound(f"queue {queue_id} not found")


def _require_team(uow: UnitOfWork, org_id: str, team_id: str) -> None:
    team = uow.session.get(TeamRow, team_id)
    if team is None or team.org_id != org_id:
        raise TeamNotFound(f"team {team_id} not found")


def _check_references(uow: UnitOfWork, org_id: str, queue_id: str, settings: QueueSettings) -> None:
    queues = store.queues(uow.session, org_id)
    named = [s.move_to_queue_id for s in settings.overflow] + [settings.limit_queue_id]
    targets = {t for t in named if t is not None}
    unknown = sorted(t for t in targets if t not in queues)
    if unknown:
        raise InvalidInput(f"unknown queue(s) {', '.join(unknown)}")
    if queue_id in targets:
        raise InvalidInput("a queue cannot overflow or divert to itself")
    skills = {skill for step in settings.overflow for skill in step.min_levels}
    known = store.skill_ids(uow.session, org_id, skills)
    if skills - known:
        raise InvalidInput(f"unknown skill(s) {', '.join(sorted(skills - known))}")
