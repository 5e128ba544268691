"""The committer's writer publishes after each batch when asked (the server does so on
SQLite, where the relay and the writer share one write lock): every event of an
acknowledged message is on the bus by the time the next batch starts, and a failing
publisher does not stop storing."""

from __future__ import annotations

import threading

from jietong.app.platform import Platform
from jietong.events.base import Envelope
from jietong.interactions import intake
from jietong.interactions.committer import IntakeCommitter, IntakeRequest
from tests.conftest import Tenant
from tests.integration.channels.factories import inbound


def request(tenant: Tenant, external_id: str) -> IntakeRequest:
    message = inbound(tenant, sender="+8613800138000", external_id=external_id)
    return IntakeRequest(intake.prepare(message, blobs=None), default_region="CN")


def test_events_of_a_batch_are_published_before_the_next_batch(
    platform: Platform, tenant_a: Tenant
) -> None:
    seen: list[str] = []
    platform.bus.subscribe(lambda envelope: seen.append(envelope.event_type))
    committer = IntakeCommitter(platform.uow)
    committer.publish_after_batch(platform.relay.relay_all)
    try:
        first = committer.receive(request(tenant_a, "pub-1"))
        second = committer.receive(request(tenant_a, "pub-2"))
        # receive() returns at the commit; the publication follows in the same thread,
        # before the writer takes the next batch: by the second answer, the first's
        # events are out.
        assert seen.count("InboundMessageReceived") >= 1
    finally:
        committer.close()  # waits for the writer, so for the second batch's publication
    assert not first.duplicate and not second.duplicate
    assert seen.count("InboundMessageReceived") == 2
    assert platform.relay.relay_all() == 0  # nothing left behind


def test_a_failing_publisher_does_not_stop_storing(platform: Platform, tenant_a: Tenant) -> None:
    calls = threading.Semaphore(0)

    def broken() -> None:
        calls.release()
        raise RuntimeError("bus down")

    received: list[Envelope] = []
    platform.bus.subscribe(received.append)
    committer = IntakeCommitter(platform.uow)
    committer.publish_after_batch(broken)
    try:
        results = [committer.receive(request(tenant_a, f"broken-{n}")) for n in range(3)]
    finally:
        committer.close()
    assert [r.duplicate for r in results] == [False, False, False]
    assert all(calls.acquire(timeout=10) for _ in range(3))
    assert received == []  # nothing was published, yet everything was stored
    assert platform.relay.relay_all() >= 3  # and the relay's own pass publishes it


def test_a_batch_the_writer_publishes_does_not_wake_the_relay_task(
    platform: Platform, tenant_a: Tenant
) -> None:
    """The relay task would only look for events the writer is about to publish; without
    a publisher, a commit wakes it as every other writer's does."""
    platform.events_pending.clear()
    publishing = IntakeCommitter(platform.uow)
    publishing.publish_after_batch(platform.relay.relay_all)
    try:
        publishing.receive(request(tenant_a, "quiet-1"))
    finally:
        publishing.close()
    assert not platform.events_pending.is_set()
    assert platform.relay.relay_all() == 0  # published by the writer, not left behind

    plain = IntakeCommitter(platform.uow)
    try:
        plain.receive(request(tenant_a, "announced-1"))
    finally:
        plain.close()
    assert platform.events_pending.is_set()
    assert platform.relay.relay_all() >= 1
