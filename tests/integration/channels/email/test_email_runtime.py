"""The email runtime follows the accounts: the demo mailbox makes the SMTP receiver
listen; an IMAP account on a real Dovecot is polled into intake and stops with it."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from jietong.app.email_runtime import DEMO_ADDRESS, EmailRuntime, add_demo_email_account
from jietong.app.platform import Platform
from jietong.core.tenancy import system_actor
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate
from jietong.storage.tables import InteractionRow, MessageRow
from jietong.storage.tables_channels import ChannelAccountRow
from jietong.storage.tables_email import EmailMailboxPositionRow
from tests.integration.channels.email.dovecot import Dovecot, dovecot  # noqa: F401
from tests.integration.channels.email.emailfactories import (
    Org,
    email_account,
    free_port,
    mail,
    migrated_sqlite,
)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: test_email_outbound_flow covers this path on PostgreSQL too."""
    return migrated_sqlite(tmp_path)


@pytest.fixture
def runtime(platform: Platform) -> Iterator[EmailRuntime]:
    platform.settings = platform.settings.model_copy(
        update={"smtp_port": free_port(), "email_accounts_refresh_seconds": 3600}
    )
    started = EmailRuntime(platform)
    yield started
    started.stop()


def stored(platform: Platform, org_id: str) -> list[MessageRow]:
    with platform.uow() as uow:
        return list(uow.session.scalars(select(MessageRow).where(MessageRow.org_id == org_id)))


def seen(server: IMAPClient) -> bool:
    server.select_folder("INBOX", readonly=True)
    flags = server.fetch([1], ["FLAGS"]).get(1, {}).get(b"FLAGS", ())
    return b"\\Seen" in flags


def test_nothing_listens_without_email_accounts(runtime: EmailRuntime) -> None:
    runtime.start()
    assert runtime.receiver is None


def test_the_demo_mailbox_receives_through_the_built_in_receiver(
    platform: Platform, runtime: EmailRuntime, org_a: Org
) -> None:
    with platform.uow() as uow:
        queue = org_service.create_queue(
            uow, system_actor(org_a.org_id), QueueCreate(name="General", channels=["email"])
        )
    add_demo_email_account(platform, org_a.org_id)
    runtime.start()
    assert runtime.receiver is not None
    _mid, raw = mail(to=DEMO_ADDRESS, body="演示邮件")
    with smtplib.SMTP("127.0.0.1", platform.settings.smtp_port, timeout=10) as smtp:
        smtp.sendmail("wang.fang@example.cn", [DEMO_ADDRESS], raw)
    [message] = stored(platform, org_a.org_id)
    with platform.uow() as uow:
        interaction = uow.session.get(InteractionRow, message.interaction_id)
        assert interaction is not None and interaction.queue_id == queue.id


def test_an_imap_account_is_polled_into_intake_and_stopped_when_disabled(
    platform: Platform,
    runtime: EmailRuntime,
    org_a: Org,
    dovecot: Dovecot,  # noqa: F811
) -> None:
    account = email_account(
        platform,
        org_a,
        dovecot.username,
        provider="imap",
        settings={
            "imap_host": dovecot.host,
            "imap_port": str(dovecot.port),
            "imap_security": "none",
            "imap_username": dovecot.username,
        },
        secrets={"imap_password": dovecot.password},
    )
    server = IMAPClient(dovecot.host, port=dovecot.port, ssl=False)
    server.login(dovecot.username, dovecot.password)
    _mid, raw = mail(to=dovecot.username, body="邮箱里的第一封")
    server.append("INBOX", raw)
    runtime.start()
    deadline = time.monotonic() + 15
    while not seen(server) and time.monotonic() < deadline:
        time.sleep(0.1)  # \\Seen is set last: after intake and the saved position
    [message] = stored(platform, org_a.org_id)
    assert message.body_text == "邮箱里的第一封"
    with platform.uow() as uow:
        position = uow.session.get(EmailMailboxPositionRow, (account.id, "INBOX"))
        assert position is not None and position.last_uid == 1

    with platform.uow() as uow:
        row = uow.session.get(ChannelAccountRow, account.id)
        assert row is not None
        row.enabled = False
        uow.commit()
    runtime.refresh()
    server.append("INBOX", mail(to=dovecot.username, body="停用之后")[1])
    time.sleep(1.5)
    assert len(stored(platform, org_a.org_id)) == 1  # the poller stopped with its account
    server.logout()
