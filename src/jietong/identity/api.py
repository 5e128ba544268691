"""HTTP for customers: translation only, a few lines per endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from jietong.app.deps import ActorDep, CursorQuery, LimitQuery, PlatformDep, SearchQuery, UowDep
from jietong.core.schemas import PageOut
from jietong.identity import service
from jietong.identity.model import VipTier
from jietong.identity.schemas import (
    ContactPointIn,
    ContactPointOut,
    CustomerCreate,
    CustomerOut,
    CustomerUpdate,
)

router = APIRouter(prefix="/customers", tags=["customers"])


def to_out(view: service.CustomerView) -> CustomerOut:
    c = view.customer
    return CustomerOut(
        id=c.id,
        display_name=c.display_name,
        company=c.company,
        vip_tier=VipTier(c.vip_tier),
        tags=c.tags,
        attributes=c.attributes,
        contact_points=[ContactPointOut.model_validate(p) for p in view.contact_points],
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


@router.get("", response_model=PageOut[CustomerOut])
def list_customers(
    uow: UowDep,
    actor: ActorDep,
    platform: PlatformDep,
    q: SearchQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[CustomerOut]:
    page = service.list_customers(
        uow,
        actor,
        query=q,
        cursor=cursor,
        limit=limit,
        default_region=platform.settings.default_region,
    )
    return PageOut(items=[to_out(v) for v in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CustomerOut)
def create_customer(
    body: CustomerCreate, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> CustomerOut:
    region = platform.settings.default_region
    return to_out(service.create_customer(uow, actor, body, default_region=region))


@router.get("/{customer_id}", response_model=CustomerOut)
def get_customer(customer_id: str, uow: UowDep, actor: ActorDep) -> CustomerOut:
    return to_out(service.get_customer(uow, actor, customer_id))


@router.patch("/{customer_id}", response_model=CustomerOut)
def update_customer(
    customer_id: str, body: CustomerUpdate, uow: UowDep, actor: ActorDep
) -> CustomerOut:
    return to_out(service.update_customer(uow, actor, customer_id, body))


@router.delete("/{customer_id}", status_code=204)
def delete_customer(customer_id: str, uow: UowDep, actor: ActorDep) -> Response:
    service.delete_customer(uow, actor, customer_id)
    return Response(status_code=204)


@router.post(
    "/{customer_id}/contact-points",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactPointOut,
)
def add_contact_point(
    customer_id: str, body: ContactPointIn, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> ContactPointOut:
    region = platform.settings.default_region
    row = service.add_contact_point(uow, actor, customer_id, body, default_region=region)
    return ContactPointOut.model_validate(row)


@router.delete("/{customer_id}/contact-points/{point_id}", status_code=204)
def remove_contact_point(customer_id: str, point_id: str, uow: UowDep, actor: ActorDep) -> Response:
    service.remove_contact_point(uow, actor, customer_id, point_id)
    return Response(status_code=204)
