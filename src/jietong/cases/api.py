"""HTTP for cases: translation only, a few lines per endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from jietong.app.deps import ActorDep, CursorQuery, LimitQuery, SearchQuery, UowDep
from jietong.cases import service
from jietong.cases.model import CasePriority, CaseStatus, CaseType
from jietong.cases.schemas import CaseCreate, CaseLinkIn, CaseOut, CaseTransitionIn, CaseUpdate
from jietong.core.schemas import PageOut
from jietong.interactions.schemas import ID_PATTERN, TransitionOut

router = APIRouter(prefix="/cases", tags=["cases"])

IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN)]


def to_out(view: service.CaseView) -> CaseOut:
    c = view.case
    return CaseOut(
        id=c.id,
        number=c.number,
        case_type=CaseType(c.case_type),
        status=CaseStatus(c.status),
        priority=CasePriority(c.priority),
        subject=c.subject,
        description=c.description,
        customer_id=c.customer_id,
        owner_user_id=c.owner_user_id,
        department_id=c.department_id,
        due_at=c.due_at,
        resolved_at=c.resolved_at,
        closed_at=c.closed_at,
        created_at=c.created_at,
        updated_at=c.updated_at,
        interaction_ids=view.interaction_ids,
        allowed_triggers=view.allowed_triggers,
    )


@router.get("", response_model=PageOut[CaseOut])
def list_cases(
    uow: UowDep,
    actor: ActorDep,
    status: CaseStatus | None = None,
    case_type: CaseType | None = None,
    priority: CasePriority | None = None,
    owner_user_id: IdQuery = None,
    department_id: IdQuery = None,
    customer_id: IdQuery = None,
    q: SearchQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[CaseOut]:
    page = service.list_cases(
        uow,
        actor,
        status=status,
        case_type=case_type,
        priority=priority,
        owner_user_id=owner_user_id,
        department_id=department_id,
        customer_id=customer_id,
        query=q,
        cursor=cursor,
        limit=limit,
    )
    return PageOut(items=[to_out(v) for v in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseOut)
def open_case(body: CaseCreate, uow: UowDep, actor: ActorDep) -> CaseOut:
    return to_out(service.open_case(uow, actor, body))


@router.get("/{case_id}", response_model=CaseOut)
def get_case(case_id: str, uow: UowDep, actor: ActorDep) -> CaseOut:
    return to_out(service.get_case(uow, actor, case_id))


@router.patch("/{case_id}", response_model=CaseOut)
def update_case(case_id: str, body: CaseUpdate, uow: UowDep, actor: ActorDep) -> CaseOut:
    return to_out(service.update_case(uow, actor, case_id, body))


@router.get("/{case_id}/transitions", response_model=list[TransitionOut])
def list_transitions(case_id: str, uow: UowDep, actor: ActorDep) -> list[TransitionOut]:
    return [TransitionOut.model_validate(r) for r in service.list_transitions(uow, actor, case_id)]


@router.post("/{case_id}/transitions", response_model=CaseOut)
def transition_case(case_id: str, body: CaseTransitionIn, uow: UowDep, actor: ActorDep) -> CaseOut:
    return to_out(service.transition_case(uow, actor, case_id, body.trigger))


@router.post("/{case_id}/interactions", response_model=CaseOut)
def link_interaction(case_id: str, body: CaseLinkIn, uow: UowDep, actor: ActorDep) -> CaseOut:
    return to_out(service.link_interaction(uow, actor, case_id, body.interaction_id))
