"""One commit per engine decision; moves that carry the interaction's queue and team;
calls queued by the engine and offer events voice can ring a phone from. Real SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select

from jietong.app.platform import Platform
from jietong.core.errors import IllegalTransition, InvalidInput
from jietong.core.tenancy import Role
from jietong.interactions import service as interactions
from jietong.interactions.model import Channel
from jietong.interactions.schemas import InteractionCreate
from jietong.interactions.service import transition_interaction_uncommitted
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate
from jietong.routing import offers, supervision
from jietong.routing.configuration import settings_of_org
from jietong.routing.engine import decide
from jietong.routing.entries import sync_entries
from jietong.routing.model import OverflowStep, QueueSettings
from jietong.storage.tables import AuditRow, OutboxRow, TransitionRow
from jietong.storage.tables_routing import RoutingOfferRow
from tests.integration.routing.world import World


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    yield World(platform)


def events_of(world: World, event_type: str) -> list[dict[str, Any]]:
    with world.uow() as uow:
        rows = uow.session.scalars(
            select(OutboxRow)
            .where(OutboxRow.org_id == world.org_id, OutboxRow.event_type == event_type)
            .order_by(OutboxRow.seq)
        ).all()
        return [dict(row.payload) for row in rows]


def audits_of(world: World, action: str, entity_id: str) -> list[dict[str, Any]]:
    with world.uow() as uow:
        rows = uow.session.scalars(
            select(AuditRow).where(AuditRow.action == action, AuditRow.entity_id == entity_id)
        ).all()
        return [dict(row.changes) for row in rows]


def other_team_queue(world: World, name: str) -> tuple[str, str]:
    team = world.team(f"{name}-team")
    with world.uow() as uow:
        queue = org_service.create_queue(
            uow, world.system, QueueCreate(name=name, channels=["call", "chat"], team_id=team)
        )
    world.queues[name] = queue.id
    return queue.id, team


# --- one commit per decision -------------------------------------------------------------


def test_a_decision_commits_all_its_offers_at_once(world: World, platform: Platform) -> None:
    world.queue("sales")
    for name in ("a", "b", "c"):
        world.agent(name)
        world.login(name)
    iids = [world.arrive("sales") for _ in range(3)]
    # Bring entries in step first (the cycle's own earlier steps), then count the
    # decision's commits alone.
    with world.uow() as uow:
        sync_entries(uow, world.org_id, settings_of_org(uow, world.org_id), now=world.now)
    commits: list[int] = []
    listener = lambda _conn: commits.append(1)  # noqa: E731
    event.listen(platform.engine, "commit", listener)
    try:
        with world.uow() as uow:
            made = decide(uow, world.org_id, settings_of_org(uow, world.org_id), now=world.now)
    finally:
        event.remove(platform.engine, "commit", listener)
    assert made == 3
    assert len(commits) == 1
    assert sorted(filter(None, (world.offered_to(i) for i in iids))) == ["a", "b", "c"]
    assert len(events_of(world, "OfferCreated")) == 3


def test_a_refused_offer_in_a_batch_undoes_only_itself(world: World) -> None:
    world.queue("sales")
    world.agent("a")
    world.agent("b")
    world.login("a", "b")
    first = world.arrive("sales")
    second = world.arrive("sales")
    world.cycle()  # entries made; both offered
    for name in ("a", "b"):
        world.decline(name)
    world.advance(61)  # past the re-offer cool-down
    entry_first, entry_second = world.entry(first), world.entry(second)
    with world.uow() as uow:
        made = offers.offer_entry(
            uow,
            world.org_id,
            entry_first.id,
            world.agents["a"].user_id,
            ring_seconds=20,
            now=world.now,
            commit=False,
        )
        # The same agent again: refused (one pending offer per agent), in its savepoint.
        refused = offers.offer_entry(
            uow,
            world.org_id,
            entry_second.id,
            world.agents["a"].user_id,
            ring_seconds=20,
            now=world.now,
            commit=False,
        )
        uow.commit()
    assert made is not None and refused is None
    assert world.offered_to(first) == "a"
    assert world.interaction(second).state == "queued"
    assert world.entry(second).state == "waiting"


def test_the_uncommitted_move_leaves_what_the_service_leaves(world: World) -> None:
    world.queue("sales")
    by_service, by_lifecycle = world.arrive("sales"), world.arrive("sales")
    agent = world.agent("a")
    with world.uow() as uow:
        interactions.transition_interaction(
            uow, world.system, by_service, "offer", assigned_user_id=agent.user_id
        )
    with world.uow() as uow:
        transition_interaction_uncommitted(
            uow, world.system, by_lifecycle, "offer", assigned_user_id=agent.user_id
        )
        uow.commit()
    rows = [world.interaction(i) for i in (by_service, by_lifecycle)]
    assert {(r.state, r.assigned_user_id, r.offered_at) for r in rows} == {
        ("offered", agent.user_id, world.now)
    }
    with world.uow() as uow:
        history = [
            [
                (t.from_state, t.trigger, t.to_state, t.actor_id)
                for t in uow.session.scalars(
                    select(TransitionRow)
                    .where(TransitionRow.entity_id == i)
                    .order_by(TransitionRow.id)
                )
            ]
            for i in (by_service, by_lifecycle)
        ]
    assert history[0] == history[1] and history[0][-1][1] == "offer"
    changed = [
        {k: v for k, v in e.items() if k != "interaction_id"}
        for e in events_of(world, "InteractionStateChanged")
        if e["interaction_id"] in (by_service, by_lifecycle) and e["trigger"] == "offer"
    ]
    assert len(changed) == 2 and changed[0] == changed[1]
    audits = [
        audits_of(world, "interaction.transitioned", i)[-1] for i in (by_service, by_lifecycle)
    ]
    assert audits[0] == audits[1]


def test_the_uncommitted_move_refuses_what_the_service_refuses(world: World) -> None:
    world.queue("sales")
    iid = world.arrive("sales")
    with world.uow() as uow, pytest.raises(IllegalTransition):
        transition_interaction_uncommitted(uow, world.system, iid, "end")
    with world.uow() as uow, pytest.raises(InvalidInput):
        transition_interaction_uncommitted(uow, world.system, iid, "offer")  # nobody named
    assert world.interaction(iid).state == "queued"


# --- moves carry the interaction ---------------------------------------------------------


def test_a_supervisor_move_changes_the_interactions_queue_and_team(world: World) -> None:
    world.queue("front")
    target, team = other_team_queue(world, "billing")
    iid = world.arrive("front")
    world.cycle()
    supervisor = world.agent("boss", role=Role.SUPERVISOR)
    with world.uow() as uow:
        supervision.move_interaction(uow, supervisor, iid, target, now=world.now)
    row = world.interaction(iid)
    assert (row.queue_id, row.team_id, row.state) == (target, team, "queued")
    assert world.entry(iid).queue_id == target
    moved = [e for e in events_of(world, "WorkMoved") if e["interaction_id"] == iid]
    assert moved and moved[-1]["to_queue_id"] == target and moved[-1]["to_team_id"] == team
    assert moved[-1]["from_team_id"] == world.team_id and moved[-1]["cause"] == "supervisor"
    audit = audits_of(world, "routing.moved", iid)
    assert audit and audit[-1]["to_team_id"] == team and audit[-1]["cause"] == "supervisor"
    with world.uow() as uow:
        actor_ids = uow.session.scalars(
            select(AuditRow.actor_user_id).where(
                AuditRow.action == "routing.moved", AuditRow.entity_id == iid
            )
        ).all()
    assert actor_ids == [supervisor.user_id]


def test_an_overflow_move_changes_the_interactions_queue_too(world: World) -> None:
    target, team = other_team_queue(world, "backup")
    world.queue(
        "front",
        settings=QueueSettings(overflow=[OverflowStep(after_seconds=20, move_to_queue_id=target)]),
    )
    iid = world.arrive("front")
    world.cycle()
    world.advance(21)
    world.cycle()
    row = world.interaction(iid)
    assert (row.queue_id, row.team_id) == (target, team)
    assert audits_of(world, "routing.moved", iid)[-1]["cause"] == "overflow"


# --- calls -------------------------------------------------------------------------------


def test_a_call_naming_a_queue_is_queued_and_its_offers_carry_what_voice_needs(
    world: World,
) -> None:
    world.queue("support", settings=QueueSettings(ring_timeout_seconds=15))
    world.agent("a")
    world.agent("b")
    world.login("a")
    world.advance(1)
    world.login("b")
    with world.uow() as uow:
        call = interactions.create_interaction(
            uow,
            world.system,
            InteractionCreate(channel=Channel.CALL, queue_id=world.queues["support"]),
        ).interaction.id
    with world.uow() as uow:
        in_ivr = interactions.create_interaction(
            uow, world.system, InteractionCreate(channel=Channel.CALL)
        ).interaction.id
    world.cycle()
    assert world.offered_to(call) == "a"
    assert world.interaction(in_ivr).state == "arrived"  # no queue yet: voice decides
    created = events_of(world, "OfferCreated")[-1]
    assert created["interaction_id"] == call
    assert created["agent_id"] == world.agents["a"].user_id
    assert (created["ring_timeout_seconds"], created["channel"]) == (15, "call")

    world.advance(16)
    world.cycle()  # rang out: offered to the next agent
    expired = events_of(world, "OfferExpired")[-1]
    assert (expired["interaction_id"], expired["agent_id"], expired["channel"]) == (
        call,
        world.agents["a"].user_id,
        "call",
    )
    assert expired["offer_id"] == created["offer_id"]
    assert world.offered_to(call) == "b"
    world.accept("b")
    accepted = events_of(world, "OfferAccepted")[-1]
    assert (accepted["interaction_id"], accepted["agent_id"], accepted["channel"]) == (
        call,
        world.agents["b"].user_id,
        "call",
    )
    with world.uow() as uow:
        pending = uow.session.scalars(
            select(RoutingOfferRow).where(RoutingOfferRow.state == "pending")
        ).all()
    assert [o for o in pending if o.interaction_id == call] == []


# --- real-time events of agents ----------------------------------------------------------


def test_every_agent_move_is_an_event_with_its_reason(world: World) -> None:
    from jietong.agents.model import AgentState, NotReadyReason

    world.queue("sales")
    world.agent("a")
    world.login("a")
    iid = world.arrive("sales")
    world.cycle()
    world.accept("a")
    world.fire(iid, "end", world.agents["a"])
    world.cycle()
    world.fire(iid, "close", world.agents["a"])
    world.cycle()
    world.set_state("a", AgentState.NOT_READY, NotReadyReason.LUNCH)
    me = world.agents["a"].user_id
    moves = [
        (e["from_state"], e["to_state"], e["reason"])
        for e in events_of(world, "AgentStateChanged")
        if e["agent_id"] == me
    ]
    assert moves[0][:2] == ("offline", "available")
    assert ("available", "ringing", None) in moves
    assert ("ringing", "busy", None) in moves
    assert ("busy", "wrap_up", None) in moves
    assert ("wrap_up", "available", None) in moves
    assert moves[-1] == ("available", "not_ready", "lunch")
