"""All tables. Every row of tenant data carries org_id: outsourcing centers serve several
client companies from one installation, and every query filters on it.

Rows are persistence shapes; decisions live in the domain services.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from jietong.storage.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(32)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


def org_fk() -> Mapped[str]:
    return mapped_column(ID, ForeignKey("organisations.id", ondelete="CASCADE"), index=True)


class OrganisationRow(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    default_region: Mapped[str] = mapped_column(String(2), default="CN")
    locale: Mapped[str] = mapped_column(String(16), default="zh-CN")
    created_at: Mapped[datetime]


class TeamRow(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # team | department
    created_at: Mapped[datetime]


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class TeamMemberRow(Base):
    __tablename__ = "team_members"
    team_id: Mapped[str] = mapped_column(
        ID, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    org_id: Mapped[str] = org_fk()


class SkillRow(Base):
    __tablename__ = "skills"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # skill | language
    created_at: Mapped[datetime]


class UserSkillRow(Base):
    __tablename__ = "user_skills"
    user_id: Mapped[str] = mapped_column(
        ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[str] = mapped_column(
        ID, ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    org_id: Mapped[str] = org_fk()
    level: Mapped[int] = mapped_column(Integer)


class QueueRow(Base):
    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    name: Mapped[str] = mapped_column(String(200))
    channels: Mapped[list[str]]
    team_id: Mapped[str | None] = mapped_column(ID, ForeignKey("teams.id", ondelete="SET NULL"))
    policy: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    required_skills: Mapped[dict[str, Any]]  # skill id -> minimum level
    target_service_level: Mapped[float]
    target_answer_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class CustomerRow(Base):
    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    display_name: Mapped[str] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    vip_tier: Mapped[str] = mapped_column(String(16), default="none")
    tags: Mapped[list[str]]
    attributes: Mapped[dict[str, Any]]
    # Set when merged into another customer; the row stays so that unmerge can restore it.
    merged_into_id: Mapped[str | None] = mapped_column(ID, ForeignKey("customers.id"))
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ContactPointRow(Base):
    __tablename__ = "contact_points"
    __table_args__ = (UniqueConstraint("org_id", "kind", "value"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    customer_id: Mapped[str] = mapped_column(
        ID, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(320))
    label: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class InteractionRow(Base):
    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_customer_arrived", "customer_id", "arrived_at"),
        # Threading by key (a chat visitor, an e-mail thread, an API thread) looks every
        # inbound message up by it.
        Index("ix_interactions_thread_key", "org_id", "channel", "external_ref"),
        # Whether an organisation has work waiting (the routing engine, every cycle).
        Index("ix_interactions_org_state", "org_id", "state"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    customer_id: Mapped[str | None] = mapped_column(ID, ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    queue_id: Mapped[str | None] = mapped_column(ID, ForeignKey("queues.id", ondelete="SET NULL"))
    team_id: Mapped[str | None] = mapped_column(ID, ForeignKey("teams.id", ondelete="SET NULL"))
    assigned_user_id: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id"))
    subject: Mapped[str | None] = mapped_column(String(500))
    external_ref: Mapped[str | None] = mapped_column(String(500))
    arrived_at: Mapped[datetime]
    queued_at: Mapped[datetime | None]
    offered_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    wrapup_ended_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ParticipantRow(Base):
    __tablename__ = "interaction_participants"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    interaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # customer | agent | supervisor | bot
    user_id: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id"))
    customer_id: Mapped[str | None] = mapped_column(ID, ForeignKey("customers.id"))
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]


class TransitionRow(Base):
    """Every state change of every lifecycle: from -[trigger]-> to, by whom, when."""

    __tablename__ = "state_transitions"
    __table_args__ = (Index("ix_state_transitions_entity", "entity_type", "entity_id"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    org_id: Mapped[str] = org_fk()
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(ID)
    from_state: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(ID)
    at: Mapped[datetime]


class MessageRow(Base):
    __tablename__ = "messages"
    # Duplicate deliveries from a channel (webhook retries, IMAP re-reads) hit this
    # constraint instead of creating a second message.
    __table_args__ = (UniqueConstraint("org_id", "channel", "external_id"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    interaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(500))
    direction: Mapped[str] = mapped_column(String(16))
    author_kind: Mapped[str] = mapped_column(String(16))  # customer | agent | system
    author_user_id: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id"))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    body_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class AttachmentRow(Base):
    __tablename__ = "attachments"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    message_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    interaction_id: Mapped[str | None] = mapped_column(ID, ForeignKey("interactions.id"))
    filename: Mapped[str] = mapped_column(String(255))
    declared_content_type: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))  # sniffed from the bytes
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    uploaded_by: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("org_id", "number"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    number: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[str | None] = mapped_column(ID, ForeignKey("customers.id"))
    case_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_user_id: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id"))
    department_id: Mapped[str | None] = mapped_column(ID, ForeignKey("teams.id"))
    due_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CaseInteractionRow(Base):
    __tablename__ = "case_interactions"
    case_id: Mapped[str] = mapped_column(
        ID, ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    interaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    org_id: Mapped[str] = org_fk()


class AuditRow(Base):
    """Append-only: database triggers refuse UPDATE and DELETE (see the first migration)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    org_id: Mapped[str] = mapped_column(ID, index=True)
    actor_user_id: Mapped[str | None] = mapped_column(ID)
    actor_token_id: Mapped[str | None] = mapped_column(ID)
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]]
    at: Mapped[datetime]


class OutboxRow(Base):
    """Events written in the same transaction as the change they describe; the relay
    publishes them after commit and marks them, so a crash in between loses nothing."""

    __tablename__ = "event_outbox"
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(ID, unique=True)
    org_id: Mapped[str] = mapped_column(ID, index=True)
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    audience: Mapped[dict[str, Any]]
    occurred_at: Mapped[datetime]
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    # The order in which the (single) relay published: consumers resume "after N" by
    # this, not by `seq`, because on PostgreSQL transactions may commit out of seq order.
    published_seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class WebSessionRow(Base):
    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[str] = org_fk()
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
