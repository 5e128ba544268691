"""Tables of the web chat channel (issue 3): visitors and what each one may see.

A widget is a channel account (channel 'chat', provider 'widget'); its id is the widget
key in the script tag. A visitor is whom the widget talks to: an id the server issued
(anonymous) or derived from a user id the host site vouched for (HMAC). The visitor's
timeline numbers the messages they may see, once each, in the order they became
visible: the `seq` a reconnecting widget resumes after.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jietong.storage.tables import ID, Base, org_fk

VISITOR_ID = String(40)


class WebchatVisitorRow(Base):
    """One visitor of one widget. `id` is also the visitor's `chat_visitor` contact point
    and the thread key of their conversations. Pre-chat answers are kept here as given
    (unverified); only free contact points are added to the customer."""

    __tablename__ = "webchat_visitors"
    id: Mapped[str] = mapped_column(VISITOR_ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    account_id: Mapped[str] = mapped_column(
        ID, ForeignKey("channel_accounts.id", ondelete="CASCADE"), index=True
    )
    # The host site's user id, when the visitor came with a valid HMAC of it.
    external_user_id: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # A blocked visitor's token stops working (abuse); null while allowed.
    blocked_at: Mapped[datetime | None]


class WebchatTimelineRow(Base):
    """The messages one visitor may see, numbered 1, 2, 3… in the order they became
    visible. (visitor_id, seq) is the primary key, so two writers can never hand out the
    same number, and (visitor_id, message_id) is unique, so no message is shown twice."""

    __tablename__ = "webchat_timeline"
    __table_args__ = (UniqueConstraint("visitor_id", "message_id"),)
    visitor_id: Mapped[str] = mapped_column(
        VISITOR_ID, ForeignKey("webchat_visitors.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    org_id: Mapped[str] = org_fk()
    message_id: Mapped[str] = mapped_column(ID, ForeignKey("messages.id", ondelete="CASCADE"))
    interaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
