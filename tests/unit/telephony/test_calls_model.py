"""The leg lifecycle (hypothesis: nothing leaves 'ended', times never go back) and the
CDR projection: IVR and queue time, abandons at each point, short abandons, hold and
talk time, transfers, media loss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jietong.core.errors import IllegalTransition
from jietong.telephony.calls.cdr import LegInfo, project
from jietong.telephony.calls.model import (
    LEG_LIFECYCLE,
    CallFact,
    EndCause,
    FactKind,
    LegKind,
    LegSnapshot,
    LegState,
    LegTrigger,
    move_leg,
)

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(LegTrigger)), st.integers(min_value=-5_000, max_value=5_000)
        ),
        max_size=40,
    )
)
def test_no_move_leaves_ended_and_times_are_monotonic(steps: list[tuple[LegTrigger, int]]) -> None:
    leg = LegSnapshot("leg", LegKind.CUSTOMER, LegState.RINGING, T0)
    now = T0
    times = [T0]
    for trigger, delta_ms in steps:
        now = now + timedelta(milliseconds=delta_ms)  # reports may arrive out of order
        was = leg.state
        try:
            leg, fact = move_leg(leg, trigger, now)
        except IllegalTransition:
            assert trigger not in LEG_LIFECYCLE.triggers_from(was)
            continue
        assert was is not LegState.ENDED, "a move out of 'ended'"
        assert fact.from_state is was and fact.to_state is leg.state
        assert fact.at >= times[-1]
        times.append(fact.at)
    if leg.state is LegState.ENDED:
        assert LEG_LIFECYCLE.triggers_from(LegState.ENDED) == []


def test_every_state_but_ended_can_end() -> None:
    for state in LegState:
        triggers = LEG_LIFECYCLE.triggers_from(state)
        assert (LegTrigger.END in triggers) is (state is not LegState.ENDED)


class History:
    """Builds a call's facts the way the service records them."""

    def __init__(self) -> None:
        self.legs = [LegInfo("c", LegKind.CUSTOMER, "+8613800000000")]
        self.facts = [CallFact(T0, FactKind.OPENED, "c")]
        self.states = {"c": LegSnapshot("c", LegKind.CUSTOMER, LegState.RINGING, T0)}

    def at(self, seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    def move(self, seconds: float, leg: str, trigger: LegTrigger, **data: object) -> History:
        snapshot, fact = move_leg(self.states[leg], trigger, self.at(seconds), dict(data))
        self.states[leg] = snapshot
        self.facts.append(fact)
        return self

    def fact(self, seconds: float, kind: FactKind, **data: object) -> History:
        self.facts.append(CallFact(self.at(seconds), kind, data=dict(data)))
        return self

    def agent(self, seconds: float, leg: str = "a", user: str = "u1") -> History:
        self.legs.append(LegInfo(leg, LegKind.AGENT, "phone-1", user))
        self.facts.append(CallFact(self.at(seconds), FactKind.OPENED, leg))
        self.states[leg] = LegSnapshot(leg, LegKind.AGENT, LegState.RINGING, self.at(seconds))
        return self

    def cdr(self, short_abandon_s: float = 5.0):  # type: ignore[no-untyped-def]
        return project(T0, self.legs, self.facts, short_abandon_s=short_abandon_s)


def answered_in_ivr(h: History | None = None) -> History:
    return (h or History()).move(1, "c", LegTrigger.ANSWER).fact(1, FactKind.IVR_ENTERED)


def test_a_call_answered_by_an_agent_has_every_figure() -> None:
    h = answered_in_ivr()
    h.fact(21, FactKind.IVR_LEFT, outcome="queue").fact(21, FactKind.QUEUE_ENTERED, queue_id="q")
    h.agent(40).fact(40, FactKind.OFFERED, agent_user_id="u1")
    h.move(45, "a", LegTrigger.ANSWER).move(45, "a", LegTrigger.BRIDGE)
    h.move(45, "c", LegTrigger.BRIDGE).fact(45, FactKind.AGENT_ANSWERED, agent_user_id="u1")
    h.move(100, "c", LegTrigger.HOLD).move(130, "c", LegTrigger.RESUME)
    h.move(200, "a", LegTrigger.END, cause=EndCause.AGENT_HANGUP.value)
    h.move(200, "c", LegTrigger.END, cause=EndCause.AGENT_HANGUP.value)
    h.fact(230, FactKind.DISPOSITION, disposition="resolved")
    cdr = h.cdr()
    assert cdr.answered_at == h.at(1)
    assert (cdr.ivr_entered_at, cdr.ivr_left_at, cdr.ivr_s) == (h.at(1), h.at(21), 20.0)
    assert (cdr.queue_id, cdr.queue_entered_at, cdr.queue_wait_s) == ("q", h.at(21), 24.0)
    assert (cdr.offers, cdr.first_offered_at) == (1, h.at(40))
    assert (cdr.agent_answered_at, cdr.agent_user_id) == (h.at(45), "u1")
    assert (cdr.holds, cdr.hold_s) == (1, 30.0)
    assert cdr.talk_s == 200 - 45 - 30
    assert (cdr.ended_at, cdr.end_cause, cdr.disposition) == (h.at(200), "agent_hangup", "resolved")
    assert not cdr.abandoned and cdr.abandon_point is None and not cdr.short_abandon
    agent = next(leg for leg in cdr.legs if leg.leg_id == "a")
    assert agent.talk_s == 155 and agent.answered_at == h.at(45) and agent.user_id == "u1"


@pytest.mark.parametrize(
    ("hang_up_at", "short"), [(3.0, True), (4.999, True), (5.0, False), (60.0, False)]
)
def test_abandon_in_the_ivr_is_short_under_the_threshold(hang_up_at: float, short: bool) -> None:
    h = answered_in_ivr().move(hang_up_at, "c", LegTrigger.END, cause="customer_hangup")
    cdr = h.cdr()
    assert cdr.abandoned and cdr.abandon_point == "ivr"
    assert cdr.short_abandon is short
    assert cdr.abandoned_after_s == hang_up_at  # from arrival: a report may re-threshold
    assert cdr.ivr_s == pytest.approx(hang_up_at - 1)  # still in the IVR at the end
    assert cdr.ivr_left_at == h.at(hang_up_at)


@pytest.mark.parametrize(("waited", "short"), [(2.0, True), (30.0, False)])
def test_abandon_in_the_queue_counts_from_queue_entry(waited: float, short: bool) -> None:
    h = answered_in_ivr().fact(40, FactKind.IVR_LEFT, outcome="queue")
    h.fact(40, FactKind.QUEUE_ENTERED, queue_id="q")
    h.move(40 + waited, "c", LegTrigger.END, cause="customer_hangup")
    cdr = h.cdr()
    assert cdr.abandoned and cdr.abandon_point == "queue"
    # 40 s after arrival, so only the queue wait decides shortness.
    assert cdr.short_abandon is short and cdr.abandoned_after_s == waited
    assert cdr.queue_wait_s == waited


def test_abandon_while_being_offered_is_a_queue_abandon() -> None:
    h = answered_in_ivr().fact(10, FactKind.IVR_LEFT, outcome="queue")
    h.fact(10, FactKind.QUEUE_ENTERED, queue_id="q").agent(20)
    h.fact(20, FactKind.OFFERED, agent_user_id="u1")
    h.move(25, "a", LegTrigger.END, cause="customer_hangup")
    h.move(25, "c", LegTrigger.END, cause="customer_hangup")
    cdr = h.cdr()
    assert cdr.abandon_point == "queue" and cdr.offers == 1 and cdr.agent_answered_at is None


def test_hanging_up_before_we_answer_is_a_ringing_abandon() -> None:
    cdr = History().move(2, "c", LegTrigger.END, cause="customer_hangup").cdr()
    assert cdr.abandon_point == "ringing" and cdr.short_abandon


def test_the_short_abandon_threshold_is_configurable() -> None:
    h = answered_in_ivr().move(8, "c", LegTrigger.END, cause="customer_hangup")
    assert not h.cdr().short_abandon
    assert h.cdr(short_abandon_s=10).short_abandon


@pytest.mark.parametrize("outcome", ["voicemail", "callback", "hangup", "transfer"])
def test_hanging_up_after_an_ivr_outcome_of_its_own_is_no_abandon(outcome: str) -> None:
    h = answered_in_ivr().fact(30, FactKind.IVR_LEFT, outcome=outcome)
    cdr = h.move(31, "c", LegTrigger.END, cause="customer_hangup").cdr()
    assert not cdr.abandoned and cdr.ivr_outcome == outcome and cdr.ivr_s == 29


def test_a_lost_media_process_closes_the_call_without_calling_it_abandoned() -> None:
    h = answered_in_ivr().fact(10, FactKind.IVR_LEFT, outcome="queue")
    h.fact(10, FactKind.QUEUE_ENTERED, queue_id="q")
    cdr = h.move(12, "c", LegTrigger.END, cause=EndCause.MEDIA_LOST.value).cdr()
    assert cdr.ended_at == h.at(12) and cdr.end_cause == "media_lost"
    assert not cdr.abandoned and cdr.queue_wait_s == 2


def test_transfers_are_counted_and_talk_continues_after_the_transfer() -> None:
    h = answered_in_ivr().fact(5, FactKind.IVR_LEFT, outcome="queue").agent(6)
    h.move(6, "a", LegTrigger.ANSWER).move(6, "a", LegTrigger.BRIDGE).move(
        6, "c", LegTrigger.BRIDGE
    )
    h.fact(6, FactKind.AGENT_ANSWERED, agent_user_id="u1")
    h.move(20, "c", LegTrigger.TRANSFER, target="+862100000000")
    h.fact(20, FactKind.TRANSFER, target="+862100000000", mode="blind")
    h.move(20, "a", LegTrigger.END, cause="transferred")
    h.move(30, "c", LegTrigger.BRIDGE).move(50, "c", LegTrigger.END, cause="customer_hangup")
    cdr = h.cdr()
    assert cdr.transfers == 1 and cdr.transferred_to == "+862100000000"
    assert cdr.talk_s == 14 + 20  # bridged 6..20, then 30..50; 20..30 was transferring
    assert not cdr.abandoned


def test_a_live_call_has_no_end_yet() -> None:
    cdr = answered_in_ivr().cdr()
    assert cdr.ended_at is None and cdr.ivr_left_at is None and not cdr.abandoned


_CALL_STEPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["c:answer", "c:bridge", "c:unbridge", "c:hold", "c:resume", "c:transfer",
             "c:transfer_failed", "a:answer", "a:bridge", "a:end", "ivr_entered", "ivr_left",
             "queue", "offer", "agent_answered"]
        ),
        st.integers(min_value=0, max_value=30_000),
    ),
    max_size=30,
)  # fmt: skip


@given(_CALL_STEPS, st.sampled_from(list(EndCause)), st.floats(min_value=0, max_value=60))
def test_cdr_figures_stay_within_the_call(
    steps: list[tuple[str, int]], cause: EndCause, short_s: float
) -> None:
    """Whatever legal history a call has: time figures are never negative and never
    exceed the call's duration, an abandoned call was never answered by an agent, and
    a short abandon is an abandon."""
    h = History().agent(0)
    seconds = 0.0
    for step, delta_ms in steps:
        seconds += delta_ms / 1000
        if ":" in step:
            leg, trigger = step.split(":")
            try:
                h.move(seconds, leg, LegTrigger(trigger))
            except IllegalTransition:
                continue
        else:
            kind = {"ivr_entered": FactKind.IVR_ENTERED, "ivr_left": FactKind.IVR_LEFT,
                    "queue": FactKind.QUEUE_ENTERED, "offer": FactKind.OFFERED,
                    "agent_answered": FactKind.AGENT_ANSWERED}[step]  # fmt: skip
            h.fact(seconds, kind, outcome="queue", agent_user_id="u1", queue_id="q")
    seconds += 1
    h.move(seconds, "c", LegTrigger.END, cause=cause.value)
    # Reports may still arrive after the end (the IVR's outcome, a disposition).
    h.fact(seconds + 7, FactKind.IVR_LEFT, outcome="abandoned")
    h.fact(seconds + 9, FactKind.DISPOSITION, disposition="late")
    cdr = h.cdr(short_abandon_s=short_s)
    duration = (cdr.ended_at - cdr.arrived_at).total_seconds()  # type: ignore[operator]
    assert duration == pytest.approx(seconds)
    for figure in (cdr.ivr_s, cdr.talk_s, cdr.hold_s):
        assert 0 <= figure <= duration + 1e-6
    assert cdr.talk_s + cdr.hold_s <= duration + 1e-6
    if cdr.queue_wait_s is not None:
        assert 0 <= cdr.queue_wait_s <= duration + 1e-6
    if cdr.abandoned:
        assert cdr.agent_answered_at is None and cause is EndCause.CUSTOMER_HANGUP
        assert cdr.abandon_point in ("ivr", "queue", "ringing")
    assert not cdr.short_abandon or cdr.abandoned
    assert (cdr.abandoned_after_s is not None) is cdr.abandoned
    assert all(leg.ended_at is not None for leg in cdr.legs if leg.leg_id == "c")
