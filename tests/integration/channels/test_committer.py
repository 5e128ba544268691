"""The intake committer (group commit) against real databases: every acknowledgement
implies a committed row, batches really form, a poisoned message fails alone, duplicates
in one batch are stored once, and read-only units of work do not wait for writers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, event, func, select

from jietong.app.platform import Platform
from jietong.channels.base import InboundMessage
from jietong.core.errors import InvalidInput, RateLimited
from jietong.core.ids import new_id
from jietong.interactions import intake
from jietong.interactions.committer import IntakeCommitter, IntakeRequest
from jietong.interactions.intake import IntakeResult
from jietong.storage.tables import AuditRow, ContactPointRow, MessageRow, OutboxRow
from jietong.storage.tables_channels import MessageSourceRow
from jietong.storage.uow import ReadOnlyViolation, UnitOfWork
from tests.conftest import Tenant
from tests.integration.channels.factories import inbound, receive

BAD_SENDER = "not a phone number"


class Gate:
    """Holds the committer's writer before its first transaction, so that the messages
    submitted meanwhile queue up and are taken together (a real batch, not a hope)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.open = threading.Event()
        self.waiting = threading.Event()  # the writer took its first batch and waits

    def new_uow(self) -> UnitOfWork:
        self.waiting.set()
        assert self.open.wait(30), "the test never opened the gate"
        return self.platform.uow()


@contextmanager
def gated_committer(platform: Platform) -> Iterator[tuple[IntakeCommitter, Gate]]:
    gate = Gate(platform)
    committer = IntakeCommitter(gate.new_uow)
    try:
        yield committer, gate
    finally:
        gate.open.set()
        committer.close()


def request(tenant: Tenant, *, sender: str, external_id: str) -> IntakeRequest:
    message = inbound(tenant, sender=sender, external_id=external_id, raw=b"Body=" + b"x" * 40)
    return IntakeRequest(intake.prepare(message, blobs=None), default_region="CN")


def stored_ids(platform: Platform, prefix: str) -> list[tuple[str, str | None]]:
    with platform.sessions() as session:
        rows = session.execute(
            select(MessageRow.id, MessageRow.external_id).where(
                MessageRow.external_id.like(f"{prefix}%")
            )
        )
        return [(r.id, r.external_id) for r in rows]


def outcome(future: Future[IntakeResult]) -> IntakeResult | BaseException:
    try:
        return future.result(timeout=60)
    except Exception as exc:
        return exc


def test_messages_arriving_together_share_one_commit(platform: Platform, tenant_a: Tenant) -> None:
    commits = 0

    def count(_conn: object) -> None:
        nonlocal commits
        commits += 1

    with gated_committer(platform) as (committer, gate):
        first = committer.submit(request(tenant_a, sender="13800138000", external_id="g-0"))
        assert gate.waiting.wait(30)
        rest = [
            committer.submit(request(tenant_a, sender=f"1380013{i:04d}", external_id=f"g-{i}"))
            for i in range(1, 20)
        ]
        event.listen(platform.engine, "commit", count)  # database commits, not savepoints
        try:
            gate.open.set()
            results = [f.result(timeout=60) for f in [first, *rest]]
        finally:
            event.remove(platform.engine, "commit", count)
        stats = committer.stats()

    assert all(not r.duplicate for r in results)
    assert stats.messages == 20 and stats.largest_batch == 19
    assert commits == stats.batches == 2, "the queued messages were not committed together"
    assert len(stored_ids(platform, "g-")) == 20


def test_a_message_failing_in_a_batch_fails_alone(platform: Platform, tenant_a: Tenant) -> None:
    with gated_committer(platform) as (committer, gate):
        good = [
            committer.submit(request(tenant_a, sender=f"1390013{i:04d}", external_id=f"p-{i}"))
            for i in range(5)
        ]
        bad = committer.submit(request(tenant_a, sender=BAD_SENDER, external_id="p-bad"))
        more = committer.submit(request(tenant_a, sender="13900139999", external_id="p-9"))
        gate.open.set()
        results = [outcome(f) for f in [*good, more]]
        failed = outcome(bad)

    assert isinstance(failed, InvalidInput)
    assert all(isinstance(r, IntakeResult) for r in results)
    assert sorted(e for _id, e in stored_ids(platform, "p-") if e) == sorted(
        [*(f"p-{i}" for i in range(5)), "p-9"]
    )


def test_a_message_failing_half_way_is_undone_and_fails_alone(
    platform: Platform, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch stages without savepoints: a message failing after its first writes spoils
    the transaction, the batch is redone one by one, and only that message fails — none
    of its rows (customer, conversation) survive."""
    real_emit = intake._emit

    def emit(uow: UnitOfWork, message: InboundMessage, *args: Any, **kwargs: Any) -> None:
        if message.external_id == "h-bad":
            raise RuntimeError("failed half-way")
        real_emit(uow, message, *args, **kwargs)

    monkeypatch.setattr(intake, "_emit", emit)
    with gated_committer(platform) as (committer, gate):
        opening = committer.submit(request(tenant_a, sender="13300133000", external_id="h-0"))
        assert gate.waiting.wait(30)
        futures = [
            committer.submit(request(tenant_a, sender=f"1330013300{i}", external_id=f"h-{i}"))
            for i in (1, 2)
        ]
        bad = committer.submit(request(tenant_a, sender="13300133999", external_id="h-bad"))
        gate.open.set()
        results = [outcome(f) for f in [opening, *futures]]
        failed = outcome(bad)
        stats = committer.stats()

    assert isinstance(failed, RuntimeError)
    assert all(isinstance(r, IntakeResult) and not r.duplicate for r in results)
    assert stats.retried_alone == 3
    assert sorted(e for _id, e in stored_ids(platform, "h-") if e) == ["h-0", "h-1", "h-2"]
    with platform.sessions() as session:
        orphan = session.scalar(
            select(func.count())
            .select_from(ContactPointRow)
            .where(ContactPointRow.value == "+8613300133999")
        )
    assert orphan == 0, "the failed message's new customer was kept"


def test_a_message_that_breaks_the_commit_fails_alone_after_a_retry(
    platform: Platform, tenant_a: Tenant
) -> None:
    """A commit can fail for a reason only the database sees at the end (a deferred
    constraint, a serialisation failure). Simulated here by refusing any commit that
    carries the poisoned message: the batch is retried one message per transaction."""

    poisoned = threading.Event()  # the poisoned message is in the open transaction

    def mark_poison(_conn: object, _cursor: object, _sql: str, params: object, *_: object) -> None:
        if "c-bad" in repr(params):  # a statement of this transaction carries it
            poisoned.set()

    def refuse_poison(conn: Connection) -> None:  # the database's COMMIT, not a savepoint's
        if poisoned.is_set():
            poisoned.clear()
            # As a database refusing a COMMIT does: the transaction is gone, then the error.
            conn.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
            raise RuntimeError("the database refused this transaction")

    event.listen(platform.engine, "before_cursor_execute", mark_poison)
    event.listen(platform.engine, "commit", refuse_poison)
    try:
        with gated_committer(platform) as (committer, gate):
            futures = [
                committer.submit(request(tenant_a, sender=f"1370013{i:04d}", external_id=f"c-{i}"))
                for i in range(6)
            ]
            bad = committer.submit(request(tenant_a, sender="13700139999", external_id="c-bad"))
            gate.open.set()
            results = [outcome(f) for f in futures]
            failed = outcome(bad)
            stats = committer.stats()
    finally:
        event.remove(platform.engine, "commit", refuse_poison)
        event.remove(platform.engine, "before_cursor_execute", mark_poison)

    assert isinstance(failed, RuntimeError)
    assert all(isinstance(r, IntakeResult) and not r.duplicate for r in results), results
    assert stats.retried_alone >= 2
    assert sorted(e for _id, e in stored_ids(platform, "c-") if e) == [f"c-{i}" for i in range(6)]


def test_a_full_queue_refuses_with_429_and_stores_what_it_took(
    platform: Platform, tenant_a: Tenant
) -> None:
    gate = Gate(platform)
    committer = IntakeCommitter(gate.new_uow, max_pending=2)
    try:
        taken = committer.submit(request(tenant_a, sender="13200132000", external_id="q-0"))
        assert gate.waiting.wait(30)  # the writer holds q-0; the queue is empty again
        queued = [
            committer.submit(request(tenant_a, sender="13200132001", external_id=f"q-{i}"))
            for i in (1, 2)
        ]
        with pytest.raises(RateLimited) as refused:
            committer.submit(request(tenant_a, sender="13200132001", external_id="q-3"))
        assert refused.value.retry_after_seconds >= 1
        gate.open.set()
        assert all(not f.result(timeout=60).duplicate for f in [taken, *queued])
    finally:
        gate.open.set()
        committer.close()
    assert sorted(e for _id, e in stored_ids(platform, "q-") if e) == ["q-0", "q-1", "q-2"]


def test_duplicates_in_one_batch_are_stored_once(platform: Platform, tenant_a: Tenant) -> None:
    with gated_committer(platform) as (committer, gate):
        futures = [
            committer.submit(request(tenant_a, sender="13600136000", external_id="d-1"))
            for _ in range(4)
        ]
        gate.open.set()
        results = [f.result(timeout=60) for f in futures]

    assert [r.duplicate for r in results] == [False, True, True, True]
    assert len({r.message_id for r in results}) == 1
    assert stored_ids(platform, "d-") == [(results[0].message_id, "d-1")]
    with platform.sessions() as session:
        received = session.scalar(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.event_type == "InboundMessageReceived")
        )
    assert received == 1, "a duplicate must not announce the message again"


def test_a_duplicate_committed_meanwhile_is_answered_with_the_stored_message(
    platform: Platform, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process stores the same external id after the batch looked for it: the
    batch's insert meets the UNIQUE constraint at its commit, the batch is retried one
    message at a time, and the repeat is answered with the message stored first."""
    first = receive(platform, inbound(tenant_a, sender="13400134000", external_id="r-1"))
    monkeypatch.setattr(intake, "stored_external_ids", lambda _uow, _messages: set())
    with gated_committer(platform) as (committer, gate):
        opening = committer.submit(request(tenant_a, sender="13400134009", external_id="r-0"))
        assert gate.waiting.wait(30)
        futures = [
            committer.submit(request(tenant_a, sender=f"1340013400{i}", external_id=f"r-{i}"))
            for i in (1, 2, 3)
        ]
        gate.open.set()
        results = [f.result(timeout=60) for f in [opening, *futures]]
        stats = committer.stats()

    assert [r.duplicate for r in results] == [False, True, False, False]
    assert results[1].message_id == first.message_id
    assert stats.retried_alone == 3
    assert sorted(e for _id, e in stored_ids(platform, "r-") if e) == ["r-0", "r-1", "r-2", "r-3"]


# Each example: messages from a few senders (some repeated deliveries, some with an
# invalid sender), submitted from several threads in an order hypothesis picks.
deliveries = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 3), st.booleans()), min_size=1, max_size=25
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=deliveries, threads=st.integers(1, 4))
def test_every_acknowledgement_implies_a_committed_row(
    platform: Platform, tenant_a: Tenant, plan: list[tuple[int, int, bool]], threads: int
) -> None:
    run = new_id()[-10:]
    requests = [
        request(
            tenant_a,
            sender=BAD_SENDER if bad and message % 2 else f"1350013{sender:04d}",
            external_id=f"{run}-{message}",
        )
        for message, sender, bad in plan
    ]
    outcomes: list[tuple[IntakeRequest, IntakeResult | BaseException]] = []
    lock = threading.Lock()

    def worker(part: list[IntakeRequest]) -> None:
        for req in part:
            result = outcome(platform.intake.submit(req))
            with lock:
                outcomes.append((req, result))

    parts = [requests[i::threads] for i in range(threads)]
    runners = [threading.Thread(target=worker, args=(p,)) for p in parts]
    for t in runners:
        t.start()
    for t in runners:
        t.join(60)

    stored = {e: i for i, e in stored_ids(platform, f"{run}-")}
    assert len(outcomes) == len(requests)
    for req, result in outcomes:
        message = req.prepared.message
        if isinstance(result, IntakeResult):
            # Acknowledged: committed, under the id the caller was given.
            assert stored.get(message.external_id) == result.message_id
        else:
            assert isinstance(result, InvalidInput) and message.sender.address == BAD_SENDER
    # Each external id once, whatever the order and the repeats.
    assert len(stored) == len(stored_ids(platform, f"{run}-"))
    with platform.sessions() as session:
        sources = session.scalar(
            select(func.count())
            .select_from(MessageSourceRow)
            .where(MessageSourceRow.message_id.in_(list(stored.values())))
        )
    assert sources == len(stored), "a message was committed without its raw source"


# -- read-only units of work ----------------------------------------------------------------


def test_a_read_only_unit_of_work_refuses_writes(platform: Platform, tenant_a: Tenant) -> None:
    with platform.read_uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(MessageRow)) == 0
        uow.session.add(OutboxRow(event_id=new_id(), org_id=tenant_a.org_id))
        with pytest.raises(ReadOnlyViolation):
            uow.session.flush()
    with platform.read_uow() as uow, pytest.raises(ReadOnlyViolation):
        uow.audit(tenant_a.admin, "x", "y", "z")


def test_a_reader_does_not_wait_for_a_writer(platform: Platform, tenant_a: Tenant) -> None:
    """On SQLite a writer holds the one write lock from BEGIN to COMMIT; a read-only unit
    of work begins DEFERRED and reads the last committed state meanwhile. (A reader that
    began IMMEDIATE would wait here for the busy timeout.)"""
    finished = threading.Event()
    seen: list[int] = []
    held = select(func.count()).select_from(AuditRow).where(AuditRow.action == "test.held")

    def read() -> None:
        with platform.read_uow() as uow:
            seen.append(uow.session.scalar(held) or 0)
        finished.set()

    with platform.uow() as writer:
        writer.audit(tenant_a.admin, "test.held", "test", "1")
        writer.session.flush()  # SQLite: the write lock is held from BEGIN IMMEDIATE on
        reader = threading.Thread(target=read)
        reader.start()
        assert finished.wait(10), "the read-only unit of work waited for the writer"
        reader.join()
        writer.commit()
    assert seen == [0], "the reader saw an uncommitted row"


# -- the batch path decides as the one-message path does -----------------------------------

messages_plan = st.lists(
    st.tuples(
        st.integers(0, 2),  # sender
        st.sampled_from([None, "k1", "k2"]),  # thread key
        st.integers(0, 12),  # external id (repeats are redeliveries)
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=messages_plan)
def test_a_batch_threads_and_identifies_as_one_message_at_a_time(
    platform: Platform, tenant_a: Tenant, tenant_b: Tenant, plan: list[tuple[int, str | None, int]]
) -> None:
    """The same deliveries, stored one per transaction for one organisation and as one
    batch (look-ups prefetched, no savepoints, deferred inserts) for another, group into
    the same customers and conversations, with the same duplicates and openings."""
    run = new_id()[-10:]
    block = int(run, 16) % 100_000  # senders of their own: examples share the database

    def message(tenant: Tenant, sender: int, key: str | None, ext: int) -> InboundMessage:
        return inbound(
            tenant,
            sender=f"13{block:05d}{sender:04d}",
            external_id=f"{run}-{ext}",
            thread_key=None if key is None else f"{run}-{key}",
        )

    alone = [receive(platform, message(tenant_a, *item)) for item in plan]
    with gated_committer(platform) as (committer, gate):
        opening = committer.submit(request(tenant_b, sender="13100131000", external_id=run))
        assert gate.waiting.wait(30)
        futures = [
            committer.submit(
                IntakeRequest(
                    intake.prepare(message(tenant_b, *item), blobs=None), default_region="CN"
                )
            )
            for item in plan
        ]
        gate.open.set()
        opening.result(timeout=60)
        batched = [f.result(timeout=60) for f in futures]
        largest = committer.stats().largest_batch

    assert largest == len(plan)

    def shape(results: list[IntakeResult]) -> list[tuple[int, int, bool, bool]]:
        """Each result as (first index with its conversation, first index with its
        customer, duplicate, opened): ids differ between the runs, the grouping may not."""
        conversations = [r.interaction_id for r in results]
        customers = [r.customer_id for r in results]
        return [
            (
                conversations.index(r.interaction_id),
                customers.index(r.customer_id),
                r.duplicate,
                r.opened_interaction,
            )
            for r in results
        ]

    assert shape(batched) == shape(alone), plan
