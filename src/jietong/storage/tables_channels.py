"""Tables of the channel adapters, outbound deliveries and identity merges (issue 3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jietong.storage.tables import ID, Base, org_fk


class ChannelAccountRow(Base):
    """One organisation's account on one channel (a Twilio number, a WeChat Official
    Account, an API-channel client). Its id is the key in the account's webhook URLs.
    `secrets` are never returned in full by the API nor written to logs or audit; each
    value is stored sealed (ADR 0016), the names readable."""

    __tablename__ = "channel_accounts"
    __table_args__ = (UniqueConstraint("org_id", "channel", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    channel: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    # Which provider wire format this account speaks (sms: twilio | generic).
    provider: Mapped[str] = mapped_column(String(32))
    # Our own address on the channel (our phone number, the WeChat original id).
    address: Mapped[str | None] = mapped_column(String(320))
    queue_id: Mapped[str | None] = mapped_column(ID, ForeignKey("queues.id", ondelete="SET NULL"))
    settings: Mapped[dict[str, Any]]
    secrets: Mapped[dict[str, Any]]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MessageSourceRow(Base):
    """Where an inbound message came from and how it was threaded: the sender's normalised
    contact point, our address, the channel's thread key, the quoted part and signature,
    and the blob key of the raw payload (kept so nothing acknowledged is ever lost)."""

    __tablename__ = "message_sources"
    __table_args__ = (Index("ix_message_sources_thread", "org_id", "channel", "thread_key"),)
    message_id: Mapped[str] = mapped_column(
        ID, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = org_fk()
    interaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str | None] = mapped_column(ID)
    sender_kind: Mapped[str] = mapped_column(String(16))
    sender_address: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str | None] = mapped_column(String(320))
    thread_key: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(500))
    quoted_text: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    auto_generated: Mapped[bool] = mapped_column(Boolean, default=False)
    raw_key: Mapped[str | None] = mapped_column(String(64))
    # A small raw payload is kept in the row itself (committed with it, no second fsync);
    # one over intake's inline limit goes to the blob store and `raw_key`. Deferred: only
    # read when asked for.
    raw_inline: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]


class DeliveryRow(Base):
    """One outbound message on its way to a channel: queued -> sending -> sent
    (-> delivered, when the provider reports it) or failed, never silently dropped.

    While 'sending', `next_attempt_at` is the lease: a worker that died mid-send leaves the
    row there, and once the lease passes another worker retries it with the same id."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_provider_id", "channel", "provider_message_id"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    channel: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("channel_accounts.id", ondelete="SET NULL")
    )
    interaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str] = mapped_column(
        ID, ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    recipient_kind: Mapped[str] = mapped_column(String(16))
    recipient_address: Mapped[str] = mapped_column(String(320))
    thread: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    provider_status: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class CustomerMergeRow(Base):
    """A merge of `loser_id` into `survivor_id`, with exactly what moved, so that an
    unmerge moves those rows back and nothing else."""

    __tablename__ = "customer_merges"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    survivor_id: Mapped[str] = mapped_column(ID, ForeignKey("customers.id"), index=True)
    loser_id: Mapped[str] = mapped_column(ID, ForeignKey("customers.id"), index=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    moved: Mapped[dict[str, Any]]  # table name -> ids of the rows moved
    merged_by: Mapped[str | None] = mapped_column(ID)
    merged_at: Mapped[datetime]
    unmerged_by: Mapped[str | None] = mapped_column(ID)
    unmerged_at: Mapped[datetime | None]
