"""Backtesting, accuracy metrics, automatic model choice and the forecast pipeline.

Accuracy is measured on a held-back period at the end of the history: every model is
fitted on the data before it and scored on it with WAPE (sum of absolute errors over sum
of actuals) and MASE (mean absolute error over the in-sample error of the seasonal naive
forecast, so < 1 means "better than repeating last week"). The model with the lowest WAPE
is refitted on all the data and forecasts the horizon.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from jietong.wfm.forecasting.models import (
    ModelFn,
    ModelUnavailableError,
    TargetDay,
    TrainingSet,
    ensemble,
    level_profile_ets,
    mstl_ets,
    open_slot_mask,
    seasonal_moving_average,
    seasonal_naive,
)
from jietong.wfm.forecasting.series import (
    DayMatrix,
    ForecastInputError,
    IntervalSeries,
    resample,
    to_day_matrix,
)
from jietong.wfm.holidays import (
    DayInfo,
    DayRules,
    HolidayCalendar,
    classify_days,
    load_calendar,
    next_open_days,
)

__all__ = [
    "BASELINE_MODELS",
    "BacktestReport",
    "ForecastConfig",
    "ForecastResult",
    "ModelScore",
    "backtest",
    "default_models",
    "forecast",
    "infer_rules",
    "mase",
    "wape",
]

FloatArray = npt.NDArray[np.float64]
ProgressFn = Callable[[str], None]

BASELINE_MODELS = frozenset({"seasonal_naive", "moving_average"})


def default_models(ma_weeks: int = 4) -> dict[str, ModelFn]:
    """The candidate models by name, baselines first (ties go to the earlier one)."""
    moving_average = seasonal_moving_average(ma_weeks)
    level = level_profile_ets(k_shape=2 * ma_weeks, k_factor=ma_weeks)
    return {
        "seasonal_naive": seasonal_naive,
        "moving_average": moving_average,
        "level_ets": level,
        "mstl_ets": mstl_ets,
        "ensemble": ensemble(moving_average, level),
    }


@dataclass(frozen=True)
class ForecastConfig:
    """Options of :func:`backtest` and :func:`forecast`.

    ``horizon_days`` and ``holdout_days`` count *open* days. ``country`` selects the holiday
    calendar (None for none). ``rules`` defaults to rules inferred from the history.
    ``models`` restricts the candidates by name (None: all of :func:`default_models`).
    """

    interval_minutes: int = 15
    horizon_days: int = 5
    holdout_days: int = 5
    folds: int = 1
    country: str | None = "CN"
    ma_weeks: int = 4
    models: tuple[str, ...] | None = None
    rules: DayRules | None = None

    def __post_init__(self) -> None:
        if self.horizon_days < 1 or self.holdout_days < 1 or self.folds < 1:
            raise ForecastInputError("horizon, holdout and folds must be at least 1")
        if self.ma_weeks < 1:
            raise ForecastInputError("the moving average needs at least 1 week")


@dataclass(frozen=True)
class ModelScore:
    """Backtest accuracy of one model; ``error`` says why a model could not run."""

    name: str
    wape: float
    mase: float
    baseline: bool
    error: str | None = None


@dataclass(frozen=True)
class BacktestReport:
    """Per-model accuracy on the held-back days and the chosen model."""

    scores: tuple[ModelScore, ...]
    best: str
    holdout_start: dt.date
    holdout_end: dt.date
    folds: int

    def score(self, name: str) -> ModelScore:
        """The score of model ``name`` (KeyError if it was not evaluated)."""
        for item in self.scores:
            if item.name == name:
                return item
        raise KeyError(name)


@dataclass(frozen=True, eq=False)
class ForecastResult:
    """A forecast with the evidence for it.

    ``forecast`` covers the open intervals of the next ``horizon_days`` open days;
    ``holdout_actual`` / ``holdout_forecast`` are the last backtest fold's actuals and the
    chosen model's forecast of them (handy for a forecast-vs-actual plot).
    """

    name: str
    model: str
    forecast: IntervalSeries
    report: BacktestReport
    history: IntervalSeries
    holdout_actual: IntervalSeries
    holdout_forecast: IntervalSeries
    horizon: tuple[DayInfo, ...] = field(default=())


def wape(actual: FloatArray, predicted: FloatArray) -> float:
    """Weighted absolute percentage error over cells where ``actual`` is finite."""
    seen = np.isfinite(actual)
    denominator = float(np.abs(actual[seen]).sum())
    if denominator == 0:
        return float("nan")
    return float(np.abs(actual[seen] - predicted[seen]).sum()) / denominator


def mase(actual: FloatArray, predicted: FloatArray, scale: float) -> float:
    """Mean absolute error divided by ``scale`` (the seasonal-naive in-sample MAE)."""
    seen = np.isfinite(actual)
    if not seen.any() or not scale > 0:
        return float("nan")
    return float(np.abs(actual[seen] - predicted[seen]).mean()) / scale


def _seasonal_naive_scale(train: TrainingSet) -> float:
    """In-sample MAE of 'same slot, previous day with the same profile key'."""
    errors: list[FloatArray] = []
    last_row: dict[int, int] = {}
    for i in np.flatnonzero(train.usable):
        key = train.days[i].profile_key
        if key in last_row:
            diff = train.matrix.values[i] - train.matrix.values[last_row[key]]
            errors.append(np.abs(diff[np.isfinite(diff)]))
        last_row[key] = int(i)
    if not errors:
        return float("nan")
    joined = np.concatenate(errors)
    return float(joined.mean()) if joined.size else float("nan")


def infer_rules(matrix: DayMatrix) -> DayRules:
    """Open weekdays are those with data on at least half of their dates in the span."""
    first, last = matrix.dates[0], matrix.dates[-1]
    span = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    present = {d.weekday() for d in matrix.dates}
    open_weekdays = set()
    for weekday in present:
        occurrences = sum(1 for d in span if d.weekday() == weekday)
        seen = sum(1 for d in matrix.dates if d.weekday() == weekday)
        if seen >= 0.5 * occurrences:
            open_weekdays.add(weekday)
    return DayRules(open_weekdays=frozenset(open_weekdays or present))


def _subset(train: TrainingSet, rows: slice) -> TrainingSet:
    m = train.matrix
    matrix = DayMatrix(m.dates[rows], m.slots, m.values[rows], m.interval_minutes)
    return TrainingSet(matrix, train.days[rows], train.rules)


def _targets(
    after: dt.date, days: Sequence[DayInfo], calendar: HolidayCalendar, rules: DayRules
) -> list[TargetDay]:
    """Attach to each day its step: how many open days after ``after`` it is."""
    last = max(d.date for d in days)
    count = (last - after).days + 1
    ahead = next_open_days(after, count, calendar, rules)
    step_of = {info.date: i + 1 for i, info in enumerate(ahead)}
    return [TargetDay(d, step_of.get(d.date, (d.date - after).days)) for d in days]


def _masked(train: TrainingSet, targets: Sequence[TargetDay], values: FloatArray) -> FloatArray:
    masks = np.array([open_slot_mask(train, t.info.profile_key) for t in targets], dtype=bool)
    return np.where(masks.reshape(values.shape), values, np.nan)


@dataclass(frozen=True)
class _Prepared:
    history: IntervalSeries
    full: TrainingSet
    calendar: HolidayCalendar


def _prepare(series: IntervalSeries, config: ForecastConfig, extra_days: int) -> _Prepared:
    history = resample(series, config.interval_minutes)
    matrix = to_day_matrix(history)
    rules = config.rules or infer_rules(matrix)
    years = range(matrix.dates[0].year, matrix.dates[-1].year + 2 + extra_days // 365)
    try:
        calendar = load_calendar(config.country, years)
    except ValueError as exc:
        raise ForecastInputError(str(exc)) from exc
    days = classify_days(matrix.dates, calendar, rules)
    return _Prepared(history, TrainingSet(matrix, days, rules), calendar)


def _fold_rows(full: TrainingSet, holdout_days: int, folds: int) -> list[tuple[int, list[int]]]:
    """For each fold (oldest first): (number of training rows, test row indices)."""
    open_rows = [int(i) for i in np.flatnonzero(full.usable)]
    needed = holdout_days * folds
    if len(open_rows) < needed + 2 * len(full.rules.open_weekdays):
        raise ForecastInputError(
            f"not enough history: {len(open_rows)} open days, need at least "
            f"{needed + 2 * len(full.rules.open_weekdays)} for {folds} fold(s) of "
            f"{holdout_days} held-back days plus two weeks of training"
        )
    out = []
    for fold in range(folds, 0, -1):
        end = len(open_rows) - (fold - 1) * holdout_days
        test = open_rows[end - holdout_days : end]
        out.append((test[0], test))
    return out


def _selected(config: ForecastConfig) -> dict[str, ModelFn]:
    models = default_models(config.ma_weeks)
    if config.models is None:
        return models
    unknown = [m for m in config.models if m not in models]
    if unknown:
        raise ForecastInputError(f"unknown model(s) {unknown}; choose from {sorted(models)}")
    return {name: models[name] for name in config.models}


def _run_backtest(
    prepared: _Prepared, config: ForecastConfig, progress: ProgressFn | None
) -> tuple[BacktestReport, dict[str, tuple[TrainingSet, list[TargetDay], FloatArray]]]:
    full = prepared.full
    folds = _fold_rows(full, config.holdout_days, config.folds)
    models = _selected(config)
    errors: dict[str, list[float]] = {name: [] for name in models}
    totals: dict[str, list[float]] = {name: [] for name in models}
    mases: dict[str, list[float]] = {name: [] for name in models}
    failed: dict[str, str] = {}
    last_fold: dict[str, tuple[TrainingSet, list[TargetDay], FloatArray]] = {}
    for n_train, test_rows in folds:
        train = _subset(full, slice(0, n_train))
        targets = _targets(
            train.matrix.dates[-1], [full.days[i] for i in test_rows], prepared.calendar, full.rules
        )
        actual = full.matrix.values[test_rows]
        scale = _seasonal_naive_scale(train)
        for name, model in models.items():
            if progress is not None:
                progress(name)
            if name in failed:
                continue
            try:
                predicted = _masked(train, targets, model(train, targets))
            except ModelUnavailableError as exc:
                failed[name] = str(exc)
                continue
            # Slots the model calls closed but that had contacts count as forecast 0.
            predicted = np.nan_to_num(predicted, nan=0.0)
            seen = np.isfinite(actual)
            errors[name].append(float(np.abs(actual[seen] - predicted[seen]).sum()))
            totals[name].append(float(np.abs(actual[seen]).sum()))
            mases[name].append(mase(actual, predicted, scale))
            last_fold[name] = (train, targets, predicted)
    scores = []
    for name in models:
        is_base = name.startswith(tuple(BASELINE_MODELS))
        if name in failed or not totals[name]:
            reason = failed.get(name, "no data")
            scores.append(ModelScore(name, float("nan"), float("nan"), is_base, reason))
            continue
        total = sum(totals[name])
        score = sum(errors[name]) / total if total > 0 else float("nan")
        scores.append(ModelScore(name, score, float(np.nanmean(mases[name])), is_base))
    ranked = [s for s in scores if s.error is None and np.isfinite(s.wape)]
    if not ranked:
        raise ForecastInputError("no model could be fitted: " + "; ".join(failed.values()))
    best = min(ranked, key=lambda s: s.wape).name
    test_dates = [full.days[i].date for i in folds[0][1]] + [
        full.days[i].date for i in folds[-1][1]
    ]
    report = BacktestReport(tuple(scores), best, min(test_dates), max(test_dates), config.folds)
    return report, last_fold


def backtest(
    series: IntervalSeries, config: ForecastConfig, progress: ProgressFn | None = None
) -> BacktestReport:
    """Score every candidate model on the held-back days; see the module docstring.

    ``progress`` is called with a model name before each fit (for progress bars).
    Raises :class:`ForecastInputError` when the history is too short or unusable.
    """
    report, _ = _run_backtest(_prepare(series, config, 0), config, progress)
    return report


def _to_series(
    matrix: DayMatrix, dates: Sequence[dt.date], values: FloatArray, name: str
) -> IntervalSeries:
    """Flatten day rows back to an interval series, skipping NaN (closed/unobserved)."""
    starts: list[np.datetime64] = []
    counts: list[float] = []
    for day, row in zip(dates, values, strict=True):
        base = np.datetime64(day, "m")
        for slot, value in zip(matrix.slots, row, strict=True):
            if np.isfinite(value):
                starts.append(base + np.timedelta64(int(slot), "m"))
                counts.append(max(float(value), 0.0))
    return IntervalSeries(
        np.array(starts, dtype="datetime64[m]"), np.array(counts), matrix.interval_minutes, name
    )


def forecast(
    series: IntervalSeries, config: ForecastConfig, progress: ProgressFn | None = None
) -> ForecastResult:
    """Backtest, choose the most accurate model, refit it on all data and forecast.

    The forecast covers every open interval of the next ``config.horizon_days`` open days
    (holidays skipped, makeup workdays included). Pure: no I/O.
    """
    prepared = _prepare(series, config, config.horizon_days)
    report, last_fold = _run_backtest(prepared, config, progress)
    full = prepared.full
    model = _selected(config)[report.best]
    if progress is not None:
        progress(f"refit {report.best}")
    horizon = next_open_days(
        full.matrix.dates[-1], config.horizon_days, prepared.calendar, full.rules
    )
    targets = [TargetDay(info, i + 1) for i, info in enumerate(horizon)]
    values = _masked(full, targets, model(full, targets))
    dates = [info.date for info in horizon]
    train, fold_targets, predicted = last_fold[report.best]
    fold_dates = [t.info.date for t in fold_targets]
    rows = [full.matrix.dates.index(d) for d in fold_dates]
    actual = full.matrix.values[rows]
    return ForecastResult(
        name=series.name,
        model=report.best,
        forecast=_to_series(full.matrix, dates, values, series.name),
        report=report,
        history=prepared.history,
        holdout_actual=_to_series(full.matrix, fold_dates, actual, series.name),
        holdout_forecast=_to_series(
            train.matrix, fold_dates, np.where(np.isfinite(actual), predicted, np.nan), series.name
        ),
        horizon=horizon,
    )
