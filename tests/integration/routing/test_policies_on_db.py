"""Round robin and least occupied on the database, where the cycle is stateless: the
round-robin cursor must be persisted between cycles, and occupancy is measured from the
agents' recorded states. Each case is set up so that longest idle would choose
differently. Real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jietong.app.platform import Platform
from jietong.org.schemas import RoutingPolicy
from tests.integration.routing.world import World


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    yield World(platform)


def test_round_robin_takes_agents_in_turn_across_cycles(world: World) -> None:
    world.queue("rr", policy=RoutingPolicy.ROUND_ROBIN)
    for name in ("x", "y", "z"):
        world.agent(name)
    in_id_order = sorted(world.agents, key=lambda n: world.agents[n].user_id)
    # Longest idle would start with the first to log in: the last in id order.
    for name in reversed(in_id_order):
        world.login(name)
        world.advance(10)
    offered = []
    for _ in range(3):
        iid = world.arrive("rr")
        world.cycle()  # a fresh engine cycle each time: the cursor comes from the database
        chosen = world.offered_to(iid)
        assert chosen is not None
        offered.append(chosen)
        world.accept(chosen)
        world.advance(1)
    assert offered == in_id_order


def test_least_occupied_prefers_the_agent_who_worked_less(world: World) -> None:
    world.queue("lo", policy=RoutingPolicy.LEAST_OCCUPIED)
    world.agent("worked")
    world.agent("fresh")
    world.login("worked")
    first = world.arrive("lo")
    world.cycle()
    world.accept("worked")
    world.advance(100)
    world.finish("worked", first)  # busy 100 s, then free again
    world.cycle()
    assert world.state_of("worked") == "available"
    world.advance(50)
    world.login("fresh")  # idle for a shorter time than 'worked', but never busy
    world.advance(50)
    second = world.arrive("lo")
    world.cycle()
    assert world.offered_to(second) == "fresh"
