"""Phone accounts and trunks: decisions, transactions and audit (admins only).

A phone password is generated here, returned once, and only its HA1 is stored; rotating
it drops the account's bindings, so a phone still using the old password stops ringing
at once rather than at its next re-registration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from jietong.core.errors import Conflict, InvalidInput, NotFound
from jietong.core.ids import new_id
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.storage.tables import UserRow
from jietong.storage.tables_sip import SipBindingRow, SipPhoneAccountRow, SipTrunkRow
from jietong.storage.uow import UnitOfWork
from jietong.telephony.sip import digest, store
from jietong.telephony.sip.schemas import PhoneCreate, TrunkCreate, TrunkUpdate

SIP_USER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True, slots=True)
class PhoneView:
    row: SipPhoneAccountRow
    registered_contacts: int


def _commit(uow: UnitOfWork, message: str) -> None:
    try:
        uow.commit()
    except IntegrityError:
        raise Conflict(message) from None


def list_phones(uow: UnitOfWork, actor: Actor) -> list[PhoneView]:
    require(actor, Permission.CHANNELS_MANAGE)
    rows = store.list_phones(uow.session, actor.org_id)
    counts = store.count_bindings(uow.session, [r.id for r in rows], uow.now)
    return [PhoneView(r, counts.get(r.id, 0)) for r in rows]


def get_phone(uow: UnitOfWork, actor: Actor, phone_id: str) -> PhoneView:
    require(actor, Permission.CHANNELS_MANAGE)
    row = _phone(uow, actor, phone_id)
    counts = store.count_bindings(uow.session, [row.id], uow.now)
    return PhoneView(row, counts.get(row.id, 0))


def _phone(uow: UnitOfWork, actor: Actor, phone_id: str) -> SipPhoneAccountRow:
    row = store.find_phone_in_org(uow.session, actor.org_id, phone_id)
    if row is None:
        raise NotFound(f"phone {phone_id} not found")
    return row


def create_phone(
    uow: UnitOfWork, actor: Actor, data: PhoneCreate, *, realm: str
) -> tuple[PhoneView, str]:
    """A phone account for an agent of the organisation; returns it with its password
    (shown once)."""
    require(actor, Permission.CHANNELS_MANAGE)
    user = uow.session.get(UserRow, data.user_id)
    if user is None or user.org_id != actor.org_id:
        raise NotFound(f"user {data.user_id} not found")
    username = data.username or user.username
    if not (2 <= len(username) <= 64 and set(username) <= SIP_USER_CHARS):
        raise InvalidInput("the user's name is not a usable SIP user; give a username")
    password = digest.new_password()
    row = SipPhoneAccountRow(
        id=new_id(),
        org_id=actor.org_id,
        username=username,
        realm=realm,
        ha1=digest.ha1(username, realm, password),
        user_id=user.id,
        enabled=True,
        created_at=uow.now,
        rotated_at=uow.now,
    )
    uow.session.add(row)
    uow.audit(actor, "sip_phone.created", "sip_phone", row.id, {"username": username})
    _commit(uow, f"a phone account named '{username}' exists")
    return PhoneView(row, 0), password


def rotate_phone_password(
    uow: UnitOfWork, actor: Actor, phone_id: str, *, realm: str
) -> tuple[PhoneView, str]:
    require(actor, Permission.CHANNELS_MANAGE)
    row = _phone(uow, actor, phone_id)
    password = digest.new_password()
    row.realm = realm
    row.ha1 = digest.ha1(row.username, realm, password)
    row.rotated_at = uow.now
    uow.session.execute(delete(SipBindingRow).where(SipBindingRow.account_id == row.id))
    uow.audit(actor, "sip_phone.rotated", "sip_phone", row.id, {"username": row.username})
    _commit(uow, "conflict")
    return PhoneView(row, 0), password


def set_phone_enabled(uow: UnitOfWork, actor: Actor, phone_id: str, enabled: bool) -> PhoneView:
    require(actor, Permission.CHANNELS_MANAGE)
    row = _phone(uow, actor, phone_id)
    row.enabled = enabled
    if not enabled:
        uow.session.execute(delete(SipBindingRow).where(SipBindingRow.account_id == row.id))
    uow.audit(actor, "sip_phone.updated", "sip_phone", row.id, {"enabled": enabled})
    _commit(uow, "conflict")
    return get_phone(uow, actor, phone_id)


def delete_phone(uow: UnitOfWork, actor: Actor, phone_id: str) -> None:
    require(actor, Permission.CHANNELS_MANAGE)
    row = _phone(uow, actor, phone_id)
    uow.session.execute(delete(SipBindingRow).where(SipBindingRow.account_id == row.id))
    uow.session.delete(row)
    uow.audit(actor, "sip_phone.deleted", "sip_phone", phone_id, {"username": row.username})
    _commit(uow, "conflict")


def list_trunks(uow: UnitOfWork, actor: Actor) -> list[SipTrunkRow]:
    require(actor, Permission.CHANNELS_MANAGE)
    return store.list_trunks(uow.session, actor.org_id)


def get_trunk(uow: UnitOfWork, actor: Actor, trunk_id: str) -> SipTrunkRow:
    require(actor, Permission.CHANNELS_MANAGE)
    row = store.find_trunk_in_org(uow.session, actor.org_id, trunk_id)
    if row is None:
        raise NotFound(f"trunk {trunk_id} not found")
    return row


def _check_trunk(row: SipTrunkRow) -> None:
    if row.register and not (row.username and row.password):
        raise InvalidInput("a registering trunk needs a username and a password")


def _one_default(uow: UnitOfWork, row: SipTrunkRow) -> None:
    if row.is_default:
        for other in store.list_trunks(uow.session, row.org_id):
            if other.id != row.id:
                other.is_default = False


def _sealed(uow: UnitOfWork, password: str | None) -> str | None:
    """A trunk password as stored: sealed with the platform's key (ADR 0016)."""
    return None if password is None else uow.secrets.seal(password)


def _public(values: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k == "password" else v) for k, v in values.items()}


def create_trunk(uow: UnitOfWork, actor: Actor, data: TrunkCreate) -> SipTrunkRow:
    require(actor, Permission.CHANNELS_MANAGE)
    values = data.model_dump()
    values["register"] = values.pop("registering")  # `register` would shadow BaseModel's
    stored = {**values, "password": _sealed(uow, values.get("password"))}
    row = SipTrunkRow(
        id=new_id(), org_id=actor.org_id, created_at=uow.now, updated_at=uow.now, **stored
    )
    _check_trunk(row)
    uow.session.add(row)
    try:
        uow.session.flush()  # the name's uniqueness, before other trunks are touched
    except IntegrityError:
        raise Conflict(f"a trunk named '{data.name}' exists") from None
    _one_default(uow, row)
    uow.audit(actor, "sip_trunk.created", "sip_trunk", row.id, _public(values))
    _commit(uow, f"a trunk named '{data.name}' exists")
    return row


def update_trunk(uow: UnitOfWork, actor: Actor, trunk_id: str, data: TrunkUpdate) -> SipTrunkRow:
    row = get_trunk(uow, actor, trunk_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "registering" in changes:
        changes["register"] = changes.pop("registering")
    for key, value in changes.items():
        setattr(row, key, _sealed(uow, value) if key == "password" else value)
    row.updated_at = uow.now
    _check_trunk(row)
    try:
        uow.session.flush()
    except IntegrityError:
        raise Conflict("a trunk with this name exists") from None
    _one_default(uow, row)
    uow.audit(actor, "sip_trunk.updated", "sip_trunk", row.id, _public(changes))
    _commit(uow, "a trunk with this name exists")
    return row


def delete_trunk(uow: UnitOfWork, actor: Actor, trunk_id: str) -> None:
    row = get_trunk(uow, actor, trunk_id)
    uow.session.delete(row)
    uow.audit(actor, "sip_trunk.deleted", "sip_trunk", trunk_id, {"name": row.name})
    _commit(uow, "conflict")
