"""HTTP for the organisation, users, teams, skills, queues and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel
from sqlalchemy import select

from jietong.app.deps import ActorDep, CursorQuery, LimitQuery, SearchQuery, UowDep
from jietong.core.permissions import Permission, require
from jietong.core.schemas import PageOut
from jietong.core.tenancy import Role
from jietong.org import service
from jietong.org.schemas import (
    OrganisationOut,
    OrganisationUpdate,
    QueueCreate,
    QueueOut,
    QueueUpdate,
    SkillCreate,
    SkillLevels,
    SkillOut,
    SkillUpdate,
    TeamCreate,
    TeamOut,
    TeamUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from jietong.storage.tables import AuditRow, QueueRow, SkillRow, TeamRow

router = APIRouter()


def user_out(view: service.UserView) -> UserOut:
    u = view.user
    return UserOut(
        id=u.id,
        username=u.username,
        display_name=u.display_name,
        email=u.email,
        role=Role(u.role),
        locale=u.locale,
        timezone=u.timezone,
        active=u.active,
        team_ids=view.team_ids,
        skills=view.skills,
        created_at=u.created_at,
    )


@router.get("/organisation", response_model=OrganisationOut, tags=["organisation"])
def get_organisation(uow: UowDep, actor: ActorDep) -> OrganisationOut:
    return OrganisationOut.model_validate(service.get_organisation(uow, actor))


@router.patch("/organisation", response_model=OrganisationOut, tags=["organisation"])
def update_organisation(body: OrganisationUpdate, uow: UowDep, actor: ActorDep) -> OrganisationOut:
    return OrganisationOut.model_validate(service.update_organisation(uow, actor, body))


@router.get("/users", response_model=PageOut[UserOut], tags=["users"])
def list_users(
    uow: UowDep,
    actor: ActorDep,
    q: SearchQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[UserOut]:
    page = service.list_users(uow, actor, query=q, cursor=cursor, limit=limit)
    return PageOut(items=[user_out(v) for v in page.items], next_cursor=page.next_cursor)


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserOut, tags=["users"])
def create_user(body: UserCreate, uow: UowDep, actor: ActorDep) -> UserOut:
    return user_out(service.create_user(uow, actor, body))


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"])
def get_user(user_id: str, uow: UowDep, actor: ActorDep) -> UserOut:
    return user_out(service.get_user(uow, actor, user_id))


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"])
def update_user(user_id: str, body: UserUpdate, uow: UowDep, actor: ActorDep) -> UserOut:
    return user_out(service.update_user(uow, actor, user_id, body))


@router.put("/users/{user_id}/skills", response_model=UserOut, tags=["users"])
def set_user_skills(user_id: str, body: SkillLevels, uow: UowDep, actor: ActorDep) -> UserOut:
    return user_out(service.set_user_skills(uow, actor, user_id, body.skills))


@router.get("/teams", response_model=PageOut[TeamOut], tags=["teams"])
def list_teams(
    uow: UowDep,
    actor: ActorDep,
    q: SearchQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[TeamOut]:
    page = service.list_in_org(uow, actor, TeamRow, query=q, cursor=cursor, limit=limit)
    return PageOut(
        items=[TeamOut.model_validate(t) for t in page.items], next_cursor=page.next_cursor
    )


@router.post("/teams", status_code=201, response_model=TeamOut, tags=["teams"])
def create_team(body: TeamCreate, uow: UowDep, actor: ActorDep) -> TeamOut:
    return TeamOut.model_validate(service.create_team(uow, actor, body))


@router.get("/teams/{team_id}", response_model=TeamOut, tags=["teams"])
def get_team(team_id: str, uow: UowDep, actor: ActorDep) -> TeamOut:
    return TeamOut.model_validate(service.get_in_org(uow, actor, TeamRow, team_id))


@router.get("/skills", response_model=PageOut[SkillOut], tags=["skills"])
def list_skills(
    uow: UowDep,
    actor: ActorDep,
    q: SearchQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[SkillOut]:
    page = service.list_in_org(uow, actor, SkillRow, query=q, cursor=cursor, limit=limit)
    return PageOut(
        items=[SkillOut.model_validate(s) for s in page.items], next_cursor=page.next_cursor
    )


@router.post("/skills", status_code=201, response_model=SkillOut, tags=["skills"])
def create_skill(body: SkillCreate, uow: UowDep, actor: ActorDep) -> SkillOut:
    return SkillOut.model_validate(service.create_skill(uow, actor, body))


@router.get("/skills/{skill_id}", response_model=SkillOut, tags=["skills"])
def get_skill(skill_id: str, uow: UowDep, actor: ActorDep) -> SkillOut:
    return SkillOut.model_validate(service.get_in_org(uow, actor, SkillRow, skill_id))


@router.get("/queues", response_model=PageOut[QueueOut], tags=["queues"])
def list_queues(
    uow: UowDep,
    actor: ActorDep,
    q: SearchQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[QueueOut]:
    page = service.list_in_org(uow, actor, QueueRow, query=q, cursor=cursor, limit=limit)
    return PageOut(
        items=[QueueOut.model_validate(q) for q in page.items], next_cursor=page.next_cursor
    )


@router.post("/queues", status_code=201, response_model=QueueOut, tags=["queues"])
def create_queue(body: QueueCreate, uow: UowDep, actor: ActorDep) -> QueueOut:
    return QueueOut.model_validate(service.create_queue(uow, actor, body))


@router.get("/queues/{queue_id}", response_model=QueueOut, tags=["queues"])
def get_queue(queue_id: str, uow: UowDep, actor: ActorDep) -> QueueOut:
    return QueueOut.model_validate(service.get_in_org(uow, actor, QueueRow, queue_id))


@router.patch("/queues/{queue_id}", response_model=QueueOut, tags=["queues"])
def update_queue(queue_id: str, body: QueueUpdate, uow: UowDep, actor: ActorDep) -> QueueOut:
    return QueueOut.model_validate(service.update_queue(uow, actor, queue_id, body))


@router.patch("/teams/{team_id}", response_model=TeamOut, tags=["teams"])
def update_team(team_id: str, body: TeamUpdate, uow: UowDep, actor: ActorDep) -> TeamOut:
    return TeamOut.model_validate(service.update_team(uow, actor, team_id, body))


@router.delete("/teams/{team_id}", status_code=204, tags=["teams"])
def delete_team(team_id: str, uow: UowDep, actor: ActorDep) -> Response:
    service.delete_team(uow, actor, team_id)
    return Response(status_code=204)


@router.patch("/skills/{skill_id}", response_model=SkillOut, tags=["skills"])
def update_skill(skill_id: str, body: SkillUpdate, uow: UowDep, actor: ActorDep) -> SkillOut:
    return SkillOut.model_validate(service.update_skill(uow, actor, skill_id, body))


@router.delete("/skills/{skill_id}", status_code=204, tags=["skills"])
def delete_skill(skill_id: str, uow: UowDep, actor: ActorDep) -> Response:
    service.delete_skill(uow, actor, skill_id)
    return Response(status_code=204)


@router.delete("/queues/{queue_id}", status_code=204, tags=["queues"])
def delete_queue(queue_id: str, uow: UowDep, actor: ActorDep) -> Response:
    service.delete_queue(uow, actor, queue_id)
    return Response(status_code=204)


class AuditOut(BaseModel):
    id: int
    actor_user_id: str | None
    actor_token_id: str | None
    action: str
    entity_type: str
    entity_id: str
    changes: dict[str, Any]
    at: datetime


@router.get("/audit", response_model=list[AuditOut], tags=["audit"])
def list_audit(uow: UowDep, actor: ActorDep, limit: LimitQuery = 100) -> list[AuditOut]:
    """The newest audit entries of the organisation (append-only)."""
    require(actor, Permission.AUDIT_READ)
    rows = uow.session.scalars(
        select(AuditRow)
        .where(AuditRow.org_id == actor.org_id)
        .order_by(AuditRow.id.desc())
        .limit(limit)
    )
    return [AuditOut.model_validate(r, from_attributes=True) for r in rows]
