"""Interval count series: the forecasting input, its loaders and resampling.

An :class:`IntervalSeries` holds contact counts per fixed-length interval for one queue or
channel. Only *open* intervals need to be present: a contact center closed at night or at
the weekend simply has no rows there, and a missing row is "not observed", never zero.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "DayMatrix",
    "ForecastInputError",
    "IntervalSeries",
    "load_csv",
    "resample",
    "series_from_counts",
    "series_from_timestamps",
    "to_day_matrix",
]

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]

_MINUTES_PER_DAY = 24 * 60
_COUNT_COLUMNS = ("count", "counts", "calls", "contacts", "volume", "offered", "n", "value")
_TIME_COLUMNS = ("interval_start", "timestamp", "time", "start", "ds", "datetime", "arrived_at")
_GROUP_COLUMNS = ("queue", "channel", "series", "unique_id")


class ForecastInputError(ValueError):
    """Input data cannot be used for forecasting; the message says why, for a person."""


def _check_interval(minutes: int) -> None:
    if minutes <= 0 or _MINUTES_PER_DAY % minutes:
        raise ForecastInputError(f"interval of {minutes} minutes does not divide a day")


@dataclass(frozen=True, eq=False)
class IntervalSeries:
    """Counts per interval of one series (open intervals only).

    Contract: ``starts`` are strictly increasing ``datetime64[m]`` values aligned to
    ``interval_minutes`` from midnight; ``counts`` are finite and >= 0, same length.
    Arrays are stored read-only.
    """

    starts: TimeArray
    counts: FloatArray
    interval_minutes: int
    name: str = "series"

    def __post_init__(self) -> None:
        _check_interval(self.interval_minutes)
        starts = np.asarray(self.starts, dtype="datetime64[m]").copy()
        counts = np.asarray(self.counts, dtype=np.float64).copy()
        if starts.shape != counts.shape or starts.ndim != 1:
            raise ForecastInputError("starts and counts must be 1-D arrays of equal length")
        if counts.size and (not np.all(np.isfinite(counts)) or counts.min() < 0):
            raise ForecastInputError("counts must be finite and non-negative")
        if starts.size > 1 and np.any(np.diff(starts).astype(np.int64) <= 0):
            raise ForecastInputError("interval starts must be strictly increasing")
        minute_of_day = starts.astype(np.int64) % _MINUTES_PER_DAY
        if np.any(minute_of_day % self.interval_minutes):
            raise ForecastInputError(
                f"interval starts are not aligned to {self.interval_minutes}-minute intervals"
            )
        starts.setflags(write=False)
        counts.setflags(write=False)
        object.__setattr__(self, "starts", starts)
        object.__setattr__(self, "counts", counts)

    def __len__(self) -> int:
        return int(self.counts.size)

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with columns ``interval_start`` and ``count``."""
        return pd.DataFrame({"interval_start": pd.to_datetime(self.starts), "count": self.counts})


def _to_minutes(values: Iterable[object] | npt.NDArray[np.generic], what: str) -> TimeArray:
    """Parse timestamps to naive ``datetime64[m]`` (aware ones keep their local wall time)."""
    items = values if isinstance(values, np.ndarray) else list(values)
    try:
        stamp = pd.to_datetime(pd.Series(items))
    except (ValueError, TypeError) as exc:
        raise ForecastInputError(f"some {what} are not valid timestamps: {exc}") from exc
    if stamp.isna().any():
        raise ForecastInputError(f"some {what} are not valid timestamps")
    if getattr(stamp.dt, "tz", None) is not None:
        stamp = stamp.dt.tz_localize(None)
    result: TimeArray = np.asarray(stamp.to_numpy(), dtype="datetime64[m]")
    return result


def _infer_interval(starts: TimeArray) -> int:
    """The most common positive gap between consecutive starts, in minutes."""
    gaps = np.diff(np.unique(starts)).astype(np.int64)
    gaps = gaps[(gaps > 0) & (gaps <= _MINUTES_PER_DAY)]
    if gaps.size == 0:
        raise ForecastInputError("need at least two distinct intervals to infer the interval")
    values, counts = np.unique(gaps, return_counts=True)
    return int(values[np.argmax(counts)])


def series_from_counts(
    starts: Iterable[object] | TimeArray,
    counts: Iterable[float] | FloatArray,
    interval_minutes: int | None = None,
    name: str = "series",
) -> IntervalSeries:
    """Build a series from interval starts and counts (any order; duplicates are summed)."""
    minutes = _to_minutes(starts, "interval starts")
    values = np.asarray(list(counts) if not isinstance(counts, np.ndarray) else counts, float)
    if values.shape != minutes.shape:
        raise ForecastInputError("interval starts and counts differ in length")
    interval = interval_minutes or _infer_interval(minutes)
    frame = pd.DataFrame({"t": minutes, "y": values}).groupby("t", sort=True)["y"].sum()
    return IntervalSeries(frame.index.to_numpy(), frame.to_numpy(), interval, name)


def series_from_timestamps(
    timestamps: Iterable[object] | TimeArray,
    interval_minutes: int = 15,
    open_hours: tuple[dt.time, dt.time] | None = None,
    name: str = "series",
) -> IntervalSeries:
    """Count raw contact timestamps (one per contact) per interval.

    Every interval of a day that had contacts is open, between ``open_hours`` (start
    inclusive, end exclusive) or, by default, between the earliest and latest contact
    seen on that weekday anywhere in the data; open intervals without contacts count 0.
    Days without any contact are treated as closed (absent).
    """
    _check_interval(interval_minutes)
    minutes = _to_minutes(timestamps, "contact timestamps").astype(np.int64)
    if minutes.size == 0:
        raise ForecastInputError("no contacts to count")
    slot = minutes - minutes % interval_minutes
    day = slot // _MINUTES_PER_DAY
    slot_of_day = slot % _MINUTES_PER_DAY
    # 1970-01-01 was a Thursday (weekday 3).
    weekday = (day + 3) % 7
    frame = pd.DataFrame({"day": day, "slot": slot_of_day, "weekday": weekday})
    if open_hours is None:
        bounds = frame.groupby("weekday")["slot"].agg(["min", "max"])
        first = bounds["min"].to_dict()
        last = {k: v + interval_minutes for k, v in bounds["max"].to_dict().items()}
    else:
        start_min = open_hours[0].hour * 60 + open_hours[0].minute
        end_min = open_hours[1].hour * 60 + open_hours[1].minute
        first = dict.fromkeys(range(7), start_min - start_min % interval_minutes)
        last = dict.fromkeys(range(7), end_min)
    counts = frame.groupby(["day", "slot"]).size()
    out_t: list[int] = []
    out_y: list[float] = []
    for d in sorted(frame["day"].unique()):
        wd = int((d + 3) % 7)
        for s in range(int(first[wd]), int(last[wd]), interval_minutes):
            out_t.append(int(d) * _MINUTES_PER_DAY + s)
            out_y.append(float(counts.get((d, s), 0)))
    if not out_t:
        raise ForecastInputError("no contact falls inside the open hours")
    return IntervalSeries(np.array(out_t, "datetime64[m]"), np.array(out_y), interval_minutes, name)


def resample(series: IntervalSeries, interval_minutes: int) -> IntervalSeries:
    """Sum counts into coarser intervals (a multiple of the series' interval).

    A coarse interval is present when at least one of its fine intervals is present.
    """
    _check_interval(interval_minutes)
    if interval_minutes == series.interval_minutes:
        return series
    if interval_minutes % series.interval_minutes:
        raise ForecastInputError(
            f"cannot resample {series.interval_minutes}-minute data to {interval_minutes} "
            "minutes: the new interval must be a multiple of the old one"
        )
    minutes = series.starts.astype(np.int64)
    bucket = minutes - minutes % interval_minutes
    frame = pd.DataFrame({"t": bucket, "y": series.counts}).groupby("t", sort=True)["y"].sum()
    return IntervalSeries(
        frame.index.to_numpy().astype("datetime64[m]"),
        frame.to_numpy(),
        interval_minutes,
        series.name,
    )


def _pick(columns: Iterable[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {c.lower().strip(): c for c in columns}
    for name in wanted:
        if name in lowered:
            return lowered[name]
    return None


def load_csv(
    source: str | Path | io.IOBase | bytes,
    interval_minutes: int | None = None,
) -> Mapping[str, IntervalSeries]:
    """Load one or more series from CSV.

    Two layouts are accepted: interval counts (a time column such as ``interval_start``
    and a count column such as ``calls``/``count``) or raw contacts (a time column only,
    one row per contact; counted into ``interval_minutes``, default 15). An optional
    ``queue``/``channel`` column splits rows into several series. Returns series by name.
    Raises :class:`ForecastInputError` with a readable message on bad input.
    """
    try:
        data = source if not isinstance(source, bytes) else io.BytesIO(source)
        frame = pd.read_csv(data)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ForecastInputError(f"cannot read CSV: {exc}") from exc
    if frame.empty:
        raise ForecastInputError("the CSV has no rows")
    time_col = _pick(frame.columns, _TIME_COLUMNS) or str(frame.columns[0])
    count_col = _pick(frame.columns, _COUNT_COLUMNS)
    group_col = _pick(frame.columns, _GROUP_COLUMNS)
    groups = frame.groupby(group_col, sort=True) if group_col else [("all", frame)]
    out: dict[str, IntervalSeries] = {}
    for key, part in groups:
        name = str(key[0] if isinstance(key, tuple) else key)
        times = pd.to_datetime(part[time_col], errors="coerce", format="mixed")
        if times.isna().any():
            bad = part.loc[times.isna(), time_col].iloc[0]
            raise ForecastInputError(f"column {time_col!r} has a value that is not a time: {bad!r}")
        if count_col is None:
            out[name] = series_from_timestamps(times.to_numpy(), interval_minutes or 15, name=name)
            continue
        counts = pd.to_numeric(part[count_col], errors="coerce")
        if counts.isna().any() or (counts < 0).any():
            raise ForecastInputError(f"column {count_col!r} must hold non-negative numbers")
        series = series_from_counts(times.to_numpy(), counts.to_numpy(float), name=name)
        out[name] = resample(series, interval_minutes) if interval_minutes else series
    return out


@dataclass(frozen=True, eq=False)
class DayMatrix:
    """A series laid out as days x time-of-day slots.

    ``values[i, j]`` is the count on ``dates[i]`` at ``slots[j]`` minutes after midnight,
    NaN where that interval was not observed. Only dates with at least one observation
    appear. ``slots`` is the union of all observed times of day.
    """

    dates: tuple[dt.date, ...]
    slots: npt.NDArray[np.int64]
    values: FloatArray
    interval_minutes: int

    @property
    def n_slots(self) -> int:
        """Number of time-of-day slots (columns)."""
        return int(self.slots.size)


def to_day_matrix(series: IntervalSeries) -> DayMatrix:
    """Lay ``series`` out as a :class:`DayMatrix`."""
    if len(series) == 0:
        raise ForecastInputError("the series is empty")
    minutes = series.starts.astype(np.int64)
    day = minutes // _MINUTES_PER_DAY
    slot = minutes % _MINUTES_PER_DAY
    days, day_idx = np.unique(day, return_inverse=True)
    slots, slot_idx = np.unique(slot, return_inverse=True)
    values = np.full((days.size, slots.size), np.nan)
    values[day_idx, slot_idx] = series.counts
    epoch = dt.date(1970, 1, 1)
    dates = tuple(epoch + dt.timedelta(days=int(d)) for d in days)
    return DayMatrix(dates, slots.astype(np.int64), values, series.interval_minutes)
