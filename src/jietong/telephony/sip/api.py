"""HTTP for phone accounts and trunks (admins): translation only."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from jietong.app.deps import ActorDep, PlatformDep, UowDep
from jietong.storage.tables_sip import SipTrunkRow
from jietong.telephony.sip import service
from jietong.telephony.sip.schemas import (
    PhoneCreate,
    PhoneOut,
    PhoneUpdate,
    PhoneWithPassword,
    TrunkCreate,
    TrunkOut,
    TrunkUpdate,
)

router = APIRouter(prefix="/voice", tags=["voice"])


def phone_out(view: service.PhoneView) -> PhoneOut:
    r = view.row
    return PhoneOut(
        id=r.id,
        username=r.username,
        realm=r.realm,
        user_id=r.user_id,
        enabled=r.enabled,
        registered_contacts=view.registered_contacts,
        created_at=r.created_at,
        rotated_at=r.rotated_at,
    )


def trunk_out(r: SipTrunkRow) -> TrunkOut:
    return TrunkOut(
        id=r.id,
        name=r.name,
        host=r.host,
        port=r.port,
        allowed_sources=list(r.allowed_sources or []),
        username=r.username,
        has_password=bool(r.password),
        registering=r.register,
        register_expires_s=r.register_expires_s,
        is_default=r.is_default,
        enabled=r.enabled,
        trusted_edge=r.trusted_edge,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


@router.get("/phones", response_model=list[PhoneOut])
def list_phones(uow: UowDep, actor: ActorDep) -> list[PhoneOut]:
    return [phone_out(v) for v in service.list_phones(uow, actor)]


@router.post("/phones", status_code=status.HTTP_201_CREATED, response_model=PhoneWithPassword)
def create_phone(
    body: PhoneCreate, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> PhoneWithPassword:
    view, password = service.create_phone(uow, actor, body, realm=platform.settings.sip_realm)
    return PhoneWithPassword(phone=phone_out(view), password=password)


@router.get("/phones/{phone_id}", response_model=PhoneOut)
def get_phone(phone_id: str, uow: UowDep, actor: ActorDep) -> PhoneOut:
    return phone_out(service.get_phone(uow, actor, phone_id))


@router.post("/phones/{phone_id}/rotate", response_model=PhoneWithPassword)
def rotate_phone(
    phone_id: str, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> PhoneWithPassword:
    realm = platform.settings.sip_realm
    view, password = service.rotate_phone_password(uow, actor, phone_id, realm=realm)
    return PhoneWithPassword(phone=phone_out(view), password=password)


@router.patch("/phones/{phone_id}", response_model=PhoneOut)
def update_phone(phone_id: str, body: PhoneUpdate, uow: UowDep, actor: ActorDep) -> PhoneOut:
    return phone_out(service.set_phone_enabled(uow, actor, phone_id, body.enabled))


@router.delete("/phones/{phone_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_phone(phone_id: str, uow: UowDep, actor: ActorDep) -> Response:
    service.delete_phone(uow, actor, phone_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/trunks", response_model=list[TrunkOut])
def list_trunks(uow: UowDep, actor: ActorDep) -> list[TrunkOut]:
    return [trunk_out(r) for r in service.list_trunks(uow, actor)]


@router.post("/trunks", status_code=status.HTTP_201_CREATED, response_model=TrunkOut)
def create_trunk(body: TrunkCreate, uow: UowDep, actor: ActorDep) -> TrunkOut:
    return trunk_out(service.create_trunk(uow, actor, body))


@router.get("/trunks/{trunk_id}", response_model=TrunkOut)
def get_trunk(trunk_id: str, uow: UowDep, actor: ActorDep) -> TrunkOut:
    return trunk_out(service.get_trunk(uow, actor, trunk_id))


@router.patch("/trunks/{trunk_id}", response_model=TrunkOut)
def update_trunk(trunk_id: str, body: TrunkUpdate, uow: UowDep, actor: ActorDep) -> TrunkOut:
    return trunk_out(service.update_trunk(uow, actor, trunk_id, body))


@router.delete("/trunks/{trunk_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_trunk(trunk_id: str, uow: UowDep, actor: ActorDep) -> Response:
    service.delete_trunk(uow, actor, trunk_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
