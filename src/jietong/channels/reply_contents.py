"""What an agent's reply carries beyond its text: sanitised HTML (with the text as its
plain alternative), CC addresses and files.

`check_parts` validates and normalises them before anything is stored; `send_reply`
stores them in the reply's transaction (HTML and CC in `reply_contents`, files linked to
the reply message); the delivery worker reads them back with `outbound_parts` when it
hands the reply to the channel. Only channels whose contact points are email addresses
take them: another channel would drop them silently, so they are refused up front.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from jietong.channels.base import OutboundAttachment
from jietong.channels.email.compose import InvalidRecipient, mailbox_address
from jietong.channels.email.sanitize import sanitise_html
from jietong.core.errors import InvalidInput, PayloadTooLarge
from jietong.core.tenancy import Actor
from jietong.identity.contact_points import ContactKind
from jietong.interactions.service import acting_user_id
from jietong.storage.blobs import BlobStore
from jietong.storage.tables import AttachmentRow, InteractionRow, MessageRow
from jietong.storage.tables_desktop import ReplyContentRow
from jietong.storage.uow import UnitOfWork

MAX_CC = 20
MAX_FILES = 10
MAX_HTML_CHARS = 500_000


class ContentGone(Exception):
    """A reply's file has no bytes any more: the delivery cannot be made as written."""


@dataclass(frozen=True)
class ReplyParts:
    html: str | None = None
    cc: tuple[str, ...] = ()
    attachment_ids: tuple[str, ...] = ()

    @property
    def plain(self) -> bool:
        return self.html is None and not self.cc and not self.attachment_ids


@dataclass(frozen=True)
class OutboundParts:
    html: str | None
    cc: tuple[str, ...]
    attachments: tuple[OutboundAttachment, ...]


def check_parts(parts: ReplyParts, *, kind: ContactKind, recipient: str) -> ReplyParts:
    """The parts normalised (HTML sanitised, CC trimmed and deduplicated, without the
    recipient); InvalidInput saying what is wrong otherwise."""
    if parts.plain:
        return parts
    if kind is not ContactKind.EMAIL:
        raise InvalidInput("rich text, CC and attachments are for email replies only")
    if len(parts.cc) > MAX_CC:
        raise InvalidInput(f"at most {MAX_CC} CC addresses")
    if len(set(parts.attachment_ids)) > MAX_FILES:
        raise InvalidInput(f"at most {MAX_FILES} attachments per reply")
    html = None
    if parts.html is not None and parts.html.strip():
        if len(parts.html) > MAX_HTML_CHARS:
            raise InvalidInput(f"the rich text is limited to {MAX_HTML_CHARS} characters")
        # The allow-list of inbound mail: nothing pasted can carry scripts or trackers.
        html = sanitise_html(parts.html).html
    # Once per address whatever its case (mail systems treat them alike), first spelling
    # kept; the recipient is already on To.
    seen = {recipient.strip().lower()}
    cc: list[str] = []
    for address in map(_cc_address, parts.cc):
        if address.lower() not in seen:
            seen.add(address.lower())
            cc.append(address)
    return ReplyParts(
        html=html,
        cc=tuple(cc),
        attachment_ids=tuple(dict.fromkeys(parts.attachment_ids)),
    )


def _cc_address(raw: str) -> str:
    # A line break could start a header of its own: refused, never trimmed away.
    if "\r" in raw or "\n" in raw:
        raise InvalidInput("a CC address may not contain a line break")
    try:
        return mailbox_address(raw)
    except InvalidRecipient:
        raise InvalidInput(f"not a valid CC address: {raw[:80]!r}") from None


def store_parts(
    uow: UnitOfWork,
    actor: Actor,
    interaction: InteractionRow,
    message: MessageRow,
    parts: ReplyParts,
    *,
    max_total_bytes: int,
) -> None:
    """Link the files to `message` and keep its HTML and CC; not committed. A file must
    be an upload of the actor's on this interaction that no message carries yet;
    PayloadTooLarge when the files together pass `max_total_bytes`."""
    if parts.plain:
        return
    files = [_own_upload(uow, actor, interaction, a) for a in parts.attachment_ids]
    if sum(f.size_bytes for f in files) > max_total_bytes:
        raise PayloadTooLarge(f"a reply's attachments are limited to {max_total_bytes} bytes")
    for file in files:
        file.message_id = message.id
    uow.session.add(
        ReplyContentRow(
            message_id=message.id, org_id=message.org_id, html=parts.html, cc=list(parts.cc)
        )
    )


def _own_upload(
    uow: UnitOfWork, actor: Actor, interaction: InteractionRow, attachment_id: str
) -> AttachmentRow:
    row = uow.session.scalar(
        select(AttachmentRow)
        .where(AttachmentRow.org_id == interaction.org_id, AttachmentRow.id == attachment_id)
        .with_for_update()
    )
    if (
        row is None
        or row.interaction_id != interaction.id
        or row.message_id is not None
        or row.uploaded_by != acting_user_id(actor)
    ):
        raise InvalidInput(
            f"attachment {attachment_id[:40]} is not an unsent upload of yours on this conversation"
        )
    return row


def outbound_parts(session: Session, blobs: BlobStore | None, message_id: str) -> OutboundParts:
    """What the delivery of `message_id` carries besides its text. ContentGone if a file's
    bytes are missing (or there is no blob store to read them from)."""
    content = session.get(ReplyContentRow, message_id)
    files = list(
        session.scalars(
            select(AttachmentRow)
            .where(AttachmentRow.message_id == message_id)
            .order_by(AttachmentRow.id)
        )
    )
    attachments = tuple(_outbound_file(blobs, f) for f in files)
    if content is None:
        return OutboundParts(None, (), attachments)
    return OutboundParts(content.html, tuple(content.cc), attachments)


def _outbound_file(blobs: BlobStore | None, row: AttachmentRow) -> OutboundAttachment:
    if blobs is None:
        raise ContentGone(f"no file store to read attachment {row.filename!r} from")
    try:
        data = blobs.get(row.storage_key)
    except KeyError:
        raise ContentGone(f"the content of attachment {row.filename!r} is gone") from None
    return OutboundAttachment(row.filename, row.content_type, data)
