"""Contact volume forecasting: interval series in, per-interval forecasts out.

Pure functions, no database I/O: an adapter feeds :class:`IntervalSeries` built from the
platform's interaction history (or :func:`load_csv` reads a CSV). :func:`forecast`
backtests baselines (seasonal naive, seasonal k-week moving average) and statistical
models (statsmodels exponential smoothing and MSTL), reports WAPE/MASE per model, picks
the most accurate one and forecasts the next open days with holidays and makeup workdays
taken into account.
"""

from __future__ import annotations

from jietong.wfm.forecasting.evaluate import (
    BASELINE_MODELS,
    BacktestReport,
    ForecastConfig,
    ForecastResult,
    ModelScore,
    backtest,
    default_models,
    forecast,
    infer_rules,
    mase,
    wape,
)
from jietong.wfm.forecasting.series import (
    DayMatrix,
    ForecastInputError,
    IntervalSeries,
    load_csv,
    resample,
    series_from_counts,
    series_from_timestamps,
    to_day_matrix,
)

__all__ = [
    "BASELINE_MODELS",
    "BacktestReport",
    "DayMatrix",
    "ForecastConfig",
    "ForecastInputError",
    "ForecastResult",
    "IntervalSeries",
    "ModelScore",
    "backtest",
    "default_models",
    "forecast",
    "infer_rules",
    "load_csv",
    "mase",
    "resample",
    "series_from_counts",
    "series_from_timestamps",
    "to_day_matrix",
    "wape",
]
