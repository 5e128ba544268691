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

Solving in two steps: the same model with anonymous counts and pooled per-agent limits
(a relaxation, far smaller) is solved first. Its shifts are handed to agents greedily
(each, in time order, to the eligible agent with the fewest minutes that week); when every
shift finds an agent, that plan is optimal if the pooled model was. Otherwise the exact
agent model above is solved, seeded with the greedy plan, and the better plan is kept.
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

# Share of the time limit for the pooled model; the rest is for the exact agent model
# when the greedy hand-out of pooled shifts to agents falls short.
_POOL_SHARE = 0.6

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
    plus a quarter for breaks; the count is the larger of the busiest day's shifts and the
    busiest week's shifts spread over the days an agent may work.
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
    daily: list[int] = []
    for day, peak in per_day.items():
        span = (last[day] - first[day]).total_seconds() / 60 + requirements.interval_minutes
        shifts = math.ceil(peak * math.ceil(span / shortest) * 1.25)
        daily.append(shifts)
        per_week[day.isocalendar()[:2]] += shifts
    weekly = max(per_week.values(), default=0.0) / config.rules.max_days_per_week
    # An agent works at most one shift a day, so a day's shifts bound the count too.
    return max(math.ceil(weekly), max(daily, default=0))


Expr = cp_model.LinearExprT


@dataclass
class _Built:
    """The CP-SAT model and the handles needed to read a solution back."""

    model: cp_model.CpModel
    works: list[list[cp_model.IntVar]]  # [agent][template]
    placements: dict[tuple[int, int, int], cp_model.IntVar]  # (template, break, offset)


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


def _by_day_and_week(
    templates: list[_Template],
) -> tuple[dict[dt.date, list[int]], dict[tuple[int, int], list[int]]]:
    by_day: dict[dt.date, list[int]] = defaultdict(list)
    by_week: dict[tuple[int, int], list[int]] = defaultdict(list)
    for j, template in enumerate(templates):
        by_day[template.day].append(j)
        by_week[template.day.isocalendar()[:2]].append(j)
    return by_day, by_week


def _rest_conflicts(
    templates: list[_Template], grid: _Grid, min_rest_minutes: int
) -> set[tuple[int, int]]:
    """Pairs (today, tomorrow) of templates one agent may not both work: too little rest."""
    by_day, _ = _by_day_and_week(templates)
    starts = grid.requirements.starts
    conflicts: set[tuple[int, int]] = set()
    for day, today in by_day.items():
        tomorrow = by_day.get(day + dt.timedelta(days=1), [])
        for j in today:
            end = starts[templates[j].start] + dt.timedelta(
                minutes=templates[j].length * grid.minutes
            )
            for k in tomorrow:
                rest = (starts[templates[k].start] - end).total_seconds() / 60
                if rest < min_rest_minutes:
                    conflicts.add((j, k))
    return conflicts


def _add_agent_limits(
    model: cp_model.CpModel,
    works: list[list[cp_model.IntVar]],
    templates: list[_Template],
    grid: _Grid,
    config: ScheduleConfig,
) -> None:
    rules = config.rules
    by_day, by_week = _by_day_and_week(templates)
    conflicts = _rest_conflicts(templates, grid, rules.min_rest_minutes)
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


@dataclass(frozen=True)
class _Pool:
    counts: list[int]
    placements: dict[tuple[int, int, int], int]
    status: str


def _solve_pool(
    grid: _Grid,
    templates: list[_Template],
    headcount: int,
    config: ScheduleConfig,
    seconds: float,
) -> _Pool | None:
    """The same model with anonymous shift counts and pooled agent limits.

    It is a relaxation of the agent model (per-agent limits become totals) and much
    smaller, so CP-SAT solves it far better; see :func:`solve_schedule`.
    """
    rules = config.rules
    model = cp_model.CpModel()
    counts = [model.new_int_var(0, headcount, f"n_{j}") for j in range(len(templates))]
    placements, penalties = _add_coverage(model, grid, templates, list(counts), headcount, config)
    by_day, by_week = _by_day_and_week(templates)
    for day_templates in by_day.values():
        model.add(sum(counts[j] for j in day_templates) <= headcount)
    for week_templates in by_week.values():
        model.add(sum(counts[j] for j in week_templates) <= headcount * rules.max_days_per_week)
        model.add(
            sum(templates[j].length * grid.minutes * counts[j] for j in week_templates)
            <= headcount * rules.max_minutes_per_week
        )
    model.minimize(sum(penalties))
    solver = _solver(config, seconds)
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    values = {key: solver.value(var) for key, var in placements.items()}
    return _Pool([solver.value(n) for n in counts], values, _STATUS[status])


def _assign_greedily(
    counts: list[int],
    templates: list[_Template],
    grid: _Grid,
    config: ScheduleConfig,
    headcount: int,
) -> list[list[int]]:
    """Hand pooled shift counts to agents: each shift, in time order, goes to the eligible
    agent with the fewest minutes that week. Agents are then ordered by total minutes to
    satisfy the symmetry breaking. Shifts no agent can take are dropped."""
    rules = config.rules
    conflicts = _rest_conflicts(templates, grid, rules.min_rest_minutes)
    worked: list[dict[dt.date, int]] = [{} for _ in range(headcount)]
    days_in_week: dict[tuple[int, tuple[int, int]], int] = defaultdict(int)
    minutes_in_week: dict[tuple[int, tuple[int, int]], int] = defaultdict(int)
    order = sorted(range(len(templates)), key=lambda j: (templates[j].day, templates[j].start))
    for j in order:
        template = templates[j]
        week = template.day.isocalendar()[:2]
        minutes = template.length * grid.minutes
        yesterday = template.day - dt.timedelta(days=1)
        for _ in range(counts[j]):
            eligible = [
                a
                for a in range(headcount)
                if template.day not in worked[a]
                and days_in_week[(a, week)] < rules.max_days_per_week
                and minutes_in_week[(a, week)] + minutes <= rules.max_minutes_per_week
                and (worked[a].get(yesterday, -1), j) not in conflicts
            ]
            if not eligible:
                break
            agent = min(eligible, key=lambda a: (minutes_in_week[(a, week)], a))
            worked[agent][template.day] = j
            days_in_week[(agent, week)] += 1
            minutes_in_week[(agent, week)] += minutes
    plans = [sorted(w.values()) for w in worked]
    total = [sum(templates[j].length for j in plan) for plan in plans]
    return [plans[a] for a in sorted(range(headcount), key=lambda a: -total[a])]


def _hint(
    built: _Built, plans: list[list[int]], placements: dict[tuple[int, int, int], int]
) -> None:
    for row, plan in zip(built.works, plans, strict=True):
        chosen = set(plan)
        for j, var in enumerate(row):
            built.model.add_hint(var, j in chosen)
    for key, var in built.placements.items():
        built.model.add_hint(var, placements.get(key, 0))


def _solver(config: ScheduleConfig, seconds: float) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(seconds, 0.05)
    solver.parameters.num_workers = max(1, config.workers)
    solver.parameters.random_seed = config.seed
    return solver


def _build(
    grid: _Grid, templates: list[_Template], headcount: int, config: ScheduleConfig
) -> _Built:
    model = cp_model.CpModel()
    works = [
        [model.new_bool_var(f"y_{a}_{j}") for j in range(len(templates))] for a in range(headcount)
    ]
    # One count variable per template keeps the coverage rows short (not agents x shifts).
    counts: list[Expr] = []
    for j in range(len(templates)):
        count = model.new_int_var(0, headcount, f"n_{j}")
        model.add(count == sum(works[a][j] for a in range(headcount)))
        counts.append(count)
    placements, penalties = _add_coverage(model, grid, templates, counts, headcount, config)
    _add_agent_limits(model, works, templates, grid, config)
    model.minimize(sum(penalties))
    return _Built(model, works, placements)


def _shifts(
    assigned: dict[int, list[int]],
    placements: dict[tuple[int, int, int], int],
    templates: list[_Template],
    grid: _Grid,
) -> tuple[Shift, ...]:
    """Concrete shifts from agents per template and break positions per template."""
    starts = grid.requirements.starts
    step = dt.timedelta(minutes=grid.minutes)
    shifts: list[Shift] = []
    for j, agents in assigned.items():
        template = templates[j]
        # Hand each break's chosen positions to the template's agents in order.
        per_agent: list[list[PlacedBreak]] = [[] for _ in agents]
        for r, window in enumerate(template.breaks):
            offsets = [
                p
                for p in range(window.first, window.last + 1)
                for _ in range(placements.get((j, r, p), 0))
            ]
            # Fewer agents than planned shifts (a dropped shift) leaves spare positions;
            # more agents than positions cannot happen (sum of positions = count).
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


def _from_plans(plans: list[list[int]]) -> dict[int, list[int]]:
    assigned: dict[int, list[int]] = defaultdict(list)
    for agent, plan in enumerate(plans):
        for j in plan:
            assigned[j].append(agent)
    return assigned


def _solve_agents(
    grid: _Grid,
    templates: list[_Template],
    headcount: int,
    config: ScheduleConfig,
    seconds: float,
    hint: tuple[list[list[int]], dict[tuple[int, int, int], int]] | None,
) -> tuple[str, tuple[Shift, ...]] | None:
    """The exact agent model, optionally seeded with a plan; None if nothing found."""
    built = _build(grid, templates, headcount, config)
    if hint is not None:
        _hint(built, *hint)
    solver = _solver(config, seconds)
    status = solver.solve(built.model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    assigned = {
        j: [a for a, row in enumerate(built.works) if solver.boolean_value(row[j])]
        for j in range(len(templates))
    }
    placements = {key: solver.value(var) for key, var in built.placements.items()}
    return _STATUS[status], _shifts(assigned, placements, templates, grid)


def _objective(shifts: tuple[Shift, ...], grid: _Grid, config: ScheduleConfig) -> float:
    coverage = coverage_of(shifts, grid.requirements)
    return float(config.under_weight * coverage.under + config.over_weight * coverage.over)


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
    began = time.perf_counter()
    pool = _solve_pool(grid, templates, headcount, config, config.time_limit_seconds * _POOL_SHARE)
    status = "unknown"
    shifts: tuple[Shift, ...] = ()
    plans: list[list[int]] = []
    complete = False
    if pool is not None:
        plans = _assign_greedily(pool.counts, templates, grid, config, headcount)
        status = pool.status
        shifts = _shifts(_from_plans(plans), pool.placements, templates, grid)
        complete = sum(len(p) for p in plans) == sum(pool.counts)
    if pool is None or not complete:
        # Per-agent rules (rest, weekly minutes) kept the greedy hand-out from placing every
        # pooled shift: solve the exact agent model, seeded with what was placed.
        left = config.time_limit_seconds - (time.perf_counter() - began)
        hint = (plans, pool.placements) if pool is not None else None
        exact = _solve_agents(grid, templates, headcount, config, left, hint)
        if exact is not None and (
            not shifts or _objective(exact[1], grid, config) <= _objective(shifts, grid, config)
        ):
            status, shifts = exact
        elif shifts:
            status = "feasible"
    elapsed = time.perf_counter() - began
    coverage = coverage_of(shifts, grid.requirements)
    return ScheduleResult(
        status=status,
        objective=_objective(shifts, grid, config) if shifts else float("nan"),
        shifts=shifts,
        coverage=coverage,
        headcount=headcount,
        solve_seconds=elapsed,
    )
