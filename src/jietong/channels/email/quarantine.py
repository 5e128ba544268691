"""Quarantined mail for admins: what could not become a message, why, and its bytes.

Reading is tenant-scoped like everything else: an id of another organisation's item is
reported as not found. Discarding is audited (who threw away which mail, and why it
had been held)."""

from __future__ import annotations

import re

from jietong.channels.email import service, store
from jietong.core.errors import InvalidInput, NotFound
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


def retry(
    uow: UnitOfWork, actor: Actor, context: service.MailContext, item_id: str
) -> service.Outcome:
    """Take a held mail through intake again, as if it had just arrived (after an admin
    raised the attachment limit, say, or an upgrade fixed what could not read it).

    Stored (or found already stored): the held copy goes. Held again: the new hold, with
    today's reason, replaces the old one. Either way the mail exists exactly once more
    and the retry is audited."""
    row = get_quarantined(uow, actor, item_id)
    try:
        raw = context.blobs.get(row.raw_key)
    except KeyError:
        raise QuarantinedMailNotFound(f"the bytes of quarantined mail {item_id} are gone") from None
    recipient = service.find_recipient(uow, row.recipient)
    if recipient is None or recipient.org_id != actor.org_id:
        raise InvalidInput(f"{row.recipient} is no longer the address of an email account")
    envelope_from = row.envelope_from
    # Intake runs in its own transaction; this one must not hold SQLite's write lock.
    uow.session.rollback()
    outcome = service.receive_mail(context, raw, recipient, envelope_from=envelope_from)
    held = uow.session.get(EmailQuarantineRow, item_id)
    if held is not None:
        uow.session.delete(held)
    uow.audit(
        actor,
        "email.quarantine_retried",
        "email_quarantine",
        item_id,
        {"outcome": outcome.kind, "reason": outcome.reason, "message_id": outcome.message_id},
    )
    uow.commit()
    return outcome
