"""Races, with real threads on SQLite and PostgreSQL: an offer is answered exactly once,
and two agents never get the same interaction, whoever races whom (double clicks, accept
against the ring timeout, a supervisor reassigning, two engine processes deciding)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from jietong.agents.model import DEFAULT_RULES
from jietong.app.platform import Platform
from jietong.core.errors import JietongError
from jietong.core.tenancy import Role
from jietong.routing import offers, supervision
from jietong.routing.engine import run_cycle
from jietong.routing.model import QueueSettings
from jietong.storage.tables import InteractionRow, ParticipantRow
from jietong.storage.tables_routing import RoutingOfferRow
from tests.integration.routing.world import World

THREADS = 6


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    yield World(platform)


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same instant in threads; results or the domain errors raised.
    Any other exception fails the test (a 500 in production)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except JietongError as error:
            results[i] = error
        except BaseException as error:
            results[i] = ("unexpected", error)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    unexpected = [r for r in results if isinstance(r, tuple) and r and r[0] == "unexpected"]
    assert not unexpected, unexpected
    return results


def agents_connected(world: World, iid: str) -> int:
    with world.uow() as uow:
        return int(
            uow.session.scalar(
                select(func.count()).where(
                    ParticipantRow.interaction_id == iid, ParticipantRow.role == "agent"
                )
            )
            or 0
        )


def test_many_clicks_on_accept_win_once(world: World) -> None:
    world.queue("sales")
    world.agent("a")
    world.login("a")
    iid = world.arrive("sales")
    world.cycle()
    offer = world.offer_of("a")
    assert offer is not None

    def accept() -> Any:
        with world.uow() as uow:
            return offers.accept_offer(uow, world.agents["a"], offer.id, now=world.now)

    results = race(*[accept] * THREADS)

    assert sum(isinstance(r, offers.OfferView) for r in results) == 1
    losers = [r for r in results if not isinstance(r, offers.OfferView)]
    assert all(isinstance(r, offers.OfferNotPending) for r in losers), losers
    assert world.interaction(iid).state == "connected"
    assert agents_connected(world, iid) == 1


def test_accept_racing_the_ring_timeout_has_one_winner(world: World) -> None:
    world.queue("sales", settings=QueueSettings(ring_timeout_seconds=10))
    world.agent("a")
    world.login("a")
    iids = [world.arrive("sales") for _ in range(3)]
    outcomes = []
    for iid in iids:
        world.cycle()
        offer = world.offer_of("a")
        assert offer is not None and offer.interaction_id == iid
        at_deadline = offer.expires_at

        def accept(offer_id: str = offer.id, at: datetime = at_deadline) -> Any:
            just_before = at - timedelta(milliseconds=1)  # still ringing: may be accepted
            with world.uow(just_before) as uow:
                return offers.accept_offer(uow, world.agents["a"], offer_id, now=just_before)

        def expire(offer_id: str = offer.id, at: datetime = at_deadline) -> Any:
            with world.uow(at) as uow:
                return offers.expire_offer(uow, offer_id, world.org_id, DEFAULT_RULES, now=at)

        accepted, expired = race(accept, expire)
        row = world.interaction(iid)
        if isinstance(accepted, offers.OfferView):
            assert expired is False and row.state == "connected"
            world.finish("a", iid)
        else:
            assert expired is True and row.state == "queued"
            world.fire(iid, "abandon")
        outcomes.append(row.state)
        world.advance(20)
        world.cycle()
    assert outcomes  # every round had exactly one winner (asserted above)


def test_a_reassignment_racing_an_accept_leaves_one_agent(world: World) -> None:
    world.queue("sales")
    world.agent("a")
    world.agent("b")
    boss = world.agent("boss", role=Role.SUPERVISOR)
    world.login("a", "b")
    iid = world.arrive("sales")
    world.cycle()
    first = world.offered_to(iid)
    assert first is not None
    other = "b" if first == "a" else "a"
    offer = world.offer_of(first)
    assert offer is not None

    def accept() -> Any:
        with world.uow() as uow:
            return offers.accept_offer(uow, world.agents[first], offer.id, now=world.now)

    def reassign() -> Any:
        with world.uow() as uow:
            return supervision.assign_interaction(
                uow, boss, iid, world.agents[other].user_id, now=world.now
            )

    race(accept, reassign)
    row = world.interaction(iid)
    with world.uow() as uow:
        pending = uow.session.scalar(
            select(func.count()).where(
                RoutingOfferRow.interaction_id == iid, RoutingOfferRow.state == "pending"
            )
        )
        accepted = uow.session.scalar(
            select(func.count()).where(
                RoutingOfferRow.interaction_id == iid, RoutingOfferRow.state == "accepted"
            )
        )
    assert (pending or 0) + (accepted or 0) == 1
    assert row.assigned_user_id in (world.agents["a"].user_id, world.agents["b"].user_id)
    assert agents_connected(world, iid) <= 1


def test_two_engines_deciding_at_once_never_offer_twice(world: World) -> None:
    world.queue("sales")
    for name in ("a", "b", "c"):
        world.agent(name)
    world.login("a", "b", "c")
    iids = [world.arrive("sales") for _ in range(5)]
    world.advance(1)

    def engine() -> Any:
        return run_cycle(world.uow, world.org_id, now=world.now)

    race(engine, engine, engine)

    with world.uow() as uow:
        rows = uow.session.scalars(
            select(RoutingOfferRow).where(RoutingOfferRow.state == "pending")
        ).all()
        interactions = uow.session.scalars(
            select(InteractionRow).where(InteractionRow.id.in_(iids))
        ).all()
    assert len(rows) == 3  # one per agent
    assert len({r.interaction_id for r in rows}) == 3
    assert len({r.agent_id for r in rows}) == 3
    offered = [i for i in interactions if i.state == "offered"]
    assert {(i.id, i.assigned_user_id) for i in offered} == {
        (r.interaction_id, r.agent_id) for r in rows
    }
