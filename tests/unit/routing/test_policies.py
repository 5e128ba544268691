"""Routing policies: unit examples plus property tests of `match`'s contract."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jietong.routing.policies import (
    AgentPolicy,
    AgentView,
    Assignment,
    Snapshot,
    WorkItem,
    agent_rank,
    choose_agent,
    effective_priority,
    eligible,
    free_capacity,
    match,
    order_work,
    qualified,
    rank_is_stable,
    stable_rank,
    work_key,
)

SKILLS = ("billing", "tech", "sales")
CHANNELS = ("voice", "chat")


def agent(
    agent_id: str,
    *,
    skills: dict[str, int] | None = None,
    idle_since: float = 0.0,
    capacity: dict[str, int] | None = None,
    load: dict[str, int] | None = None,
    max_total: int | None = None,
    occupancy: float = 0.0,
) -> AgentView:
    return AgentView(
        agent_id=agent_id,
        skills={"billing": 5} if skills is None else skills,
        idle_since=idle_since,
        capacity={"voice": 1} if capacity is None else capacity,
        load=load or {},
        max_total=max_total,
        occupancy=occupancy,
    )


def item(
    item_id: str,
    *,
    queue_id: str = "q",
    channel: str = "voice",
    skills: dict[str, int] | None = None,
    priority: int = 0,
    arrived_at: float = 0.0,
) -> WorkItem:
    return WorkItem(
        item_id,
        queue_id,
        channel,
        {"billing": 1} if skills is None else skills,
        priority,
        arrived_at,
    )


# --- eligibility -------------------------------------------------------------------------


def test_qualified_needs_every_skill_at_minimum_level() -> None:
    work = item("i", skills={"billing": 3, "tech": 2})
    assert qualified(agent("a", skills={"billing": 3, "tech": 2}), work)
    assert not qualified(agent("a", skills={"billing": 2, "tech": 9}), work)
    assert not qualified(agent("a", skills={"billing": 9}), work)


def test_free_capacity_respects_channel_and_total_caps() -> None:
    a = agent("a", capacity={"voice": 1, "chat": 3}, load={"chat": 2}, max_total=3)
    assert free_capacity(a, "chat") == 1
    assert free_capacity(a, "voice") == 1
    assert free_capacity(a, "email") == 0
    full = agent("a", capacity={"voice": 1, "chat": 3}, load={"chat": 2}, max_total=2)
    assert free_capacity(full, "voice") == 0
    assert not eligible(full, item("i"))


# --- agent policies ----------------------------------------------------------------------


def test_longest_idle_is_the_default_and_picks_the_earliest_idle() -> None:
    agents = [agent("a", idle_since=30), agent("b", idle_since=10), agent("c", idle_since=20)]
    assert choose_agent(AgentPolicy.LONGEST_IDLE, item("i"), agents) == "b"
    snapshot = Snapshot(agents=agents, items=[item("i")])
    assert match(snapshot, now=100) == [Assignment("i", "b")]


def test_ineligible_agents_are_never_chosen() -> None:
    agents = [
        agent("busy", idle_since=0, load={"voice": 1}),
        agent("unskilled", idle_since=1, skills={"tech": 9}),
        agent("ok", idle_since=50),
    ]
    assert choose_agent(AgentPolicy.LONGEST_IDLE, item("i"), agents) == "ok"
    assert choose_agent(AgentPolicy.LONGEST_IDLE, item("i"), agents[:2]) is None


def test_best_proficiency_then_longest_idle() -> None:
    work = item("i", skills={"billing": 1, "tech": 1})
    agents = [
        agent("a", skills={"billing": 5, "tech": 5}, idle_since=0),
        agent("b", skills={"billing": 9, "tech": 4}, idle_since=50),
        agent("c", skills={"billing": 4, "tech": 9}, idle_since=40),
    ]
    assert choose_agent(AgentPolicy.BEST_PROFICIENCY, work, agents) == "c"


def test_round_robin_cycles_after_the_cursor() -> None:
    agents = [agent(x) for x in ("a1", "a2", "a3", "a4")]
    rr = AgentPolicy.ROUND_ROBIN
    assert choose_agent(rr, item("i"), agents, cursor=None) == "a1"
    assert choose_agent(rr, item("i"), agents, cursor="a2") == "a3"
    assert choose_agent(rr, item("i"), agents, cursor="a4") == "a1"
    snapshot = Snapshot(
        agents=agents,
        items=[item(f"i{k}", arrived_at=k) for k in range(3)],
        default_policy=rr,
        rr_cursors={"q": "a3"},
    )
    assert [a.agent_id for a in match(snapshot, 10)] == ["a4", "a1", "a2"]


def test_least_occupied_then_longest_idle() -> None:
    agents = [
        agent("a", occupancy=0.9, idle_since=0),
        agent("b", occupancy=0.5, idle_since=30),
        agent("c", occupancy=0.5, idle_since=20),
    ]
    assert choose_agent(AgentPolicy.LEAST_OCCUPIED, item("i"), agents) == "c"


def test_only_time_invariant_ranks_are_stable() -> None:
    assert rank_is_stable(AgentPolicy.LONGEST_IDLE)
    assert rank_is_stable(AgentPolicy.BEST_PROFICIENCY)
    assert not rank_is_stable(AgentPolicy.ROUND_ROBIN)
    assert not rank_is_stable(AgentPolicy.LEAST_OCCUPIED)


# --- work ordering -----------------------------------------------------------------------


def test_priority_first_then_first_come_first_served() -> None:
    items = [
        item("old", arrived_at=0),
        item("vip", priority=2, arrived_at=5),
        item("new", arrived_at=1),
    ]
    assert [i.item_id for i in order_work(items, None)] == ["vip", "old", "new"]


def test_aging_lets_an_old_low_priority_item_overtake() -> None:
    aging = 60.0
    low = item("low", priority=0, arrived_at=0)
    # A priority-2 item is worth 120 s of waiting: arriving 119 s later it still wins,
    # arriving 121 s later it does not.
    assert order_work([low, item("vip", priority=2, arrived_at=119)], aging)[0].item_id == "vip"
    assert order_work([low, item("vip", priority=2, arrived_at=121)], aging)[0].item_id == "low"
    # Without aging the VIP wins however late it comes.
    assert order_work([low, item("vip", priority=2, arrived_at=10_000)], None)[0].item_id == "vip"


def test_low_priority_is_not_starved_by_a_stream_of_vips() -> None:
    """One agent frees up every 30 s while VIPs keep arriving every 10 s."""
    low = item("low", arrived_at=0)
    waiting = [low]
    served: list[str] = []
    for step in range(1, 80):
        waiting.append(item(f"vip{step}", priority=3, arrived_at=10.0 * step))
        if step % 3 == 0:
            first = order_work(waiting, 60.0)[0]
            waiting.remove(first)
            served.append(first.item_id)
    assert "low" in served


def test_effective_priority_agrees_with_work_key() -> None:
    a, b = item("a", priority=1, arrived_at=100), item("b", priority=0, arrived_at=30)
    now = 500.0
    assert effective_priority(a, now, 60) == pytest.approx(1 + 400 / 60)
    assert effective_priority(b, now, None) == 0
    higher_first = sorted([a, b], key=lambda i: -effective_priority(i, now, 60))
    assert higher_first == order_work([a, b], 60)


@st.composite
def waiting_items(draw: st.DrawFn, max_size: int = 12) -> list[WorkItem]:
    n = draw(st.integers(0, max_size))
    return [
        WorkItem(
            item_id=f"i{k}",
            queue_id=draw(st.sampled_from(("q1", "q2"))),
            channel=draw(st.sampled_from(CHANNELS)),
            required_skills=draw(
                st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), max_size=2)
            ),
            priority=draw(st.integers(0, 4)),
            arrived_at=float(draw(st.integers(0, 1000))),
        )
        for k in range(n)
    ]


@given(waiting_items(), st.integers(1, 300), st.integers(1000, 5000))
def test_order_is_by_exact_effective_priority_at_any_time(
    items: list[WorkItem], aging: int, now: int
) -> None:
    def exact(i: WorkItem) -> tuple[Fraction, float, str]:
        prio = i.priority + Fraction(now - int(i.arrived_at), aging)
        return (-prio, i.arrived_at, i.item_id)

    assert order_work(items, float(aging)) == sorted(items, key=exact)


# --- match: property tests ---------------------------------------------------------------


@st.composite
def agent_views(draw: st.DrawFn, max_size: int = 8) -> list[AgentView]:
    n = draw(st.integers(0, max_size))
    views = []
    for k in range(n):
        capacity = draw(st.dictionaries(st.sampled_from(CHANNELS), st.integers(0, 3)))
        load = {ch: draw(st.integers(0, cap)) for ch, cap in capacity.items()}
        views.append(
            AgentView(
                agent_id=f"a{k}",
                skills=draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10))),
                idle_since=float(draw(st.integers(0, 100))),
                capacity=capacity,
                load=load,
                max_total=draw(st.none() | st.integers(1, 4)),
                handled=draw(st.integers(0, 50)),
                occupancy=draw(st.floats(0, 1)),
            )
        )
    return views


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    agents = draw(agent_views())
    ids = [a.agent_id for a in agents]
    cursors = {}
    if ids:
        cursors = draw(st.dictionaries(st.sampled_from(("q1", "q2")), st.sampled_from(ids)))
    return Snapshot(
        agents=agents,
        items=draw(waiting_items()),
        policies=draw(
            st.dictionaries(st.sampled_from(("q1", "q2")), st.sampled_from(list(AgentPolicy)))
        ),
        default_policy=draw(st.sampled_from(list(AgentPolicy))),
        aging_seconds_per_level=draw(st.none() | st.floats(1, 600)),
        rr_cursors=cursors,
    )


def apply(snapshot: Snapshot, assignments: list[Assignment]) -> dict[str, AgentView]:
    """Agents after taking their assigned items (loads only)."""
    items = {i.item_id: i for i in snapshot.items}
    after = {a.agent_id: a for a in snapshot.agents}
    for item_id, agent_id in assignments:
        a = after[agent_id]
        load = dict(a.load)
        channel = items[item_id].channel
        load[channel] = load.get(channel, 0) + 1
        after[agent_id] = AgentView(
            a.agent_id,
            a.skills,
            a.idle_since,
            a.capacity,
            load,
            a.max_total,
            a.handled,
            a.occupancy,
        )
    return after


def check_capacity_and_uniqueness(snapshot: Snapshot, assignments: list[Assignment]) -> None:
    items = {i.item_id: i for i in snapshot.items}
    before = {a.agent_id: a for a in snapshot.agents}
    assert len({i for i, _ in assignments}) == len(assignments), "an item assigned twice"
    for item_id, agent_id in assignments:
        assert qualified(before[agent_id], items[item_id])
    busy = {a for _, a in assignments}
    for agent_id, view in apply(snapshot, assignments).items():
        if agent_id in busy:
            for channel, load in view.load.items():
                assert load <= view.capacity.get(channel, 0), "over channel capacity"
            if view.max_total is not None:
                assert sum(view.load.values()) <= view.max_total, "over total capacity"


def check_nothing_left_for_a_free_agent(snapshot: Snapshot, assignments: list[Assignment]) -> None:
    assigned = {i for i, _ in assignments}
    after = apply(snapshot, assignments).values()
    for work in snapshot.items:
        if work.item_id not in assigned:
            assert not any(eligible(a, work) for a in after), work


def check_service_order(snapshot: Snapshot, assignments: list[Assignment]) -> None:
    aging = snapshot.aging_seconds_per_level
    items = {i.item_id: i for i in snapshot.items}
    agents = {a.agent_id: a for a in snapshot.agents}
    keys = [work_key(items[i], aging) for i, _ in assignments]
    assert keys == sorted(keys), "assignments are made in service order"
    assigned = {i for i, _ in assignments}
    for waiting in snapshot.items:
        if waiting.item_id in assigned:
            continue
        for item_id, agent_id in assignments:
            later = items[item_id]
            if (
                work_key(waiting, aging) < work_key(later, aging)
                and later.channel == waiting.channel
            ):
                # The agent a later item got could not have served the one left waiting.
                assert not qualified(agents[agent_id], waiting)


@settings(max_examples=250, deadline=None)
@given(snapshots())
def test_match_contract(snapshot: Snapshot) -> None:
    """No overload, no double assignment, nothing left next to a free eligible agent,
    and priority/aging order respected."""
    assignments = match(snapshot, now=2000)
    check_capacity_and_uniqueness(snapshot, assignments)
    check_nothing_left_for_a_free_agent(snapshot, assignments)
    check_service_order(snapshot, assignments)


@settings(max_examples=100, deadline=None)
@given(snapshots())
def test_each_assignment_is_the_policy_choice_given_earlier_ones(snapshot: Snapshot) -> None:
    """Replaying `match` step by step with `choose_agent` gives the same agents."""
    assignments = match(snapshot, now=2000)
    items = {i.item_id: i for i in snapshot.items}
    state = {a.agent_id: a for a in snapshot.agents}
    cursors = dict(snapshot.rr_cursors)
    for item_id, agent_id in assignments:
        work = items[item_id]
        policy = snapshot.policies.get(work.queue_id, snapshot.default_policy)
        expected = choose_agent(policy, work, state.values(), cursors.get(work.queue_id))
        assert expected == agent_id
        cursors[work.queue_id] = agent_id
        a = state[agent_id]
        load = dict(a.load)
        load[work.channel] = load.get(work.channel, 0) + 1
        state[agent_id] = AgentView(
            a.agent_id, a.skills, 2000.0, a.capacity, load, a.max_total, a.handled + 1, a.occupancy
        )


def test_match_does_not_mutate_its_input() -> None:
    load = {"chat": 1}
    agents = [agent("a", capacity={"chat": 3}, load=load)]
    items = [item(f"i{k}", channel="chat", arrived_at=k) for k in range(3)]
    assert len(match(Snapshot(agents=agents, items=items), 5)) == 2
    assert load == {"chat": 1}
    assert agents[0].load == {"chat": 1}


def test_concurrent_chat_work_is_spread_by_longest_idle() -> None:
    agents = [
        agent("a", capacity={"chat": 3}, idle_since=0),
        agent("b", capacity={"chat": 3}, idle_since=5),
    ]
    items = [item(f"i{k}", channel="chat", arrived_at=k) for k in range(3)]
    got = match(Snapshot(agents=agents, items=items), now=10)
    assert [a.agent_id for a in got] == ["a", "b", "a"]


def test_agent_rank_orders_ties_by_id() -> None:
    work = item("i")
    a, b = agent("a", idle_since=5), agent("b", idle_since=5)
    for policy in AgentPolicy:
        assert agent_rank(policy, a, work) < agent_rank(policy, b, work)


@settings(max_examples=100, deadline=None)
@given(agent_views(max_size=3), waiting_items(max_size=2))
def test_stable_rank_is_agent_rank_for_stable_policies(
    agents: list[AgentView], items: list[WorkItem]
) -> None:
    for a in agents:
        for work in items:
            for policy in AgentPolicy:
                if rank_is_stable(policy):
                    expected = stable_rank(policy, a.agent_id, a.skills, a.idle_since, work)
                    assert agent_rank(policy, a, work) == expected
                else:
                    with pytest.raises(ValueError):
                        stable_rank(policy, a.agent_id, a.skills, a.idle_since, work)
