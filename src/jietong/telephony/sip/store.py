"""SQL for SIP: phone accounts, bindings, trunks. No decisions here.

`SqlSipDirectory` is the `SipDirectory` signaling runs on; its blocking queries run in a
worker thread (``asyncio.to_thread``), never on the event loop nor on sippy's reactor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from jietong.core.ids import new_id
from jietong.storage.secretbox import SecretBox, secret_box_of
from jietong.storage.tables_sip import SipBindingRow, SipPhoneAccountRow, SipTrunkRow
from jietong.telephony.sip.model import Binding, PhoneAccount, Trunk

T = TypeVar("T")


def phone_of(row: SipPhoneAccountRow) -> PhoneAccount:
    return PhoneAccount(
        id=row.id,
        org_id=row.org_id,
        username=row.username,
        realm=row.realm,
        ha1=row.ha1,
        user_id=row.user_id,
        enabled=row.enabled,
    )


def trunk_of(row: SipTrunkRow, box: SecretBox) -> Trunk:
    """The signaling view of `row`, its password opened (`UndecryptableSecret` if no
    configured key opens it)."""
    return _trunk(row, trunk_password(row, box))


def _trunk(row: SipTrunkRow, password: str | None) -> Trunk:
    return Trunk(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        host=row.host,
        port=row.port,
        allowed_sources=tuple(row.allowed_sources or ()),
        username=row.username,
        password=password,
        register=row.register,
        register_expires_s=row.register_expires_s,
        is_default=row.is_default,
        enabled=row.enabled,
        trusted_edge=row.trusted_edge,
    )


def trunk_password(row: SipTrunkRow, box: SecretBox) -> str | None:
    """The trunk's password, opened (one stored before sealing passes as it is)."""
    if row.password is None:
        return None
    return box.open(row.password, owner=f"SIP trunk {row.id} ({row.name})")


def find_phone(session: Session, username: str) -> SipPhoneAccountRow | None:
    return session.scalars(
        select(SipPhoneAccountRow).where(SipPhoneAccountRow.username == username)
    ).one_or_none()


def find_phone_in_org(session: Session, org_id: str, phone_id: str) -> SipPhoneAccountRow | None:
    return session.scalars(
        select(SipPhoneAccountRow).where(
            SipPhoneAccountRow.org_id == org_id, SipPhoneAccountRow.id == phone_id
        )
    ).one_or_none()


def list_phones(session: Session, org_id: str) -> list[SipPhoneAccountRow]:
    return list(
        session.scalars(
            select(SipPhoneAccountRow)
            .where(SipPhoneAccountRow.org_id == org_id)
            .order_by(SipPhoneAccountRow.username)
        )
    )


def find_trunk_in_org(session: Session, org_id: str, trunk_id: str) -> SipTrunkRow | None:
    return session.scalars(
        select(SipTrunkRow).where(SipTrunkRow.org_id == org_id, SipTrunkRow.id == trunk_id)
    ).one_or_none()


def list_trunks(session: Session, org_id: str | None = None) -> list[SipTrunkRow]:
    query = select(SipTrunkRow).order_by(SipTrunkRow.org_id, SipTrunkRow.name)
    if org_id is not None:
        query = query.where(SipTrunkRow.org_id == org_id)
    return list(session.scalars(query))


def all_trunks_for_update(session: Session) -> list[SipTrunkRow]:
    """Every organisation's trunks, locked until the transaction ends (see
    `channels.store.all_accounts_for_update`)."""
    return list(session.scalars(select(SipTrunkRow).order_by(SipTrunkRow.id).with_for_update()))


def count_bindings(session: Session, account_ids: list[str], now: datetime) -> dict[str, int]:
    rows = session.scalars(
        select(SipBindingRow.account_id).where(
            SipBindingRow.account_id.in_(account_ids), SipBindingRow.expires_at > now
        )
    )
    counts: dict[str, int] = {}
    for account_id in rows:
        counts[account_id] = counts.get(account_id, 0) + 1
    return counts


class SqlSipDirectory:
    """`SipDirectory` over the database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def _run(self, work: Callable[[Session], T]) -> T:
        def in_thread() -> T:
            with self._sessions() as session, session.begin():
                return work(session)

        return await asyncio.to_thread(in_thread)

    async def phone(self, username: str) -> PhoneAccount | None:
        def work(session: Session) -> PhoneAccount | None:
            row = find_phone(session, username)
            return phone_of(row) if row is not None else None

        return await self._run(work)

    async def phone_for_user(self, org_id: str, user_id: str) -> PhoneAccount | None:
        def work(session: Session) -> PhoneAccount | None:
            row = session.scalars(
                select(SipPhoneAccountRow).where(
                    SipPhoneAccountRow.org_id == org_id, SipPhoneAccountRow.user_id == user_id
                )
            ).first()
            return phone_of(row) if row is not None else None

        return await self._run(work)

    async def trunk_admitting(self, source_host: str) -> Trunk | None:
        def work(session: Session) -> Trunk | None:
            for row in list_trunks(session):
                # Only the trunk found is opened: another organisation's trunk whose key
                # is missing must not stop this one's calls.
                trunk = _trunk(row, None)
                if trunk.enabled and (
                    trunk.admits(source_host) or (trunk.register and trunk.host == source_host)
                ):
                    return trunk_of(row, secret_box_of(session))
            return None

        return await self._run(work)

    async def trunk(self, org_id: str, trunk_id: str | None) -> Trunk | None:
        def work(session: Session) -> Trunk | None:
            for row in list_trunks(session, org_id):
                if row.id == trunk_id or (trunk_id is None and row.is_default):
                    return trunk_of(row, secret_box_of(session))
            return None

        return await self._run(work)

    async def registering_trunks(self) -> list[Trunk]:
        def work(session: Session) -> list[Trunk]:
            box = secret_box_of(session)
            return [trunk_of(r, box) for r in list_trunks(session) if r.enabled and r.register]

        return await self._run(work)

    async def bindings(self, username: str, now: datetime) -> list[Binding]:
        def work(session: Session) -> list[Binding]:
            rows = session.execute(
                select(SipBindingRow, SipPhoneAccountRow.username)
                .join(SipPhoneAccountRow, SipPhoneAccountRow.id == SipBindingRow.account_id)
                .where(SipPhoneAccountRow.username == username, SipBindingRow.expires_at > now)
                .order_by(SipBindingRow.contact)
            )
            return [
                Binding(
                    org_id=b.org_id,
                    username=user,
                    contact=b.contact,
                    source_host=b.source_host,
                    source_port=b.source_port,
                    expires_at=b.expires_at,
                    call_id=b.sip_call_id,
                    cseq=b.cseq,
                    user_agent=b.user_agent,
                )
                for b, user in rows.all()
            ]

        return await self._run(work)

    async def save_binding(self, binding: Binding) -> None:
        def work(session: Session) -> None:
            account = find_phone(session, binding.username)
            if account is None:
                return
            row = session.scalars(
                select(SipBindingRow).where(
                    SipBindingRow.account_id == account.id,
                    SipBindingRow.contact == binding.contact,
                )
            ).one_or_none()
            if row is None:
                row = SipBindingRow(id=new_id(), account_id=account.id, contact=binding.contact)
                session.add(row)
            row.org_id = account.org_id
            row.source_host = binding.source_host
            row.source_port = binding.source_port
            row.expires_at = binding.expires_at
            row.sip_call_id = binding.call_id[:200]
            row.cseq = binding.cseq
            row.user_agent = binding.user_agent
            row.updated_at = datetime.now(binding.expires_at.tzinfo)

        await self._run(work)

    async def remove_binding(self, username: str, contact: str) -> None:
        def work(session: Session) -> None:
            account = find_phone(session, username)
            if account is not None:
                session.execute(
                    delete(SipBindingRow).where(
                        SipBindingRow.account_id == account.id, SipBindingRow.contact == contact
                    )
                )

        await self._run(work)

    async def remove_bindings(self, username: str) -> None:
        def work(session: Session) -> None:
            account = find_phone(session, username)
            if account is not None:
                session.execute(delete(SipBindingRow).where(SipBindingRow.account_id == account.id))

        await self._run(work)

    async def purge_bindings(self, now: datetime) -> int:
        def work(session: Session) -> int:
            result = session.execute(delete(SipBindingRow).where(SipBindingRow.expires_at <= now))
            return int(getattr(result, "rowcount", 0) or 0)

        return await self._run(work)
