"""The IMAP poller against a real Dovecot: nothing read twice, nothing skipped, mail
marked only after it was stored, IDLE wakes the poller, UIDVALIDITY resets are safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from imapclient import IMAPClient

from jietong.channels.email import imap_in
from jietong.channels.email.imap_in import Mailbox, Position
from jietong.channels.email.smtp_out import Security
from tests.integration.channels.email.dovecot import Dovecot, dovecot  # noqa: F401


class MemoryPositions:
    def __init__(self, start: Position | None = None) -> None:
        self.position = start
        self.saves: list[Position] = []

    def load(self) -> Position | None:
        return self.position

    def save(self, position: Position) -> None:
        self.position = position
        self.saves.append(position)


def mail(number: int) -> bytes:
    return (
        f"From: Customer {number} <c{number}@example.org>\r\n"
        f"To: support@demo.jietong.example\r\nSubject: question {number}\r\n"
        f"Message-ID: <q{number}@example.org>\r\n\r\nbody {number}\r\n"
    ).encode()


@pytest.fixture
def server(dovecot: Dovecot) -> Iterator[IMAPClient]:  # noqa: F811
    """A second client, playing the mail server that delivers into the mailbox."""
    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False)
    client.login(dovecot.username, dovecot.password)
    yield client
    client.logout()


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:  # noqa: F811
    return Mailbox(
        host=dovecot.host,
        port=dovecot.port,
        username=dovecot.username,
        password=dovecot.password,
        security=Security.NONE,
        timeout=10,
    )


def flags_of(client: IMAPClient) -> list[tuple[bytes, ...]]:
    client.select_folder("INBOX", readonly=True)
    found = client.fetch(client.search("ALL"), ["FLAGS"])
    return [found[uid][b"FLAGS"] for uid in sorted(found)]


def test_catch_up_stores_each_mail_once_then_marks_it_seen(
    server: IMAPClient, mailbox: Mailbox
) -> None:
    for number in range(3):
        server.append("INBOX", mail(number))
    positions = MemoryPositions()
    stored: list[bytes] = []
    with imap_in._session(mailbox) as client:
        assert imap_in.catch_up(client, mailbox, positions, stored.append) == 3
        assert imap_in.catch_up(client, mailbox, positions, stored.append) == 0
    assert [raw.rsplit(b"body ", 1)[1].strip() for raw in stored] == [b"0", b"1", b"2"]
    assert [p.last_uid for p in positions.saves] == [1, 2, 3]
    assert all(b"\\Seen" in f for f in flags_of(server))


def test_a_failed_store_leaves_the_mail_unread_and_it_is_not_skipped(
    server: IMAPClient, mailbox: Mailbox
) -> None:
    for number in range(3):
        server.append("INBOX", mail(number))
    positions = MemoryPositions()
    stored: list[bytes] = []

    def flaky(raw: bytes) -> None:
        if b"body 1" in raw:
            raise RuntimeError("database unavailable")
        stored.append(raw)

    with imap_in._session(mailbox) as client, pytest.raises(RuntimeError):
        imap_in.catch_up(client, mailbox, positions, flaky)
    assert positions.position is not None and positions.position.last_uid == 1
    assert [b"\\Seen" in f for f in flags_of(server)] == [True, False, False]
    with imap_in._session(mailbox) as client:
        assert imap_in.catch_up(client, mailbox, positions, stored.append) == 2
    assert [raw.rsplit(b"body ", 1)[1].strip() for raw in stored] == [b"0", b"1", b"2"]


def test_a_new_uidvalidity_reads_the_folder_again(server: IMAPClient, mailbox: Mailbox) -> None:
    server.append("INBOX", mail(7))
    stale = MemoryPositions(Position(uidvalidity=1, last_uid=999))
    stored: list[bytes] = []
    with imap_in._session(mailbox) as client:
        assert imap_in.catch_up(client, mailbox, stale, stored.append) == 1
    assert stale.position is not None and stale.position.uidvalidity != 1


def test_processed_mail_can_be_moved_instead_of_flagged(
    server: IMAPClient, mailbox: Mailbox
) -> None:
    server.create_folder("Processed")
    server.append("INBOX", mail(1))
    moving = Mailbox(**{**mailbox.__dict__, "move_to": "Processed"})
    with imap_in._session(moving) as client:
        assert imap_in.catch_up(client, moving, MemoryPositions(), lambda raw: None) == 1
    assert server.select_folder("INBOX")[b"EXISTS"] == 0
    assert server.select_folder("Processed")[b"EXISTS"] == 1


def test_idle_wakes_the_poller_when_mail_arrives(server: IMAPClient, mailbox: Mailbox) -> None:
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
        server.append("INBOX", mail(42))
        assert arrived.wait(10), "IDLE did not report the new mail"
        assert b"body 42" in stored[0]
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
