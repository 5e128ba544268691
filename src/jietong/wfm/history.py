"""The platform's interaction history as forecasting input: arrival counts to interval series.

Pure: the SQL lives in :mod:`jietong.wfm.store`, which hands over :class:`ArrivalCounts`,
inbound arrivals already counted per UTC quarter-hour, per queue and channel. Counting in
quarter-hours is exact for every time zone in use, because every UTC offset is a whole
number of quarter-hours: a UTC quarter-hour is exactly one local quarter-hour. So the
database returns at most 96 rows per day and series instead of one row per contact, and
this module only shifts buckets to local time and sums them into 15, 30 or 60 minutes.

Which intervals exist (forecasting treats a missing interval as "not observed", never 0):

* with :class:`OpeningHours`: every open interval (wholly inside the opening hours) of
  every open day from the first to the last day of the history; open intervals without
  arrivals count 0; holidays are closed, makeup workdays open. Arrivals outside the open
  intervals are left out and counted in :attr:`HistorySeries.outside_hours`.
* without: the rule of :func:`~jietong.wfm.forecasting.series_from_timestamps` for raw
  contact CSVs, so the same contacts give the same series from either source: a day with
  arrivals is open from the earliest to the latest interval in which that weekday ever had
  an arrival, and its intervals without arrivals count 0. Days without arrivals are absent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from jietong.wfm.forecasting.series import ForecastInputError, IntervalSeries
from jietong.wfm.holidays import HolidayCalendar

__all__ = [
    "ALL",
    "BUCKET_MINUTES",
    "ArrivalCounts",
    "HandlingStats",
    "HistorySeries",
    "OpeningHours",
    "series_name",
    "to_series",
]

BUCKET_MINUTES = 15
"""Width of the UTC buckets the store counts arrivals in."""
ALL = "all"
"""Name used in series names for "every queue" / "every channel"."""
_DAY = 24 * 60
_INTERVALS = (15, 30, 60)

IntArray = npt.NDArray[np.int64]
LabelArray = npt.NDArray[np.object_]


def _labels(values: object) -> LabelArray:
    return np.asarray(values, dtype=object).reshape(-1)


@dataclass(frozen=True, eq=False)
class ArrivalCounts:
    """Inbound arrivals counted per UTC bucket, per queue name and channel.

    Contract: four 1-D arrays of equal length; ``bucket_minutes`` are UTC minutes since
    the Unix epoch, multiples of :data:`BUCKET_MINUTES`; ``counts`` >= 0. Interactions
    without a queue carry the queue name ``""``. Arrays are stored read-only.
    """

    queues: LabelArray
    channels: LabelArray
    bucket_minutes: IntArray
    counts: IntArray

    def __post_init__(self) -> None:
        queues, channels = _labels(self.queues), _labels(self.channels)
        buckets = np.asarray(self.bucket_minutes, dtype=np.int64).reshape(-1).copy()
        counts = np.asarray(self.counts, dtype=np.int64).reshape(-1).copy()
        if not queues.size == channels.size == buckets.size == counts.size:
            raise ValueError("queues, channels, buckets and counts differ in length")
        if counts.size and counts.min() < 0:
            raise ValueError("counts must be >= 0")
        if np.any(buckets % BUCKET_MINUTES):
            raise ValueError(f"buckets must be multiples of {BUCKET_MINUTES} minutes")
        for array in (queues, channels, buckets, counts):
            array.setflags(write=False)
        object.__setattr__(self, "queues", queues)
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "bucket_minutes", buckets)
        object.__setattr__(self, "counts", counts)

    @classmethod
    def empty(cls) -> ArrivalCounts:
        """No arrivals at all."""
        return cls(_labels([]), _labels([]), np.zeros(0, np.int64), np.zeros(0, np.int64))

    @property
    def total(self) -> int:
        """Number of arrivals."""
        return int(self.counts.sum())

    def select(self, queue: str | None = None, channel: str | None = None) -> ArrivalCounts:
        """Only the arrivals of ``queue`` and/or ``channel`` (None: any)."""
        keep = np.ones(self.counts.size, dtype=bool)
        if queue is not None:
            keep &= self.queues == queue
        if channel is not None:
            keep &= self.channels == channel
        return ArrivalCounts(
            self.queues[keep], self.channels[keep], self.bucket_minutes[keep], self.counts[keep]
        )

    def pairs(self) -> list[tuple[str, str]]:
        """The distinct (queue, channel) pairs with arrivals, sorted."""
        return sorted({(str(q), str(c)) for q, c in zip(self.queues, self.channels, strict=True)})


def series_name(queue: str | None, channel: str | None) -> str:
    """``queue/channel`` with :data:`ALL` standing in for "every"."""
    return f"{queue or ALL}/{channel or ALL}"


def _minute_of(moment: dt.time) -> int:
    return moment.hour * 60 + moment.minute


@dataclass(frozen=True)
class OpeningHours:
    """When the contact center is open, in local time.

    ``spans`` maps a weekday (0 = Monday) to its opening ``(open, close)`` in minutes after
    midnight (``close`` up to 1440); weekdays not in it are closed. Holidays of
    ``calendar`` are closed; its makeup workdays open with the hours of
    ``makeup_weekday`` (default: the first open weekday).
    """

    spans: Mapping[int, tuple[int, int]]
    calendar: HolidayCalendar = field(default_factory=HolidayCalendar)
    makeup_weekday: int | None = None

    def __post_init__(self) -> None:
        if not self.spans:
            raise ValueError("opening hours need at least one open weekday")
        for weekday, (start, end) in self.spans.items():
            if weekday not in range(7) or not 0 <= start < end <= _DAY:
                raise ValueError(f"bad opening hours for weekday {weekday}: {start}..{end}")
        if self.makeup_weekday is not None and self.makeup_weekday not in self.spans:
            raise ValueError("the makeup workday must follow the hours of an open weekday")
        object.__setattr__(self, "spans", MappingProxyType(dict(self.spans)))

    @classmethod
    def weekly(
        cls,
        opens: dt.time,
        closes: dt.time,
        weekdays: frozenset[int] = frozenset(range(5)),
        calendar: HolidayCalendar | None = None,
    ) -> OpeningHours:
        """The same hours on each of ``weekdays``; ``closes`` of 00:00 means midnight."""
        end = _minute_of(closes) or _DAY
        return cls(dict.fromkeys(weekdays, (_minute_of(opens), end)), calendar or HolidayCalendar())

    def span_of(self, day: dt.date) -> tuple[int, int] | None:
        """The opening (open, close) minutes of ``day``, or None if it is closed."""
        if self.calendar.is_holiday(day):
            return None
        if self.calendar.is_makeup_workday(day):
            key = self.makeup_weekday if self.makeup_weekday is not None else min(self.spans)
            return self.spans[key]
        return self.spans.get(day.weekday())

    def open_slots(self, day: dt.date, interval_minutes: int) -> range:
        """Starts (minutes after midnight) of the intervals wholly inside the hours."""
        span = self.span_of(day)
        if span is None:
            return range(0)
        first = -(-span[0] // interval_minutes) * interval_minutes
        return range(first, span[1] - interval_minutes + 1, interval_minutes)


@dataclass(frozen=True)
class HistorySeries:
    """A series built from history, with what was left out of it."""

    series: IntervalSeries
    arrivals: int
    outside_hours: int


def _local_minutes(utc_minutes: IntArray, tz: ZoneInfo) -> IntArray:
    """UTC epoch minutes to local wall-clock minutes (naive) in ``tz``."""
    stamps = pd.to_datetime(utc_minutes, unit="m", utc=True).tz_convert(tz).tz_localize(None)
    local: IntArray = np.asarray(stamps.to_numpy(dtype="datetime64[m]").astype(np.int64))
    return local


def _fill(
    by_slot: Mapping[int, int], days: list[int], slots_of_day: Mapping[int, range]
) -> tuple[list[int], list[float], int]:
    """Starts and counts of each day's slots (0 where nothing arrived); arrivals kept."""
    starts: list[int] = []
    counts: list[float] = []
    kept = 0
    for day in days:
        for slot in slots_of_day[day]:
            value = by_slot.get(day * _DAY + slot, 0)
            starts.append(day * _DAY + slot)
            counts.append(float(value))
            kept += value
    return starts, counts, kept


def _observed_slots(
    by_slot: Mapping[int, int], interval: int
) -> tuple[list[int], dict[int, range]]:
    """Days with arrivals and, per day, its weekday's observed span (see module doc)."""
    minutes = np.fromiter(by_slot, dtype=np.int64)
    days = sorted({int(d) for d in minutes // _DAY})
    weekday = (minutes // _DAY + 3) % 7  # 1970-01-01 was a Thursday
    of_day = minutes % _DAY
    spans = {
        int(w): range(int(of_day[weekday == w].min()), int(of_day[weekday == w].max()) + 1)
        for w in np.unique(weekday)
    }
    return days, {d: spans[(d + 3) % 7][::interval] for d in days}


def _epoch_day(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def to_series(
    counts: ArrivalCounts,
    *,
    tz: ZoneInfo,
    interval_minutes: int,
    hours: OpeningHours | None = None,
    name: str = "series",
    first_day: dt.date | None = None,
    last_day: dt.date | None = None,
) -> HistorySeries:
    """Sum ``counts`` (all of them: select first) into a local-time interval series.

    ``first_day``/``last_day`` bound the days laid out with opening hours (default: the
    first and last local day with arrivals). Raises :class:`ForecastInputError` with a
    message for a person when nothing arrived or the interval is not 15, 30 or 60.
    """
    if interval_minutes not in _INTERVALS:
        raise ForecastInputError(f"the interval must be one of {_INTERVALS} minutes")
    if counts.total == 0:
        raise ForecastInputError(f"no inbound interactions in the history of {name}")
    local = _local_minutes(counts.bucket_minutes, tz)
    if np.any(local % BUCKET_MINUTES):
        raise ForecastInputError(f"the UTC offset of {tz.key} is not whole quarter-hours")
    slot = local - local % interval_minutes
    summed = pd.Series(counts.counts).groupby(slot).sum()
    by_slot = {int(k): int(v) for k, v in summed.items() if v > 0}
    if hours is None:
        days, slots_of_day = _observed_slots(by_slot, interval_minutes)
    else:
        seen = sorted({k // _DAY for k in by_slot})
        lo = _epoch_day(first_day) if first_day is not None else seen[0]
        hi = _epoch_day(last_day) if last_day is not None else seen[-1]
        epoch = dt.date(1970, 1, 1)
        slots_of_day = {
            d: hours.open_slots(epoch + dt.timedelta(days=d), interval_minutes)
            for d in range(lo, hi + 1)
        }
        days = [d for d in range(lo, hi + 1) if len(slots_of_day[d])]
    starts, values, kept = _fill(by_slot, days, slots_of_day)
    if not starts:
        raise ForecastInputError(f"no open interval in the history of {name}")
    series = IntervalSeries(
        np.array(starts, dtype="datetime64[m]"), np.array(values), interval_minutes, name
    )
    arrivals = sum(by_slot.values())
    return HistorySeries(series, arrivals, arrivals - kept)


@dataclass(frozen=True)
class HandlingStats:
    """What the history says about handling: sums over the selected interactions.

    ``handle_seconds``: answer to end of wrap-up (or end, without wrap-up) of answered
    interactions. ``wait_seconds``: arrival to answer (answered) plus arrival to
    abandonment (abandoned): the time contacts were at risk of abandoning.
    """

    answered: int = 0
    abandoned: int = 0
    handle_seconds: float = 0.0
    wait_seconds: float = 0.0

    @property
    def aht_seconds(self) -> float | None:
        """Average handle time, or None without answered interactions."""
        return self.handle_seconds / self.answered if self.answered else None

    @property
    def patience_seconds(self) -> float | None:
        """Mean patience, or None without abandonment.

        The maximum-likelihood estimate for exponential patience with censoring: each
        answered contact shows only that its patience exceeded its wait, so the rate is
        abandonments over the total time all contacts spent waiting.
        """
        if not self.abandoned or self.wait_seconds <= 0:
            return None
        return self.wait_seconds / self.abandoned

    @property
    def abandon_rate(self) -> float | None:
        """Abandoned / (answered + abandoned), or None without either."""
        total = self.answered + self.abandoned
        return self.abandoned / total if total else None
