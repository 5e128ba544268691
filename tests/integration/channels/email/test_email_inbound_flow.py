"""Received mail end to end on both databases: a real SMTP session against the built-in
receiver, then intake; threading by verified tokens only; quarantine; loops."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jietong.app.email_runtime import PlatformMailSink, mail_context
from jietong.app.platform import Platform
from jietong.channels.email import service, tokens
from jietong.channels.email.smtp_in import ReceivedMail, SmtpReceiver
from jietong.interactions.intake import raw_source
from jietong.storage.tables import InteractionRow, MessageRow
from jietong.storage.tables_channels import MessageSourceRow
from jietong.storage.tables_email import EmailQuarantineRow
from tests.integration.channels.email.emailfactories import (
    Org,
    email_account,
    free_port,
    mail,
    migrated_sqlite,
)

A_ADDRESS = "support@a.example"
B_ADDRESS = "help@b.example"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: test_email_outbound_flow covers this path on PostgreSQL too."""
    return migrated_sqlite(tmp_path)


@pytest.fixture
def receiver(platform: Platform, org_a: Org, org_b: Org) -> Iterator[SmtpReceiver]:
    email_account(platform, org_a, A_ADDRESS)
    email_account(platform, org_b, B_ADDRESS)
    server = SmtpReceiver(
        PlatformMailSink(platform), host="127.0.0.1", port=free_port(), max_bytes=256 * 1024
    )
    server.start()
    yield server
    server.stop()


def send(receiver: SmtpReceiver, raw: bytes, to: list[str], sender: str = "c@example.cn") -> None:
    with smtplib.SMTP("127.0.0.1", receiver.port, timeout=10) as smtp:
        smtp.sendmail(sender, to, raw)


def messages(platform: Platform, org_id: str) -> list[MessageRow]:
    with platform.uow() as uow:
        return list(
            uow.session.scalars(
                select(MessageRow).where(MessageRow.org_id == org_id).order_by(MessageRow.id)
            )
        )


def interaction_of(platform: Platform, message: MessageRow) -> InteractionRow:
    with platform.uow() as uow:
        row = uow.session.get(InteractionRow, message.interaction_id)
        assert row is not None
        return row


def test_an_acknowledged_mail_is_committed_with_its_source(
    platform: Platform, receiver: SmtpReceiver, org_a: Org
) -> None:
    mid, raw = mail(
        body="你好，宽带无法连接。\n\nOn Mon, 4 Mar 2024, Support <s@a.example> wrote:\n> hi"
    )
    send(receiver, raw, [A_ADDRESS])
    # sendmail returned, so 250 was given: the message must already be committed.
    [message] = messages(platform, org_a.org_id)
    assert message.external_id == mid and message.channel == "email"
    assert message.body_text == "你好，宽带无法连接。"
    with platform.uow() as uow:
        source = uow.session.get(MessageSourceRow, message.id)
        assert source is not None
        assert source.sender_address == "wang.fang@example.cn"
        assert source.quoted_text is not None and source.quoted_text.startswith("On Mon")
        assert raw_source(source, platform.blobs) == raw
        assert source.thread_key == mid and source.subject == "宽带无法连接"
    interaction = interaction_of(platform, message)
    assert interaction.external_ref == mid and interaction.state == "arrived"


def test_a_retransmitted_mail_is_stored_once(
    platform: Platform, receiver: SmtpReceiver, org_a: Org
) -> None:
    _mid, raw = mail()
    send(receiver, raw, [A_ADDRESS])
    send(receiver, raw, [A_ADDRESS])
    send(receiver, raw, ["Support+anything@A.example"])
    assert len(messages(platform, org_a.org_id)) == 1


def test_each_organisation_gets_only_mail_for_its_own_addresses(
    platform: Platform, receiver: SmtpReceiver, org_a: Org, org_b: Org
) -> None:
    _mid, raw = mail(to=f"{A_ADDRESS}, {B_ADDRESS}")
    send(receiver, raw, [A_ADDRESS, B_ADDRESS])
    assert len(messages(platform, org_a.org_id)) == 1
    assert len(messages(platform, org_b.org_id)) == 1
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(receiver, raw, ["support@unknown.example"])


def test_a_customer_reply_threads_into_the_conversation(
    platform: Platform, receiver: SmtpReceiver, org_a: Org
) -> None:
    first, raw = mail()
    send(receiver, raw, [A_ADDRESS])
    _second, reply = mail(
        subject="Re: 宽带无法连接",
        body="还是不行",
        headers={"In-Reply-To": f"<{first}>", "References": f"<{first}>"},
    )
    send(receiver, reply, [A_ADDRESS])
    one, two = messages(platform, org_a.org_id)
    assert one.interaction_id == two.interaction_id


def test_a_verified_reply_token_joins_even_from_another_address(
    platform: Platform, receiver: SmtpReceiver, org_a: Org
) -> None:
    _first, raw = mail()
    send(receiver, raw, [A_ADDRESS])
    [first] = messages(platform, org_a.org_id)
    token = tokens.reply_token(platform.settings.secret(), org_a.org_id, first.interaction_id)
    address = tokens.reply_address(A_ADDRESS, token)
    _mid, colleague = mail(sender="Colleague <li.wei@example.cn>", to=address, body="补充信息")
    send(receiver, colleague, [address])
    assert {m.interaction_id for m in messages(platform, org_a.org_id)} == {first.interaction_id}


def test_forged_tokens_and_foreign_references_do_not_join_a_conversation(
    platform: Platform, receiver: SmtpReceiver, org_a: Org
) -> None:
    victim_mid, raw = mail()
    send(receiver, raw, [A_ADDRESS])
    [victim] = messages(platform, org_a.org_id)
    secret = platform.settings.secret()
    genuine = tokens.reply_token(secret, org_a.org_id, victim.interaction_id)
    forged = genuine[:-1] + ("a" if genuine[-1] != "a" else "b")
    forged_address = tokens.reply_address(A_ADDRESS, forged)
    attacker = "Mallory <mallory@evil.example>"
    attempts = [
        mail(sender=attacker, to=forged_address, body="forged token")[1],
        # Knows the victim's Message-ID and quotes it as the thread root.
        mail(
            sender=attacker,
            body="by reference",
            headers={"In-Reply-To": f"<{victim_mid}>", "References": f"<{victim_mid}>"},
        )[1],
        # Same subject as the victim's conversation: subjects never thread.
        mail(sender=attacker, subject="Re: 宽带无法连接", body="by subject")[1],
    ]
    send(receiver, attempts[0], [forged_address])
    for raw_attempt in attempts[1:]:
        send(receiver, raw_attempt, [A_ADDRESS])
    stored = messages(platform, org_a.org_id)
    assert len(stored) == 4
    assert [m.interaction_id for m in stored].count(victim.interaction_id) == 1


def test_another_organisations_token_does_not_verify(
    platform: Platform, receiver: SmtpReceiver, org_a: Org, org_b: Org
) -> None:
    _mid, raw = mail(to=B_ADDRESS)
    send(receiver, raw, [B_ADDRESS])
    [b_message] = messages(platform, org_b.org_id)
    token = tokens.reply_token(platform.settings.secret(), org_b.org_id, b_message.interaction_id)
    address = tokens.reply_address(A_ADDRESS, token)  # B's token sent to A's address
    _mid2, raw2 = mail(to=address, body="cross-tenant")
    send(receiver, raw2, [address])
    [a_message] = messages(platform, org_a.org_id)
    assert a_message.interaction_id != b_message.interaction_id


def test_an_unparseable_mail_is_quarantined_and_the_next_one_still_arrives(
    platform: Platform, receiver: SmtpReceiver, org_a: Org
) -> None:
    send(receiver, b"\r\n\r\nno headers at all, no sender", [A_ADDRESS], sender="<>")
    _mid, raw = mail(body="after the broken one")
    send(receiver, raw, [A_ADDRESS])
    assert [m.body_text for m in messages(platform, org_a.org_id)] == ["after the broken one"]
    with platform.uow() as uow:
        [held] = uow.session.scalars(select(EmailQuarantineRow)).all()
    assert held.org_id == org_a.org_id and "unreadable" in held.reason
    assert platform.blobs.get(held.raw_key).rstrip().endswith(b"no sender")


def test_an_invalid_sender_address_is_quarantined(
    platform: Platform, receiver: SmtpReceiver, org_a: Org
) -> None:
    _mid, raw = mail(sender="Broken <user@exa_mple.cn>")
    send(receiver, raw, [A_ADDRESS])
    with platform.uow() as uow:
        count = uow.session.scalar(select(func.count()).select_from(EmailQuarantineRow))
    assert count == 1 and messages(platform, org_a.org_id) == []


def test_auto_replies_are_stored_but_open_no_conversation(
    platform: Platform, receiver: SmtpReceiver, org_a: Org
) -> None:
    _mid, raw = mail(subject="Automatic reply: 宽带", headers={"Auto-Submitted": "auto-replied"})
    send(receiver, raw, [A_ADDRESS])
    [message] = messages(platform, org_a.org_id)
    interaction = interaction_of(platform, message)
    assert interaction.state == "closed"  # stored where nobody is asked to answer it
    with platform.uow() as uow:
        source = uow.session.get(MessageSourceRow, message.id)
        assert source is not None and source.auto_generated
        assert source.extra["auto_reason"] == "auto-submitted: auto-replied"


def test_mail_from_our_own_address_is_treated_as_automatic(
    platform: Platform, receiver: SmtpReceiver, org_a: Org
) -> None:
    _mid, raw = mail(sender=f"Support <{A_ADDRESS}>")
    send(receiver, raw, [A_ADDRESS])
    [message] = messages(platform, org_a.org_id)
    assert interaction_of(platform, message).state == "closed"


def test_receive_mail_directly_reports_the_outcome(platform: Platform, org_a: Org) -> None:
    email_account(platform, org_a, A_ADDRESS)
    with platform.uow() as uow:
        recipient = service.find_recipient(uow, "SUPPORT+x@a.example")
    assert recipient is not None and recipient.org_id == org_a.org_id
    _mid, raw = mail()
    context = mail_context(platform)
    first = service.receive_mail(context, raw, recipient, envelope_from="c@example.cn")
    again = service.receive_mail(context, raw, recipient, envelope_from="c@example.cn")
    assert (first.kind, again.kind) == ("stored", "duplicate")
    assert first.message_id == again.message_id


def test_an_attachment_over_the_limit_is_quarantined_not_lost(
    platform: Platform, receiver: SmtpReceiver, org_a: Org
) -> None:
    platform.settings = platform.settings.model_copy(update={"max_attachment_bytes": 1024})
    blob = "A" * 4000
    raw = (
        "From: c@example.cn\r\nTo: support@a.example\r\nSubject: big\r\n"
        "Message-ID: <big-1@example.cn>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="big.bin"\r\n\r\n'
        f"{blob}\r\n--b--\r\n"
    ).encode()
    # The receiver was built before the limit changed: go through a fresh sink.
    PlatformMailSink(platform).store(
        ReceivedMail("c@example.cn", (A_ADDRESS,), raw, "127.0.0.1", platform.clock())
    )
    assert messages(platform, org_a.org_id) == []
    with platform.uow() as uow:
        [held] = uow.session.scalars(select(EmailQuarantineRow)).all()
    assert "byte limit" in held.reason and held.sender == "c@example.cn"
