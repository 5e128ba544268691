"""Volume forecasting: loaders, resampling, metrics, models, backtest and holidays."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from jietong.wfm.forecasting import (
    ForecastConfig,
    ForecastInputError,
    IntervalSeries,
    backtest,
    forecast,
    load_csv,
    mase,
    resample,
    series_from_counts,
    series_from_timestamps,
    to_day_matrix,
    wape,
)
from jietong.wfm.holidays import load_calendar

BANK = (
    Path(__file__).parents[3] / ".." / "shared" / "data" / "bank_calls_2003_first12weeks.csv"
).resolve()
DAY_FACTOR = {0: 1.25, 1: 1.05, 2: 1.0, 3: 0.97, 4: 0.9, 5: 0.5, 6: 0.4}


def synthetic(
    first: dt.date,
    days: int,
    *,
    weekdays: frozenset[int] = frozenset(range(5)),
    skip: frozenset[dt.date] = frozenset(),
    interval: int = 15,
    seed: int = 7,
    level: float = 40.0,
) -> IntervalSeries:
    """Poisson counts 08:00-18:00 with a two-peak day, weekday factors and a mild trend."""
    rng = np.random.default_rng(seed)
    slots = np.arange(8 * 60, 18 * 60, interval)
    hours = slots / 60
    shape = np.exp(-((hours - 10.5) ** 2) / 2) + 0.8 * np.exp(-((hours - 14.5) ** 2) / 3) + 0.1
    starts: list[np.datetime64] = []
    counts: list[float] = []
    for i in range(days):
        day = first + dt.timedelta(days=i)
        if day.weekday() not in weekdays or day in skip:
            continue
        mean = level * shape * DAY_FACTOR[day.weekday()] * (1 + 0.002 * i)
        counts += rng.poisson(mean).astype(float).tolist()
        starts += [np.datetime64(day, "m") + np.timedelta64(int(s), "m") for s in slots]
    return IntervalSeries(np.array(starts), np.array(counts), interval, "synthetic")


def test_interval_series_validates_its_contract() -> None:
    t = np.array(["2025-03-03T08:00", "2025-03-03T08:15"], dtype="datetime64[m]")
    with pytest.raises(ForecastInputError):
        IntervalSeries(t[::-1], np.array([1.0, 2.0]), 15)
    with pytest.raises(ForecastInputError):
        IntervalSeries(t, np.array([1.0, -2.0]), 15)
    with pytest.raises(ForecastInputError):
        IntervalSeries(t + np.timedelta64(5, "m"), np.array([1.0, 2.0]), 15)
    with pytest.raises(ForecastInputError):
        IntervalSeries(t, np.array([1.0, 2.0]), 7)
    series = IntervalSeries(t, np.array([1.0, 2.0]), 15)
    assert not series.counts.flags.writeable


def test_resample_sums_fine_intervals_into_coarse_ones() -> None:
    starts = np.datetime64("2025-03-03T08:00") + np.arange(6) * np.timedelta64(5, "m")
    series = IntervalSeries(starts, np.arange(1.0, 7.0), 5)
    coarse = resample(series, 15)
    assert coarse.counts.tolist() == [6.0, 15.0]
    assert coarse.starts.tolist()[1] == dt.datetime(2025, 3, 3, 8, 15)
    with pytest.raises(ForecastInputError, match="multiple"):
        resample(coarse, 20)


def test_load_csv_with_counts_and_queues() -> None:
    text = (
        "interval_start,queue,calls\n"
        "2025-03-03 08:15,sales,4\n"
        "2025-03-03 08:00,sales,3\n"
        "2025-03-03 08:00,support,5\n"
        "2025-03-03 08:15,support,1\n"
    )
    loaded = load_csv(text.encode())
    assert sorted(loaded) == ["sales", "support"]
    assert loaded["sales"].counts.tolist() == [3.0, 4.0]
    assert loaded["sales"].interval_minutes == 15


def test_load_csv_with_raw_timestamps_fills_open_intervals_with_zero() -> None:
    text = "timestamp\n2025-03-03 08:01\n2025-03-03 08:07\n2025-03-03 08:50\n2025-03-04 08:20\n"
    series = load_csv(text.encode(), interval_minutes=15)["all"]
    # Monday 08:00-09:00 open (4 intervals, one without calls); Tuesday only 08:15.
    assert series.counts.tolist() == [2.0, 0.0, 0.0, 1.0, 1.0]


def test_load_csv_rejects_bad_input() -> None:
    with pytest.raises(ForecastInputError, match="not a time"):
        load_csv(b"interval_start,calls\nyesterday-ish,3\n")
    with pytest.raises(ForecastInputError, match="non-negative"):
        load_csv(b"interval_start,calls\n2025-03-03 08:00,-3\n")
    with pytest.raises(ForecastInputError):
        load_csv(b"")


def test_timestamps_with_time_zone_keep_local_wall_time() -> None:
    series = series_from_timestamps(["2025-03-03T08:05:00+08:00"], 15)
    assert series.starts.tolist() == [dt.datetime(2025, 3, 3, 8, 0)]


def test_series_from_counts_sums_duplicates() -> None:
    series = series_from_counts(["2025-03-03 08:00", "2025-03-03 08:00"], [1, 2], 15)
    assert series.counts.tolist() == [3.0]


def test_metrics() -> None:
    actual = np.array([[10.0, 20.0, np.nan]])
    predicted = np.array([[12.0, 17.0, 99.0]])
    assert wape(actual, predicted) == pytest.approx(5 / 30)
    assert mase(actual, predicted, 2.5) == pytest.approx(1.0)
    assert np.isnan(mase(actual, predicted, 0.0))


def test_backtest_models_beat_seasonal_naive_on_noisy_seasonal_data() -> None:
    series = synthetic(dt.date(2025, 1, 6), 56)
    report = backtest(series, ForecastConfig(country=None, holdout_days=5))
    names = [s.name for s in report.scores]
    assert names[:2] == ["seasonal_naive", "moving_average"]
    assert report.score("seasonal_naive").baseline
    assert not report.score("level_ets").baseline
    for score in report.scores:
        assert score.error is None and 0 < score.wape < 1
    naive = report.score("seasonal_naive").wape
    # Averaging weeks removes Poisson noise that repeating one week keeps.
    assert report.score("moving_average").wape < naive
    assert report.score("level_ets").wape < naive
    assert report.score(report.best).wape == min(s.wape for s in report.scores)
    assert report.score("level_ets").mase < 1.0


def test_forecast_covers_only_open_intervals_of_open_days() -> None:
    gap = frozenset({dt.date(2025, 2, 12)})
    series = synthetic(dt.date(2025, 1, 6), 49, skip=gap)
    result = forecast(series, ForecastConfig(country=None, horizon_days=3))
    stamps = list(result.forecast.starts.tolist())
    days = {s.date() for s in stamps}
    assert days == {dt.date(2025, 2, 24), dt.date(2025, 2, 25), dt.date(2025, 2, 26)}
    assert min(s.time() for s in stamps) == dt.time(8, 0)
    assert max(s.time() for s in stamps) == dt.time(17, 45)
    assert len(result.forecast) == 3 * 40
    assert np.all(result.forecast.counts >= 0)
    monday = result.forecast.counts[:40].sum()
    last_friday = series.counts[-40:].sum()
    assert monday > last_friday  # Monday factor 1.25 vs Friday 0.9


def test_partial_day_gaps_are_not_zeros() -> None:
    series = synthetic(dt.date(2025, 1, 6), 42)
    keep = np.ones(len(series), dtype=bool)
    keep[200:215] = False  # an outage: intervals missing, not zero
    holed = IntervalSeries(series.starts[keep], series.counts[keep], 15)
    full = backtest(series, ForecastConfig(country=None, models=("level_ets",)))
    partial = backtest(holed, ForecastConfig(country=None, models=("level_ets",)))
    assert partial.score("level_ets").wape == pytest.approx(full.score("level_ets").wape, rel=0.15)


def test_cn_holidays_are_closed_and_makeup_days_open() -> None:
    calendar = load_calendar("CN", [2023, 2024])
    holidays = frozenset(calendar.holidays)
    series = synthetic(dt.date(2023, 12, 4), 67, skip=holidays)  # to 2024-02-08
    result = forecast(series, ForecastConfig(country="CN", horizon_days=3))
    days = sorted({s.date() for s in result.forecast.starts.tolist()})
    assert days == [dt.date(2024, 2, 9), dt.date(2024, 2, 18), dt.date(2024, 2, 19)]
    per_day = result.forecast.counts.reshape(3, -1).sum(axis=1)
    # The makeup Sunday is a full workday (Monday-like, first day back), not a weekend.
    assert per_day[1] > 0.9 * per_day[0]
    assert per_day[1] == pytest.approx(per_day[2], rel=0.05)


def test_weekend_open_center_keeps_weekends() -> None:
    series = synthetic(dt.date(2025, 1, 6), 35, weekdays=frozenset(range(7)))
    result = forecast(
        series, ForecastConfig(country=None, horizon_days=7, models=("moving_average",))
    )
    days = sorted({s.date() for s in result.forecast.starts.tolist()})
    assert len(days) == 7
    totals = result.forecast.counts.reshape(7, -1).sum(axis=1)
    sunday = days.index(next(d for d in days if d.weekday() == 6))
    assert totals[sunday] < 0.6 * totals.max()


def test_too_little_history_is_a_clear_error() -> None:
    series = synthetic(dt.date(2025, 1, 6), 9)
    with pytest.raises(ForecastInputError, match="not enough history"):
        backtest(series, ForecastConfig(country=None))
    with pytest.raises(ForecastInputError, match="unknown model"):
        backtest(synthetic(dt.date(2025, 1, 6), 42), ForecastConfig(country=None, models=("x",)))


def test_day_matrix_layout() -> None:
    series = synthetic(dt.date(2025, 1, 6), 7)
    matrix = to_day_matrix(series)
    assert len(matrix.dates) == 5 and matrix.n_slots == 40
    assert matrix.values[0].sum() == series.counts[:40].sum()


@pytest.mark.skipif(not BANK.is_file(), reason="shared bank data not present")
def test_bank_data_model_beats_the_moving_average() -> None:
    series = load_csv(BANK)["all"]
    report = backtest(series, ForecastConfig(country="US", interval_minutes=15))
    moving_average = report.score("moving_average").wape
    assert report.best not in ("seasonal_naive", "moving_average")
    assert report.score(report.best).wape < moving_average
    assert report.score(report.best).wape < 0.09
    assert report.score(report.best).mase < 1.0
