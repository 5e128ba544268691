"""The interaction lifecycle and the case workflow, driven by random trigger sequences:
the machines never leave their tables, and their timestamps only move forward."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jietong.cases.model import (
    CASE_WORKFLOW,
    FINAL_STATUSES,
    CaseMilestones,
    CaseStatus,
    CaseTrigger,
    stamp_case,
)
from jietong.core.errors import IllegalTransition
from jietong.core.statemachine import StateMachine
from jietong.interactions.model import (
    INBOUND_LIFECYCLE,
    OUTBOUND_LIFECYCLE,
    TERMINAL_STATES,
    Direction,
    InteractionState,
    InteractionTrigger,
    Milestones,
    lifecycle_for,
    stamp,
)

E = TypeVar("E", bound=StrEnum)
T0 = datetime(2025, 1, 1, tzinfo=UTC)
MILESTONES = ("queued_at", "offered_at", "answered_at", "ended_at", "wrapup_ended_at")

# Known triggers, plus a few that no table knows.
interaction_triggers = st.lists(
    st.sampled_from([*InteractionTrigger, "pause", "", "OFFER"]), max_size=40
)
case_triggers = st.lists(st.sampled_from([*CaseTrigger, "escalate", "Resolve"]), max_size=40)
gaps = st.lists(st.integers(min_value=0, max_value=3600), min_size=40, max_size=40)


def table(machine: StateMachine[E], states: Iterable[E]) -> dict[tuple[E, str], E]:
    """The machine's moves, rebuilt through its public interface."""
    return {(s, t): machine.fire(s, t).to_state for s in states for t in machine.triggers_from(s)}


@pytest.mark.parametrize("direction", list(Direction))
@given(triggers=interaction_triggers, gaps=gaps)
def test_interactions_stay_in_their_table_and_stamps_move_forward(
    direction: Direction, triggers: list[str], gaps: list[int]
) -> None:
    machine = lifecycle_for(direction)
    moves = table(machine, InteractionState)
    state, milestones, now = InteractionState.ARRIVED, Milestones(arrived_at=T0), T0
    for trigger, gap in zip(triggers, gaps, strict=False):
        now += timedelta(seconds=gap)
        try:
            move = machine.fire(state, trigger)
        except IllegalTransition:
            assert (state, trigger) not in moves
            continue
        assert moves[(state, trigger)] == move.to_state
        before, state = milestones, move.to_state
        milestones = stamp(milestones, state, now)
        _assert_only_forward(before, milestones, now)
    _assert_ordered(milestones)
    if state in TERMINAL_STATES:
        assert milestones.ended_at is not None
        assert machine.triggers_from(state) == []


@given(triggers=case_triggers, gaps=gaps)
def test_cases_stay_in_their_table_and_stamps_match_the_status(
    triggers: list[str], gaps: list[int]
) -> None:
    moves = table(CASE_WORKFLOW, CaseStatus)
    status, milestones, now = CaseStatus.NEW, CaseMilestones(), T0
    for trigger, gap in zip(triggers, gaps, strict=False):
        now += timedelta(seconds=gap)
        try:
            move = CASE_WORKFLOW.fire(status, trigger)
        except IllegalTransition:
            assert (status, trigger) not in moves
            continue
        status = move.to_state
        milestones = stamp_case(milestones, status, now)
        assert (milestones.closed_at is not None) == (status in FINAL_STATUSES)
        if status is CaseStatus.RESOLVED:
            assert milestones.resolved_at == now
        if status in (CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.PENDING):
            assert milestones.resolved_at is None
        if milestones.resolved_at and milestones.closed_at:
            assert milestones.resolved_at <= milestones.closed_at
    assert status in set(CaseStatus)


def _assert_only_forward(before: Milestones, after: Milestones, now: datetime) -> None:
    for name in MILESTONES:
        old, new = getattr(before, name), getattr(after, name)
        if old is not None:
            assert new == old, f"{name} changed once set"
        if new is not None:
            assert after.arrived_at <= new <= now


def _assert_ordered(m: Milestones) -> None:
    if m.answered_at and m.ended_at:
        assert m.answered_at <= m.ended_at
    if m.ended_at and m.wrapup_ended_at:
        assert m.ended_at <= m.wrapup_ended_at
    if m.queued_at and m.offered_at:
        assert m.queued_at <= m.offered_at


def test_the_interaction_table_is_the_documented_one() -> None:
    s, t = InteractionState, InteractionTrigger
    inbound = table(INBOUND_LIFECYCLE, s)
    assert inbound == {
        (s.ARRIVED, t.ENQUEUE): s.QUEUED,
        (s.QUEUED, t.OFFER): s.OFFERED,
        (s.OFFERED, t.ACCEPT): s.CONNECTED,
        (s.OFFERED, t.DECLINE): s.QUEUED,
        (s.OFFERED, t.TIMEOUT): s.QUEUED,
        (s.CONNECTED, t.TRANSFER): s.QUEUED,
        (s.CONNECTED, t.END): s.WRAP_UP,
        (s.WRAP_UP, t.CLOSE): s.CLOSED,
        (s.ARRIVED, t.ABANDON): s.ABANDONED,
        (s.QUEUED, t.ABANDON): s.ABANDONED,
        (s.OFFERED, t.ABANDON): s.ABANDONED,
    }
    outbound = table(OUTBOUND_LIFECYCLE, s)
    assert outbound == inbound | {
        (s.ARRIVED, t.DIAL): s.CONNECTED,
        (s.ARRIVED, t.CONNECT): s.CONNECTED,
    }


@pytest.mark.parametrize(
    ("machine", "start", "states"),
    [
        (INBOUND_LIFECYCLE, InteractionState.ARRIVED, set(InteractionState)),
        (OUTBOUND_LIFECYCLE, InteractionState.ARRIVED, set(InteractionState)),
        (CASE_WORKFLOW, CaseStatus.NEW, set(CaseStatus)),
    ],
)
def test_every_state_is_reachable_and_every_path_can_finish(
    machine: StateMachine[StrEnum], start: StrEnum, states: set[StrEnum]
) -> None:
    moves = table(machine, states)
    assert _reachable(moves, start) == states
    finals = {s for s in states if not machine.triggers_from(s)}
    for state in states:
        assert _reachable(moves, state) & finals, f"{state} cannot finish"


def _reachable(moves: dict[tuple[E, str], E], start: E) -> set[E]:
    seen, todo = {start}, [start]
    while todo:
        current = todo.pop()
        for (source, _trigger), target in moves.items():
            if source == current and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_a_first_milestone_is_never_overwritten() -> None:
    first = stamp(Milestones(arrived_at=T0), InteractionState.QUEUED, T0 + timedelta(seconds=5))
    again = stamp(first, InteractionState.QUEUED, T0 + timedelta(seconds=50))
    assert again.queued_at == T0 + timedelta(seconds=5)
    assert stamp(first, InteractionState.ARRIVED, T0 + timedelta(seconds=60)) == first
