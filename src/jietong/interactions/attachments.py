"""Attachments: files linked to an interaction (and optionally one of its messages).

Uploaded bytes are hostile until proven otherwise. The stored content type is sniffed
from the bytes, never taken from the uploader; the filename is sanitised; and what the
download serves is chosen so that no browser renders it as a page of ours (the HTTP
layer adds `attachment` disposition, `nosniff` and a sandbox CSP on top).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

import filetype

from jietong.core.errors import InvalidInput, NotFound, PayloadTooLarge
from jietong.core.ids import new_id
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.events.catalogue import AttachmentStored
from jietong.interactions import store
from jietong.interactions.service import (
    ENTITY_TYPE,
    InteractionNotFound,
    acting_user_id,
    require_interaction,
)
from jietong.storage.blobs import BlobStore
from jietong.storage.tables import AttachmentRow, InteractionRow
from jietong.storage.uow import UnitOfWork

OCTET_STREAM = "application/octet-stream"
TEXT_PLAIN = "text/plain"
MAX_FILENAME = 255
_ID = re.compile(r"^[0-9a-f]{32}$")
# Characters that are path separators or reserved somewhere (Windows) become "_".
_RESERVED = frozenset('<>:"|?*')
# Unicode categories dropped from filenames: controls, format characters (the
# right-to-left override that disguises "exe.txt"), lone surrogates, line separators.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_TEXT_CONTROLS_ALLOWED = frozenset("\t\n\r\f")
_HTML_MARKERS = ("<!doctype html", "<html", "<head", "<body", "<script", "<iframe", "<frame")


class AttachmentNotFound(NotFound):
    pass


@dataclass(frozen=True)
class AttachmentContent:
    """An attachment's bytes and the Content-Type they may safely be served with."""

    attachment: AttachmentRow
    data: bytes
    served_type: str


def store_attachment(
    uow: UnitOfWork,
    actor: Actor,
    blobs: BlobStore,
    interaction_id: str,
    *,
    filename: str,
    data: bytes,
    declared_content_type: str | None,
    message_id: str | None = None,
    max_bytes: int,
) -> AttachmentRow:
    """Store `data` for a visible interaction. PayloadTooLarge past `max_bytes`;
    InvalidInput if `message_id` is not a message of that interaction.

    The bytes go to the blob store before the row commits: a failed commit leaves an
    unreferenced blob (harmless, collectable), never a row without its bytes."""
    require(actor, Permission.INTERACTIONS_WRITE)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"attachments are limited to {max_bytes} bytes")
    interaction = require_interaction(uow, actor, interaction_id)
    if message_id is not None:
        _check_message(uow, interaction, message_id)
    row = AttachmentRow(
        id=new_id(),
        org_id=actor.org_id,
        message_id=message_id,
        interaction_id=interaction.id,
        filename=sanitise_filename(filename),
        declared_content_type=_declared(declared_content_type),
        content_type=sniff_content_type(data),
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=blobs.put(data),
        uploaded_by=acting_user_id(actor),
        created_at=uow.now,
    )
    uow.session.add(row)
    uow.emit(
        AttachmentStored(
            org_id=actor.org_id,
            attachment_id=row.id,
            interaction_id=row.interaction_id,
            content_type=row.content_type,
            size_bytes=row.size_bytes,
        )
    )
    uow.audit(
        actor,
        "attachment.stored",
        ENTITY_TYPE,
        interaction.id,
        {"attachment_id": row.id, "filename": row.filename, "sha256": row.sha256},
    )
    uow.commit()
    return row


def list_attachments(uow: UnitOfWork, actor: Actor, interaction_id: str) -> list[AttachmentRow]:
    """The attachments of a visible interaction, oldest first."""
    require(actor, Permission.INTERACTIONS_READ)
    interaction = require_interaction(uow, actor, interaction_id)
    return store.attachments_of(uow.session, actor.org_id, interaction.id)


def get_attachment(
    uow: UnitOfWork, actor: Actor, attachment_id: str, *, interaction_id: str | None = None
) -> AttachmentRow:
    """The attachment if the actor may see its interaction (and, when `interaction_id` is
    given, it belongs to that interaction); else AttachmentNotFound."""
    require(actor, Permission.INTERACTIONS_READ)
    row = None
    if _ID.match(attachment_id):
        row = store.find_attachment(uow.session, actor.org_id, attachment_id)
    owner = None if row is None else _owning_interaction(uow, row)
    if row is None or owner is None or interaction_id not in (None, owner):
        raise AttachmentNotFound(f"attachment {attachment_id} not found")
    try:
        require_interaction(uow, actor, owner)
    except InteractionNotFound:
        raise AttachmentNotFound(f"attachment {attachment_id} not found") from None
    return row


def open_attachment(
    uow: UnitOfWork,
    actor: Actor,
    blobs: BlobStore,
    attachment_id: str,
    *,
    interaction_id: str | None = None,
) -> AttachmentContent:
    """The attachment's bytes, authorised like `get_attachment`."""
    row = get_attachment(uow, actor, attachment_id, interaction_id=interaction_id)
    try:
        data = blobs.get(row.storage_key)
    except KeyError:
        raise AttachmentNotFound(f"the content of attachment {attachment_id} is gone") from None
    return AttachmentContent(row, data, served_content_type(row.content_type))


def sniff_content_type(data: bytes) -> str:
    """The content type the bytes themselves show: a known magic number, else markup or
    plain text when they are UTF-8 text, else application/octet-stream."""
    kind = filetype.guess(data) if data else None
    if kind is not None:
        return str(kind.mime)
    text = _as_text(data)
    if text is None:
        return OCTET_STREAM
    return _markup_type(text) or TEXT_PLAIN


def served_content_type(content_type: str) -> str:
    """The Content-Type to serve a stored type with. Anything a browser might run or
    render as a document (HTML, SVG, XML, scripts, any text but plain) becomes
    application/octet-stream."""
    base = content_type.split(";", 1)[0].strip().lower()
    if base == TEXT_PLAIN:
        return "text/plain; charset=utf-8"
    active = base.startswith("text/") or any(
        word in base for word in ("html", "xml", "svg", "script", "flash")
    )
    return OCTET_STREAM if active or not base else base


def sanitise_filename(name: str) -> str:
    """A filename safe to store and offer for download: the last path component only,
    NFC-normalised, without control or format characters, reserved characters replaced,
    no leading or trailing dots or spaces, at most 255 characters (extension kept)."""
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in _DROPPED_CATEGORIES)
    name = "".join("_" if c in _RESERVED else c for c in name)
    name = name.strip(" .")
    return _shortened(name) if name else "attachment"


def _shortened(name: str) -> str:
    if len(name) <= MAX_FILENAME:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= 16:
        return stem[: MAX_FILENAME - len(ext) - 1] + "." + ext
    return name[:MAX_FILENAME]


def _as_text(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    # NUL and other controls are valid UTF-8 but mark binary data, not text.
    if any(ord(c) < 32 and c not in _TEXT_CONTROLS_ALLOWED for c in text):
        return None
    return text


def _markup_type(text: str) -> str | None:
    head = text[:2048].lstrip().lower()
    if "<svg" in head:
        return "image/svg+xml"
    if any(marker in head for marker in _HTML_MARKERS):
        return "text/html"
    if head.startswith("<?xml"):
        return "application/xml"
    return None


def _declared(content_type: str | None) -> str | None:
    """The uploader's claim, kept for the record only: one line, bounded."""
    if content_type is None:
        return None
    cleaned = "".join(c for c in content_type if c.isprintable()).strip()[:255]
    return cleaned or None


def _check_message(uow: UnitOfWork, interaction: InteractionRow, message_id: str) -> None:
    message = None
    if _ID.match(message_id):
        message = store.find_message(uow.session, interaction.org_id, message_id)
    if message is None or message.interaction_id != interaction.id:
        raise InvalidInput(f"message {message_id} is not part of interaction {interaction.id}")


def _owning_interaction(uow: UnitOfWork, row: AttachmentRow) -> str | None:
    if row.interaction_id is not None:
        return row.interaction_id
    if row.message_id is None:
        return None
    message = store.find_message(uow.session, row.org_id, row.message_id)
    return None if message is None else message.interaction_id
