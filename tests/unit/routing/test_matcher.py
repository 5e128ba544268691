"""The incremental `Matcher` decides exactly as `policies.match`: random sequences of
agents coming and going (skills, capacities, blending, loads), items arriving and leaving
(queues with every policy, priorities, exclusions), compared decision by decision."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jietong.routing.matcher import Matcher
from jietong.routing.policies import AgentPolicy, AgentView, WorkItem, match

SKILLS = ("zh", "en", "billing", "tech")
CHANNELS = ("call", "chat")
QUEUES = {
    "q_idle": AgentPolicy.LONGEST_IDLE,
    "q_best": AgentPolicy.BEST_PROFICIENCY,
    "q_rr": AgentPolicy.ROUND_ROBIN,
    "q_occ": AgentPolicy.LEAST_OCCUPIED,
}
AGENT_IDS = [f"a{i}" for i in range(8)]
ITEM_IDS = [f"i{i:02d}" for i in range(30)]

skills = st.dictionaries(st.sampled_from(SKILLS), st.integers(3, 10), min_size=2, max_size=4)
agents = st.builds(
    lambda agent_id, skills, idle, call, chat, load_call, load_chat, total, blend, occ: AgentView(
        agent_id=agent_id,
        skills=skills,
        idle_since=float(idle),
        capacity={"call": call, "chat": chat},
        load={"call": min(load_call, call), "chat": min(load_chat, chat)},
        max_total=total,
        occupancy=occ,
        excludes={"call": ["chat"], "chat": ["call"]} if blend else {},
    ),
    st.sampled_from(AGENT_IDS),
    skills,
    st.integers(0, 50),
    st.sampled_from([0, 1, 1]),
    st.integers(0, 3),
    st.sampled_from([0, 0, 0, 1]),
    st.sampled_from([0, 0, 1, 2]),
    st.one_of(st.none(), st.none(), st.integers(1, 3)),
    st.sampled_from([False, False, True]),
    st.sampled_from([0.0, 0.25, 0.5, 0.9]),
)
items = st.builds(
    lambda item_id, queue, channel, required, priority, arrived, excluded: WorkItem(
        item_id=item_id,
        queue_id=queue,
        channel=channel,
        required_skills=required,
        priority=priority,
        arrived_at=float(arrived),
        excluded_agents=frozenset(excluded),
    ),
    st.sampled_from(ITEM_IDS),
    st.sampled_from(sorted(QUEUES)),
    st.sampled_from(CHANNELS),
    st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 6), max_size=2),
    st.integers(-2, 3),
    st.integers(0, 400),
    st.one_of(st.just(set()), st.just(set()), st.sets(st.sampled_from(AGENT_IDS), max_size=2)),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("agent"), agents),
        st.tuples(st.just("item"), items),
        st.tuples(st.just("item"), items),
        st.tuples(st.just("free"), st.sampled_from(AGENT_IDS)),
        st.tuples(st.just("drop_agent"), st.sampled_from(AGENT_IDS)),
        st.tuples(st.just("drop_item"), st.sampled_from(ITEM_IDS)),
        st.tuples(st.just("free"), st.sampled_from(AGENT_IDS)),
        st.tuples(st.just("decide"), st.integers(0, 5)),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=operations, aging=st.sampled_from([None, 60.0, 5.0]))
def test_the_matcher_decides_exactly_as_match(
    ops: list[tuple[str, object]], aging: float | None
) -> None:
    matcher = Matcher(policies=QUEUES, aging_seconds_per_level=aging)
    now = 500.0
    for kind, value in [*ops, ("decide", 1)]:
        if kind == "agent":
            assert isinstance(value, AgentView)
            matcher.put_agent(value)
        elif kind == "item":
            assert isinstance(value, WorkItem)
            matcher.put_item(value)
        elif kind == "drop_agent":
            matcher.remove_agent(str(value))
        elif kind == "drop_item":
            matcher.remove_item(str(value))
        elif kind == "free":
            # An agent finishes a contact: one slot back, idle clock restarts.
            agent_id = str(value)
            if agent_id in {a.agent_id for a in matcher.agents}:
                view = matcher.agent(agent_id)
                busy = next((ch for ch, n in sorted(view.load.items()) if n > 0), None)
                if busy is not None:
                    load = dict(view.load)
                    load[busy] -= 1
                    matcher.put_agent(replace(view, load=load, idle_since=now))
        else:
            now += float(value)  # type: ignore[arg-type]
            expected = match(matcher.snapshot(), now)
            assert matcher.decide(now) == expected
    # After a decision nothing is left to assign.
    assert match(matcher.snapshot(), now) == []


def test_a_freed_agent_pulls_the_earliest_item_it_qualifies_for() -> None:
    matcher = Matcher()
    matcher.put_agent(AgentView("a", {"zh": 5}, 0.0, {"call": 1}, load={"call": 1}))
    matcher.put_item(WorkItem("late", "q1", "call", {"zh": 1}, arrived_at=20.0))
    matcher.put_item(WorkItem("early", "q2", "call", {"zh": 3}, arrived_at=10.0))
    matcher.put_item(WorkItem("other", "q3", "call", {"en": 1}, arrived_at=0.0))
    assert matcher.decide(30.0) == []
    matcher.put_agent(AgentView("a", {"zh": 5}, 30.0, {"call": 1}, load={"call": 0}))
    assert [tuple(a) for a in matcher.decide(31.0)] == [("early", "a")]
    assert matcher.agent("a").load == {"call": 1} and matcher.agent("a").idle_since == 31.0


def random_agent(rng: random.Random, agent_id: str, now: float) -> AgentView:
    call, chat = rng.choice([0, 1, 1]), rng.randint(1, 3)
    return AgentView(
        agent_id=agent_id,
        skills={s: rng.randint(3, 10) for s in rng.sample(SKILLS, rng.randint(2, 4))},
        idle_since=now - rng.randint(0, 300),
        capacity={"call": call, "chat": chat},
        load={"call": 0, "chat": rng.choice([0, 0, 1])},
        max_total=rng.choice([None, None, 2, 3]),
        occupancy=rng.choice([0.0, 0.3, 0.6]),
        excludes=rng.choice([{}, {"call": ["chat"], "chat": ["call"]}]),
    )


def random_item(rng: random.Random, item_id: str, now: float) -> WorkItem:
    return WorkItem(
        item_id=item_id,
        queue_id=rng.choice(sorted(QUEUES)),
        channel=rng.choice(CHANNELS),
        required_skills={s: rng.randint(1, 6) for s in rng.sample(SKILLS, rng.randint(0, 2))},
        priority=rng.randint(-1, 3),
        arrived_at=now - rng.randint(0, 200),
        excluded_agents=frozenset(rng.sample(AGENT_IDS, rng.choice([0, 0, 0, 1, 2]))),
    )


def test_the_matcher_decides_as_match_over_long_random_runs() -> None:
    """Longer runs than hypothesis likes: 150 seeds x 200 events, thousands of decisions."""
    assigned = 0
    for seed in range(150):
        rng = random.Random(seed)
        matcher = Matcher(policies=QUEUES, aging_seconds_per_level=rng.choice([None, 60.0]))
        now, next_item = 1000.0, 0
        for _ in range(200):
            now += rng.random() * 5
            roll = rng.random()
            if roll < 0.35:
                matcher.put_item(random_item(rng, f"i{next_item:04d}", now))
                next_item += 1
            elif roll < 0.45:
                matcher.put_agent(random_agent(rng, rng.choice(AGENT_IDS), now))
            elif roll < 0.50 and matcher.items:
                matcher.remove_item(rng.choice(matcher.items).item_id)
            elif roll < 0.53:
                matcher.remove_agent(rng.choice(AGENT_IDS))
            elif roll < 0.80 and matcher.agents:
                view = rng.choice(matcher.agents)
                busy = [ch for ch, n in sorted(view.load.items()) if n > 0]
                if busy and rng.random() < 0.5:
                    matcher.release(view.agent_id, rng.choice(busy), now)
                elif busy:
                    load = dict(view.load)
                    load[rng.choice(busy)] -= 1
                    matcher.put_agent(replace(view, load=load, idle_since=now))
            if rng.random() < 0.6:
                expected = match(matcher.snapshot(), now)
                got = matcher.decide(now)
                assert got == expected, (seed, got, expected)
                assigned += len(got)
    assert assigned > 2000
