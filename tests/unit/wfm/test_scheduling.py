"""Shift scheduling with CP-SAT on small instances."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from jietong.wfm.scheduling import (
    BreakRule,
    Requirements,
    ScheduleConfig,
    ScheduleInputError,
    ScheduleResult,
    ShiftRules,
    coverage_of,
    load_requirements_csv,
    refine,
    solve_schedule,
)

BREAKS = (BreakRule("break", 15, 60, 90), BreakRule("lunch", 30, 120, 180))


def requirements(
    days: int, need: list[int], first: dt.datetime, interval: int = 15
) -> Requirements:
    starts = tuple(
        first + dt.timedelta(days=d, minutes=interval * i)
        for d in range(days)
        for i in range(len(need))
    )
    return Requirements(starts, np.array(need * days), interval)


def check_invariants(result: ScheduleResult, rules: ShiftRules) -> None:
    assert result.status in ("optimal", "feasible")
    assert np.all(result.coverage.scheduled >= 0)
    for shift in result.shifts:
        length = (shift.end - shift.start).total_seconds() / 60
        assert length in rules.shift_minutes
        expected = {b.name: b for b in rules.breaks_for(int(length))}
        assert {b.name for b in shift.breaks} == set(expected)
        for placed in shift.breaks:
            rule = expected[placed.name]
            offset = (placed.start - shift.start).total_seconds() / 60
            assert rule.earliest_offset <= offset <= rule.latest_offset
            assert (placed.end - placed.start).total_seconds() / 60 == rule.minutes
            assert shift.start <= placed.start < placed.end <= shift.end


def test_enough_agents_means_no_under_staffing() -> None:
    # 08:00-16:00 needing 2, 3 over lunch time: 4-hour shifts with a break.
    need = [2] * 16 + [3] * 8 + [2] * 8
    rules = ShiftRules(shift_minutes=(240,), breaks=(BREAKS[0],), start_step_minutes=60)
    req = requirements(2, need, dt.datetime(2025, 3, 3, 8, 0))
    result = solve_schedule(req, ScheduleConfig(rules=rules, headcount=8, time_limit_seconds=10))
    check_invariants(result, rules)
    assert result.coverage.under == 0
    assert result.shifts
    # The reported coverage is the one the returned shifts really give.
    again = coverage_of(result.shifts, req)
    assert again.scheduled.tolist() == result.coverage.scheduled.tolist()
    if result.status == "optimal":
        assert result.objective == 10 * result.coverage.under + result.coverage.over


def test_breaks_and_lunch_inside_their_windows_on_long_shifts() -> None:
    need = [3] * 36  # 08:00-17:00
    rules = ShiftRules(shift_minutes=(480,), breaks=BREAKS, start_step_minutes=30)
    req = requirements(1, need, dt.datetime(2025, 3, 3, 8, 0))
    result = solve_schedule(req, ScheduleConfig(rules=rules, time_limit_seconds=10))
    check_invariants(result, rules)
    assert all(len(s.breaks) == 2 for s in result.shifts)


def test_too_few_agents_under_staffs_but_never_over_assigns() -> None:
    need = [4] * 16
    rules = ShiftRules(shift_minutes=(240,), breaks=(), start_step_minutes=60)
    req = requirements(1, need, dt.datetime(2025, 3, 3, 8, 0))
    result = solve_schedule(req, ScheduleConfig(rules=rules, headcount=2, time_limit_seconds=10))
    check_invariants(result, rules)
    assert result.coverage.scheduled.max() <= 2
    assert result.coverage.under == 2 * 16
    assert len({s.agent for s in result.shifts}) <= 2


def test_weekly_limits_per_agent() -> None:
    need = [1] * 16
    rules = ShiftRules(shift_minutes=(240,), breaks=(), start_step_minutes=60, max_days_per_week=3)
    req = requirements(5, need, dt.datetime(2025, 3, 3, 8, 0))  # Monday-Friday
    result = solve_schedule(req, ScheduleConfig(rules=rules, headcount=1, time_limit_seconds=10))
    assert len(result.shifts) == 3
    assert result.coverage.under == 2 * 16
    limited = ShiftRules(
        shift_minutes=(240,), breaks=(), start_step_minutes=60, max_minutes_per_week=480
    )
    result = solve_schedule(req, ScheduleConfig(rules=limited, headcount=1, time_limit_seconds=10))
    assert sum((s.end - s.start).total_seconds() for s in result.shifts) <= 480 * 60


def test_minimum_rest_between_days() -> None:
    # Day 1 needs someone late (18:00-22:00), day 2 early (06:00-10:00): 8 h apart.
    starts = [dt.datetime(2025, 3, 3, 18) + dt.timedelta(minutes=15 * i) for i in range(16)]
    starts += [dt.datetime(2025, 3, 4, 6) + dt.timedelta(minutes=15 * i) for i in range(16)]
    req = Requirements(tuple(starts), np.ones(32, dtype=np.int64), 15)
    rules = ShiftRules(shift_minutes=(240,), breaks=(), start_step_minutes=60)
    result = solve_schedule(req, ScheduleConfig(rules=rules, headcount=1, time_limit_seconds=10))
    assert len(result.shifts) == 1
    relaxed = ShiftRules(shift_minutes=(240,), breaks=(), min_rest_minutes=0)
    result = solve_schedule(req, ScheduleConfig(rules=relaxed, headcount=1, time_limit_seconds=10))
    assert len(result.shifts) == 2 and result.coverage.under == 0


def test_start_window_and_multiple_lengths() -> None:
    need = [2] * 40  # 08:00-18:00
    rules = ShiftRules(
        shift_minutes=(240, 360),
        breaks=(BREAKS[0],),
        earliest_start=dt.time(8, 0),
        latest_end=dt.time(18, 0),
    )
    req = requirements(1, need, dt.datetime(2025, 3, 3, 8, 0))
    result = solve_schedule(req, ScheduleConfig(rules=rules, time_limit_seconds=10))
    check_invariants(result, rules)
    assert result.coverage.under == 0
    for shift in result.shifts:
        assert shift.start.time() >= dt.time(8, 0) and shift.end.time() <= dt.time(18, 0)


def test_thirty_minute_requirements_with_fifteen_minute_breaks() -> None:
    req = requirements(1, [2] * 16, dt.datetime(2025, 3, 3, 8, 0), interval=30)
    rules = ShiftRules(shift_minutes=(480,), breaks=(BREAKS[0],))
    result = solve_schedule(req, ScheduleConfig(rules=rules, time_limit_seconds=10))
    check_invariants(result, rules)
    assert result.coverage.interval_minutes == 15
    assert len(result.coverage.starts) == 32


def test_input_validation() -> None:
    with pytest.raises(ScheduleInputError, match="overlap"):
        ShiftRules(breaks=(BreakRule("a", 30, 60, 120), BreakRule("b", 15, 100, 200)))
    with pytest.raises(ScheduleInputError):
        Requirements((dt.datetime(2025, 3, 3, 8),), np.array([-1]), 15)
    req = requirements(1, [1] * 8, dt.datetime(2025, 3, 3, 8, 0))
    with pytest.raises(ScheduleInputError, match="no allowed shift"):
        solve_schedule(req, ScheduleConfig(rules=ShiftRules(shift_minutes=(480,))))


def test_load_requirements_csv_and_refine() -> None:
    text = b"interval_start,required\n2025-03-03 08:30,2.2\n2025-03-03 08:00,1\n"
    req = load_requirements_csv(text)
    assert req.required.tolist() == [1, 3]
    assert req.interval_minutes == 30
    fine = refine(req, 15)
    assert fine.required.tolist() == [1, 1, 3, 3]
    with pytest.raises(ScheduleInputError, match="interval_start"):
        load_requirements_csv(b"when,agents\n")
    with pytest.raises(ScheduleInputError):
        load_requirements_csv(b"interval_start,required\nsoon,2\n")
