"""The engine's runtime: one leader per database, the wallboard's queue figures emitted
when they change, and a dead local leader replaced at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from jietong.app.platform import Platform
from jietong.app.routing_runtime import LEASE_NAME, RoutingRuntime, holder_is_dead
from jietong.routing import store
from jietong.storage.tables import OutboxRow
from tests.integration.routing.world import World


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    yield World(platform)


def test_one_leader_at_a_time_and_the_lease_passes_on_release(world: World) -> None:
    first, second = RoutingRuntime(), RoutingRuntime()
    first.attach(world.platform)
    second.attach(world.platform)
    assert first.step(world.now) is not None and first.is_leader
    assert second.step(world.now) is None and not second.is_leader
    first._release()  # what stop() does
    assert second.step(world.now) is not None and second.is_leader
    world.advance(60)  # the lease runs out without renewal
    assert first.step(world.now) is not None and first.is_leader


def test_a_lease_held_by_a_dead_local_process_is_taken_over(world: World) -> None:
    runtime = RoutingRuntime()
    runtime.attach(world.platform)
    dead = runtime.holder.split(":")[0] + ":999999:deadbeef"
    assert holder_is_dead(dead)
    assert not holder_is_dead("elsewhere:1:x") and not holder_is_dead(runtime.holder)
    with world.uow() as uow:
        until = world.now.replace(year=world.now.year + 1)
        assert store.take_lease(uow.session, LEASE_NAME, dead, world.now, until)
        uow.session.commit()
    assert runtime.step(world.now) is not None and runtime.is_leader


def test_queue_figures_are_emitted_when_they_change(world: World) -> None:
    world.queue("sales")
    runtime = RoutingRuntime()
    runtime.attach(world.platform)
    world.arrive("sales")
    runtime.step(world.now)
    runtime.step(world.now)  # nothing changed: nothing emitted again
    world.arrive("sales")
    runtime.step(world.now)
    with world.uow() as uow:
        figures = [
            (row.payload["waiting"], row.payload["offered"])
            for row in uow.session.scalars(
                select(OutboxRow)
                .where(OutboxRow.event_type == "QueueStatsChanged")
                .order_by(OutboxRow.seq)
            )
        ]
    assert figures == [(1, 0), (2, 0)]
