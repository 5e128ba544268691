"""Tables of SIP signaling (issue 6): agent phone credentials, registrar bindings and
trunks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from jietong.storage.tables import ID, Base, org_fk


class SipPhoneAccountRow(Base):
    """An agent's SIP credentials. Only HA1 = MD5(username:realm:password) is kept:
    what digest verification needs, useless outside this realm; the password itself is
    shown once when the account is created or rotated. `username` is unique across the
    installation because a phone's REGISTER names no organisation."""

    __tablename__ = "sip_phone_accounts"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    username: Mapped[str] = mapped_column(String(64), unique=True)
    realm: Mapped[str] = mapped_column(String(128))
    ha1: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    rotated_at: Mapped[datetime]


class SipBindingRow(Base):
    """One registered contact of a phone account (several per account: desk phone and
    softphone ring together)."""

    __tablename__ = "sip_bindings"
    __table_args__ = (UniqueConstraint("account_id", "contact"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    account_id: Mapped[str] = mapped_column(
        ID, ForeignKey("sip_phone_accounts.id", ondelete="CASCADE"), index=True
    )
    contact: Mapped[str] = mapped_column(String(500))
    source_host: Mapped[str] = mapped_column(String(64))
    source_port: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    sip_call_id: Mapped[str] = mapped_column(String(200))
    cseq: Mapped[int] = mapped_column(Integer)
    user_agent: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class SipTrunkRow(Base):
    """A carrier connection. `password` is the carrier's secret, kept sealed (ADR 0016:
    `fernet:` + token; a value without the mark is from before sealing) because answering
    its digest challenges needs it back (like channel account secrets: write-only in the
    API, never logged). 2048 characters: a 256-character password, sealed."""

    __tablename__ = "sip_trunks"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    name: Mapped[str] = mapped_column(String(100))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=5060)
    allowed_sources: Mapped[list[str]]
    username: Mapped[str | None] = mapped_column(String(128))
    password: Mapped[str | None] = mapped_column(String(2048))
    register: Mapped[bool] = mapped_column(Boolean, default=False)
    register_expires_s: Mapped[int] = mapped_column(Integer, default=3600)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Kamailio (or another edge we run) in front: its X-Jietong-Phone header is believed.
    trusted_edge: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
