"""Transcripts on request: the visitor's conversation as plain text, downloaded from the
widget or sent by email through the email channel's own delivery queue.

Emailing adds an outbound message on the 'email' channel to the visitor's latest
conversation (agents see that a transcript went out; the visitor's timeline shows only
chat messages) and a queued delivery for it, in one transaction: the delivery worker
sends it with the organisation's email account, retries, and shows a failure like any
other. Without an email adapter or an enabled email account, only the download remains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from jietong.channels import store as channel_store
from jietong.channels.registry import ChannelRegistry
from jietong.channels.webchat import model, service, store
from jietong.core.errors import InvalidInput
from jietong.core.ids import new_id
from jietong.events.catalogue import MessageAdded
from jietong.events.channels import DeliveryQueued
from jietong.identity.contact_points import ContactKind, normalise
from jietong.interactions.model import AuthorKind, Direction
from jietong.storage.tables import MessageRow
from jietong.storage.tables_channels import DeliveryRow
from jietong.storage.uow import UnitOfWork

EMAIL = "email"
MAX_MESSAGES = 2000


@dataclass(frozen=True)
class Labels:
    """Words of the transcript in the visitor's language."""

    title: str
    visitor: str
    agent: str
    system: str
    attachment: str


def render(items: list[model.TimelineItem], labels: Labels) -> str:
    """Plain text, one block per message, UTC times; attachments by name."""
    lines = [labels.title, ""]
    for item in items:
        who = {"visitor": labels.visitor, "system": labels.system}.get(
            item.author, item.agent_name or labels.agent
        )
        lines.append(f"[{item.at:%Y-%m-%d %H:%M} UTC] {who}:")
        lines.extend(f"  {line}" for line in item.text.splitlines() or [""])
        lines.extend(f"  ({labels.attachment}: {a.filename})" for a in item.attachments)
        lines.append("")
    return "\n".join(lines)


def transcript_items(uow: UnitOfWork, visitor: model.Visitor) -> list[model.TimelineItem]:
    """Every message of the visitor's timeline, numbered first so none is missing."""
    service.sequence(uow, visitor.org_id, visitor.id)
    items: list[model.TimelineItem] = []
    while len(items) < MAX_MESSAGES:
        page = service.timeline(uow, visitor, after=items[-1].seq if items else 0)
        if not page:
            break
        items.extend(page)
    return items[:MAX_MESSAGES]


def can_email(uow: UnitOfWork, registry: ChannelRegistry, org_id: str) -> bool:
    return EMAIL in registry and _email_account(uow, org_id) is not None


def email_transcript(
    uow: UnitOfWork,
    registry: ChannelRegistry,
    visitor: model.Visitor,
    *,
    address: str,
    text: str,
    subject: str,
    default_region: str,
) -> str | None:
    """Queue the transcript for `address` (commits); returns the delivery id, or None
    when email is not available here. InvalidInput for an unusable address or when the
    visitor has no conversation yet."""
    recipient = normalise(ContactKind.EMAIL, address, default_region)
    account = _email_account(uow, visitor.org_id)
    if EMAIL not in registry or account is None:
        return None
    interaction = store.latest_interaction(uow.session, visitor.org_id, visitor.id)
    if interaction is None:
        raise InvalidInput("there is no conversation to send yet")
    message = MessageRow(
        id=new_id(),
        org_id=visitor.org_id,
        interaction_id=interaction.id,
        channel=EMAIL,
        direction=Direction.OUTBOUND.value,
        author_kind=AuthorKind.SYSTEM.value,
        internal=False,
        body_text=text,
        created_at=uow.now,
    )
    uow.session.add(message)
    uow.session.flush()
    delivery = _delivery(visitor.org_id, account, interaction.id, message.id, recipient, subject)
    delivery.created_at = delivery.updated_at = delivery.next_attempt_at = uow.now
    uow.session.add(delivery)
    _announce(uow, visitor.org_id, interaction.id, message.id, delivery.id)
    uow.commit()
    return delivery.id


def _email_account(uow: UnitOfWork, org_id: str) -> str | None:
    row = channel_store.first_enabled_account(uow.session, org_id, EMAIL)
    return None if row is None else row.id


def _delivery(
    org_id: str,
    account_id: str,
    interaction_id: str,
    message_id: str,
    recipient: str,
    subject: str,
) -> DeliveryRow:
    thread: Mapping[str, str] = {"subject": subject}
    return DeliveryRow(
        id=new_id(),
        org_id=org_id,
        channel=EMAIL,
        account_id=account_id,
        interaction_id=interaction_id,
        message_id=message_id,
        recipient_kind=ContactKind.EMAIL.value,
        recipient_address=recipient,
        thread=dict(thread),
        status="queued",
        attempts=0,
    )


def _announce(
    uow: UnitOfWork, org_id: str, interaction_id: str, message_id: str, delivery_id: str
) -> None:
    uow.emit(
        MessageAdded(
            org_id=org_id,
            interaction_id=interaction_id,
            message_id=message_id,
            direction=Direction.OUTBOUND.value,
            internal=False,
        )
    )
    uow.emit(
        DeliveryQueued(
            org_id=org_id,
            delivery_id=delivery_id,
            interaction_id=interaction_id,
            message_id=message_id,
            channel=EMAIL,
        )
    )


def stamp(moment: datetime) -> str:
    return f"{moment:%Y%m%d-%H%M}"
