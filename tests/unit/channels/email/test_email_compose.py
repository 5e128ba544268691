"""Outbound mail: threading headers, tokens, no header injection, Auto-Submitted only on
automatic messages. Composed bytes are read back with our own parser."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from jietong.channels.base import OutboundAttachment, OutboundMessage, Party
from jietong.channels.email import tokens
from jietong.channels.email.compose import (
    ComposedEmail,
    InvalidRecipient,
    Sender,
    ThreadContext,
    compose,
)
from jietong.channels.email.parse import parse_email
from jietong.identity.contact_points import ContactKind

SECRET = b"compose-secret"
ORG = "1" * 32
INTERACTION = "0190f0c2a1b27c3d8e9f0a1b2c3d4e5f"
DELIVERY = "0190f0c2a1b27c3d8e9f0a1b2c3d4e60"
NOW = datetime(2024, 3, 5, 9, 12, tzinfo=UTC)
SENDER = Sender("support@demo.jietong.example", "接通演示 Demo")


def outbound(**changes: object) -> OutboundMessage:
    values: dict[str, object] = {
        "channel": "email",
        "org_id": ORG,
        "delivery_id": DELIVERY,
        "interaction_id": INTERACTION,
        "message_id": "2" * 32,
        "recipient": Party(ContactKind.EMAIL, "wang.fang@example.cn", "王芳"),
        "text": "您好，\n师傅明天上午十点上门。\n\n李伟",
        "subject": "宽带无法连接",
        "sender_name": "李伟",
    }
    values.update(changes)
    return OutboundMessage(**values)  # type: ignore[arg-type]


def built(message: OutboundMessage, thread: ThreadContext | None = None) -> ComposedEmail:
    return compose(message, SENDER, thread or ThreadContext(), secret=SECRET, now=NOW)


def test_a_reply_threads_and_carries_verifiable_tokens() -> None:
    thread = ThreadContext(
        in_reply_to="CA+latest@mail.example.cn",
        references=("CA+root@mail.example.cn", "jt.earlier@demo.jietong.example"),
    )
    mail = built(outbound(), thread)
    headers = message_from_bytes(mail.data, policy=policy.default)
    assert headers["In-Reply-To"] == "<CA+latest@mail.example.cn>"
    assert headers["References"].split() == [
        "<CA+root@mail.example.cn>",
        "<jt.earlier@demo.jietong.example>",
        "<CA+latest@mail.example.cn>",
    ]
    assert headers["Subject"] == "Re: 宽带无法连接"
    assert headers["Message-ID"] == f"<{mail.message_id}>"
    ours = tokens.verify_message_id(SECRET, ORG, mail.message_id)
    assert ours == tokens.OurMessageId(INTERACTION, DELIVERY)
    reply_to = headers["Reply-To"].addresses[0].addr_spec
    _base, token = tokens.split_plus_address(reply_to)
    assert token is not None and tokens.verify_reply_token(SECRET, ORG, token) == INTERACTION
    assert "Auto-Submitted" not in headers  # an agent's reply is not automatic
    assert headers["From"].addresses[0].display_name == "李伟 (接通演示 Demo)"


def test_composed_mail_reads_back_with_the_inbound_parser() -> None:
    mail = built(
        outbound(attachments=(OutboundAttachment("报价单.pdf", "application/pdf", b"%PDF-1.4"),))
    )
    parsed = parse_email(mail.data)
    assert parsed.text == "您好，\n师傅明天上午十点上门。\n\n李伟"
    assert parsed.subject == "宽带无法连接"  # not a reply: no "Re:"
    assert parsed.html is not None and "师傅明天上午十点上门" in parsed.html
    assert [(a.filename, a.data) for a in parsed.attachments] == [("报价单.pdf", b"%PDF-1.4")]
    assert parsed.auto_reason is None
    assert mail.recipients == ("wang.fang@example.cn",)


def test_a_retried_delivery_repeats_its_message_id() -> None:
    assert built(outbound()).message_id == built(outbound()).message_id


def test_automatic_messages_say_so() -> None:
    mail = built(outbound(), ThreadContext(automatic=True))
    headers = message_from_bytes(mail.data, policy=policy.default)
    assert headers["Auto-Submitted"] == "auto-replied"
    assert parse_email(mail.data).auto_reason == "auto-submitted: auto-replied"


@pytest.mark.parametrize(
    "field",
    [
        {"subject": "Hello\r\nBcc: victim@evil.example"},
        {"subject": "Hello\nBcc: victim@evil.example"},
        {"sender_name": "Agent\r\nBcc: victim@evil.example"},
        {"recipient": Party(ContactKind.EMAIL, "c@example.cn", "Name\r\nBcc: victim@evil.example")},
    ],
)
def test_line_breaks_cannot_inject_headers(field: dict[str, object]) -> None:
    mail = built(outbound(**field), ThreadContext(subject="x"))
    parsed = message_from_bytes(mail.data, policy=policy.default)
    assert parsed["Bcc"] is None
    assert b"\r\nBcc:" not in mail.data and b"\nBcc:" not in mail.data
    assert mail.recipients == (outbound(**field).recipient.address,)


@pytest.mark.parametrize(
    "address",
    ["a@b.cn\r\nRCPT TO:<x@evil.example>", "a@b.cn, x@evil.example", "no-at-sign", "a@@b", ""],
)
def test_unusable_recipient_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidRecipient):
        built(outbound(recipient=Party(ContactKind.EMAIL, address)))


def test_agent_html_is_sanitised_before_it_leaves() -> None:
    mail = built(outbound(html='<p>Hi</p><script>x()</script><img src="https://t.example/p">'))
    parsed = parse_email(mail.data)
    assert parsed.html is not None
    assert "<script" not in parsed.html and "t.example" not in parsed.html


def test_hostile_attachment_names_are_neutralised() -> None:
    attachment = OutboundAttachment("..\\..\\evil\u202egpj.exe", "bad\r\ntype", b"x")
    parsed = parse_email(built(outbound(attachments=(attachment,))).data)
    [found] = parsed.attachments
    assert found.filename == "evilgpj.exe"
    assert found.content_type == "application/octet-stream"
