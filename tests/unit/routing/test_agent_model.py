"""The agent state machine, settling states from work, capacity and blending rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from jietong.agents.model import (
    AGENT_LIFECYCLE,
    DEFAULT_RULES,
    AgentState,
    TeamRules,
    WorkFacts,
    combine_rules,
    free_slots,
    settle,
)
from jietong.core.errors import IllegalTransition
from jietong.routing.policies import AgentView, free_capacity

S = AgentState
facts_strategy = st.builds(
    WorkFacts,
    connected=st.integers(min_value=0, max_value=3),
    wrapping=st.integers(min_value=0, max_value=3),
    offered=st.booleans(),
)


@given(state=st.sampled_from([S.AVAILABLE, S.RINGING, S.BUSY, S.WRAP_UP]), facts=facts_strategy)
def test_settling_reaches_the_state_work_implies_through_legal_moves(
    state: AgentState, facts: WorkFacts
) -> None:
    current = state
    for trigger in settle(state, facts):
        current = AGENT_LIFECYCLE.fire(current, trigger).to_state  # raises if illegal
    assert settle(current, facts) == []  # settled states stay put
    if facts.connected:
        assert current is S.BUSY
    elif facts.offered and state in (S.AVAILABLE, S.RINGING):
        assert current is S.RINGING
    elif facts.wrapping and not facts.offered:
        assert current is S.WRAP_UP
    elif not facts.offered:
        assert current is S.AVAILABLE


@given(facts=facts_strategy)
def test_chosen_states_are_never_overridden_by_work(facts: WorkFacts) -> None:
    assert settle(S.OFFLINE, facts) == []
    assert settle(S.NOT_READY, facts) == []


def test_illegal_moves_are_refused() -> None:
    with pytest.raises(IllegalTransition):
        AGENT_LIFECYCLE.fire(S.OFFLINE, "accept")
    with pytest.raises(IllegalTransition):
        AGENT_LIFECYCLE.fire(S.BUSY, "logout")  # connected to a customer
    assert AGENT_LIFECYCLE.fire(S.RINGING, "no_answer").to_state is S.NOT_READY


def test_a_call_excludes_new_chats_and_the_other_way_round() -> None:
    rules = DEFAULT_RULES
    assert free_slots(rules, {}, "call") == 1
    assert free_slots(rules, {"call": 1}, "chat") == 0
    assert free_slots(rules, {"chat": 1}, "call") == 0
    assert free_slots(rules, {"chat": 2}, "chat") == 1
    assert free_slots(rules, {"email": 5}, "email") == 0


@given(
    load=st.dictionaries(
        st.sampled_from(["call", "chat", "email", "sms"]),
        st.integers(min_value=0, max_value=6),
        max_size=4,
    ),
    channel=st.sampled_from(["call", "chat", "email", "sms", "wechat"]),
    max_total=st.one_of(st.none(), st.integers(min_value=1, max_value=8)),
)
def test_team_rules_and_policies_agree_on_free_capacity(
    load: dict[str, int], channel: str, max_total: int | None
) -> None:
    rules = TeamRules(max_total=max_total)
    view = AgentView(
        "a",
        {},
        0.0,
        rules.capacity,
        load=load,
        max_total=rules.max_total,
        excludes=rules.excludes,
    )
    assert free_slots(rules, load, channel) == free_capacity(view, channel)


def test_an_agent_in_two_teams_gets_the_stricter_rules() -> None:
    calm = TeamRules(capacity={"chat": 4, "call": 1}, wrap_up_seconds=120, max_missed_offers=5)
    strict = TeamRules(
        capacity={"chat": 2}, excludes={"chat": ["email"]}, wrap_up_seconds=30, max_total=3
    )
    both = combine_rules([calm, strict])
    assert both.capacity == {"chat": 2, "call": 0}
    assert both.wrap_up_seconds == 30 and both.max_total == 3 and both.max_missed_offers == 3
    assert "email" in both.excludes["chat"]
    assert combine_rules([]) == DEFAULT_RULES


def test_rules_are_bounded() -> None:
    with pytest.raises(ValidationError):
        TeamRules(capacity={"chat": 51})
    with pytest.raises(ValidationError):
        TeamRules(capacity={"Chat!": 1})
    with pytest.raises(ValidationError):
        TeamRules.model_validate({"capacity": {}, "surprise": 1})
