"""Quarantined mail for admins: what could not become a message, why, and its bytes.

Reading is tenant-scoped like everything else: an id of another organisation's item is
reported as not found. Discarding is audited (who threw away which mail, and why it
had been held)."""

from __future__ import annotations

import re

from jietong.channels.email import store
from jietong.core.errors import NotFound
from jietong.core.pagination import Page, decode_cursor, page_of
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.storage.blobs import BlobStore
from jietong.storage.tables_email import EmailQuarantineRow
from jietong.storage.uow import UnitOfWork

_ID = re.compile(r"^[0-9a-f]{32}$")


class QuarantinedMailNotFound(NotFound):
    pass


def list_quarantined(
    uow: UnitOfWork, actor: Actor, *, cursor: str | None, limit: int
) -> Page[EmailQuarantineRow]:
    """The organisation's quarantined mail, newest first."""
    require(actor, Permission.CHANNELS_MANAGE)
    limit = max(1, min(limit, 200))
    rows = store.list_quarantine(
        uow.session, actor.org_id, before_id=decode_cursor(cursor), limit=limit
    )
    return page_of(rows, limit)


def get_quarantined(uow: UnitOfWork, actor: Actor, item_id: str) -> EmailQuarantineRow:
    require(actor, Permission.CHANNELS_MANAGE)
    row = (
        None
        if not _ID.match(item_id)
        else store.find_quarantined(uow.session, actor.org_id, item_id)
    )
    if row is None:
        raise QuarantinedMailNotFound(f"quarantined mail {item_id} not found")
    return row


def raw_of(uow: UnitOfWork, actor: Actor, blobs: BlobStore, item_id: str) -> bytes:
    """The mail exactly as received."""
    row = get_quarantined(uow, actor, item_id)
    try:
        return blobs.get(row.raw_key)
    except KeyError:
        raise QuarantinedMailNotFound(f"the bytes of quarantined mail {item_id} are gone") from None


def discard(uow: UnitOfWork, actor: Actor, item_id: str) -> None:
    row = get_quarantined(uow, actor, item_id)
    uow.session.delete(row)
    uow.audit(
        actor,
        "email.quarantine_discarded",
        "email_quarantine",
        row.id,
        {"reason": row.reason, "sha256": row.sha256, "sender": row.sender},
    )
    uow.commit()
