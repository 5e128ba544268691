"""Charts (PNG/SVG bytes) and table exports (CSV/XLSX bytes)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from jietong.wfm import export, plots
from jietong.wfm.forecasting import ForecastConfig, ForecastResult, IntervalSeries, forecast
from jietong.wfm.scheduling import (
    Requirements,
    ScheduleConfig,
    ScheduleResult,
    ShiftRules,
    solve_schedule,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def weekday_series() -> IntervalSeries:
    rng = np.random.default_rng(3)
    starts: list[np.datetime64] = []
    counts: list[float] = []
    for i in range(35):
        day = dt.date(2025, 1, 6) + dt.timedelta(days=i)
        if day.weekday() >= 5:
            continue
        slots = np.arange(9 * 60, 17 * 60, 30)
        mean = 20 + 10 * np.sin((slots - 540) / 480 * np.pi)
        counts += rng.poisson(mean).astype(float).tolist()
        starts += [np.datetime64(day, "m") + np.timedelta64(int(s), "m") for s in slots]
    return IntervalSeries(np.array(starts), np.array(counts), 30, "queue-a")


@pytest.fixture(scope="module")
def result() -> ForecastResult:
    config = ForecastConfig(
        interval_minutes=30, country=None, horizon_days=2, models=("moving_average",)
    )
    return forecast(weekday_series(), config)


@pytest.fixture(scope="module")
def schedule() -> ScheduleResult:
    starts = tuple(dt.datetime(2025, 3, 3, 9) + dt.timedelta(minutes=15 * i) for i in range(16))
    requirements = Requirements(starts, np.array([1] * 8 + [2] * 8), 15)
    rules = ShiftRules(shift_minutes=(240,), breaks=(), start_step_minutes=60)
    return solve_schedule(requirements, ScheduleConfig(rules=rules, time_limit_seconds=5))


def test_forecast_plot_png_and_svg(result: ForecastResult) -> None:
    png = plots.plot_forecast(result, "png")
    svg = plots.plot_forecast(result, "svg")
    assert png.startswith(PNG_MAGIC) and len(png) > 5_000
    assert b"<svg" in svg[:500]
    assert b"moving_average" in svg  # the title names the model


def test_forecast_figure_without_actuals(result: ForecastResult) -> None:
    figure = plots.forecast_figure(None, result.forecast)
    assert plots.render(figure).startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="unsupported"):
        plots.render(figure, "gif")  # type: ignore[arg-type]


def test_coverage_and_service_level_plots(schedule: ScheduleResult) -> None:
    assert plots.plot_coverage(schedule.coverage).startswith(PNG_MAGIC)
    starts = list(schedule.coverage.starts)
    levels = np.linspace(0.5, 1.0, len(starts))
    svg = plots.plot_service_level(starts, levels, target=0.8, fmt="svg")
    assert b"<svg" in svg[:500]
    with pytest.raises(ValueError, match="differ"):
        plots.plot_service_level(starts, levels[:-1])


def test_forecast_csv_round_trip(result: ForecastResult) -> None:
    frame = export.forecast_frame([result])
    back = pd.read_csv(io.BytesIO(export.to_csv_bytes(frame)))
    assert list(back.columns) == ["series", "interval_start", "forecast", "model"]
    assert len(back) == len(result.forecast) == 2 * 16
    assert back["forecast"].sum() == pytest.approx(result.forecast.counts.sum(), rel=1e-3)


def test_accuracy_frame_marks_the_chosen_model(result: ForecastResult) -> None:
    frame = export.accuracy_frame({result.name: result.report})
    assert frame.loc[frame["chosen"], "model"].tolist() == [result.model]
    assert set(frame.columns) >= {"wape", "mase", "baseline"}


def test_schedule_xlsx_has_sheets(schedule: ScheduleResult, tmp_path: Path) -> None:
    tables = export.schedule_tables(schedule)
    book = openpyxl.load_workbook(io.BytesIO(export.to_xlsx_bytes(tables)))
    assert book.sheetnames == ["shifts", "coverage", "summary"]
    coverage = book["coverage"]
    assert coverage.max_row == 1 + len(schedule.coverage.starts)
    header = [c.value for c in next(coverage.iter_rows(max_row=1))]
    assert header == ["interval_start", "required", "scheduled", "under", "over"]
    shifts = export.shifts_frame(schedule)
    assert len(shifts) == len(schedule.shifts)
    path = tmp_path / "plan.csv"
    export.write_tables(path, tables)
    assert path.read_text().startswith("agent,date,start,end,minutes")
    with pytest.raises(ValueError, match="unsupported"):
        export.write_tables(tmp_path / "plan.json", tables)


def test_requirements_frame() -> None:
    starts = (dt.datetime(2025, 3, 3, 9), dt.datetime(2025, 3, 3, 9, 15))
    frame = export.requirements_frame(Requirements(starts, np.array([1, 2]), 15))
    assert frame["required"].tolist() == [1, 2]
