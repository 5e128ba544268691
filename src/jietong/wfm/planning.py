"""The planning chain: forecast -> required agents -> shifts -> check by simulation.

One pure function, :func:`run_plan`, strings together what the other ``jietong.wfm``
modules do separately, so that the CLI (``jietong wfm plan``) and the web page run the
same plan from the same inputs:

1. **Forecast** the next open days from an :class:`IntervalSeries` (backtest, pick the most
   accurate model, refit; :mod:`jietong.wfm.forecasting`).
2. **Staff** every forecast interval with the vectorised Erlang C solver (Erlang A when a
   patience is given): ``required`` agents on-line, ``required_heads`` =
   ceil(required / (1 − shrinkage)) agents to schedule (:mod:`jietong.wfm.staffing`).
3. **Schedule** shifts with breaks covering ``required_heads`` (CP-SAT,
   :mod:`jietong.wfm.scheduling`), or skip and take the requirement as the plan.
4. **Simulate** each planned day with the scheduled agents (:mod:`jietong.wfm.simulation`):
   arrivals Poisson around the forecast, exponential handle times with the AHT and, with a
   patience, exponential patience. The agents are the schedule's coverage per grid slot
   (breaks included) net of shrinkage, floor(working x (1 - shrinkage)): the plan is
   checked on the staff it will actually have on-line, not on the heads it pays for.

Days are simulated separately (a night between them empties the queue) and replications
run replication-major, so a time budget that stops early still leaves whole replications
of every day. Everything is in the organisation's local time, naive ``datetime`` values.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from jietong.core.errors import InvalidInput
from jietong.wfm import export
from jietong.wfm.forecasting import (
    ForecastConfig,
    ForecastInputError,
    ForecastResult,
    IntervalSeries,
    default_models,
    forecast,
)
from jietong.wfm.scheduling import (
    BreakRule,
    Requirements,
    ScheduleConfig,
    ScheduleInputError,
    ScheduleResult,
    ShiftRules,
    solve_schedule,
)
from jietong.wfm.simulation import (
    AgentSpec,
    Estimate,
    Exponential,
    Never,
    QueueSpec,
    ReplicationResult,
    Scenario,
    SimulationReport,
    agents_from_headcount,
    estimate,
    simulate,
    summarize,
)
from jietong.wfm.staffing import StaffingTargets, solve_staffing

__all__ = [
    "DaySummary",
    "IntervalPlan",
    "PlanConfig",
    "PlanInputError",
    "PlanResult",
    "ProgressFn",
    "plan_tables",
    "run_plan",
    "standard_shift_rules",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ProgressFn = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``; stages: forecast, staffing, schedule, simulation."""

_QUEUE = "queue"
_MIN_REPLICATIONS_FOR_CI = 2


class PlanInputError(ValueError):
    """The plan cannot be made from these inputs; the message says why, for a person."""


def standard_shift_rules(
    shift_hours: Sequence[float] = (8.0,),
    *,
    start_step_minutes: int = 30,
    break_minutes: int = 15,
    lunch_minutes: int = 30,
    max_days_per_week: int = 5,
    max_hours_per_week: float = 40.0,
    min_rest_hours: float = 11.0,
    earliest_start: dt.time | None = None,
    latest_end: dt.time | None = None,
) -> ShiftRules:
    """Shift rules with the usual two short breaks and a lunch (0 minutes: leave out).

    Breaks fall 1.5-2.5 h and 5.5-6.5 h into a shift, lunch 3.5-4.5 h in; a rule only
    applies to shifts long enough to hold its window (see :class:`ShiftRules`).
    """
    breaks: list[BreakRule] = []
    if break_minutes > 0:
        breaks += [BreakRule("break", break_minutes, 90, 150)]
        breaks += [BreakRule("break2", break_minutes, 330, 390)]
    if lunch_minutes > 0:
        breaks += [BreakRule("lunch", lunch_minutes, 210, 270)]
    try:
        return ShiftRules(
            shift_minutes=tuple(round(h * 60) for h in shift_hours),
            start_step_minutes=start_step_minutes,
            breaks=tuple(breaks),
            earliest_start=earliest_start,
            latest_end=latest_end,
            max_days_per_week=max_days_per_week,
            max_minutes_per_week=round(max_hours_per_week * 60),
            min_rest_minutes=round(min_rest_hours * 60),
        )
    except ScheduleInputError as exc:
        raise PlanInputError(str(exc)) from exc


@dataclass(frozen=True)
class PlanConfig:
    """Everything a plan needs besides the history.

    ``schedule`` None skips scheduling (the requirement is the plan); ``replications`` 0
    skips the simulation. ``simulation_budget_seconds`` stops adding replications once
    spent (at least two are always run, so there is a confidence interval).
    """

    targets: StaffingTargets
    aht_seconds: float
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    patience_seconds: float | None = None
    shrinkage: float = 0.0
    schedule: ScheduleConfig | None = field(default_factory=ScheduleConfig)
    replications: int = 10
    seed: int = 0
    simulation_budget_seconds: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.aht_seconds) and self.aht_seconds > 0):
            raise PlanInputError("the average handle time must be a positive number of seconds")
        if self.patience_seconds is not None and not (
            math.isfinite(self.patience_seconds) and self.patience_seconds > 0
        ):
            raise PlanInputError("the mean patience must be a positive number of seconds")
        if not 0.0 <= self.shrinkage < 1.0:
            raise PlanInputError("shrinkage must be at least 0 and below 1")
        if self.replications < 0:
            raise PlanInputError("replications must be 0 (no simulation) or more")
        try:
            self.targets.validate(erlang_a=self.patience_seconds is not None)
        except ValueError as exc:
            raise PlanInputError(str(exc)) from exc


@dataclass(frozen=True, eq=False)
class IntervalPlan:
    """Per forecast interval (open intervals of the planned days, local time).

    ``required``: agents on-line (Erlang); ``required_heads``: with shrinkage, what the
    scheduler is asked to cover; ``scheduled``: agents working (on shift, not on break)
    throughout the interval (the minimum over the scheduler's finer grid; equal to
    ``required_heads`` without a schedule). ``erlang_service_level``: the staffing model's
    service level at ``required``. ``sim_*``: simulated service level, mean and 95 %
    interval (NaN without simulation, or with nothing offered).
    """

    starts: tuple[dt.datetime, ...]
    interval_minutes: int
    forecast: FloatArray
    required: IntArray
    required_heads: IntArray
    scheduled: IntArray
    erlang_service_level: FloatArray
    sim_service_level: FloatArray
    sim_low: FloatArray
    sim_high: FloatArray

    @property
    def understaffed(self) -> npt.NDArray[np.bool_]:
        """Intervals where fewer agents work than ``required_heads``."""
        mask: npt.NDArray[np.bool_] = self.scheduled < self.required_heads
        return mask


@dataclass(frozen=True)
class DaySummary:
    """One planned day. Hours are agent-hours at work (breaks excluded)."""

    date: dt.date
    contacts: float
    required_hours: float  # on-line
    required_heads_hours: float  # with shrinkage: what was asked of the scheduler
    scheduled_hours: float
    service_level: Estimate | None
    understaffed_intervals: int
    below_target_intervals: int | None  # simulated SL under the target (None: no sim/target)


@dataclass(frozen=True, eq=False)
class PlanResult:
    """A plan with its evidence. ``simulation`` holds one report per planned day."""

    name: str
    config: PlanConfig
    forecast: ForecastResult
    intervals: IntervalPlan
    days: tuple[DaySummary, ...]
    schedule: ScheduleResult | None
    simulation: tuple[SimulationReport, ...]
    service_level: Estimate | None
    replications_run: int


def _tick(progress: ProgressFn | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def _forecast(
    series: IntervalSeries, config: PlanConfig, progress: ProgressFn | None
) -> ForecastResult:
    fc = config.forecast
    n_models = len(fc.models) if fc.models is not None else len(default_models(fc.ma_weeks))
    total = n_models * fc.folds + 1
    done = 0

    def tick(_step: str) -> None:
        nonlocal done
        done += 1
        _tick(progress, "forecast", min(done, total), total)

    try:
        return forecast(series, fc, tick)
    except ForecastInputError as exc:
        raise PlanInputError(str(exc)) from exc


def _starts(series: IntervalSeries) -> tuple[dt.datetime, ...]:
    return tuple(pd.Timestamp(s).to_pydatetime() for s in series.starts)


def _schedule(
    starts: tuple[dt.datetime, ...], heads: IntArray, interval: int, config: ScheduleConfig
) -> ScheduleResult:
    try:
        return solve_schedule(Requirements(starts, heads, interval), config)
    except ScheduleInputError as exc:
        raise PlanInputError(str(exc)) from exc


def _scheduled_per_interval(
    starts: Sequence[dt.datetime], interval: int, schedule: ScheduleResult
) -> IntArray:
    """Agents working throughout each interval: the minimum over its grid slots."""
    by_start = dict(
        zip(schedule.coverage.starts, schedule.coverage.scheduled.tolist(), strict=True)
    )
    step = dt.timedelta(minutes=schedule.coverage.interval_minutes)
    parts = max(1, interval // schedule.coverage.interval_minutes)
    out = [min(by_start.get(s + k * step, 0) for k in range(parts)) for s in starts]
    return np.asarray(out, dtype=np.int64)


@dataclass(frozen=True)
class _Day:
    """One day laid out for the simulator: a contiguous grid from open to close."""

    date: dt.date
    origin: dt.datetime
    rows: tuple[int, ...]  # indices into the plan's intervals
    slots: tuple[int, ...]  # grid slot of each row
    n_slots: int


def _days(starts: Sequence[dt.datetime], interval: int) -> list[_Day]:
    grouped: dict[dt.date, list[int]] = defaultdict(list)
    for i, start in enumerate(starts):
        grouped[start.date()].append(i)
    out = []
    step = interval * 60
    for date in sorted(grouped):
        rows = grouped[date]
        origin = starts[rows[0]]
        slots = tuple(int((starts[i] - origin).total_seconds()) // step for i in rows)
        out.append(_Day(date, origin, tuple(rows), slots, slots[-1] + 1))
    return out


def _net(heads: Sequence[int], shrinkage: float) -> list[int]:
    """Agents on-line out of ``heads`` at work: floor(heads x (1 - shrinkage)).

    The floor keeps the check honest: heads = ceil(required / (1 - shrinkage)), so a
    fully covered interval nets at least ``required`` and never more than planned.
    """
    return [math.floor(h * (1.0 - shrinkage) + 1e-9) for h in heads]


def _day_agents(
    day: _Day, interval: int, heads: IntArray, schedule: ScheduleResult | None, shrinkage: float
) -> tuple[AgentSpec, ...]:
    """The day's on-line agents: the schedule's coverage (or the requirement) net of
    shrinkage, on the scheduler's grid so that breaks count to the minute."""
    skills = {_QUEUE: 1}
    if schedule is None:
        per_slot = [0] * day.n_slots
        for row, slot in zip(day.rows, day.slots, strict=True):
            per_slot[slot] = int(heads[row])
        return agents_from_headcount(_net(per_slot, shrinkage), interval * 60.0, skills)
    coverage = schedule.coverage
    grid = coverage.interval_minutes * 60.0
    today = [
        (start, int(n))
        for start, n in zip(coverage.starts, coverage.scheduled, strict=True)
        if start.date() == day.date
    ]
    if not today:
        return ()
    lead = int((today[0][0] - day.origin).total_seconds() // grid)
    per_slot = [0] * max(lead, 0) + [n for _, n in today]
    return agents_from_headcount(_net(per_slot, shrinkage), grid, skills)


def _scenario(
    day: _Day, interval: int, volumes: FloatArray, agents: tuple[AgentSpec, ...], cfg: PlanConfig
) -> Scenario:
    per_slot = [0.0] * day.n_slots
    for row, slot in zip(day.rows, day.slots, strict=True):
        per_slot[slot] = float(volumes[row])
    patience = Never() if cfg.patience_seconds is None else Exponential(cfg.patience_seconds)
    queue = QueueSpec(_QUEUE, tuple(per_slot), Exponential(cfg.aht_seconds), patience)
    return Scenario(
        interval_seconds=interval * 60.0,
        n_intervals=day.n_slots,
        queues=(queue,),
        agents=agents,
        service_target_seconds=cfg.targets.target_seconds,
    )


@dataclass(frozen=True)
class _Simulated:
    reports: tuple[SimulationReport, ...]
    overall: Estimate | None
    replications: int


def _pooled_service_level(per_day: Sequence[Sequence[ReplicationResult]], reps: int) -> Estimate:
    """Per replication, answered in target over live offered across all days."""
    values = []
    for r in range(reps):
        hit = live = 0.0
        for results in per_day:
            m = results[r].metrics(range(results[r].n_intervals))
            offered = m["offered"] - m["callbacks"]
            if offered > 0:
                hit += m["service_level"] * offered
                live += offered
        values.append(hit / live if live > 0 else math.nan)
    return estimate(values)


def _simulate(
    days: Sequence[_Day],
    interval: int,
    volumes: FloatArray,
    heads: IntArray,
    schedule: ScheduleResult | None,
    cfg: PlanConfig,
    progress: ProgressFn | None,
) -> _Simulated:
    agents = [_day_agents(day, interval, heads, schedule, cfg.shrinkage) for day in days]
    results: list[list[ReplicationResult]] = [[] for _ in days]
    seeds = np.random.SeedSequence(cfg.seed).spawn(cfg.replications)
    began = time.perf_counter()
    total = cfg.replications * len(days)
    reps = 0
    for r, seed in enumerate(seeds):
        budget = cfg.simulation_budget_seconds
        spent = time.perf_counter() - began
        if budget is not None and r >= _MIN_REPLICATIONS_FOR_CI and spent > budget:
            break
        for d, (day, day_seed) in enumerate(zip(days, seed.spawn(len(days)), strict=True)):
            try:
                scenario = _scenario(day, interval, volumes, agents[d], cfg)
                results[d].append(simulate(scenario, day_seed))
            except InvalidInput as exc:
                raise PlanInputError(str(exc)) from exc
            _tick(progress, "simulation", r * len(days) + d + 1, total)
        reps += 1
    reports = tuple(summarize(rs) for rs in results)
    return _Simulated(reports, _pooled_service_level(results, reps), reps)


def _interval_sl(
    days: Sequence[_Day], reports: Sequence[SimulationReport], n: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    mean, low, high = (np.full(n, np.nan) for _ in range(3))
    for day, report in zip(days, reports, strict=True):
        for row, slot in zip(day.rows, day.slots, strict=True):
            figure = report.per_interval[slot]["service_level"]
            mean[row], low[row], high[row] = figure.mean, figure.low, figure.high
    # A service level is a proportion: a t-interval reaching past 0 or 1 says nothing more.
    return mean, np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)


def _summaries(
    plan: IntervalPlan,
    schedule: ScheduleResult | None,
    simulated: _Simulated | None,
    target: float | None,
) -> tuple[DaySummary, ...]:
    hours = plan.interval_minutes / 60.0
    scheduled_hours: dict[dt.date, float] = defaultdict(float)
    if schedule is not None:
        grid = schedule.coverage.interval_minutes / 60.0
        for start, heads in zip(schedule.coverage.starts, schedule.coverage.scheduled, strict=True):
            scheduled_hours[start.date()] += float(heads) * grid
    dates = sorted({s.date() for s in plan.starts})
    out = []
    for d, date in enumerate(dates):
        rows = np.array([s.date() == date for s in plan.starts])
        below = None
        if simulated is not None and target is not None:
            sl = plan.sim_service_level[rows]
            below = int(np.sum(np.isfinite(sl) & (sl < target)))
        out.append(
            DaySummary(
                date=date,
                contacts=float(plan.forecast[rows].sum()),
                required_hours=float(plan.required[rows].sum()) * hours,
                required_heads_hours=float(plan.required_heads[rows].sum()) * hours,
                scheduled_hours=(
                    scheduled_hours[date]
                    if schedule is not None
                    else float(plan.scheduled[rows].sum()) * hours
                ),
                service_level=simulated.reports[d].overall["service_level"] if simulated else None,
                understaffed_intervals=int(plan.understaffed[rows].sum()),
                below_target_intervals=below,
            )
        )
    return tuple(out)


def run_plan(
    series: IntervalSeries, config: PlanConfig, progress: ProgressFn | None = None
) -> PlanResult:
    """Forecast, staff, schedule and simulate; see the module docstring.

    Raises :class:`PlanInputError` (with a message for a person) when any step cannot
    use its input: too little history, a shift that fits no day, bad targets.
    """
    result = _forecast(series, config, progress)
    fc = result.forecast
    interval = fc.interval_minutes
    starts = _starts(fc)
    _tick(progress, "staffing", 0, 1)
    staffing = solve_staffing(
        fc.counts,
        config.aht_seconds,
        interval * 60.0,
        config.targets,
        patience_seconds=config.patience_seconds,
        shrinkage=config.shrinkage,
    )
    _tick(progress, "staffing", 1, 1)
    heads = staffing.scheduled_agents.astype(np.int64)
    schedule = None
    scheduled = heads
    if config.schedule is not None:
        _tick(progress, "schedule", 0, 1)
        schedule = _schedule(starts, heads, interval, config.schedule)
        scheduled = _scheduled_per_interval(starts, interval, schedule)
        _tick(progress, "schedule", 1, 1)
    days = _days(starts, interval)
    simulated = None
    nan = np.full(len(starts), np.nan)
    sim_mean, sim_low, sim_high = nan, nan, nan
    if config.replications > 0:
        simulated = _simulate(days, interval, fc.counts, heads, schedule, config, progress)
        sim_mean, sim_low, sim_high = _interval_sl(days, simulated.reports, len(starts))
    plan = IntervalPlan(
        starts=starts,
        interval_minutes=interval,
        forecast=np.asarray(fc.counts, dtype=np.float64),
        required=staffing.required_agents.astype(np.int64),
        required_heads=heads,
        scheduled=scheduled,
        erlang_service_level=np.asarray(staffing.metrics.service_level, dtype=np.float64),
        sim_service_level=sim_mean,
        sim_low=sim_low,
        sim_high=sim_high,
    )
    return PlanResult(
        name=series.name,
        config=config,
        forecast=result,
        intervals=plan,
        days=_summaries(plan, schedule, simulated, config.targets.service_level),
        schedule=schedule,
        simulation=simulated.reports if simulated else (),
        service_level=simulated.overall if simulated else None,
        replications_run=simulated.replications if simulated else 0,
    )


def _finite(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


def plan_tables(result: PlanResult) -> dict[str, pd.DataFrame]:
    """Sheets for export: intervals, days, accuracy, forecast and, when scheduled, shifts
    and coverage. The first sheet (intervals) is what a CSV export holds."""
    p = result.intervals
    intervals = pd.DataFrame(
        {
            "interval_start": list(p.starts),
            "forecast_contacts": p.forecast.round(3),
            "required_agents": p.required,
            "required_with_shrinkage": p.required_heads,
            "scheduled_agents": p.scheduled,
            "understaffed": p.understaffed,
            "erlang_service_level": p.erlang_service_level.round(4),
            "sim_service_level": [_finite(v) for v in p.sim_service_level],
            "sim_service_level_low": [_finite(v) for v in p.sim_low],
            "sim_service_level_high": [_finite(v) for v in p.sim_high],
        }
    )
    days = pd.DataFrame(
        [
            {
                "date": d.date.isoformat(),
                "forecast_contacts": round(d.contacts, 1),
                "required_agent_hours": round(d.required_hours, 2),
                "required_agent_hours_with_shrinkage": round(d.required_heads_hours, 2),
                "scheduled_agent_hours": round(d.scheduled_hours, 2),
                "sim_service_level": _finite(d.service_level.mean) if d.service_level else None,
                "sim_service_level_low": (
                    _finite(max(d.service_level.low, 0.0)) if d.service_level else None
                ),
                "sim_service_level_high": (
                    _finite(min(d.service_level.high, 1.0)) if d.service_level else None
                ),
                "understaffed_intervals": d.understaffed_intervals,
                "intervals_below_target": d.below_target_intervals,
            }
            for d in result.days
        ]
    )
    sheets = {
        "intervals": intervals,
        "days": days,
        "accuracy": export.accuracy_frame({result.name: result.forecast.report}),
        "forecast": export.forecast_frame([result.forecast]),
    }
    if result.schedule is not None:
        tables = export.schedule_tables(result.schedule)
        sheets["shifts"] = tables["shifts"]
        sheets["coverage"] = tables["coverage"]
    return sheets
