"""Shift scheduling with OR-Tools CP-SAT.

Formulation (all on the planning grid, one slot = ``grid`` minutes):

* A *template* is a (day, start slot, length) the rules allow.
* ``y[a, j]`` (bool): agent ``a`` works template ``j``. Agents are interchangeable, so
  ``n[j] = sum_a y[a, j]`` is what coverage sees.
* Breaks are placed per template, not per agent: ``m[j, r, p]`` (int) shifts of template
  ``j`` take break rule ``r`` at position ``p`` of its window; ``sum_p m[j, r, p] = n[j]``.
  This keeps the model small; breaks are handed to concrete agents afterwards.
* coverage[t] = sum of n[j] over templates covering t - sum of m over breaks covering t;
  under[t] >= req[t] - coverage[t], over[t] >= coverage[t] - req[t], both >= 0.
* Per agent: one shift per day; per ISO week at most ``max_days_per_week`` shifts and
  ``max_minutes_per_week`` minutes; no pair of shifts on consecutive days closer than
  ``min_rest_minutes``.
* Objective: minimise ``under_weight * sum(under) + over_weight * sum(over)``.
* Symmetry breaking: agent ``a`` works at least as many minutes as agent ``a + 1``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from jietong.wfm.scheduling.model import (
    BreakRule,
    PlacedBreak,
    Requirements,
    ScheduleConfig,
    ScheduleInputError,
    ScheduleResult,
    Shift,
    coverage_of,
    refine,
)

__all__ = ["default_headcount", "solve_schedule"]

_STATUS = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.INFEASIBLE: "infeasible",
    cp_model.MODEL_INVALID: "invalid",
}


@dataclass(frozen=True)
class _BreakWindow:
    rule: BreakRule
    first: int  # earliest start, slots after the shift start
    last: int  # latest start, slots after the shift start
    width: int  # slots


@dataclass(frozen=True)
class _Template:
    day: dt.date
    start: int  # global slot index
    length: int  # slots
    breaks: tuple[_BreakWindow, ...]


@dataclass(frozen=True)
class _Grid:
    requirements: Requirements  # refined to the grid
    slot_of: dict[dt.datetime, int]
    days: dict[dt.date, tuple[int, int]]  # day -> first slot, end slot (exclusive)
    minutes: int


def _build_grid(requirements: Requirements, grid: int) -> _Grid:
    """Lay out every day from its first to last interval on a contiguous slot range."""
    fine = refine(requirements, grid)
    by_day: dict[dt.date, list[dt.datetime]] = defaultdict(list)
    for start in fine.starts:
        by_day[start.date()].append(start)
    starts: list[dt.datetime] = []
    required: list[int] = []
    given = dict(zip(fine.starts, fine.required.tolist(), strict=True))
    days: dict[dt.date, tuple[int, int]] = {}
    for day in sorted(by_day):
        first, last = by_day[day][0], by_day[day][-1]
        begin = len(starts)
        moment = first
        while moment <= last:
            starts.append(moment)
            # Gaps inside a day need nobody but may be covered by a shift passing through.
            required.append(int(given.get(moment, 0)))
            moment += dt.timedelta(minutes=grid)
        days[day] = (begin, len(starts))
    laid = Requirements(tuple(starts), np.array(required, dtype=np.int64), grid)
    return _Grid(laid, {s: i for i, s in enumerate(starts)}, days, grid)


def _templates(grid: _Grid, config: ScheduleConfig) -> list[_Template]:
    rules = config.rules
    out: list[_Template] = []
    step = rules.start_step_minutes // grid.minutes
    for day, (begin, end) in grid.days.items():
        day_start = grid.requirements.starts[begin]
        lo = begin
        if rules.earliest_start is not None:
            earliest = dt.datetime.combine(day, rules.earliest_start)
            lo = begin + max(
                0, math.ceil((earliest - day_start).total_seconds() / 60 / grid.minutes)
            )
        hi = end
        if rules.latest_end is not None:
            latest = dt.datetime.combine(day, rules.latest_end)
            hi = min(end, begin + int((latest - day_start).total_seconds() // 60 // grid.minutes))
        for minutes in rules.shift_minutes:
            length = minutes // grid.minutes
            breaks = tuple(
                _BreakWindow(
                    rule,
                    rule.earliest_offset // grid.minutes,
                    rule.latest_offset // grid.minutes,
                    rule.minutes // grid.minutes,
                )
                for rule in rules.breaks_for(minutes)
            )
            for start in range(lo, hi - length + 1, step):
                out.append(_Template(day, start, length, breaks))
    return out


def default_headcount(requirements: Requirements, config: ScheduleConfig) -> int:
    """An agent count large enough to cover every interval (an upper bound, not a plan).

    Each day needs at most its peak requirement per shift "wave" that fits in the day,
    plus a quarter for breaks; spread over the days an agent may work in a week.
    """
    shortest = min(config.rules.shift_minutes)
    per_week: dict[tuple[int, int], float] = defaultdict(float)
    per_day: dict[dt.date, int] = defaultdict(int)
    first: dict[dt.date, dt.datetime] = {}
    last: dict[dt.date, dt.datetime] = {}
    for start, need in zip(requirements.starts, requirements.required.tolist(), strict=True):
        day = start.date()
        per_day[day] = max(per_day[day], int(need))
        first.setdefault(day, start)
        last[day] = start
    for day, peak in per_day.items():
        span = (last[day] - first[day]).total_seconds() / 60 + requirements.interval_minutes
        waves = math.ceil(span / shortest)
        per_week[day.isocalendar()[:2]] += math.ceil(peak * waves * 1.25)
    weekly = max(per_week.values(), default=0.0) / config.rules.max_days_per_week
    return max(math.ceil(weekly), max(per_day.values(), default=0))


Expr = cp_model.LinearExprT


@dataclass
class _Built:
    """The CP-SAT model and the handles needed to read a solution back."""

    model: cp_model.CpModel
    works: list[list[cp_model.IntVar]]  # [agent][template]
    placements: dict[tuple[int, int, int], cp_model.IntVar]  # (template, break, offset)
    objective_vars: list[cp_model.IntVar]


def _add_coverage(
    model: cp_model.CpModel,
    grid: _Grid,
    templates: list[_Template],
    counts: list[Expr],
    headcount: int,
    config: ScheduleConfig,
) -> tuple[dict[tuple[int, int, int], cp_model.IntVar], list[Expr]]:
    n_slots = len(grid.requirements.starts)
    plus: list[list[Expr]] = [[] for _ in range(n_slots)]
    minus: list[list[Expr]] = [[] for _ in range(n_slots)]
    placements: dict[tuple[int, int, int], cp_model.IntVar] = {}
    for j, template in enumerate(templates):
        for t in range(template.start, template.start + template.length):
            plus[t].append(counts[j])
        for r, window in enumerate(template.breaks):
            options = []
            for p in range(window.first, window.last + 1):
                var = model.new_int_var(0, headcount, f"m_{j}_{r}_{p}")
                placements[(j, r, p)] = var
                options.append(var)
                for t in range(template.start + p, template.start + p + window.width):
                    minus[t].append(var)
            model.add(sum(options) == counts[j])
    penalties: list[Expr] = []
    for t, need in enumerate(grid.requirements.required.tolist()):
        coverage = cp_model.LinearExpr.sum(plus[t]) - cp_model.LinearExpr.sum(minus[t])
        under = model.new_int_var(0, int(need), f"under_{t}")
        over = model.new_int_var(0, headcount, f"over_{t}")
        model.add(under >= int(need) - coverage)
        model.add(over >= coverage - int(need))
        penalties += [config.under_weight * under, config.over_weight * over]
    return placements, penalties


def _add_agent_limits(
    model: cp_model.CpModel,
    works: list[list[cp_model.IntVar]],
    templates: list[_Template],
    grid: _Grid,
    config: ScheduleConfig,
) -> None:
    rules = config.rules
    by_day: dict[dt.date, list[int]] = defaultdict(list)
    by_week: dict[tuple[int, int], list[int]] = defaultdict(list)
    for j, template in enumerate(templates):
        by_day[template.day].append(j)
        by_week[template.day.isocalendar()[:2]].append(j)
    starts = grid.requirements.starts
    conflicts = []
    for day, today in by_day.items():
        tomorrow = by_day.get(day + dt.timedelta(days=1), [])
        for j in today:
            end = starts[templates[j].start] + dt.timedelta(
                minutes=templates[j].length * grid.minutes
            )
            for k in tomorrow:
                rest = (starts[templates[k].start] - end).total_seconds() / 60
                if rest < rules.min_rest_minutes:
                    conflicts.append((j, k))
    minutes = [t.length * grid.minutes for t in templates]
    for row in works:
        for day_templates in by_day.values():
            model.add_at_most_one(row[j] for j in day_templates)
        for week_templates in by_week.values():
            model.add(sum(row[j] for j in week_templates) <= rules.max_days_per_week)
            model.add(
                sum(minutes[j] * row[j] for j in week_templates) <= rules.max_minutes_per_week
            )
        for j, k in conflicts:
            model.add_bool_or([row[j].Not(), row[k].Not()])
    for row, following in itertools.pairwise(works):
        model.add(
            sum(m * v for m, v in zip(minutes, row, strict=True))
            >= sum(m * v for m, v in zip(minutes, following, strict=True))
        )


def _build(
    grid: _Grid, templates: list[_Template], headcount: int, config: ScheduleConfig
) -> _Built:
    model = cp_model.CpModel()
    works = [
        [model.new_bool_var(f"y_{a}_{j}") for j in range(len(templates))] for a in range(headcount)
    ]
    counts: list[Expr] = [sum(works[a][j] for a in range(headcount)) for j in range(len(templates))]
    placements, penalties = _add_coverage(model, grid, templates, counts, headcount, config)
    _add_agent_limits(model, works, templates, grid, config)
    model.minimize(sum(penalties))
    return _Built(model, works, placements, [])


def _read_shifts(
    solver: cp_model.CpSolver, built: _Built, templates: list[_Template], grid: _Grid
) -> tuple[Shift, ...]:
    starts = grid.requirements.starts
    step = dt.timedelta(minutes=grid.minutes)
    shifts: list[Shift] = []
    for j, template in enumerate(templates):
        agents = [a for a, row in enumerate(built.works) if solver.boolean_value(row[j])]
        if not agents:
            continue
        # Hand each break's chosen positions to the template's agents in order.
        per_agent: list[list[PlacedBreak]] = [[] for _ in agents]
        for r, window in enumerate(template.breaks):
            offsets = [
                p
                for p in range(window.first, window.last + 1)
                for _ in range(solver.value(built.placements[(j, r, p)]))
            ]
            for i, p in enumerate(offsets[: len(agents)]):
                begin = starts[template.start] + p * step
                per_agent[i].append(
                    PlacedBreak(window.rule.name, begin, begin + window.width * step)
                )
        begin = starts[template.start]
        for i, a in enumerate(agents):
            end = begin + template.length * step
            shifts.append(Shift(f"agent-{a + 1:03d}", begin, end, tuple(per_agent[i])))
    return tuple(sorted(shifts, key=lambda s: (s.agent, s.start)))


def solve_schedule(requirements: Requirements, config: ScheduleConfig) -> ScheduleResult:
    """Turn required agents per interval into shifts with breaks; see the module docstring.

    Coverage in the result is recomputed from the returned shifts on the planning grid.
    Raises :class:`ScheduleInputError` when no allowed shift fits any day.
    """
    grid_minutes = config.rules.grid_minutes(requirements.interval_minutes)
    grid = _build_grid(requirements, grid_minutes)
    templates = _templates(grid, config)
    if not templates:
        raise ScheduleInputError(
            "no allowed shift fits into the open hours: check shift lengths and start window"
        )
    headcount = (
        config.headcount
        if config.headcount is not None
        else default_headcount(requirements, config)
    )
    built = _build(grid, templates, headcount, config)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = config.time_limit_seconds
    solver.parameters.num_workers = max(1, config.workers)
    solver.parameters.random_seed = config.seed
    began = time.perf_counter()
    status = solver.solve(built.model)
    elapsed = time.perf_counter() - began
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    shifts = _read_shifts(solver, built, templates, grid) if found else ()
    return ScheduleResult(
        status=_STATUS.get(status, "unknown"),
        objective=float(solver.objective_value) if found else float("nan"),
        shifts=shifts,
        coverage=coverage_of(shifts, grid.requirements),
        headcount=headcount,
        solve_seconds=elapsed,
    )
