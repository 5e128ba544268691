"""Forecasting models over a :class:`TrainingSet` of days x time-of-day slots.

Every model is a pure function ``(train, targets) -> array`` returning one row of slot
forecasts per target day. Baselines (seasonal naive, seasonal k-week moving average) are
written here because they are one-liners; the statistical models delegate fitting to
statsmodels (exponential smoothing, MSTL decomposition).

Seasonality is keyed by each day's *profile key* (see :mod:`jietong.wfm.holidays`): the
weekday whose pattern applies, which lets makeup workdays and days after a closure borrow
the right profile without special cases inside the models.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.seasonal import MSTL

from jietong.wfm.forecasting.series import DayMatrix
from jietong.wfm.holidays import DayInfo, DayKind, DayRules

__all__ = [
    "ModelFn",
    "ModelUnavailableError",
    "TargetDay",
    "TrainingSet",
    "ensemble",
    "level_profile_ets",
    "mstl_ets",
    "open_slot_mask",
    "seasonal_moving_average",
    "seasonal_naive",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class ModelUnavailableError(RuntimeError):
    """The model cannot be fitted on this training set (e.g. too little history)."""


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """History for a model: the day matrix and each row's classification.

    ``days[i]`` describes ``matrix.dates[i]``. Only open days (regular or makeup) are
    used to learn patterns; holiday rows are ignored because they are atypical.
    """

    matrix: DayMatrix
    days: tuple[DayInfo, ...]
    rules: DayRules

    def __post_init__(self) -> None:
        if len(self.days) != len(self.matrix.dates):
            raise ValueError("days must describe every matrix row")

    @property
    def usable(self) -> BoolArray:
        """Rows that carry a representative open day."""
        return np.array([d.is_open for d in self.days], dtype=bool)

    @property
    def keys(self) -> npt.NDArray[np.int64]:
        """Profile key of each row."""
        return np.array([d.profile_key for d in self.days], dtype=np.int64)


@dataclass(frozen=True)
class TargetDay:
    """A day to forecast; ``step`` counts open days after the end of training (1 = next)."""

    info: DayInfo
    step: int


ModelFn = Callable[[TrainingSet, Sequence[TargetDay]], FloatArray]


def _rows_for_key(train: TrainingSet, key: int, k: int) -> npt.NDArray[np.intp]:
    """Indices of the last ``k`` usable rows whose profile key is ``key``."""
    rows = np.flatnonzero(train.usable & (train.keys == key))
    return rows[-k:]


def _nanmean_rows(values: FloatArray) -> FloatArray:
    # All-NaN columns are expected (slots a day type never opens); keep them NaN quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanmean(values, axis=0), dtype=np.float64)


def _profile(train: TrainingSet, key: int, k: int) -> FloatArray:
    """Mean slot counts of the last ``k`` same-key days (0 where never observed)."""
    rows = _rows_for_key(train, key, k)
    if rows.size == 0:
        # No day of this type yet (e.g. the first makeup day): use recent open days.
        rows = np.flatnonzero(train.usable)[-k * max(len(train.rules.open_weekdays), 1) :]
    if rows.size == 0:
        raise ModelUnavailableError("no open day in the training data")
    return np.nan_to_num(_nanmean_rows(train.matrix.values[rows]), nan=0.0)


def open_slot_mask(train: TrainingSet, key: int, lookback: int = 8) -> BoolArray:
    """Slots open on days of ``key``: observed on at least half of the recent such days."""
    rows = _rows_for_key(train, key, lookback)
    if rows.size == 0:
        rows = np.flatnonzero(train.usable)[-lookback:]
    if rows.size == 0:
        return np.zeros(train.matrix.n_slots, dtype=bool)
    observed = np.isfinite(train.matrix.values[rows]).mean(axis=0)
    return np.asarray(observed >= 0.5, dtype=bool)


def seasonal_naive(train: TrainingSet, targets: Sequence[TargetDay]) -> FloatArray:
    """Each slot equals the same slot on the most recent day with the same profile key."""
    out = []
    for target in targets:
        rows = _rows_for_key(train, target.info.profile_key, 1)
        fallback = _profile(train, target.info.profile_key, 4)
        row = train.matrix.values[rows[0]] if rows.size else fallback
        out.append(np.where(np.isfinite(row), row, fallback))
    return np.array(out, dtype=np.float64).reshape(len(targets), train.matrix.n_slots)


def seasonal_moving_average(k: int = 4) -> ModelFn:
    """Mean of the same slot over the last ``k`` days with the same profile key."""
    if k < 1:
        raise ValueError("k must be >= 1")

    def model(train: TrainingSet, targets: Sequence[TargetDay]) -> FloatArray:
        rows = [_profile(train, t.info.profile_key, k) for t in targets]
        return np.array(rows, dtype=np.float64).reshape(len(targets), train.matrix.n_slots)

    return model


def _shapes_and_factors(
    train: TrainingSet, keys: set[int], k_shape: int, k_factor: int
) -> tuple[dict[int, FloatArray], dict[int, float]]:
    """Intraday shape (sums to 1) and day-of-week volume factor (mean 1) per key."""
    shapes: dict[int, FloatArray] = {}
    totals: dict[int, float] = {}
    for key in keys:
        prof = _profile(train, key, k_shape)
        total = float(prof.sum())
        shapes[key] = prof / total if total > 0 else np.full_like(prof, 1.0 / prof.size)
        totals[key] = float(_profile(train, key, k_factor).sum())
    mean_total = float(np.mean(list(totals.values()))) or 1.0
    factors = {key: (totals[key] / mean_total) or 1.0 for key in keys}
    return shapes, factors


def _fit_level(levels: FloatArray, horizon: int) -> FloatArray:
    """Forecast a daily level series with ETS (additive errors), damped trend or none.

    The two candidates are compared by AICc; short histories use a recent mean.
    """
    if levels.size < 10:
        return np.full(horizon, float(levels[-5:].mean()))
    best_aicc = np.inf
    best: FloatArray = np.full(horizon, float(levels[-5:].mean()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for trend in (None, "add"):
            fit = ETSModel(levels, error="add", trend=trend, damped_trend=trend is not None).fit(
                disp=False
            )
            aicc = float(fit.aicc)
            if np.isfinite(aicc) and aicc < best_aicc:
                best_aicc = aicc
                best = np.asarray(fit.forecast(horizon), dtype=np.float64)
    return best


def level_profile_ets(k_shape: int = 8, k_factor: int = 4) -> ModelFn:
    """Top-down model: daily level x day-of-week factor x intraday shape.

    Each usable day's total is divided by its day-of-week factor to give a deseasonalised
    level; ETS (statsmodels ``ETSModel``, trend chosen by AICc) forecasts that level
    ``step`` open days ahead. Shapes average the last ``k_shape`` same-key days (smooth),
    factors the last ``k_factor`` (recent). Gaps and holidays simply drop out of the level
    series, so no imputation is needed.
    """

    def model(train: TrainingSet, targets: Sequence[TargetDay]) -> FloatArray:
        rows = np.flatnonzero(train.usable)
        if rows.size == 0:
            raise ModelUnavailableError("no open day in the training data")
        keys = {int(k) for k in train.keys[rows]} | {t.info.profile_key for t in targets}
        shapes, factors = _shapes_and_factors(train, keys, k_shape, k_factor)
        levels = []
        for i in rows:
            key = int(train.keys[i])
            values = train.matrix.values[i]
            seen = np.isfinite(values)
            share = float(shapes[key][seen].sum())
            # Scale partly observed days up to a full day using the intraday shape.
            total = float(np.nansum(values)) / share if share > 0.2 else np.nan
            levels.append(total / factors[key])
        level_series = np.array(levels, dtype=np.float64)
        level_series = level_series[np.isfinite(level_series)]
        if level_series.size == 0:
            raise ModelUnavailableError("no fully usable day in the training data")
        horizon = max(t.step for t in targets)
        level_fc = _fit_level(level_series, horizon)
        out = [
            np.maximum(level_fc[t.step - 1], 0.0)
            * factors[t.info.profile_key]
            * shapes[t.info.profile_key]
            for t in targets
        ]
        return np.array(out, dtype=np.float64).reshape(len(targets), train.matrix.n_slots)

    return model


def _regular_grid(train: TrainingSet) -> tuple[list[dt.date], FloatArray]:
    """Training days on a regular weekly grid of open weekdays, gaps imputed.

    Periodic decompositions need every week to have the same number of days in the same
    order, so missing days, holidays and atypical days (a day after a closure) are filled
    with their weekday's recent mean profile instead of being dropped.
    """
    dates = train.matrix.dates
    by_date = {d: i for i, d in enumerate(dates)}
    grid: list[dt.date] = []
    rows: list[FloatArray] = []
    profiles: dict[int, FloatArray] = {}
    day = dates[0]
    while day <= dates[-1]:
        weekday = day.weekday()
        if weekday in train.rules.open_weekdays:
            if weekday not in profiles:
                profiles[weekday] = _profile(train, weekday, 4)
            i = by_date.get(day)
            info = train.days[i] if i is not None else None
            typical = info is not None and info.kind is DayKind.OPEN and info.profile_key == weekday
            row = train.matrix.values[i] if typical and i is not None else profiles[weekday]
            rows.append(np.where(np.isfinite(row), row, profiles[weekday]))
            grid.append(day)
        day += dt.timedelta(days=1)
    return grid, np.array(rows, dtype=np.float64)


def mstl_ets(train: TrainingSet, targets: Sequence[TargetDay]) -> FloatArray:
    """MSTL (statsmodels) with daily and weekly seasonality, damped Holt on the rest.

    The seasonal part of a target day is taken from the last grid day of its profile key;
    the trend + remainder is forecast with exponential smoothing with a damped trend.
    """
    grid, values = _regular_grid(train)
    n_days, n_slots = values.shape
    week = len(train.rules.open_weekdays)
    if n_days < 2 * week + 1 or n_slots < 2:
        raise ModelUnavailableError("MSTL needs more than two weeks of history")
    periods = (n_slots, n_slots * week) if week > 1 else (n_slots,)
    flat = values.ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        decomposition = MSTL(flat, periods=periods, iterate=1).fit()
        seasonal = np.asarray(decomposition.seasonal, dtype=np.float64)
        seasonal = seasonal.sum(axis=1) if seasonal.ndim == 2 else seasonal
        rest = flat - seasonal
        horizon = max(t.step for t in targets) * n_slots
        smoother = ETSModel(rest, error="add", trend="add", damped_trend=True).fit(disp=False)
        rest_fc = np.asarray(smoother.forecast(horizon), dtype=np.float64)
    seasonal_rows = seasonal.reshape(n_days, n_slots)
    weekdays = np.array([d.weekday() for d in grid])
    out = []
    for t in targets:
        same = np.flatnonzero(weekdays == t.info.profile_key)
        season = seasonal_rows[same[-1]] if same.size else seasonal_rows[-1]
        level = rest_fc[(t.step - 1) * n_slots : t.step * n_slots]
        out.append(np.maximum(season + level, 0.0))
    return np.array(out, dtype=np.float64).reshape(len(targets), n_slots)


def ensemble(*members: ModelFn) -> ModelFn:
    """Equal-weight mean of the members' forecasts (errors of unlike models cancel)."""
    if not members:
        raise ValueError("an ensemble needs at least one member")

    def model(train: TrainingSet, targets: Sequence[TargetDay]) -> FloatArray:
        forecasts = [member(train, targets) for member in members]
        return np.asarray(np.mean(forecasts, axis=0), dtype=np.float64)

    return model
