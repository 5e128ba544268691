"""SQL of the email channel: accounts by address, IMAP positions, quarantine, and the
lookups the threading guard needs. No decisions here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from jietong.storage.tables import ContactPointRow, InteractionRow, MessageRow
from jietong.storage.tables_channels import ChannelAccountRow, DeliveryRow
from jietong.storage.tables_email import EmailMailboxPositionRow, EmailQuarantineRow

CHANNEL = "email"


def account_for_address(session: Session, address: str) -> ChannelAccountRow | None:
    """The enabled email account receiving at `address` (lower-case, no plus detail).
    Should two organisations claim one address, the first to have claimed it wins: a
    later tenant cannot divert another's mail by configuring its address."""
    return session.scalar(
        select(ChannelAccountRow)
        .where(
            ChannelAccountRow.channel == CHANNEL,
            ChannelAccountRow.enabled.is_(True),
            func.lower(ChannelAccountRow.address) == address,
        )
        .order_by(ChannelAccountRow.created_at, ChannelAccountRow.id)
        .limit(1)
    )


def accounts_of_org(session: Session, org_id: str) -> list[ChannelAccountRow]:
    return list(
        session.scalars(
            select(ChannelAccountRow).where(
                ChannelAccountRow.org_id == org_id, ChannelAccountRow.channel == CHANNEL
            )
        )
    )


def polled_accounts(session: Session, provider: str) -> list[ChannelAccountRow]:
    """Every enabled email account of `provider` (IMAP mailboxes to poll)."""
    return list(
        session.scalars(
            select(ChannelAccountRow)
            .where(
                ChannelAccountRow.channel == CHANNEL,
                ChannelAccountRow.provider == provider,
                ChannelAccountRow.enabled.is_(True),
            )
            .order_by(ChannelAccountRow.id)
        )
    )


def find_account(session: Session, account_id: str) -> ChannelAccountRow | None:
    return session.scalar(
        select(ChannelAccountRow).where(
            ChannelAccountRow.id == account_id, ChannelAccountRow.channel == CHANNEL
        )
    )


def find_position(session: Session, account_id: str, folder: str) -> EmailMailboxPositionRow | None:
    return session.get(EmailMailboxPositionRow, (account_id, folder))


def find_interaction(session: Session, org_id: str, interaction_id: str) -> InteractionRow | None:
    return session.scalar(
        select(InteractionRow).where(
            InteractionRow.org_id == org_id,
            InteractionRow.id == interaction_id,
            InteractionRow.channel == CHANNEL,
        )
    )


def customers_of_thread(
    session: Session, org_id: str, thread_key: str, references: Sequence[str]
) -> set[str | None]:
    """The customers of the email conversations that `thread_key` (a conversation's
    root Message-ID) or `references` (Message-IDs we received or sent) point to.

    A UNION of three selects, the references' two reaching their conversations by
    primary key. (The same UNION inside `interactions.id IN (...)` made SQLite walk
    every interaction and delivery of the organisation for each received mail. The
    thread key's select still walks the organisation's interactions: `external_ref`
    has no index; intake's own thread-key look-up has the same cost.)"""
    by_key = select(InteractionRow.customer_id).where(
        InteractionRow.org_id == org_id,
        InteractionRow.channel == CHANNEL,
        InteractionRow.external_ref == thread_key,
    )
    refs = list(references)
    if not refs:
        return set(session.scalars(by_key))
    received = (
        select(InteractionRow.customer_id)
        .join(MessageRow, MessageRow.interaction_id == InteractionRow.id)
        .where(
            MessageRow.org_id == org_id,
            MessageRow.channel == CHANNEL,
            MessageRow.external_id.in_(refs),
        )
    )
    sent = (
        select(InteractionRow.customer_id)
        .join(DeliveryRow, DeliveryRow.interaction_id == InteractionRow.id)
        # The organisation is held by the conversation's column: a condition on the
        # delivery's own org_id made SQLite prefer that index to the provider id's.
        .where(
            DeliveryRow.channel == CHANNEL,
            DeliveryRow.provider_message_id.in_(refs),
            InteractionRow.org_id == org_id,
        )
    )
    return set(session.scalars(union(by_key, received, sent)))


def customer_with_email(session: Session, org_id: str, address: str) -> str | None:
    return session.scalar(
        select(ContactPointRow.customer_id).where(
            ContactPointRow.org_id == org_id,
            ContactPointRow.kind == "email",
            ContactPointRow.value == address,
        )
    )


def list_quarantine(
    session: Session, org_id: str, *, before_id: str | None, limit: int
) -> list[EmailQuarantineRow]:
    query = select(EmailQuarantineRow).where(EmailQuarantineRow.org_id == org_id)
    if before_id is not None:
        query = query.where(EmailQuarantineRow.id < before_id)
    return list(session.scalars(query.order_by(EmailQuarantineRow.id.desc()).limit(limit + 1)))


def find_quarantined(session: Session, org_id: str, item_id: str) -> EmailQuarantineRow | None:
    return session.scalar(
        select(EmailQuarantineRow).where(
            EmailQuarantineRow.org_id == org_id, EmailQuarantineRow.id == item_id
        )
    )
