"""An email reply from the desk: sanitised HTML with its text alternative, CC and a file,
through the delivery outbox and the email adapter to a real SMTP relay (an aiosmtpd
sink), threaded under the customer's mail, which came in through the real SMTP
receiver. Bad CC, someone else's file and too much in files are refused with a 4xx and
leave nothing behind."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jietong.app.asgi import create_app
from jietong.app.channels_runtime import DeliveryWorker
from jietong.app.email_runtime import PlatformMailSink
from jietong.app.platform import Platform
from jietong.channels.email import config
from jietong.channels.email.adapter import EmailAdapter
from jietong.channels.email.smtp_in import SmtpReceiver
from jietong.channels.registry import ChannelRegistry
from jietong.storage.tables import MessageRow
from jietong.storage.tables_channels import DeliveryRow
from tests.conftest import Tenant
from tests.integration.channels.email.emailfactories import email_account, free_port, mail
from tests.integration.desktop.helpers import (
    API,
    World,
    enqueue,
    make_world,
    move,
)

OURS = "support@a.example"
CUSTOMER = "wang.fang@example.cn"
DESK = f"{API}/desktop"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4


@dataclass
class Sink:
    received: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.original_content or b"")))
        return "250 OK"


@dataclass
class Mailroom:
    platform: Platform
    world: World
    sink: Sink
    receiver: SmtpReceiver
    client: TestClient


@pytest.fixture
def room(platform: Platform, tenant_a: Tenant) -> Iterator[Mailroom]:
    platform.settings.delivery_worker_enabled = False  # the test runs the worker itself
    world = make_world(platform, tenant_a, "mail")
    sink = Sink()
    relay = Controller(sink, hostname="127.0.0.1", port=free_port())
    relay.start()
    settings = {"smtp_host": "127.0.0.1", "smtp_port": str(relay.port), "smtp_security": "none"}
    email_account(platform, tenant_a, OURS, settings=settings, queue_id=world.queue_id)
    registry = ChannelRegistry()
    registry.register(EmailAdapter(platform.settings.secret), config.ACCOUNTS)
    platform.channels = registry.freeze()
    receiver = SmtpReceiver(
        PlatformMailSink(platform), host="127.0.0.1", port=free_port(), max_bytes=1 << 20
    )
    receiver.start()
    with TestClient(create_app(platform)) as client:
        yield Mailroom(platform, world, sink, receiver, client)
    receiver.stop()
    relay.stop()


def customer_mail_answered_by_agent(room: Mailroom) -> tuple[str, str]:
    """The customer's mail (its Message-ID) in a conversation connected to the agent."""
    root, raw = mail(subject="发票问题", body="请把发票发给我和我的会计")
    with smtplib.SMTP("127.0.0.1", room.receiver.port, timeout=10) as smtp:
        smtp.sendmail(CUSTOMER, [OURS], raw)
    with room.platform.uow() as uow:
        interaction_id = uow.session.scalars(
            select(MessageRow.interaction_id).where(MessageRow.direction == "inbound")
        ).one()
    w = room.world
    enqueue(room.client, w.admin_headers, interaction_id)  # unless routing did already
    move(room.client, w.admin_headers, interaction_id, "offer", w.agent.user_id)
    move(room.client, w.agent_headers, interaction_id, "accept")
    return root, interaction_id


def upload(
    room: Mailroom, headers: dict[str, str], interaction_id: str, name: str, data: bytes
) -> str:
    done = room.client.post(
        f"{API}/interactions/{interaction_id}/attachments",
        headers=headers,
        files={"file": (name, data, "application/pdf")},
    )
    assert done.status_code == 201, done.text
    attachment_id: str = done.json()["id"]
    return attachment_id


def reply(room: Mailroom, interaction_id: str, body: dict[str, Any]) -> Any:
    return room.client.post(
        f"{DESK}/interactions/{interaction_id}/replies", headers=room.world.agent_headers, json=body
    )


def outbound_count(room: Mailroom) -> int:
    with room.platform.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(DeliveryRow)) or 0)


def test_rich_reply_with_cc_and_a_file_goes_out_threaded(room: Mailroom) -> None:
    root, interaction_id = customer_mail_answered_by_agent(room)
    file_id = upload(room, room.world.agent_headers, interaction_id, "发票 2026-11.pdf", PDF)
    html = (
        '<p>您好，<b>发票</b>见附件。<script>alert("x")</script>'
        '<img src="https://tracker.example/p.gif"><a href="javascript:alert(1)">点此</a></p>'
    )
    done = reply(
        room,
        interaction_id,
        {
            "text": "您好，发票见附件。",
            "html": html,
            "cc": [" accountant@example.cn", "Accountant@example.cn", CUSTOMER],
            "attachment_ids": [file_id],
        },
    )
    assert done.status_code == 201, done.text
    assert done.json()["cc"] == ["accountant@example.cn"], "trimmed, once, not the recipient"
    assert DeliveryWorker(room.platform).run_once() == 1
    with room.platform.uow() as uow:
        delivery = uow.session.get(DeliveryRow, done.json()["delivery_id"])
        assert delivery is not None and delivery.status == "sent", delivery and delivery.last_error
    [(recipients, raw)] = room.sink.received
    assert sorted(recipients) == ["accountant@example.cn", CUSTOMER]
    sent = message_from_bytes(raw, policy=policy.default)
    assert isinstance(sent, EmailMessage)
    assert sent["Cc"] == "accountant@example.cn"
    assert sent["In-Reply-To"] == f"<{root}>" and f"<{root}>" in sent["References"]
    assert sent["Subject"] == "Re: 发票问题"
    plain, rich = sent.get_body(("plain",)), sent.get_body(("html",))
    assert plain is not None and plain.get_content().strip() == "您好，发票见附件。"
    assert rich is not None
    markup = rich.get_content()
    assert "<b>发票</b>" in markup
    for gone in ("<script", "tracker.example", "javascript:"):
        assert gone not in markup
    [file] = list(sent.iter_attachments())
    assert file.get_filename() == "发票 2026-11.pdf"
    assert file.get_content() == PDF
    # The file now belongs to the reply: it cannot be sent again with another one.
    again = reply(room, interaction_id, {"text": "again", "attachment_ids": [file_id]})
    assert again.status_code == 422
    # Another team's agent cannot reply there (nor learn that it exists).
    theirs = room.client.post(
        f"{DESK}/interactions/{interaction_id}/replies",
        headers=room.world.outsider_headers,
        json={"text": "not mine"},
    )
    assert theirs.status_code == 404


@pytest.mark.parametrize(
    "cc",
    [
        "boss@example.cn\r\nBcc: spy@example.org",
        "boss@example.cn\n",
        "Boss <boss@example.cn>",
        "boss@example.cn, spy@example.org",
        "not an address",
    ],
)
def test_a_cc_that_is_not_one_mailbox_is_refused(room: Mailroom, cc: str) -> None:
    _root, interaction_id = customer_mail_answered_by_agent(room)
    before = outbound_count(room)
    refused = reply(room, interaction_id, {"text": "hi", "cc": [cc]})
    assert refused.status_code == 422, refused.text
    assert outbound_count(room) == before, "nothing queued"


def test_files_must_be_ones_own_unsent_uploads_within_the_size_limit(room: Mailroom) -> None:
    _root, interaction_id = customer_mail_answered_by_agent(room)
    theirs = upload(room, room.world.admin_headers, interaction_id, "theirs.pdf", PDF)
    refused = reply(room, interaction_id, {"text": "hi", "attachment_ids": [theirs]})
    assert refused.status_code == 422 and "upload of yours" in refused.json()["detail"]
    room.platform.settings.max_attachment_bytes = 1536
    small = [
        upload(room, room.world.agent_headers, interaction_id, f"{n}.pdf", PDF[:1000]) for n in "ab"
    ]
    too_much = reply(room, interaction_id, {"text": "hi", "attachment_ids": small})
    assert too_much.status_code == 413, too_much.text
    assert outbound_count(room) == 0
    one = reply(room, interaction_id, {"text": "hi", "attachment_ids": small[:1]})
    assert one.status_code == 201, one.text


def test_rich_text_cc_and_files_are_refused_on_other_channels(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w = make_world(platform, tenant_a, "chat")
    visitor = client.post(
        f"{API}/customers",
        headers=w.admin_headers,
        json={"display_name": "访客", "contact_points": [{"kind": "chat_visitor", "value": "v-1"}]},
    )
    assert visitor.status_code == 201, visitor.text
    made = client.post(
        f"{API}/interactions",
        headers=w.admin_headers,
        json={
            "channel": "chat",
            "direction": "inbound",
            "queue_id": w.queue_id,
            "customer_id": visitor.json()["id"],
        },
    )
    assert made.status_code == 201, made.text
    interaction_id = made.json()["id"]
    for extra in ({"cc": ["boss@example.cn"]}, {"html": "<p>hi</p>"}):
        refused = client.post(
            f"{DESK}/interactions/{interaction_id}/replies",
            headers=w.admin_headers,
            json={"text": "hi", **extra},
        )
        assert refused.status_code == 422, refused.text
        assert "email replies only" in refused.json()["detail"]
    with platform.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(DeliveryRow)) == 0
