"""A reply goes out through a real SMTP relay (an aiosmtpd sink) with threading headers
and tokens; the customer's answer to it comes back through the real SMTP receiver into
the same conversation; a bounce for it marks the delivery failed."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from jietong.app.channels_runtime import DeliveryWorker
from jietong.app.email_runtime import PlatformMailSink
from jietong.app.platform import Platform
from jietong.channels import deliveries
from jietong.channels.email import config, tokens
from jietong.channels.email.adapter import EmailAdapter
from jietong.channels.email.smtp_in import SmtpReceiver
from jietong.channels.registry import ChannelRegistry
from jietong.storage.tables import MessageRow
from jietong.storage.tables_channels import DeliveryRow
from tests.integration.channels.email.emailfactories import Org, email_account, free_port, mail

OURS = "support@a.example"
FIXTURES = Path(__file__).parents[3] / "channels" / "email" / "fixtures"


class Sink:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(bytes(envelope.original_content or b""))
        return "250 OK"


@dataclass
class Setup:
    platform: Platform
    tenant: Org
    receiver: SmtpReceiver
    sink: Sink


@pytest.fixture
def setup(platform: Platform, org_a: Org) -> Iterator[Setup]:
    sink = Sink()
    relay = Controller(sink, hostname="127.0.0.1", port=free_port())
    relay.start()
    email_account(
        platform,
        org_a,
        OURS,
        settings={
            "smtp_host": "127.0.0.1",
            "smtp_port": str(relay.port),
            "smtp_security": "none",
            "display_name": "接通演示 Demo",
        },
    )
    registry = ChannelRegistry()
    registry.register(EmailAdapter(platform.settings.secret), config.ACCOUNTS)
    platform.channels = registry.freeze()
    receiver = SmtpReceiver(
        PlatformMailSink(platform), host="127.0.0.1", port=free_port(), max_bytes=1 << 20
    )
    receiver.start()
    yield Setup(platform, org_a, receiver, sink)
    receiver.stop()
    relay.stop()


def customer_writes(setup: Setup, raw: bytes, to: str = OURS) -> None:
    with smtplib.SMTP("127.0.0.1", setup.receiver.port, timeout=10) as smtp:
        smtp.sendmail("wang.fang@example.cn", [to], raw)


def inbound_messages(setup: Setup) -> list[MessageRow]:
    with setup.platform.uow() as uow:
        return list(
            uow.session.scalars(
                select(MessageRow)
                .where(MessageRow.org_id == setup.tenant.org_id, MessageRow.direction == "inbound")
                .order_by(MessageRow.id)
            )
        )


def agent_replies(setup: Setup, interaction_id: str, text: str) -> DeliveryRow:
    with setup.platform.uow() as uow:
        reply = deliveries.send_reply(
            uow, setup.tenant.admin, setup.platform.channels, interaction_id, text, now=uow.now
        )
    assert DeliveryWorker(setup.platform).run_once() == 1
    with setup.platform.uow() as uow:
        row = uow.session.get(DeliveryRow, reply.delivery.id)
        assert row is not None
        return row


def test_reply_threads_and_the_customer_answer_returns_to_the_conversation(setup: Setup) -> None:
    root, first = mail(body="宽带无法连接")
    customer_writes(setup, first)
    [question] = inbound_messages(setup)
    delivery = agent_replies(setup, question.interaction_id, "师傅明天上门。\n李伟")
    assert delivery.status == "sent", delivery.last_error
    [sent] = setup.sink.received
    headers = message_from_bytes(sent, policy=policy.default)
    assert headers["In-Reply-To"] == f"<{root}>"
    assert f"<{root}>" in headers["References"]
    assert headers["Subject"] == "Re: 宽带无法连接"
    assert headers["Message-ID"] == f"<{delivery.provider_message_id}>"
    assert "Auto-Submitted" not in headers
    reply_to = headers["Reply-To"].addresses[0].addr_spec
    base, token = tokens.split_plus_address(reply_to)
    assert base == OURS and token is not None
    assert headers["From"].addresses[0].addr_spec == OURS
    body = headers.get_body(("plain",))
    assert body is not None and "师傅明天上门" in body.get_content()

    # The customer answers that mail: to the reply address, quoting our Message-ID.
    _mid, answer = mail(
        subject="Re: 宽带无法连接",
        to=reply_to,
        body="好的，谢谢",
        headers={
            "In-Reply-To": headers["Message-ID"],
            "References": f"<{root}> {headers['Message-ID']}",
        },
    )
    customer_writes(setup, answer, to=reply_to)
    first_in, second_in = inbound_messages(setup)
    assert second_in.interaction_id == first_in.interaction_id
    assert second_in.body_text == "好的，谢谢"

    # Our next reply answers the customer's latest mail, not the first one.
    again = agent_replies(setup, question.interaction_id, "收到。")
    assert again.status == "sent", again.last_error
    latest = message_from_bytes(setup.sink.received[-1], policy=policy.default)
    assert latest["In-Reply-To"] == f"<{_mid}>"
    assert f"<{_mid}>" in latest["References"].split()
    assert latest["Subject"] == "Re: 宽带无法连接"


def test_a_bounce_of_our_reply_marks_its_delivery_failed(setup: Setup) -> None:
    _root, first = mail()
    customer_writes(setup, first)
    [question] = inbound_messages(setup)
    delivery = agent_replies(setup, question.interaction_id, "回复")
    assert delivery.provider_message_id is not None
    template = (FIXTURES / "dsn_bounce_postfix.eml").read_bytes()
    old_id = template.split(b"Message-ID: <", 1)[1].split(b">", 1)[0]
    bounce = template.replace(old_id, delivery.provider_message_id.encode())
    with smtplib.SMTP("127.0.0.1", setup.receiver.port, timeout=10) as smtp:
        smtp.sendmail("", [OURS], bounce)
    with setup.platform.uow() as uow:
        row = uow.session.get(DeliveryRow, delivery.id)
        assert row is not None
        assert row.status == "failed"
        assert row.last_error is not None and "5.1.1" in row.last_error
    # The bounce itself is stored, never opens a conversation that asks for an answer.
    assert len(inbound_messages(setup)) == 2


def test_a_forged_bounce_changes_no_delivery(setup: Setup) -> None:
    _root, first = mail()
    customer_writes(setup, first)
    [question] = inbound_messages(setup)
    delivery = agent_replies(setup, question.interaction_id, "回复")
    assert delivery.provider_message_id is not None
    forged_id = delivery.provider_message_id.replace("jt.", "jt.a", 1)[:-1]
    template = (FIXTURES / "dsn_bounce_postfix.eml").read_bytes()
    old_id = template.split(b"Message-ID: <", 1)[1].split(b">", 1)[0]
    with smtplib.SMTP("127.0.0.1", setup.receiver.port, timeout=10) as smtp:
        smtp.sendmail("", [OURS], template.replace(old_id, forged_id.encode()))
    with setup.platform.uow() as uow:
        row = uow.session.get(DeliveryRow, delivery.id)
        assert row is not None and row.status == "sent"


def test_an_account_without_relay_fails_visibly(platform: Platform, org_a: Org) -> None:
    email_account(platform, org_a, OURS)  # receives, but has no smtp_host
    registry = ChannelRegistry()
    registry.register(EmailAdapter(platform.settings.secret), config.ACCOUNTS)
    platform.channels = registry.freeze()
    sink = PlatformMailSink(platform)
    from jietong.app.email_runtime import mail_context
    from jietong.channels.email import service

    with platform.uow() as uow:
        recipient = service.find_recipient(uow, OURS)
    assert recipient is not None
    outcome = service.receive_mail(mail_context(platform), mail()[1], recipient, envelope_from=None)
    assert outcome.interaction_id is not None and sink is not None
    with platform.uow() as uow:
        reply = deliveries.send_reply(
            uow, org_a.admin, platform.channels, outcome.interaction_id, "x", now=uow.now
        )
    DeliveryWorker(platform).run_once()
    with platform.uow() as uow:
        row = uow.session.get(DeliveryRow, reply.delivery.id)
        assert row is not None and row.status == "failed"
        assert "smtp_host" in (row.last_error or "")
