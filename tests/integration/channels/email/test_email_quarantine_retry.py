"""An admin takes held mail through intake again: after raising the attachment limit the
mail becomes its message and leaves quarantine; mail that still cannot be read is held
again with today's reason. Never lost, never twice, audited, own organisation only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from jietong.app.email_runtime import mail_context
from jietong.app.platform import Platform
from jietong.channels.email import service
from jietong.storage.tables import AuditRow, MessageRow
from jietong.storage.tables_email import EmailQuarantineRow
from tests.conftest import Tenant
from tests.integration.channels.email.emailfactories import email_account

BIG = (
    "From: c@example.cn\r\nTo: help@a.example\r\nSubject: invoice\r\n"
    "Message-ID: <big-1@example.cn>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
    "--b\r\nContent-Type: application/octet-stream\r\n"
    'Content-Disposition: attachment; filename="big.bin"\r\n\r\n'
    f"{'A' * 4000}\r\n--b--\r\n"
).encode()
UNREADABLE = b"\r\n\r\nno headers at all"


def hold(platform: Platform, tenant: Tenant, raw: bytes) -> str:
    with platform.uow() as uow:
        recipient = service.find_recipient(uow, "help@a.example")
    assert recipient is not None
    outcome = service.receive_mail(mail_context(platform), raw, recipient, envelope_from="c@x.cn")
    assert outcome.kind == "quarantined"
    return held_ids(platform)[-1]


def held_ids(platform: Platform) -> list[str]:
    with platform.sessions() as session:
        return list(session.scalars(select(EmailQuarantineRow.id).order_by(EmailQuarantineRow.id)))


def test_raising_the_limit_then_retrying_turns_held_mail_into_its_message(
    client: TestClient, platform: Platform, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    email_account(platform, tenant_a, "help@a.example")
    platform.settings = platform.settings.model_copy(update={"max_attachment_bytes": 1024})
    item = hold(platform, tenant_a, BIG)
    path = f"/api/v1/email/quarantine/{item}/retry"

    assert client.post(path, headers=tenant_b.headers).status_code == 404  # not theirs
    platform.settings = platform.settings.model_copy(update={"max_attachment_bytes": 1 << 20})
    retried = client.post(path, headers=tenant_a.headers)

    assert retried.status_code == 200, retried.text
    assert retried.json()["outcome"] == "stored"
    assert held_ids(platform) == []
    with platform.sessions() as session:
        [message] = session.scalars(select(MessageRow))
        actions = list(session.scalars(select(AuditRow.action)))
    assert message.id == retried.json()["message_id"] and "see attached" in message.body_text
    assert "email.quarantine_retried" in actions
    assert client.post(path, headers=tenant_a.headers).status_code == 404  # gone: once only


def test_mail_that_still_cannot_be_read_is_held_again_with_today_s_reason(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    email_account(platform, tenant_a, "help@a.example")
    item = hold(platform, tenant_a, UNREADABLE)

    retried = client.post(f"/api/v1/email/quarantine/{item}/retry", headers=tenant_a.headers)

    assert retried.status_code == 200 and retried.json()["outcome"] == "quarantined"
    assert "unreadable" in retried.json()["reason"]
    [again] = held_ids(platform)
    assert again != item  # the new hold replaced the old one: the mail is held once
    raw = client.get(f"/api/v1/email/quarantine/{again}/raw", headers=tenant_a.headers)
    assert raw.content == UNREADABLE
