"""Decisions about the organisation's structure: who works here, in which teams, with
which skills, and which queues exist. Every write is audited and announced by an event."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from jietong.auth.passwords import hash_password
from jietong.core.errors import Conflict, InvalidInput, NotFound
from jietong.core.ids import new_id
from jietong.core.pagination import Page, decode_cursor, page_of
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.events.catalogue import (
    OrganisationCreated,
    QueueCreated,
    QueueUpdated,
    SkillCreated,
    TeamCreated,
    UserCreated,
    UserSkillsChanged,
    UserUpdated,
)
from jietong.org import store
from jietong.org.schemas import (
    OrganisationUpdate,
    QueueCreate,
    QueueUpdate,
    SkillCreate,
    SkillUpdate,
    TeamCreate,
    TeamUpdate,
    UserCreate,
    UserUpdate,
)
from jietong.storage.tables import (
    CaseRow,
    InteractionRow,
    OrganisationRow,
    QueueRow,
    SkillRow,
    TeamRow,
    UserRow,
)
from jietong.storage.uow import UnitOfWork

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
Row = TypeVar("Row", TeamRow, SkillRow, QueueRow)


@dataclass(frozen=True)
class UserView:
    user: UserRow
    team_ids: list[str]
    skills: dict[str, int]


# --- organisations ---------------------------------------------------------------------


def create_organisation(
    uow: UnitOfWork,
    *,
    slug: str,
    name: str,
    default_region: str = "CN",
    timezone: str = "Asia/Shanghai",
    locale: str = "zh-CN",
) -> OrganisationRow:
    """Create a tenant. Called by the platform operator (CLI, demo), not through the API."""
    if not _SLUG.match(slug):
        raise InvalidInput("slug: 2-63 lowercase letters, digits and dashes")
    if store.find_org_by_slug(uow.session, slug) is not None:
        raise Conflict(f"organisation '{slug}' exists")
    org = OrganisationRow(
        id=new_id(),
        slug=slug,
        name=name,
        timezone=timezone,
        default_region=default_region,
        locale=locale,
        created_at=uow.now,
    )
    uow.session.add(org)
    uow.emit(OrganisationCreated(org_id=org.id, organisation_id=org.id, name=name))
    uow.commit()
    return org


def find_organisation_by_slug(uow: UnitOfWork, slug: str) -> OrganisationRow | None:
    return store.find_org_by_slug(uow.session, slug)


def get_organisation(uow: UnitOfWork, actor: Actor) -> OrganisationRow:
    org = uow.session.get(OrganisationRow, actor.org_id)
    if org is None:
        raise NotFound("organisation not found")
    return org


def update_organisation(uow: UnitOfWork, actor: Actor, data: OrganisationUpdate) -> OrganisationRow:
    require(actor, Permission.ORG_MANAGE)
    org = get_organisation(uow, actor)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    for key, value in changes.items():
        setattr(org, key, value)
    uow.audit(actor, "organisation.updated", "organisation", org.id, changes)
    uow.commit()
    return org


# --- users -----------------------------------------------------------------------------


def create_user(uow: UnitOfWork, actor: Actor, data: UserCreate) -> UserView:
    require(actor, Permission.USERS_MANAGE)
    _check_ids(uow, TeamRow, actor.org_id, data.team_ids, "team_ids")
    if store.find_user_by_username(uow.session, data.username) is not None:
        raise Conflict(f"username '{data.username}' is taken")
    user = UserRow(
        id=new_id(),
        org_id=actor.org_id,
        username=data.username,
        display_name=data.display_name,
        email=data.email,
        password_hash=hash_password(data.password),
        role=data.role.value,
        locale=data.locale,
        timezone=data.timezone,
        active=True,
        created_at=uow.now,
        updated_at=uow.now,
    )
    uow.session.add(user)
    uow.session.flush()
    store.replace_memberships(uow.session, actor.org_id, user.id, sorted(set(data.team_ids)))
    uow.emit(
        UserCreated(org_id=actor.org_id, user_id=user.id, username=user.username, role=user.role)
    )
    uow.audit(
        actor,
        "user.created",
        "user",
        user.id,
        {"username": user.username, "role": user.role, "team_ids": data.team_ids},
    )
    _commit_or_conflict(uow, f"username '{data.username}' is taken")
    return get_user(uow, actor, user.id)


def update_user(uow: UnitOfWork, actor: Actor, user_id: str, data: UserUpdate) -> UserView:
    require(actor, Permission.USERS_MANAGE)
    user = _user(uow, actor.org_id, user_id)
    changes = _plain(
        {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    )
    if user.id == actor.user_id and (changes.get("active") is False or "role" in changes):
        raise InvalidInput("you cannot deactivate yourself or change your own role")
    team_ids = changes.pop("team_ids", None)
    if team_ids is not None:
        _check_ids(uow, TeamRow, actor.org_id, team_ids, "team_ids")
        store.replace_memberships(uow.session, actor.org_id, user.id, sorted(set(team_ids)))
    if "password" in changes:
        user.password_hash = hash_password(changes.pop("password"))
        changes["password"] = "(changed)"  # noqa: S105 - audit marker, not a password
    for key, value in changes.items():
        if key != "password":
            setattr(user, key, value)
    user.updated_at = uow.now
    changed = sorted([*changes, *(["team_ids"] if team_ids is not None else [])])
    uow.emit(UserUpdated(org_id=actor.org_id, user_id=user.id, changed=changed))
    uow.audit(actor, "user.updated", "user", user.id, {**changes, "team_ids": team_ids})
    uow.commit()
    return get_user(uow, actor, user.id)


def set_user_skills(
    uow: UnitOfWork, actor: Actor, user_id: str, levels: dict[str, int]
) -> UserView:
    require(actor, Permission.AGENT_SKILLS_MANAGE)
    user = _user(uow, actor.org_id, user_id)
    _check_ids(uow, SkillRow, actor.org_id, list(levels), "skills")
    store.replace_skills(uow.session, actor.org_id, user.id, levels)
    uow.emit(UserSkillsChanged(org_id=actor.org_id, user_id=user.id, skills=levels))
    uow.audit(actor, "user.skills_set", "user", user.id, {"skills": levels})
    uow.commit()
    return get_user(uow, actor, user.id)


def get_user(uow: UnitOfWork, actor: Actor, user_id: str) -> UserView:
    if user_id != actor.user_id:
        require(actor, Permission.USERS_READ)
    user = _user(uow, actor.org_id, user_id)
    return _views(uow, actor.org_id, [user])[0]


def list_users(
    uow: UnitOfWork, actor: Actor, *, query: str | None, cursor: str | None, limit: int
) -> Page[UserView]:
    require(actor, Permission.USERS_READ)
    rows = store.list_users(
        uow.session, actor.org_id, text=query, before_id=decode_cursor(cursor), limit=limit
    )
    page = page_of(rows, limit)
    return Page(_views(uow, actor.org_id, page.items), page.next_cursor)


def team_ids_of_user(uow: UnitOfWork, org_id: str, user_id: str) -> frozenset[str]:
    return frozenset(store.team_ids_of(uow.session, org_id, [user_id])[user_id])


def _views(uow: UnitOfWork, org_id: str, users: list[UserRow]) -> list[UserView]:
    ids = [u.id for u in users]
    teams = store.team_ids_of(uow.session, org_id, ids)
    skills = store.skills_of(uow.session, org_id, ids)
    return [UserView(u, sorted(teams[u.id]), skills[u.id]) for u in users]


def _user(uow: UnitOfWork, org_id: str, user_id: str) -> UserRow:
    user = store.find_user(uow.session, org_id, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


# --- teams, skills, queues ---------------------------------------------------------------


def create_team(uow: UnitOfWork, actor: Actor, data: TeamCreate) -> TeamRow:
    require(actor, Permission.TEAMS_MANAGE)
    team = TeamRow(
        id=new_id(), org_id=actor.org_id, name=data.name, kind=data.kind.value, created_at=uow.now
    )
    uow.session.add(team)
    uow.emit(TeamCreated(org_id=actor.org_id, team_id=team.id, name=team.name, kind=team.kind))
    uow.audit(actor, "team.created", "team", team.id, {"name": team.name, "kind": team.kind})
    _commit_or_conflict(uow, f"a team named '{data.name}' exists")
    return team


def create_skill(uow: UnitOfWork, actor: Actor, data: SkillCreate) -> SkillRow:
    require(actor, Permission.SKILLS_MANAGE)
    skill = SkillRow(
        id=new_id(), org_id=actor.org_id, name=data.name, kind=data.kind.value, created_at=uow.now
    )
    uow.session.add(skill)
    uow.emit(SkillCreated(org_id=actor.org_id, skill_id=skill.id, name=skill.name))
    uow.audit(actor, "skill.created", "skill", skill.id, {"name": skill.name})
    _commit_or_conflict(uow, f"a skill named '{data.name}' exists")
    return skill


def create_queue(uow: UnitOfWork, actor: Actor, data: QueueCreate) -> QueueRow:
    require(actor, Permission.QUEUES_MANAGE)
    _check_queue_refs(uow, actor, data.team_id, data.required_skills)
    values = _plain(data.model_dump())
    values["channels"] = sorted(set(values["channels"]))
    queue = QueueRow(id=new_id(), org_id=actor.org_id, created_at=uow.now, **values)
    uow.session.add(queue)
    uow.emit(QueueCreated(org_id=actor.org_id, queue_id=queue.id, name=queue.name))
    uow.audit(actor, "queue.created", "queue", queue.id, values)
    _commit_or_conflict(uow, f"a queue named '{data.name}' exists")
    return queue


def update_queue(uow: UnitOfWork, actor: Actor, queue_id: str, data: QueueUpdate) -> QueueRow:
    require(actor, Permission.QUEUES_MANAGE)
    queue = get_in_org(uow, actor, QueueRow, queue_id)
    changes = _plain(data.model_dump(exclude_unset=True))
    for required in (
        "name",
        "channels",
        "policy",
        "priority",
        "required_skills",
        "target_service_level",
        "target_answer_seconds",
    ):
        if required in changes and changes[required] is None:
            del changes[required]
    _check_queue_refs(uow, actor, changes.get("team_id"), changes.get("required_skills", {}))
    for key, value in changes.items():
        setattr(queue, key, value)
    uow.emit(QueueUpdated(org_id=actor.org_id, queue_id=queue.id, changed=sorted(changes)))
    uow.audit(actor, "queue.updated", "queue", queue.id, changes)
    _commit_or_conflict(uow, "a queue with that name exists")
    return queue


def get_in_org(uow: UnitOfWork, actor: Actor, row: type[Row], row_id: str) -> Row:
    """A team, skill or queue of the actor's organisation; readable by every member."""
    found = store.find_in_org(uow.session, row, actor.org_id, row_id)
    if found is None:
        raise NotFound(f"{row.__tablename__[:-1]} {row_id} not found")
    return found


def list_in_org(
    uow: UnitOfWork,
    actor: Actor,
    row: type[Row],
    *,
    query: str | None = None,
    cursor: str | None,
    limit: int,
) -> Page[Row]:
    """Teams, skills or queues of the organisation, newest first, optionally by name."""
    rows = store.list_in_org(
        uow.session, row, actor.org_id, text=query, before_id=decode_cursor(cursor), limit=limit
    )
    return page_of(rows, limit)


def update_team(uow: UnitOfWork, actor: Actor, team_id: str, data: TeamUpdate) -> TeamRow:
    require(actor, Permission.TEAMS_MANAGE)
    return _rename(
        uow,
        actor,
        get_in_org(uow, actor, TeamRow, team_id),
        data.model_dump(exclude_unset=True),
        "team",
    )


def update_skill(uow: UnitOfWork, actor: Actor, skill_id: str, data: SkillUpdate) -> SkillRow:
    require(actor, Permission.SKILLS_MANAGE)
    return _rename(
        uow,
        actor,
        get_in_org(uow, actor, SkillRow, skill_id),
        data.model_dump(exclude_unset=True),
        "skill",
    )


def _rename(uow: UnitOfWork, actor: Actor, row: Row, changes: dict[str, Any], kind: str) -> Row:
    changes = _plain({k: v for k, v in changes.items() if v is not None})
    for key, value in changes.items():
        setattr(row, key, value)
    uow.audit(actor, f"{kind}.updated", kind, row.id, changes)
    _commit_or_conflict(uow, f"a {kind} with that name exists")
    return row


def delete_team(uow: UnitOfWork, actor: Actor, team_id: str) -> None:
    """Delete a team or department that no queue, interaction or case refers to."""
    require(actor, Permission.TEAMS_MANAGE)
    team = get_in_org(uow, actor, TeamRow, team_id)
    for column, org_column, what in (
        (QueueRow.team_id, QueueRow.org_id, "queues"),
        (InteractionRow.team_id, InteractionRow.org_id, "interactions"),
        (CaseRow.department_id, CaseRow.org_id, "cases"),
    ):
        if store.is_referenced(uow.session, column, org_column, actor.org_id, team.id):
            raise Conflict(f"team '{team.name}' is still used by {what}")
    _delete(uow, actor, team, "team")


def delete_skill(uow: UnitOfWork, actor: Actor, skill_id: str) -> None:
    """Delete a skill no queue requires; agents simply lose it."""
    require(actor, Permission.SKILLS_MANAGE)
    skill = get_in_org(uow, actor, SkillRow, skill_id)
    queues = store.queues_requiring_skill(uow.session, actor.org_id, skill.id)
    if queues:
        raise Conflict(f"skill '{skill.name}' is required by queues: {', '.join(queues)}")
    _delete(uow, actor, skill, "skill")


def delete_queue(uow: UnitOfWork, actor: Actor, queue_id: str) -> None:
    """Delete a queue that never received work (its history would lose its queue)."""
    require(actor, Permission.QUEUES_MANAGE)
    queue = get_in_org(uow, actor, QueueRow, queue_id)
    if store.is_referenced(
        uow.session, InteractionRow.queue_id, InteractionRow.org_id, actor.org_id, queue.id
    ):
        raise Conflict(f"queue '{queue.name}' has interactions; stop routing to it instead")
    _delete(uow, actor, queue, "queue")


def _delete(uow: UnitOfWork, actor: Actor, row: Row, kind: str) -> None:
    uow.session.delete(row)
    uow.audit(actor, f"{kind}.deleted", kind, row.id, {"name": row.name})
    _commit_or_conflict(uow, f"{kind} '{row.name}' is still in use")


def _check_queue_refs(
    uow: UnitOfWork, actor: Actor, team_id: str | None, skills: dict[str, int]
) -> None:
    if team_id is not None:
        _check_ids(uow, TeamRow, actor.org_id, [team_id], "team_id")
    _check_ids(uow, SkillRow, actor.org_id, list(skills), "required_skills")


def _check_ids(uow: UnitOfWork, row: type[Row], org_id: str, ids: list[str], field: str) -> None:
    missing = set(ids) - store.existing_ids(uow.session, row, org_id, ids)
    if missing:
        raise InvalidInput(f"{field}: unknown id(s) {', '.join(sorted(missing))}")


def _commit_or_conflict(uow: UnitOfWork, message: str) -> None:
    try:
        uow.commit()
    except IntegrityError:
        raise Conflict(message) from None


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in values.items()}
