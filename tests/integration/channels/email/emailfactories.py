"""Factories for email tests: email accounts of a tenant, a free port, test mail, an SMTP
receiver on a free port."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

from jietong.app.platform import Platform
from jietong.channels.email.smtp_in import MailSink, SmtpReceiver
from jietong.core.ids import new_id
from jietong.core.tenancy import Actor, system_actor
from jietong.org import service as org_service
from jietong.storage.engine import create_db_engine
from jietong.storage.migrate import upgrade
from jietong.storage.tables_channels import ChannelAccountRow


def email_account(
    platform: Platform,
    tenant: Org | Tenantish,
    address: str,
    *,
    provider: str = "smtp",
    settings: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    queue_id: str | None = None,
) -> ChannelAccountRow:
    with platform.uow() as uow:
        row = ChannelAccountRow(
            id=new_id(),
            org_id=tenant.org_id,
            channel="email",
            name=f"email {address}",
            provider=provider,
            address=address,
            queue_id=queue_id,
            settings=dict(settings or {}),
            secrets=dict(secrets or {}),
            enabled=True,
            created_at=uow.now,
            updated_at=uow.now,
        )
        uow.session.add(row)
        uow.commit()
        return row


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_receiver(sink: MailSink, *, max_bytes: int = 256 * 1024) -> Iterator[SmtpReceiver]:
    """Our SMTP receiver on a free loopback port, storing through `sink`, for the block."""
    server = SmtpReceiver(sink, host="127.0.0.1", port=free_port(), max_bytes=max_bytes)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def mail(
    *,
    sender: str = "Wang Fang <wang.fang@example.cn>",
    to: str = "support@a.example",
    subject: str = "宽带无法连接",
    body: str = "你好，宽带无法连接。",
    message_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[str, bytes]:
    """(Message-ID without brackets, raw bytes) of a plain UTF-8 mail."""
    mid = message_id or make_msgid(domain="example.cn")[1:-1]
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    raw = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\n"
        f"Date: Tue, 5 Mar 2024 10:00:00 +0800\r\nMIME-Version: 1.0\r\n{extra}"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{body}\r\n"
    ).encode()
    return mid, raw


def migrated_sqlite(directory: Path) -> str:
    """A migrated SQLite database: for modules whose PostgreSQL path another module
    already covers (the end-to-end reply test runs on both), to keep the suite fast."""
    url = f"sqlite:///{directory / 'email.db'}"
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


class Tenantish(Protocol):
    @property
    def org_id(self) -> str: ...


@dataclass(frozen=True)
class Org:
    """An organisation without users: mail tests need no login, and skipping password
    hashing keeps them fast. `admin` is the platform acting for it."""

    org_id: str
    admin: Actor


def make_org(platform: Platform, slug: str) -> Org:
    with platform.uow() as uow:
        org = org_service.create_organisation(uow, slug=slug, name=slug.title())
    return Org(org.id, system_actor(org.id))
