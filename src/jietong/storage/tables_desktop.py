"""Tables of the agent desktop (issue 5): canned responses, wrap-up codes, the wrap-up
(disposition) an agent records at the end of a contact, mentions of colleagues in
internal notes, and the rich parts (HTML, CC) of replies sent from the desk."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jietong.storage.tables import ID, Base, org_fk


class CannedResponseRow(Base):
    """A reusable answer with {variables}; for every channel (empty list) or some, for the
    whole organisation or one team. `shortcut` lets an agent type /shortcut."""

    __tablename__ = "desktop_canned_responses"
    # Column order names the constraints (uq_<table>_title, uq_<table>_shortcut).
    __table_args__ = (UniqueConstraint("title", "org_id"), UniqueConstraint("shortcut", "org_id"))
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    title: Mapped[str] = mapped_column(String(200))
    shortcut: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    channels: Mapped[list[str]]
    team_id: Mapped[str | None] = mapped_column(ID, ForeignKey("teams.id", ondelete="CASCADE"))
    created_by: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WrapUpCodeRow(Base):
    """An outcome an agent picks at the end of a contact (sold, resolved, call back...).
    Codes in use are deactivated rather than deleted, so past wrap-ups keep their meaning."""

    __tablename__ = "desktop_wrapup_codes"
    __table_args__ = (UniqueConstraint("org_id", "code"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    code: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WrapUpRow(Base):
    """The disposition one agent recorded for one interaction (at most one each)."""

    __tablename__ = "desktop_wrapups"
    __table_args__ = (UniqueConstraint("interaction_id", "user_id"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    interaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id", ondelete="SET NULL"))
    code_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("desktop_wrapup_codes.id", ondelete="RESTRICT")
    )
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class MentionRow(Base):
    """A colleague named (@name) in an internal note; read when they have seen it."""

    __tablename__ = "desktop_mentions"
    __table_args__ = (Index("ix_desktop_mentions_user_read", "mentioned_user_id", "read_at"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    interaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[str] = mapped_column(ID, ForeignKey("messages.id", ondelete="CASCADE"))
    mentioned_user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    author_user_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class ReplyContentRow(Base):
    """What an agent's reply carries beyond its text (`messages.body_text`): the sanitised
    HTML of a rich-text email and its CC addresses. The delivery worker reads it when it
    hands the reply to the channel; attachments are linked to the message itself."""

    __tablename__ = "reply_contents"
    message_id: Mapped[str] = mapped_column(
        ID, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = org_fk()
    html: Mapped[str | None] = mapped_column(Text)
    cc: Mapped[list[str]]
