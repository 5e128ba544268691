"""The SMTP receiver and the SMTP sender over real SMTP sessions on loopback: smtplib
clients against the built-in aiosmtpd receiver, and our sender against an aiosmtpd sink."""

from __future__ import annotations

import smtplib
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from jietong.channels.base import OutboundMessage, Party
from jietong.channels.email.compose import Sender, ThreadContext, compose
from jietong.channels.email.smtp_in import ReceivedMail, SmtpReceiver
from jietong.channels.email.smtp_out import Relay, Security, send
from jietong.identity.contact_points import ContactKind

OURS = "support@demo.jietong.example"
MAIL = (
    b"From: Customer <c@example.org>\r\nTo: support@demo.jietong.example\r\n"
    b"Subject: hello\r\nMessage-ID: <m1@example.org>\r\n\r\nbody\r\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MemorySink:
    """Stores in a list; `fail` makes storing raise (a database outage)."""

    def __init__(self) -> None:
        self.stored: list[ReceivedMail] = []
        self.fail = False
        self.storing = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def accepts(self, address: str) -> bool:
        return address.lower().split("+")[0] == "support" or address.lower() == OURS

    def store(self, mail: ReceivedMail) -> None:
        self.storing.set()
        self.release.wait(10)
        if self.fail:
            raise RuntimeError("database unavailable")
        self.stored.append(mail)


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def receiver(sink: MemorySink) -> Iterator[SmtpReceiver]:
    server = SmtpReceiver(sink, host="127.0.0.1", port=free_port(), max_bytes=64 * 1024)
    server.start()
    yield server
    server.stop()


def client(receiver: SmtpReceiver) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", receiver.port, timeout=10)


def test_mail_for_our_address_is_stored_and_acknowledged(
    receiver: SmtpReceiver, sink: MemorySink
) -> None:
    with client(receiver) as smtp:
        refused = smtp.sendmail("c@example.org", [OURS], MAIL)
    assert refused == {}
    [stored] = sink.stored
    assert stored.data.replace(b"\r\n", b"\n") == MAIL.replace(b"\r\n", b"\n")
    assert stored.envelope_from == "c@example.org" and stored.recipients == (OURS,)


def test_unknown_recipients_are_refused_at_rcpt_with_550(
    receiver: SmtpReceiver, sink: MemorySink
) -> None:
    with client(receiver) as smtp:
        smtp.ehlo()
        smtp.mail("c@example.org")
        code, message = smtp.rcpt("nobody@elsewhere.example")
        assert code == 550 and b"rejected" in message
        smtp.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("c@example.org", ["nobody@elsewhere.example"], MAIL)
    assert sink.stored == []


def test_oversized_mail_is_refused_with_552(receiver: SmtpReceiver, sink: MemorySink) -> None:
    big = MAIL + b"x" * (70 * 1024) + b"\r\n"
    with client(receiver) as smtp, pytest.raises(smtplib.SMTPResponseException) as refused:
        smtp.sendmail("c@example.org", [OURS], big)
    assert refused.value.smtp_code == 552
    assert sink.stored == []


def test_a_storage_failure_answers_451_so_the_sender_retries(
    receiver: SmtpReceiver, sink: MemorySink
) -> None:
    sink.fail = True
    with client(receiver) as smtp, pytest.raises(smtplib.SMTPDataError) as refused:
        smtp.sendmail("c@example.org", [OURS], MAIL)
    assert refused.value.smtp_code == 451


def test_250_comes_only_after_the_sink_returned(receiver: SmtpReceiver, sink: MemorySink) -> None:
    sink.release.clear()
    answered = threading.Event()

    def deliver() -> None:
        with client(receiver) as smtp:
            smtp.sendmail("c@example.org", [OURS], MAIL)
        answered.set()

    sender = threading.Thread(target=deliver)
    sender.start()
    assert sink.storing.wait(10)
    assert not answered.wait(0.3), "acknowledged before the mail was stored"
    sink.release.set()
    sender.join(10)
    assert answered.is_set() and len(sink.stored) == 1


def test_bounces_with_the_null_sender_are_received(
    receiver: SmtpReceiver, sink: MemorySink
) -> None:
    with client(receiver) as smtp:
        smtp.sendmail("<>", [OURS], MAIL)
    assert sink.stored[0].envelope_from == ""


# -- sending ---------------------------------------------------------------------------


class Recorder:
    """An aiosmtpd handler that keeps what it receives and refuses one address."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("unknown@"):
            return "550 5.1.1 no such user"
        if address.startswith("busy@"):
            return "451 4.3.2 try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK queued"


@pytest.fixture
def sink_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield recorder, int(controller.port)
    controller.stop()


def outbound(address: str) -> OutboundMessage:
    return OutboundMessage(
        channel="email",
        org_id="1" * 32,
        delivery_id="3" * 32,
        interaction_id="4" * 32,
        message_id="5" * 32,
        recipient=Party(ContactKind.EMAIL, address),
        text="您好，已处理。",
        subject="工单 #12",
    )


def composed(address: str) -> object:
    return compose(
        outbound(address),
        Sender(OURS, "Demo"),
        ThreadContext(in_reply_to="m1@example.org"),
        secret=b"s",
        now=datetime.now(UTC),
    )


def test_sending_through_a_relay(sink_server: tuple[Recorder, int]) -> None:
    recorder, port = sink_server
    mail = composed("wang.fang@example.cn")
    result = send(Relay("127.0.0.1", port, Security.NONE, timeout=10), mail)  # type: ignore[arg-type]
    assert result.ok and result.provider_message_id == mail.message_id  # type: ignore[attr-defined]
    [envelope] = recorder.envelopes
    assert envelope.mail_from == OURS and envelope.rcpt_tos == ["wang.fang@example.cn"]
    assert b"In-Reply-To: <m1@example.org>" in (envelope.original_content or b"")


@pytest.mark.parametrize(
    ("address", "retryable"), [("unknown@example.cn", False), ("busy@example.cn", True)]
)
def test_refusals_are_permanent_for_5xx_and_passing_for_4xx(
    sink_server: tuple[Recorder, int], address: str, retryable: bool
) -> None:
    _recorder, port = sink_server
    result = send(Relay("127.0.0.1", port, Security.NONE, timeout=10), composed(address))  # type: ignore[arg-type]
    assert not result.ok and result.retryable is retryable
    assert result.error is not None and ("550" in result.error or "451" in result.error)


def test_an_unreachable_relay_is_a_passing_failure() -> None:
    result = send(Relay("127.0.0.1", free_port(), Security.NONE, timeout=2), composed("a@b.cn"))  # type: ignore[arg-type]
    assert not result.ok and result.retryable


def test_starttls_is_required_when_configured(sink_server: tuple[Recorder, int]) -> None:
    """The sink offers no STARTTLS: sending must fail rather than go out in plain text."""
    recorder, port = sink_server
    result = send(Relay("127.0.0.1", port, Security.STARTTLS, timeout=10), composed("a@b.cn"))  # type: ignore[arg-type]
    assert not result.ok and not result.retryable and "STARTTLS" in (result.error or "")
    assert recorder.envelopes == []
