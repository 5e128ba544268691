"""Tables of the WeChat channel: the media (images, voice, video) that followers send,
fetched from WeChat after the push was acknowledged."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jietong.storage.tables import ID, Base, org_fk


class WeChatMediaFetchRow(Base):
    """One media file to fetch through /cgi-bin/media/get for an inbound message.

    A push carries only a MediaId, and WeChat expects 'success' within five seconds, so
    the file is fetched afterwards. The row is the durable to-do: pending until the file
    is an attachment of the message (done), or failed with the reason after the retries
    (and a note in the conversation says so: never a silent loss)."""

    __tablename__ = "wechat_media_fetches"
    __table_args__ = (Index("ix_wechat_media_fetches_due", "state", "next_attempt_at"),)
    message_id: Mapped[str] = mapped_column(
        ID, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = org_fk()
    interaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("interactions.id", ondelete="CASCADE")
    )
    account_id: Mapped[str | None] = mapped_column(ID)
    media_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # image | voice | video | shortvideo | file
    state: Mapped[str] = mapped_column(String(16))  # pending | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    attachment_id: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
