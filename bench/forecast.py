"""Forecasting benchmark: accuracy on real bank call data and speed on 100 series.

Run: ``.venv/bin/python bench/forecast.py``

1. Accuracy: the real bank call volumes (``../shared/data/bank_calls_2003_first12weeks.csv``,
   60 weekdays, 5-minute counts) at 15-minute intervals, one week (5 open days) held back;
   WAPE and MASE of every model, with the US holiday calendar and without any calendar,
   plus a 6-fold rolling backtest (the last six weeks, one at a time).
2. Speed: 100 series x 8 weeks of 15-minute intervals *derived from the real data*: each
   is a random 40-weekday window of the bank series, scaled by a random factor (0.05-3x)
   and Poisson-resampled, so it keeps the real seasonality and gets fresh noise. Timed:
   the full pipeline per series (backtest of all 5 models, choice, refit, 5-day forecast),
   and the chosen model alone.

Last line: ``RESULT forecast wape=… snaive_wape=… seconds=…`` (best model's and seasonal
naive's WAPE on the real data's last week, seconds for the 100 series).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from jietong.wfm.forecasting import (
    BacktestReport,
    ForecastConfig,
    IntervalSeries,
    backtest,
    forecast,
    load_csv,
    resample,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
BANK = (DATA / "bank_calls_2003_first12weeks.csv").resolve()
SEED = 20260101
N_SERIES = 100
WINDOW_DAYS = 40  # 8 weeks of weekdays


def print_report(title: str, report: BacktestReport) -> None:
    print(f"\n{title} (held back {report.holdout_start}..{report.holdout_end})")
    for score in report.scores:
        mark = "  <- chosen" if score.name == report.best else ""
        kind = "baseline" if score.baseline else "model"
        print(f"  {score.name:16s} {kind:8s} WAPE {score.wape:7.2%}  MASE {score.mase:6.3f}{mark}")


def derived_series(bank: IntervalSeries, rng: np.random.Generator, index: int) -> IntervalSeries:
    """A random 8-week window of the bank series, rescaled and Poisson-resampled."""
    days = bank.starts.astype("datetime64[D]")
    unique_days = np.unique(days)
    first = int(rng.integers(0, unique_days.size - WINDOW_DAYS + 1))
    chosen = (days >= unique_days[first]) & (days <= unique_days[first + WINDOW_DAYS - 1])
    scale = float(np.exp(rng.uniform(np.log(0.05), np.log(3.0))))
    counts = rng.poisson(bank.counts[chosen] * scale).astype(float)
    return IntervalSeries(bank.starts[chosen], counts, bank.interval_minutes, f"q{index:03d}")


def main() -> int:
    if not BANK.is_file():
        print(f"bank data not found at {BANK}", file=sys.stderr)
        return 1
    bank = resample(load_csv(BANK)["all"], 15)
    print(f"bank data: {len(bank)} intervals of 15 min, {bank.counts.sum():.0f} calls")
    with_holidays = backtest(bank, ForecastConfig(country="US"))
    print_report("real data, last week, US holidays", with_holidays)
    print_report(
        "real data, last week, no holiday calendar", backtest(bank, ForecastConfig(country=None))
    )
    print_report(
        "real data, 6 folds x 1 week, US holidays",
        backtest(bank, ForecastConfig(country="US", folds=6)),
    )

    rng = np.random.default_rng(SEED)
    series = [derived_series(bank, rng, i) for i in range(N_SERIES)]
    config = ForecastConfig(country="US")
    began, cpu = time.perf_counter(), time.process_time()
    results = [forecast(one, config) for one in series]
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu
    single = ForecastConfig(country="US", models=("level_ets",))
    began_single = time.perf_counter()
    for one in series:
        forecast(one, single)
    single_seconds = time.perf_counter() - began_single
    best = np.array([r.report.score(r.model).wape for r in results])
    naive = np.array([r.report.score("seasonal_naive").wape for r in results])
    average = np.array([r.report.score("moving_average").wape for r in results])
    chosen = {name: sum(r.model == name for r in results) for name in {r.model for r in results}}
    print(
        f"\n{N_SERIES} derived series x {WINDOW_DAYS} weekdays x 57 intervals: "
        f"{seconds:.1f} s total ({cpu_seconds:.1f} s CPU), {seconds / N_SERIES * 1000:.0f} ms "
        "per series (backtest 5 models + refit + 5-day forecast)"
    )
    print(
        f"  level_ets alone (backtest + refit + forecast): {single_seconds:.1f} s total, "
        f"{single_seconds / N_SERIES * 1000:.0f} ms per series"
    )
    print(
        f"  median WAPE: chosen {np.median(best):.2%}, moving average {np.median(average):.2%}, "
        f"seasonal naive {np.median(naive):.2%}; chosen models {dict(sorted(chosen.items()))}"
    )
    top = with_holidays.score(with_holidays.best).wape
    snaive = with_holidays.score("seasonal_naive").wape
    print(f"RESULT forecast wape={top:.4f} snaive_wape={snaive:.4f} seconds={seconds:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
