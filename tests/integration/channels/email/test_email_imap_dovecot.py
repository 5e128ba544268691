"""The IMAP poller against a real Dovecot: nothing read twice, nothing skipped, mail
marked only after it was stored, IDLE wakes the poller, UIDVALIDITY resets are safe."""

from __future__ import annotations

import threading
import time

import pytest
from imapclient import IMAPClient  # type: ignore[import-untyped]

from jietong.channels.email import imap_in
from jietong.channels.email.imap_in import Mailbox, Position
from tests.integration.channels.email.dovecot import MemoryPositions, bodies, numbered_mail, seen


def test_catch_up_stores_each_mail_once_then_marks_it_seen(
    imap_server: IMAPClient, mailbox: Mailbox
) -> None:
    for number in range(3):
        imap_server.append("INBOX", numbered_mail(number))
    positions = MemoryPositions()
    stored: list[bytes] = []
    with imap_in._session(mailbox) as client:
        assert imap_in.catch_up(client, mailbox, positions, stored.append) == 3
        assert imap_in.catch_up(client, mailbox, positions, stored.append) == 0
    assert bodies(stored) == ["0", "1", "2"]
    assert [p.last_uid for p in positions.saves] == [1, 2, 3]
    assert all(seen(imap_server))


def test_a_failed_store_leaves_the_mail_unread_and_it_is_not_skipped(
    imap_server: IMAPClient, mailbox: Mailbox
) -> None:
    for number in range(3):
        imap_server.append("INBOX", numbered_mail(number))
    positions = MemoryPositions()
    stored: list[bytes] = []

    def flaky(raw: bytes) -> None:
        if b"body 1" in raw:
            raise RuntimeError("database unavailable")
        stored.append(raw)

    with imap_in._session(mailbox) as client, pytest.raises(RuntimeError):
        imap_in.catch_up(client, mailbox, positions, flaky)
    assert positions.position is not None and positions.position.last_uid == 1
    assert seen(imap_server) == [True, False, False]
    with imap_in._session(mailbox) as client:
        assert imap_in.catch_up(client, mailbox, positions, stored.append) == 2
    assert bodies(stored) == ["0", "1", "2"]


def test_a_new_uidvalidity_reads_the_folder_again(
    imap_server: IMAPClient, mailbox: Mailbox
) -> None:
    imap_server.append("INBOX", numbered_mail(7))
    stale = MemoryPositions(Position(uidvalidity=1, last_uid=999))
    stored: list[bytes] = []
    with imap_in._session(mailbox) as client:
        assert imap_in.catch_up(client, mailbox, stale, stored.append) == 1
    assert stale.position is not None and stale.position.uidvalidity != 1


def test_processed_mail_can_be_moved_instead_of_flagged(
    imap_server: IMAPClient, mailbox: Mailbox
) -> None:
    imap_server.create_folder("Processed")
    imap_server.append("INBOX", numbered_mail(1))
    moving = Mailbox(**{**mailbox.__dict__, "move_to": "Processed"})
    with imap_in._session(moving) as client:
        assert imap_in.catch_up(client, moving, MemoryPositions(), lambda raw: None) == 1
    assert imap_server.select_folder("INBOX")[b"EXISTS"] == 0
    assert imap_server.select_folder("Processed")[b"EXISTS"] == 1


def test_idle_wakes_the_poller_when_mail_arrives(imap_server: IMAPClient, mailbox: Mailbox) -> None:
    stored: list[bytes] = []
    arrived = threading.Event()
    stop = threading.Event()

    def deliver(raw: bytes) -> None:
        stored.append(raw)
        arrived.set()

    worker = threading.Thread(
        target=imap_in.run,
        args=(mailbox, MemoryPositions(), deliver, stop),
        # A fallback poll far longer than the test: only IDLE can deliver in time.
        kwargs={"idle_seconds": 600, "poll_seconds": 600, "retry_seconds": 1},
        daemon=True,
    )
    worker.start()
    try:
        time.sleep(0.5)  # let the poller reach IDLE on the empty folder
        imap_server.append("INBOX", numbered_mail(42))
        assert arrived.wait(10), "IDLE did not report the new mail"
        assert b"body 42" in stored[0]
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
