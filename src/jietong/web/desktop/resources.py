"""Canned responses and wrap-up codes: every member of staff reads them, admins and
supervisors manage them (audited). Clashing titles, shortcuts or codes are conflicts with
a message saying which; the UNIQUE constraints decide between racing writers."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jietong.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from jietong.core.ids import new_id
from jietong.core.permissions import Permission, has_permission, require
from jietong.core.tenancy import Actor
from jietong.interactions.service import acting_user_id
from jietong.storage.tables_desktop import CannedResponseRow, WrapUpCodeRow
from jietong.storage.uow import UnitOfWork
from jietong.web.desktop import resource_store as store
from jietong.web.desktop.schemas import CannedIn, CannedUpdate, WrapUpCodeIn, WrapUpCodeUpdate

R = TypeVar("R")


class CannedResponseNotFound(NotFound):
    pass


class WrapUpCodeNotFound(NotFound):
    pass


def require_manager(actor: Actor) -> None:
    """Admins and supervisors look after the desk's shared resources."""
    if not (
        has_permission(actor, Permission.ORG_MANAGE)
        or has_permission(actor, Permission.ROUTING_SUPERVISE)
    ):
        raise PermissionDenied("managing canned responses and wrap-up codes needs a supervisor")


# -- canned responses ----------------------------------------------------------------------


def list_canned(uow: UnitOfWork, actor: Actor) -> list[CannedResponseRow]:
    """The answers for the whole organisation and for the actor's teams (all for those who
    see the whole organisation)."""
    require(actor, Permission.INTERACTIONS_READ)
    teams = None if actor.sees_whole_organisation else actor.team_ids
    return store.canned_responses(uow.session, actor.org_id, teams)


def create_canned(uow: UnitOfWork, actor: Actor, data: CannedIn) -> CannedResponseRow:
    require_manager(actor)
    _check_team(uow, actor, data.team_id)
    row = CannedResponseRow(
        id=new_id(),
        org_id=actor.org_id,
        title=data.title,
        shortcut=data.shortcut,
        body=data.body,
        channels=sorted(set(data.channels)),
        team_id=data.team_id,
        created_by=acting_user_id(actor),
        created_at=uow.now,
        updated_at=uow.now,
    )
    _refuse_clash(uow, actor.org_id, row.id, row.title, row.shortcut)
    uow.session.add(row)
    uow.audit(actor, "canned_response.created", "canned_response", row.id, {"title": row.title})
    return _commit(uow, row, "a canned response with this title or shortcut exists")


def update_canned(
    uow: UnitOfWork, actor: Actor, canned_id: str, data: CannedUpdate
) -> CannedResponseRow:
    require_manager(actor)
    row = _canned(uow, actor, canned_id)
    changes = data.model_dump(exclude_unset=True, exclude={"clear_shortcut", "clear_team"})
    changes = {k: v for k, v in changes.items() if v is not None}
    if data.clear_shortcut:
        changes["shortcut"] = None
    if data.clear_team:
        changes["team_id"] = None
    if "team_id" in changes:
        _check_team(uow, actor, changes["team_id"])
    if "channels" in changes:
        changes["channels"] = sorted(set(changes["channels"]))
    for key, value in changes.items():
        setattr(row, key, value)
    _refuse_clash(uow, actor.org_id, row.id, row.title, row.shortcut)
    row.updated_at = uow.now
    uow.audit(actor, "canned_response.updated", "canned_response", row.id, _plain(changes))
    return _commit(uow, row, "a canned response with this title or shortcut exists")


def delete_canned(uow: UnitOfWork, actor: Actor, canned_id: str) -> None:
    require_manager(actor)
    row = _canned(uow, actor, canned_id)
    uow.session.delete(row)
    uow.audit(actor, "canned_response.deleted", "canned_response", row.id, {"title": row.title})
    uow.commit()


def _canned(uow: UnitOfWork, actor: Actor, canned_id: str) -> CannedResponseRow:
    row = store.find_canned(uow.session, actor.org_id, canned_id)
    if row is None:
        raise CannedResponseNotFound(f"canned response {canned_id} not found")
    return row


def _refuse_clash(
    uow: UnitOfWork, org_id: str, own_id: str, title: str, shortcut: str | None
) -> None:
    with uow.session.no_autoflush:
        clash = uow.session.scalars(
            select(CannedResponseRow).where(
                CannedResponseRow.org_id == org_id, CannedResponseRow.id != own_id
            )
        ).all()
    if any(c.title == title for c in clash):
        raise Conflict(f"a canned response titled '{title}' exists already")
    if shortcut is not None and any(c.shortcut == shortcut for c in clash):
        raise Conflict(f"the shortcut /{shortcut} is taken")


def _check_team(uow: UnitOfWork, actor: Actor, team_id: str | None) -> None:
    if team_id is not None and store.find_team(uow.session, actor.org_id, team_id) is None:
        raise InvalidInput(f"unknown team {team_id}")


# -- wrap-up codes -------------------------------------------------------------------------


def list_wrapup_codes(uow: UnitOfWork, actor: Actor) -> list[WrapUpCodeRow]:
    require(actor, Permission.INTERACTIONS_READ)
    return store.wrapup_codes(uow.session, actor.org_id)


def create_wrapup_code(uow: UnitOfWork, actor: Actor, data: WrapUpCodeIn) -> WrapUpCodeRow:
    require_manager(actor)
    row = WrapUpCodeRow(
        id=new_id(),
        org_id=actor.org_id,
        code=data.code,
        label=data.label,
        active=data.active,
        position=data.position,
        created_at=uow.now,
        updated_at=uow.now,
    )
    _refuse_code_clash(uow, actor.org_id, row.id, row.code)
    uow.session.add(row)
    uow.audit(actor, "wrapup_code.created", "wrapup_code", row.id, {"code": row.code})
    return _commit(uow, row, f"the wrap-up code {row.code} exists already")


def update_wrapup_code(
    uow: UnitOfWork, actor: Actor, code_id: str, data: WrapUpCodeUpdate
) -> WrapUpCodeRow:
    require_manager(actor)
    row = _code(uow, actor, code_id)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    for key, value in changes.items():
        setattr(row, key, value)
    _refuse_code_clash(uow, actor.org_id, row.id, row.code)
    row.updated_at = uow.now
    uow.audit(actor, "wrapup_code.updated", "wrapup_code", row.id, _plain(changes))
    return _commit(uow, row, f"the wrap-up code {row.code} exists already")


def delete_wrapup_code(uow: UnitOfWork, actor: Actor, code_id: str) -> None:
    """Delete a code no wrap-up used; a used one must be deactivated instead (Conflict)."""
    require_manager(actor)
    row = _code(uow, actor, code_id)
    if store.wrapup_code_in_use(uow.session, row.id):
        raise Conflict(f"the wrap-up code {row.code} has been used; deactivate it instead")
    uow.session.delete(row)
    uow.audit(actor, "wrapup_code.deleted", "wrapup_code", row.id, {"code": row.code})
    uow.commit()


def require_wrapup_code(uow: UnitOfWork, actor: Actor, code_id: str) -> WrapUpCodeRow:
    """An active code of the actor's organisation, else InvalidInput (a bad reference)."""
    row = store.find_wrapup_code(uow.session, actor.org_id, code_id)
    if row is None or not row.active:
        raise InvalidInput(f"unknown or inactive wrap-up code {code_id}")
    return row


def _code(uow: UnitOfWork, actor: Actor, code_id: str) -> WrapUpCodeRow:
    row = store.find_wrapup_code(uow.session, actor.org_id, code_id)
    if row is None:
        raise WrapUpCodeNotFound(f"wrap-up code {code_id} not found")
    return row


def _refuse_code_clash(uow: UnitOfWork, org_id: str, own_id: str, code: str) -> None:
    with uow.session.no_autoflush:
        clash = uow.session.scalar(
            select(WrapUpCodeRow.id).where(
                WrapUpCodeRow.org_id == org_id,
                WrapUpCodeRow.code == code,
                WrapUpCodeRow.id != own_id,
            )
        )
    if clash is not None:
        raise Conflict(f"the wrap-up code {code} exists already")


# -- shared --------------------------------------------------------------------------------


def _commit(uow: UnitOfWork, row: R, message: str) -> R:
    try:
        uow.commit()
    except IntegrityError:
        uow.session.rollback()
        raise Conflict(message) from None
    return row


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if v is None or isinstance(v, str | int | bool | list) else str(v)
        for k, v in values.items()
    }
