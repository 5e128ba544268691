"""The planning chain on a small instance: forecast -> staffing -> schedule -> simulation."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import openpyxl
import pandas as pd
import pytest

from jietong.wfm import export
from jietong.wfm.forecasting import ForecastConfig, IntervalSeries
from jietong.wfm.planning import (
    PlanConfig,
    PlanInputError,
    PlanResult,
    plan_tables,
    run_plan,
    standard_shift_rules,
)
from jietong.wfm.scheduling import ScheduleConfig
from jietong.wfm.staffing import StaffingTargets, solve_staffing

FAST_MODELS = ("seasonal_naive", "moving_average", "level_ets")


def history(weeks: int = 3, level: float = 20.0, seed: int = 1) -> IntervalSeries:
    """Weekdays 09:00-13:00 in half-hours, a morning peak, Poisson counts."""
    rng = np.random.default_rng(seed)
    starts, counts = [], []
    shape = [0.6, 0.9, 1.2, 1.3, 1.2, 1.0, 0.9, 0.8]
    for day in range(weeks * 7):
        date = dt.datetime(2025, 3, 3) + dt.timedelta(days=day)
        if date.weekday() >= 5:
            continue
        for k, factor in enumerate(shape):
            starts.append(np.datetime64(date + dt.timedelta(hours=9, minutes=30 * k), "m"))
            counts.append(rng.poisson(level * factor))
    return IntervalSeries(np.array(starts), np.array(counts, float), 30, "General/call")


def config(**changes: object) -> PlanConfig:
    base: dict[str, object] = {
        "targets": StaffingTargets(service_level=0.8, target_seconds=20),
        "aht_seconds": 240.0,
        "forecast": ForecastConfig(
            interval_minutes=30, horizon_days=2, holdout_days=2, country=None, models=FAST_MODELS
        ),
        "patience_seconds": 120.0,
        "shrinkage": 0.2,
        "schedule": ScheduleConfig(
            rules=standard_shift_rules((4.0,), break_minutes=0, lunch_minutes=0),
            time_limit_seconds=2.0,
        ),
        "replications": 3,
        "seed": 5,
    }
    base.update(changes)
    return PlanConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def plan() -> PlanResult:
    return run_plan(history(), config())


def test_staffing_follows_the_forecast(plan: PlanResult) -> None:
    p = plan.intervals
    assert len(p.starts) == 2 * 8  # two open days of eight half-hours
    assert [d.date for d in plan.days] == [dt.date(2025, 3, 24), dt.date(2025, 3, 25)]
    expected = solve_staffing(
        p.forecast,
        240.0,
        1800.0,
        StaffingTargets(service_level=0.8, target_seconds=20),
        patience_seconds=120.0,
        shrinkage=0.2,
    )
    np.testing.assert_array_equal(p.required, expected.required_agents)
    np.testing.assert_array_equal(p.required_heads, expected.scheduled_agents)
    assert np.all(p.erlang_service_level >= 0.8)


def test_schedule_covers_the_requirement_and_days_add_up(plan: PlanResult) -> None:
    p = plan.intervals
    assert plan.schedule is not None and plan.schedule.status in ("optimal", "feasible")
    np.testing.assert_array_equal(p.understaffed, p.scheduled < p.required_heads)
    for day in plan.days:
        rows = np.array([s.date() == day.date for s in p.starts])
        assert day.contacts == pytest.approx(p.forecast[rows].sum())
        assert day.required_heads_hours == pytest.approx(p.required_heads[rows].sum() * 0.5)
        assert day.understaffed_intervals == int(p.understaffed[rows].sum())
        # Four-hour shifts, one per agent a day: whole shifts cover the whole day.
        shifts = [s for s in plan.schedule.shifts if s.start.date() == day.date]
        assert day.scheduled_hours == pytest.approx(4.0 * len(shifts))
        assert day.scheduled_hours >= day.required_heads_hours - 1e-9 or day.understaffed_intervals


def test_simulation_checks_the_plan_with_confidence_intervals(plan: PlanResult) -> None:
    assert plan.replications_run == 3
    assert len(plan.simulation) == 2
    assert plan.service_level is not None
    assert 0.5 < plan.service_level.mean <= 1.0
    assert plan.service_level.half_width > 0
    p = plan.intervals
    seen = np.isfinite(p.sim_service_level)
    assert seen.sum() >= 14  # nearly every interval had offered contacts
    assert np.all(p.sim_low[seen] <= p.sim_service_level[seen] + 1e-12)
    assert np.all((p.sim_low >= 0) | np.isnan(p.sim_low))
    assert np.all((p.sim_high <= 1) | np.isnan(p.sim_high))
    for day in plan.days:
        assert day.service_level is not None and day.service_level.n == 3
        assert day.below_target_intervals is not None


def test_the_same_seed_gives_the_same_plan(plan: PlanResult) -> None:
    again = run_plan(history(), config(schedule=None))
    once_more = run_plan(history(), config(schedule=None))
    np.testing.assert_array_equal(again.intervals.sim_service_level,
                                  once_more.intervals.sim_service_level)  # fmt: skip
    np.testing.assert_array_equal(again.intervals.required, plan.intervals.required)


def test_without_a_schedule_the_requirement_is_the_plan() -> None:
    result = run_plan(history(), config(schedule=None, replications=0))
    p = result.intervals
    np.testing.assert_array_equal(p.scheduled, p.required_heads)
    assert not p.understaffed.any()
    assert result.schedule is None and result.simulation == () and result.service_level is None
    assert np.isnan(p.sim_service_level).all()
    for day in result.days:
        assert day.scheduled_hours == pytest.approx(day.required_heads_hours)
        assert day.service_level is None and day.below_target_intervals is None


def test_too_few_agents_show_as_understaffed_and_below_target() -> None:
    short = ScheduleConfig(
        rules=standard_shift_rules((4.0,), break_minutes=0, lunch_minutes=0),
        headcount=2,
        time_limit_seconds=1.0,
    )
    result = run_plan(history(level=30.0), config(schedule=short, shrinkage=0.0))
    assert all(d.understaffed_intervals > 0 for d in result.days)
    assert all((d.below_target_intervals or 0) > 0 for d in result.days)
    assert result.service_level is not None and result.service_level.mean < 0.5


def test_the_simulation_runs_on_agents_net_of_shrinkage() -> None:
    """Heads planned for 50 % shrinkage are twice the on-line requirement; simulated on
    all of them the service level would be near 100 %. Net of shrinkage it stays where
    the plan without shrinkage is."""
    plain = run_plan(history(), config(schedule=None, shrinkage=0.0, replications=4))
    halved = run_plan(history(), config(schedule=None, shrinkage=0.5, replications=4))
    assert plain.service_level is not None and halved.service_level is not None
    np.testing.assert_array_equal(halved.intervals.required, plain.intervals.required)
    assert halved.intervals.required_heads.sum() >= 2 * plain.intervals.required_heads.sum()
    assert halved.service_level.mean == pytest.approx(plain.service_level.mean, abs=0.03)
    assert halved.service_level.mean < 0.97


def test_a_time_budget_keeps_two_replications() -> None:
    result = run_plan(history(), config(schedule=None, replications=50,
                                        simulation_budget_seconds=0.0))  # fmt: skip
    assert result.replications_run == 2
    assert result.service_level is not None and np.isfinite(result.service_level.half_width)


def test_progress_reports_each_stage_in_order() -> None:
    seen: list[str] = []
    run_plan(history(), config(replications=2), lambda stage, done, total: seen.append(stage))
    order = list(dict.fromkeys(seen))
    assert order == ["forecast", "staffing", "schedule", "simulation"]


def test_tables_export_to_csv_and_xlsx(plan: PlanResult) -> None:
    sheets = plan_tables(plan)
    assert list(sheets)[:4] == ["intervals", "days", "accuracy", "forecast"]
    assert {"shifts", "coverage"} <= set(sheets)
    csv = pd.read_csv(io.BytesIO(export.to_csv_bytes(sheets["intervals"])))
    assert len(csv) == 16
    assert csv["required_with_shrinkage"].tolist() == plan.intervals.required_heads.tolist()
    book = openpyxl.load_workbook(io.BytesIO(export.to_xlsx_bytes(sheets)))
    assert book.sheetnames[:2] == ["intervals", "days"]
    assert book["days"].max_row == 1 + len(plan.days)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"aht_seconds": 0.0}, "handle time"),
        ({"shrinkage": 1.0}, "shrinkage"),
        ({"patience_seconds": None, "targets": StaffingTargets(max_abandon=0.05)}, "patience"),
        ({"targets": StaffingTargets(service_level=1.5)}, "service level"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(changes: dict[str, object], message: str) -> None:
    with pytest.raises(PlanInputError, match=message):
        config(**changes)


def test_too_little_history_is_a_plan_input_error() -> None:
    with pytest.raises(PlanInputError, match="not enough history"):
        run_plan(history(weeks=1), config())


def test_a_shift_longer_than_the_open_day_is_a_plan_input_error() -> None:
    long_shifts = ScheduleConfig(rules=standard_shift_rules((8.0,)), time_limit_seconds=1.0)
    with pytest.raises(PlanInputError, match="no allowed shift fits"):
        run_plan(history(), config(schedule=long_shifts, replications=0))
