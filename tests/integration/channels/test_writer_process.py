"""The intake writer in a process of its own (`ProcessCommitter`): messages are stored
and answered after their commit, a bad one fails alone with its own error, duplicates
are answered as such, the server's relay publishes what was stored, and a writer process
that dies leaves no caller waiting and is replaced."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

from jietong.app.platform import Platform
from jietong.core.errors import InvalidInput
from jietong.core.ids import new_id
from jietong.events.base import Envelope
from jietong.events.catalogue import CustomerCreated
from jietong.interactions.committer import CommitterClosed
from jietong.interactions.intake import IntakeResult
from jietong.interactions.writer_process import ProcessCommitter
from tests.conftest import Tenant
from tests.integration.channels.test_committer import BAD_SENDER, outcome, request, stored_ids


@pytest.fixture
def committer(platform: Platform) -> Iterator[ProcessCommitter]:
    writer = ProcessCommitter(
        platform.settings.effective_database_url, after_commit=platform.events_pending.set
    )
    yield writer
    writer.close()


def test_messages_are_stored_and_answered_after_their_commit(
    platform: Platform, tenant_a: Tenant, committer: ProcessCommitter
) -> None:
    futures = [
        committer.submit(request(tenant_a, sender=f"1390013{i:04d}", external_id=f"w-{i}"))
        for i in range(20)
    ]
    bad = committer.submit(request(tenant_a, sender=BAD_SENDER, external_id="w-bad"))
    results = [outcome(f) for f in futures]
    failed = outcome(bad)

    assert all(isinstance(r, IntakeResult) and not r.duplicate for r in results)
    assert isinstance(failed, InvalidInput)  # its own error, carried across the pipe
    stored = dict((e, i) for i, e in stored_ids(platform, "w-"))
    assert sorted(stored) == sorted(f"w-{i}" for i in range(20))
    assert {r.message_id for r in results if isinstance(r, IntakeResult)} == set(stored.values())

    again = committer.receive(request(tenant_a, sender="13900130003", external_id="w-3"))
    assert again.duplicate and again.message_id == stored["w-3"]
    assert committer.stats().messages == 22


def test_what_the_writer_stored_is_published_by_the_servers_relay(
    platform: Platform, tenant_a: Tenant, committer: ProcessCommitter
) -> None:
    published = threading.Event()

    def seen(envelope: Envelope) -> None:
        if envelope.event_type == "InboundMessageReceived":
            published.set()

    platform.bus.subscribe(seen)
    committer.publish_after_batch(platform.relay.relay_all)
    committer.receive(request(tenant_a, sender="13900131111", external_id="pub-w"))
    assert published.wait(10), "the stored message's event never reached the bus"


def test_a_dead_writer_leaves_no_caller_waiting_and_is_replaced(
    platform: Platform, tenant_a: Tenant, committer: ProcessCommitter
) -> None:
    committer.receive(request(tenant_a, sender="13900132000", external_id="d-0"))  # started
    child = committer._child
    assert child is not None and child.process.pid is not None
    in_flight = [
        committer.submit(request(tenant_a, sender=f"1390014{i:04d}", external_id=f"d-{i + 1}"))
        for i in range(30)
    ]
    os.kill(child.process.pid, signal.SIGKILL)
    outcomes = [outcome(f) for f in in_flight]  # each answered, none left hanging
    assert all(isinstance(o, IntakeResult | CommitterClosed) for o in outcomes)
    child.reader.join(10)

    after = committer.receive(request(tenant_a, sender="13900133000", external_id="d-after"))
    assert not after.duplicate
    assert committer._child is not None and committer._child.process.pid != child.process.pid
    # A message answered before the kill is stored; one failed with CommitterClosed may
    # or may not be (its sender's retry is answered as a duplicate if it was).
    stored = {e for _i, e in stored_ids(platform, "d-")}
    answered = {f"d-{i + 1}" for i, o in enumerate(outcomes) if isinstance(o, IntakeResult)}
    assert answered | {"d-0", "d-after"} <= stored


def test_the_child_relays_its_batches_and_other_writers_events_in_order(
    platform: Platform, tenant_a: Tenant
) -> None:
    """Given the server's bus, the child is the one relay: what it stored and, when woken,
    what other writers committed reach the bus once each, in publication order."""
    platform.relay.relay_all()  # an empty outbox to start from
    seen: list[Envelope] = []
    arrived = threading.Condition()

    def collect(envelope: Envelope) -> None:
        with arrived:
            seen.append(envelope)
            arrived.notify_all()

    def wait_for(event_type: str) -> None:
        with arrived:
            assert arrived.wait_for(lambda: any(e.event_type == event_type for e in seen), 10)

    platform.bus.subscribe(collect)
    writer = ProcessCommitter(platform.settings.effective_database_url, publish_to=platform.bus)
    try:
        assert writer.relays
        writer.receive(request(tenant_a, sender="13900135000", external_id="rel-1"))
        wait_for("InboundMessageReceived")
        with platform.uow() as uow:  # another writer (an agent's request, say)
            uow.emit(
                CustomerCreated(org_id=tenant_a.org_id, customer_id=new_id(), display_name="乙")
            )
            uow.commit(announce=False)
        writer.wake_relay()
        wait_for("CustomerCreated")
        writer.receive(request(tenant_a, sender="13900135001", external_id="rel-2"))
        with arrived:
            assert arrived.wait_for(
                lambda: sum(e.event_type == "InboundMessageReceived" for e in seen) == 2, 10
            )
    finally:
        writer.close()
    ids = [e.event_id for e in seen]
    assert len(ids) == len(set(ids))
    seqs = [e.seq for e in seen]
    assert all(seq is not None for seq in seqs) and seqs == sorted(seqs)  # type: ignore[type-var]
    assert platform.relay.relay_all() == 0  # nothing left unpublished
