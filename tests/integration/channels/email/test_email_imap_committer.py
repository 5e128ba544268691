"""The IMAP poller delivering each fetched group at once (through the intake committer),
against a real Dovecot: mail is flagged only after the commit that holds it, the
position moves past the stored prefix of a group only, and a Message-ID delivered twice
is stored once."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from imapclient import IMAPClient  # type: ignore[import-untyped]
from sqlalchemy import select

from jietong.app.email_runtime import mail_context
from jietong.app.platform import Platform
from jietong.channels.email import imap_in, service
from jietong.channels.email.imap_in import AllAtOnce, Mailbox
from jietong.interactions.committer import IntakeCommitter
from jietong.storage.tables import MessageRow
from tests.integration.channels.email.dovecot import (
    USER,
    MemoryPositions,
    bodies,
    numbered_mail,
    seen,
)
from tests.integration.channels.email.emailfactories import Org, email_account
from tests.integration.channels.fakes import HeldUow


def test_a_group_moves_the_position_past_its_stored_prefix_only(
    imap_server: IMAPClient, mailbox: Mailbox
) -> None:
    for number in range(4):
        imap_server.append("INBOX", numbered_mail(number))
    positions = MemoryPositions()
    offered: list[list[str]] = []

    def second_fails(raws: Sequence[bytes]) -> list[Exception | None]:
        offered.append(bodies(raws))
        return [RuntimeError("disk full") if b"body 1" in r else None for r in raws]

    with imap_in._session(mailbox) as client, pytest.raises(RuntimeError, match="disk full"):
        imap_in.catch_up(client, mailbox, positions, AllAtOnce(second_fails))
    assert offered == [["0", "1", "2", "3"]]  # one group: they share the commits
    assert [p.last_uid for p in positions.saves] == [1]
    assert seen(imap_server) == [True, False, False, False]

    def all_stored(raws: Sequence[bytes]) -> list[Exception | None]:
        offered.append(bodies(raws))
        return [None] * len(raws)

    with imap_in._session(mailbox) as client:
        assert imap_in.catch_up(client, mailbox, positions, AllAtOnce(all_stored)) == 3
    assert offered[1] == ["1", "2", "3"]  # mail 2 and 3 again: intake finds them stored
    assert [p.last_uid for p in positions.saves] == [1, 4]
    assert seen(imap_server) == [True, True, True, True]


def test_a_delivery_answering_for_the_wrong_number_of_mails_marks_nothing(
    imap_server: IMAPClient, mailbox: Mailbox
) -> None:
    imap_server.append("INBOX", numbered_mail(1))
    imap_server.append("INBOX", numbered_mail(2))
    positions = MemoryPositions()
    with imap_in._session(mailbox) as client, pytest.raises(RuntimeError, match="answered 1"):
        imap_in.catch_up(client, mailbox, positions, AllAtOnce(lambda raws: [None]))
    assert positions.saves == [] and seen(imap_server) == [False, False]


def test_polled_mail_is_flagged_only_after_its_commit_and_stored_once(
    platform: Platform, org_a: Org, imap_server: IMAPClient, mailbox: Mailbox
) -> None:
    held = HeldUow(platform)
    platform.intake.close()
    platform.intake = IntakeCommitter(held)
    account = email_account(platform, org_a, USER, provider="imap")
    recipient = service.Recipient(USER, account.id, org_a.org_id, None)
    deliver = service.mailbox_delivery(mail_context(platform), recipient)
    for number in range(3):
        imap_server.append("INBOX", numbered_mail(number))
    # Mail 1 delivered again.
    imap_server.append("INBOX", numbered_mail(9, message_id="q1@example.org"))
    positions = MemoryPositions()
    result: list[int | BaseException] = []

    def poll() -> None:
        try:
            with imap_in._session(mailbox) as client:
                result.append(imap_in.catch_up(client, mailbox, positions, deliver))
        except BaseException as exc:
            result.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        assert held.entered.wait(15), "no mail reached the committer"
        assert seen(imap_server) == [False] * 4 and positions.saves == []
    finally:
        held.gate.set()
        poller.join(30)
    assert result == [4]
    assert seen(imap_server) == [True] * 4
    assert [p.last_uid for p in positions.saves] == [4]
    with platform.read_uow() as uow:
        texts = uow.session.scalars(
            select(MessageRow.body_text).where(MessageRow.org_id == org_a.org_id)
        ).all()
    assert sorted(texts) == ["body 0", "body 1", "body 2"]
