"""Tables of the email channel: IMAP read positions and quarantined mail (issue 3).

Email accounts themselves are channel accounts (`channel_accounts`, channel "email"):
one table for every channel's per-organisation accounts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from jietong.storage.tables import ID, Base, org_fk


class EmailMailboxPositionRow(Base):
    """How far an IMAP folder has been read: (UIDVALIDITY, last UID stored). Saved after
    intake committed each message and before the message is flagged or moved."""

    __tablename__ = "email_mailbox_positions"
    account_id: Mapped[str] = mapped_column(
        ID, ForeignKey("channel_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    folder: Mapped[str] = mapped_column(String(200), primary_key=True)
    org_id: Mapped[str] = org_fk()
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class EmailQuarantineRow(Base):
    """A received mail that could not become a message (unparseable MIME, no usable
    sender, an attachment over the limit): its raw bytes are kept for an admin, and the
    sender was still told it was received, so nothing acknowledged is lost."""

    __tablename__ = "email_quarantine"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    account_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("channel_accounts.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(String(500))
    envelope_from: Mapped[str | None] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    sender: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(500))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    raw_key: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]
