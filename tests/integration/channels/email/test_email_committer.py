"""E-mail through the intake committer, on both databases: the SMTP receiver answers 250
only after the commit holding the mail (451 when the commit fails), a delivery's
recipients and a group of mails are stored together with each failure kept to its own
mail, and the threading guard decides for a group exactly as for one mail at a time."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from jietong.app.email_runtime import PlatformMailSink, mail_context
from jietong.app.platform import Platform
from jietong.channels.email import service
from jietong.channels.email.smtp_in import ReceivedMail, SmtpReceiver
from jietong.core.ids import new_id
from jietong.interactions.committer import IntakeCommitter, IntakeRequest
from jietong.interactions.intake import IntakeResult
from jietong.storage.tables import MessageRow
from jietong.storage.tables_email import EmailQuarantineRow
from tests.integration.channels.email.emailfactories import (
    Org,
    email_account,
    mail,
    make_org,
    smtp_receiver,
)
from tests.integration.channels.fakes import HeldUow

A_ADDRESS = "support@a.example"
B_ADDRESS = "help@b.example"


@pytest.fixture
def gated(platform: Platform) -> Iterator[HeldUow]:
    """The platform's committer replaced by one writing through a `HeldUow`, open until
    a test holds it (built before any sink or context, which take
    `platform.intake.submit`)."""
    gate = HeldUow(platform, held=False)
    platform.intake.close()
    platform.intake = IntakeCommitter(gate)
    yield gate
    gate.gate.set()


@pytest.fixture
def receiver(platform: Platform, gated: HeldUow, org_a: Org, org_b: Org) -> Iterator[SmtpReceiver]:
    email_account(platform, org_a, A_ADDRESS)
    email_account(platform, org_b, B_ADDRESS)
    with smtp_receiver(PlatformMailSink(platform)) as server:
        yield server


def send(receiver: SmtpReceiver, raw: bytes, to: list[str]) -> None:
    with smtplib.SMTP("127.0.0.1", receiver.port, timeout=30) as smtp:
        smtp.sendmail("c@example.cn", to, raw)


def stored(platform: Platform, org_id: str) -> list[MessageRow]:
    with platform.read_uow() as uow:
        return list(
            uow.session.scalars(
                select(MessageRow).where(MessageRow.org_id == org_id).order_by(MessageRow.id)
            )
        )


def recipient_of(platform: Platform, address: str) -> service.Recipient:
    with platform.read_uow() as uow:
        found = service.find_recipient(uow, address)
    assert found is not None
    return found


def test_250_waits_for_the_commit_holding_the_mail(
    platform: Platform, gated: HeldUow, receiver: SmtpReceiver, org_a: Org
) -> None:
    gated.gate.clear()
    answered = threading.Event()
    failed: list[BaseException] = []

    def deliver() -> None:
        try:
            send(receiver, mail()[1], [A_ADDRESS])
            answered.set()
        except BaseException as exc:  # reported below, not lost in the thread
            failed.append(exc)

    sender = threading.Thread(target=deliver)
    sender.start()
    assert gated.entered.wait(10), "the mail never reached the committer"
    # The writer holds the mail and has not begun its transaction: no 250 may be out.
    assert not answered.wait(0.5), "250 before the mail was committed"
    assert stored(platform, org_a.org_id) == []
    gated.gate.set()
    sender.join(30)
    assert failed == [] and answered.is_set()
    assert len(stored(platform, org_a.org_id)) == 1


def test_a_failed_commit_answers_451_and_the_retry_stores_the_mail_once(
    platform: Platform, gated: HeldUow, receiver: SmtpReceiver, org_a: Org
) -> None:
    _mid, raw = mail()
    gated.failures = 1
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(receiver, raw, [A_ADDRESS])
    assert refused.value.smtp_code == 451
    assert stored(platform, org_a.org_id) == []
    send(receiver, raw, [A_ADDRESS])  # the sending server's retry
    send(receiver, raw, [A_ADDRESS])  # and a retransmission: still one
    assert len(stored(platform, org_a.org_id)) == 1


def test_a_delivery_to_two_organisations_stores_one_message_for_each(
    platform: Platform, gated: HeldUow, receiver: SmtpReceiver, org_a: Org, org_b: Org
) -> None:
    mid, raw = mail(to=f"{A_ADDRESS}, {B_ADDRESS}")
    send(receiver, raw, [A_ADDRESS, B_ADDRESS])
    [a] = stored(platform, org_a.org_id)
    [b] = stored(platform, org_b.org_id)
    assert a.external_id == b.external_id == mid and a.interaction_id != b.interaction_id


class FailingOnceFor:
    """A sink whose intake submission fails once for one organisation's copy."""

    def __init__(self, platform: Platform, org_id: str) -> None:
        context = mail_context(platform)
        self.failures = 1

        def submit(request: IntakeRequest) -> Future[IntakeResult]:
            if request.prepared.message.org_id == org_id and self.failures:
                self.failures -= 1
                raise OperationalError("INSERT", {}, Exception("disk full"))
            return context.submit(request)

        self._context = replace(context, submit=submit)

    def accepts(self, address: str) -> bool:
        return service.accepts(self._context, address)

    def store(self, mail: ReceivedMail) -> None:
        service.receive_delivery(
            self._context, mail.data, mail.recipients, envelope_from=mail.envelope_from
        )


def test_a_delivery_failing_for_one_recipient_is_retried_whole_and_stored_once_each(
    platform: Platform, org_a: Org, org_b: Org
) -> None:
    email_account(platform, org_a, A_ADDRESS)
    email_account(platform, org_b, B_ADDRESS)
    with smtp_receiver(FailingOnceFor(platform, org_b.org_id)) as server:
        _mid, raw = mail(to=f"{A_ADDRESS}, {B_ADDRESS}")
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(server, raw, [A_ADDRESS, B_ADDRESS])
        assert refused.value.smtp_code == 451
        assert len(stored(platform, org_a.org_id)) == 1  # stored, but not acknowledged
        assert stored(platform, org_b.org_id) == []
        send(server, raw, [A_ADDRESS, B_ADDRESS])  # the sending server's retry
    assert len(stored(platform, org_a.org_id)) == 1
    assert len(stored(platform, org_b.org_id)) == 1


def test_in_a_group_a_bad_mail_is_quarantined_alone(
    platform: Platform, gated: HeldUow, org_a: Org
) -> None:
    email_account(platform, org_a, A_ADDRESS)
    recipient = recipient_of(platform, A_ADDRESS)
    raws = [
        mail(body="first")[1],
        mail(sender="Broken <user@exa_mple.cn>", body="bad sender")[1],
        b"\r\n\r\nno headers at all",
        mail(body="last")[1],
    ]
    gated.gate.clear()  # everything submitted before the writer starts: one batch
    opener = threading.Timer(0.3, gated.gate.set)
    opener.start()
    outcomes = service.receive_mails(
        mail_context(platform), [service.Arrived(raw, recipient, None) for raw in raws]
    )
    opener.join()
    kinds = [o.kind if isinstance(o, service.Outcome) else repr(o) for o in outcomes]
    assert kinds == ["stored", "quarantined", "quarantined", "stored"]
    assert [m.body_text for m in stored(platform, org_a.org_id)] == ["first", "last"]
    with platform.read_uow() as uow:
        reasons = sorted(r.reason for r in uow.session.scalars(select(EmailQuarantineRow)))
    assert reasons[0].startswith("refused by intake") and reasons[1].startswith("unreadable")


def test_a_failed_mail_in_a_group_is_reported_and_the_others_stand(
    platform: Platform, gated: HeldUow, org_a: Org
) -> None:
    email_account(platform, org_a, A_ADDRESS)
    recipient = recipient_of(platform, A_ADDRESS)
    context = mail_context(platform)
    calls = 0

    def submit_failing_second(request: IntakeRequest) -> Future[IntakeResult]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OperationalError("INSERT", {}, Exception("disk full"))
        return context.submit(request)

    flaky = replace(context, submit=submit_failing_second)
    raws = [mail(body=f"mail {n}")[1] for n in range(3)]
    outcomes = service.receive_mails(flaky, [service.Arrived(r, recipient, None) for r in raws])
    assert isinstance(outcomes[0], service.Outcome) and outcomes[0].kind == "stored"
    assert isinstance(outcomes[1], OperationalError)
    assert isinstance(outcomes[2], service.Outcome) and outcomes[2].kind == "stored"
    assert [m.body_text for m in stored(platform, org_a.org_id)] == ["mail 0", "mail 2"]


def test_a_foreign_reference_to_a_mail_of_the_same_group_does_not_join_it(
    platform: Platform, gated: HeldUow, org_a: Org
) -> None:
    """The victim's mail and a stranger's quoting its Message-ID arrive in one group;
    the stranger's is decided only after the victim's commit (else the guard would find
    no owner yet and let it in). The victim's own reply in the same group joins."""
    email_account(platform, org_a, A_ADDRESS)
    recipient = recipient_of(platform, A_ADDRESS)
    victim_mid, victim = mail(body="victim")
    refs = {"In-Reply-To": f"<{victim_mid}>", "References": f"<{victim_mid}>"}
    _m, intruder = mail(sender="Mallory <mallory@evil.example>", body="intruder", headers=refs)
    _r, reply = mail(body="victim again", headers=refs)
    # The writer is held a moment, so that without the wait the intruder's thread would
    # surely be decided before the victim's mail is committed.
    gated.gate.clear()
    opener = threading.Timer(0.3, gated.gate.set)
    opener.start()
    outcomes = service.receive_mails(
        mail_context(platform),
        [service.Arrived(r, recipient, None) for r in (victim, intruder, reply)],
    )
    opener.join()
    assert all(isinstance(o, service.Outcome) and o.kind == "stored" for o in outcomes)
    by_body = {m.body_text: m.interaction_id for m in stored(platform, org_a.org_id)}
    assert by_body["victim again"] == by_body["victim"]
    assert by_body["intruder"] != by_body["victim"]


# -- a group decides as one mail at a time -----------------------------------------------

SENDERS = ["Wang <wang@example.cn>", "Li <li@example.cn>", "Mallory <m@evil.example>"]
# Each mail: (sender index, index of an earlier mail it answers or None, repeat of an
# earlier mail's bytes or None).
plan_of_mails = st.lists(
    st.tuples(
        st.integers(0, len(SENDERS) - 1),
        st.one_of(st.none(), st.integers(0, 7)),
        st.one_of(st.none(), st.integers(0, 7)),
    ),
    min_size=1,
    max_size=8,
)


def _raws(plan: list[tuple[int, int | None, int | None]], tag: str) -> list[bytes]:
    raws: list[bytes] = []
    mids: list[str] = []
    for number, (who, answers, repeats) in enumerate(plan):
        if repeats is not None and repeats < number:
            raws.append(raws[repeats])
            mids.append(mids[repeats])
            continue
        headers = {}
        if answers is not None and answers < number:
            headers = {"In-Reply-To": f"<{mids[answers]}>", "References": f"<{mids[answers]}>"}
        mid, raw = mail(
            sender=SENDERS[who],
            message_id=f"{tag}-{number}@example.cn",
            body=f"mail {number}",
            headers=headers,
        )
        raws.append(raw)
        mids.append(mid)
    return raws


def _grouping(outcomes: list[service.Outcome | Exception]) -> list[tuple[str, int]]:
    """Each outcome as (kind, index of the first mail of its conversation)."""
    first: dict[str | None, int] = {}
    shape = []
    for number, outcome in enumerate(outcomes):
        assert isinstance(outcome, service.Outcome), outcome
        shape.append((outcome.kind, first.setdefault(outcome.interaction_id, number)))
    return shape


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plan_of_mails)
def test_a_group_threads_as_one_mail_at_a_time(
    platform: Platform, plan: list[tuple[int, int | None, int | None]]
) -> None:
    one_by_one = _org_receiving(platform)
    together = _org_receiving(platform)
    tag = one_by_one.org_id[-8:]
    context = mail_context(platform)
    alone = [
        service.receive_mails(context, [service.Arrived(raw, one_by_one.recipient, None)])[0]
        for raw in _raws(plan, tag)
    ]
    grouped = service.receive_mails(
        context, [service.Arrived(raw, together.recipient, None) for raw in _raws(plan, tag)]
    )
    assert _grouping(grouped) == _grouping(alone)


class _Receiving:
    def __init__(self, org_id: str, recipient: service.Recipient) -> None:
        self.org_id = org_id
        self.recipient = recipient


def _org_receiving(platform: Platform) -> _Receiving:
    org = make_org(platform, f"o{new_id()[-12:]}")
    address = f"support@{org.org_id[-10:]}.example"
    email_account(platform, org, address)
    return _Receiving(org.org_id, recipient_of(platform, address))


def test_concurrent_sessions_share_a_commit_and_each_waits_for_it(
    platform: Platform, gated: HeldUow, receiver: SmtpReceiver, org_a: Org
) -> None:
    """Eight sessions deliver while the writer is held on the first mail: the others
    queue and are committed together, and no session is answered before its commit."""
    sessions = 8
    submitted = threading.Semaphore(0)
    submit = platform.intake.submit

    def counting(request: IntakeRequest) -> Future[IntakeResult]:
        future = submit(request)
        submitted.release()
        return future

    platform.intake.submit = counting  # type: ignore[method-assign]
    answered: list[BaseException | None] = []
    with smtp_receiver(PlatformMailSink(platform)) as server:
        gated.gate.clear()

        def deliver(number: int) -> None:
            try:
                send(server, mail(body=f"session {number}")[1], [A_ADDRESS])
                answered.append(None)
            except BaseException as exc:
                answered.append(exc)

        senders = [threading.Thread(target=deliver, args=(n,)) for n in range(sessions)]
        try:
            for sender in senders:
                sender.start()
            for _ in range(sessions):
                assert submitted.acquire(timeout=30), "a session's mail never reached intake"
            assert answered == [] and stored(platform, org_a.org_id) == []
            gated.gate.set()
            for sender in senders:
                sender.join(30)
        finally:
            gated.gate.set()
    assert answered == [None] * sessions
    assert len(stored(platform, org_a.org_id)) == sessions
    stats = platform.intake.stats()
    # What the writer took before it was held (the first mail, as a rule), then all
    # that queued meanwhile: at most two commits for the eight mails.
    assert stats.messages == sessions and stats.batches <= 2
