"""The routing engine on a real database (SQLite and PostgreSQL): offers, answers,
timeouts, presence, capacity, priorities, overflow, limits and callbacks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from jietong.agents.model import AgentState, NotReadyReason, TeamRules
from jietong.app.platform import Platform
from jietong.core.errors import Conflict
from jietong.identity.model import VipTier
from jietong.routing import entries, offers
from jietong.routing.model import LimitAction, OverflowStep, QueueSettings
from jietong.storage.tables import InteractionRow, TransitionRow
from jietong.storage.tables_routing import RoutingEntryRow, RoutingOfferRow
from tests.integration.routing.world import World


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    yield World(platform)


def test_a_waiting_call_is_offered_to_the_longest_idle_agent_and_accepted(world: World) -> None:
    world.queue("sales", skills={"mandarin": 3})
    world.agent("li", {"mandarin": 5})
    world.agent("wang", {"mandarin": 9})
    world.login("wang")
    world.advance(5)
    world.login("li")
    iid = world.arrive("sales")
    world.advance(1)

    report = world.cycle()

    assert report.offered == 1
    assert world.offered_to(iid) == "wang"  # idle the longest
    assert world.state_of("wang") == "ringing"
    world.advance(3)
    world.accept("wang")
    assert world.interaction(iid).state == "connected"
    assert world.state_of("wang") == "busy"
    assert world.entry(iid).state == "served"


def test_an_unqualified_agent_gets_nothing(world: World) -> None:
    world.queue("billing", skills={"billing": 5})
    world.agent("junior", {"billing": 4})
    world.login("junior")
    iid = world.arrive("billing")
    assert world.cycle().offered == 0
    assert world.interaction(iid).state == "queued"


def test_decline_reoffers_to_the_next_agent_keeping_the_place(world: World) -> None:
    world.queue("sales")
    world.agent("a")
    world.agent("b")
    world.login("a")
    world.advance(1)
    world.login("b")
    first = world.arrive("sales")
    world.advance(1)
    world.cycle()
    assert world.offered_to(first) == "a"
    enqueued = world.entry(first).enqueued_at

    world.decline("a")
    world.cycle()

    assert world.offered_to(first) == "b"
    assert world.entry(first).enqueued_at == enqueued
    assert world.state_of("a") == "available"


def test_ring_timeout_reoffers_and_repeated_misses_pause_the_agent(world: World) -> None:
    world.team("night", TeamRules(max_missed_offers=2))
    world.queue("sales", settings=QueueSettings(ring_timeout_seconds=10))
    world.agent("sleepy", teams=("night",))
    world.login("sleepy")
    first = world.arrive("sales")
    world.cycle()
    assert world.offered_to(first) == "sleepy"

    world.advance(11)
    world.cycle()  # expires; sleepy is passed over for this one for a while
    assert world.presence_of("sleepy").missed_offers == 1
    assert world.state_of("sleepy") == "available"
    second = world.arrive("sales")
    world.cycle()
    assert world.offered_to(second) == "sleepy"
    world.advance(11)
    world.cycle()

    assert world.state_of("sleepy") == "not_ready"
    assert world.presence_of("sleepy").reason == "no_answer"
    assert world.interaction(first).state == "queued"
    assert world.interaction(second).state == "queued"


def test_accepting_an_expired_offer_is_refused(world: World) -> None:
    world.queue("sales", settings=QueueSettings(ring_timeout_seconds=10))
    world.agent("a")
    world.login("a")
    world.arrive("sales")
    world.cycle()
    offer = world.offer_of("a")
    assert offer is not None
    world.advance(10)
    with world.uow() as uow, pytest.raises(Conflict):
        offers.accept_offer(uow, world.agents["a"], offer.id, now=world.now)


def test_capacity_and_blending_a_call_excludes_new_chats(world: World) -> None:
    world.queue("all", channels=("call", "chat"))
    world.agent("a")
    world.login("a")
    call = world.arrive("all", "call")
    world.cycle()
    world.accept("a")
    chat = world.arrive("all", "chat")
    world.cycle()
    assert world.interaction(chat).state == "queued"  # a call excludes new chats

    world.finish("a", call)
    world.cycle()
    assert world.offered_to(chat) == "a"


def test_chat_agents_take_up_to_three_chats_one_offer_at_a_time(world: World) -> None:
    world.queue("chat", channels=("chat",))
    world.agent("a")
    world.login("a")
    chats = [world.arrive("chat", "chat") for _ in range(4)]
    for _ in range(3):
        world.cycle()
        world.accept("a")
    world.cycle()
    states = [world.interaction(c).state for c in chats]
    assert states == ["connected", "connected", "connected", "queued"]
    assert world.state_of("a") == "busy"


def test_vip_priority_goes_first_and_aging_keeps_low_priority_from_starving(
    world: World,
) -> None:
    world.queue("sales")
    world.agent("a")
    plain = world.arrive("sales", customer_id=world.customer("普通"))
    world.advance(30)
    vip = world.arrive("sales", customer_id=world.customer("贵宾", VipTier.PLATINUM))
    world.login("a")
    world.cycle()
    assert world.offered_to(vip) == "a"  # 3 levels = 180 s head start > 30 s

    world.finish("a", world.accept("a"))
    old = world.arrive("sales")
    world.advance(200)
    gold = world.arrive("sales", customer_id=world.customer("金卡", VipTier.GOLD))
    world.cycle()
    # plain has waited 230 s; gold's 2 levels are worth 120 s: plain goes first.
    assert world.offered_to(plain) == "a"
    assert world.interaction(old).state == "queued"
    assert world.interaction(gold).state == "queued"
    world.finish("a", world.accept("a"))
    world.cycle()
    assert world.offered_to(old) == "a"  # 200 s of waiting outweigh gold's 2 levels (120 s)
    assert world.interaction(gold).state == "queued"


def test_wrap_up_then_available_and_the_wrap_up_limit_closes_it(world: World) -> None:
    world.team("fast", TeamRules(wrap_up_seconds=30))
    world.queue("sales")
    world.agent("a", teams=("fast",))
    world.login("a")
    iid = world.arrive("sales")
    world.cycle()
    world.accept("a")
    world.fire(iid, "end", world.agents["a"])
    world.cycle()
    assert world.state_of("a") == "wrap_up"
    world.advance(31)
    world.cycle()
    assert world.interaction(iid).state == "closed"
    assert world.state_of("a") == "available"


def test_not_ready_withdraws_the_pending_offer_and_records_transitions(world: World) -> None:
    world.queue("sales")
    world.agent("a")
    world.login("a")
    iid = world.arrive("sales")
    world.cycle()
    world.set_state("a", AgentState.NOT_READY, NotReadyReason.LUNCH)
    assert world.interaction(iid).state == "queued"
    assert world.entry(iid).state == "waiting"
    with world.uow() as uow:
        moves = uow.session.scalars(
            select(TransitionRow)
            .where(
                TransitionRow.entity_type == "agent",
                TransitionRow.entity_id == world.agents["a"].user_id,
            )
            .order_by(TransitionRow.id)
        ).all()
        offer_rows = uow.session.scalars(select(RoutingOfferRow)).all()
    assert [(m.from_state, m.trigger, m.to_state) for m in moves] == [
        ("offline", "login", "available"),
        ("available", "offer", "ringing"),
        ("ringing", "pause", "not_ready"),
    ]
    assert [o.state for o in offer_rows] == ["withdrawn"]
    assert world.presence_of("a").reason == "lunch"


def test_logging_out_while_connected_is_refused(world: World) -> None:
    world.queue("sales")
    world.agent("a")
    world.login("a")
    world.arrive("sales")
    world.cycle()
    world.accept("a")
    with pytest.raises(Conflict):
        world.set_state("a", AgentState.OFFLINE)


def test_overflow_widens_skills_then_moves_to_another_queue(world: World) -> None:
    world.queue("backup")
    world.queue(
        "experts",
        skills={"billing": 8},
        settings=QueueSettings(
            overflow=[
                OverflowStep(after_seconds=30, min_levels={world.skill("billing"): 5}),
            ]
        ),
    )
    world.agent("mid", {"billing": 6})
    world.login("mid")
    iid = world.arrive("experts")
    world.cycle()
    assert world.interaction(iid).state == "queued"
    world.advance(31)
    world.cycle()
    assert world.offered_to(iid) == "mid"


def test_overflow_move_and_max_wait_callback(world: World) -> None:
    backup = world.queue("backup")
    world.queue(
        "front",
        settings=QueueSettings(overflow=[OverflowStep(after_seconds=20, move_to_queue_id=backup)]),
    )
    world.queue("cb", settings=QueueSettings(max_wait_seconds=60))
    moved = world.arrive("front")
    waiting = world.arrive("cb")
    world.advance(21)
    world.cycle()
    assert world.entry(moved).queue_id == backup
    world.advance(40)
    world.cycle()
    entry = world.entry(waiting)
    assert (entry.kind, entry.limit_action) == ("callback", "callback")
    assert entry.enqueued_at == world.entry(waiting).enqueued_at


def test_max_queue_length_diverts_new_arrivals(world: World) -> None:
    overflow = world.queue("overflow")
    world.queue(
        "small",
        settings=QueueSettings(
            max_queue_length=1, limit_action=LimitAction.QUEUE, limit_queue_id=overflow
        ),
    )
    first = world.arrive("small")
    second = world.arrive("small")
    world.cycle()
    assert world.entry(first).queue_id == world.queues["small"]
    assert world.entry(second).queue_id == overflow


def test_a_burst_partly_queued_by_another_engine_gets_one_entry_each(world: World) -> None:
    """Two engine processes (a lease changing hands) may place the same burst: the
    batched insert meets the UNIQUE interaction id, and the burst goes one by one,
    leaving out the ones already placed."""
    world.queue("sales")
    early = [world.arrive("sales"), world.arrive("sales")]
    world.cycle()  # the other engine placed these two
    late = world.arrive("sales")
    with world.uow() as uow:
        # What this engine read before the other one committed: all three unplaced.
        rows = [uow.session.get(InteractionRow, iid) for iid in [*early, late]]
        stale = [(row, None) for row in rows if row is not None]
        placed = entries.enqueue(uow, world.org_id, stale, {}, now=world.now)
        uow.commit()
    assert placed == 1
    with world.uow() as uow:
        counts = {
            iid: uow.session.scalar(
                select(func.count()).where(RoutingEntryRow.interaction_id == iid)
            )
            for iid in [*early, late]
        }
    assert counts == {early[0]: 1, early[1]: 1, late: 1}
    assert world.entry(late).state == "waiting"


def test_inbound_arrivals_with_a_queue_are_queued_and_routed_by_the_engine(
    world: World,
) -> None:
    from jietong.interactions import service as interactions
    from jietong.interactions.model import AuthorKind, Channel, Direction
    from jietong.interactions.schemas import InteractionCreate, MessageCreate

    world.queue("sales")
    world.agent("a")
    world.login("a")
    with world.uow() as uow:
        view = interactions.create_interaction(
            uow,
            world.system,
            InteractionCreate(channel=Channel.SMS, queue_id=world.queues["sales"]),
        )
    iid = view.interaction.id
    world.cycle()
    assert world.interaction(iid).state == "arrived"  # nothing said yet: not routed
    with world.uow() as uow:
        interactions.add_message(
            uow,
            world.system,
            iid,
            MessageCreate(
                body_text="在吗", direction=Direction.INBOUND, author_kind=AuthorKind.CUSTOMER
            ),
        )
    world.cycle()
    assert world.offered_to(iid) == "a"


def test_position_and_estimated_wait_from_history_and_staffing(world: World) -> None:
    from jietong.routing import stats

    world.queue("sales")
    world.agent("a")
    world.agent("b")
    world.login("a", "b")

    def answer_all() -> list[tuple[str, str]]:
        taken = [(name, world.accept(name)) for name in ("a", "b") if world.offer_of(name)]
        world.advance(120)  # handle time
        for name, iid in taken:
            world.finish(name, iid)
        world.cycle()
        return taken

    for _ in range(3):  # history: three contacts at a time for two agents
        for _ in range(3):
            world.arrive("sales")
        world.cycle()
        answer_all()
        answer_all()
    waiting = [world.arrive("sales") for _ in range(4)]
    world.advance(5)
    world.cycle()
    taken = {world.accept("a"), world.accept("b")}
    with world.uow() as uow:
        queued = [
            stats.get_position(uow, world.admin, iid, now=world.now)
            for iid in waiting
            if iid not in taken
        ]
    assert [p.position for p in queued] == [1, 2]
    assert all(p.ewt_seconds is not None and p.ewt_seconds > 0 for p in queued)
    first, second = queued
    assert second.ewt_seconds > first.ewt_seconds  # type: ignore[operator]
    assert first.expected_wait_seconds > first.ewt_seconds  # type: ignore[operator]
