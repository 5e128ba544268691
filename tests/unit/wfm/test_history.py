"""Interaction history -> interval series: time zones, zero-filling, opening hours."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from jietong.wfm.forecasting import ForecastInputError, series_from_timestamps
from jietong.wfm.history import (
    BUCKET_MINUTES,
    ArrivalCounts,
    HandlingStats,
    OpeningHours,
    to_series,
)
from jietong.wfm.holidays import HolidayCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


def counts_of(
    arrivals: list[dt.datetime], queue: str = "General", channel: str = "call"
) -> ArrivalCounts:
    """What the store returns: UTC quarter-hour buckets (as the SQL computes them)."""
    minutes = np.array([int(a.timestamp()) // 60 for a in arrivals], dtype=np.int64)
    buckets, n = np.unique(minutes - minutes % BUCKET_MINUTES, return_counts=True)
    return ArrivalCounts(
        np.array([queue] * buckets.size, dtype=object),
        np.array([channel] * buckets.size, dtype=object),
        buckets,
        n,
    )


def local(day: dt.date, hour: int, minute: int = 0, tz: ZoneInfo = SHANGHAI) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tz)


MONDAY = dt.date(2025, 3, 3)


def test_buckets_shift_to_local_time_and_sum_into_the_interval() -> None:
    arrivals = [
        local(MONDAY, 9, 5),
        local(MONDAY, 9, 20),  # same 30-minute interval, next quarter-hour
        local(MONDAY, 10, 59),
    ]
    built = to_series(counts_of(arrivals), tz=SHANGHAI, interval_minutes=30, name="x")
    got = dict(zip(built.series.starts.astype(str), built.series.counts, strict=True))
    # 09:00 local is 01:00 UTC: a UTC reading would put these eight hours early.
    assert got == {"2025-03-03T09:00": 2, "2025-03-03T09:30": 0, "2025-03-03T10:00": 0,
                   "2025-03-03T10:30": 1}  # fmt: skip
    assert built.arrivals == 3
    assert built.outside_hours == 0


def test_without_hours_it_matches_the_raw_contact_rule() -> None:
    """The same contacts give the same series from the database as from a raw CSV."""
    rng = np.random.default_rng(3)
    arrivals = []
    for day in range(21):
        date = MONDAY + dt.timedelta(days=day)
        if date.weekday() >= 5:
            continue
        for _ in range(rng.integers(5, 40)):
            seconds = int(rng.integers(8 * 3600, 18 * 3600))
            arrivals.append(local(date, 0) + dt.timedelta(seconds=seconds))
    built = to_series(counts_of(arrivals), tz=SHANGHAI, interval_minutes=15)
    wall_clock = [a.replace(tzinfo=None) for a in arrivals]
    reference = series_from_timestamps(wall_clock, 15)
    np.testing.assert_array_equal(built.series.starts, reference.starts)
    np.testing.assert_array_equal(built.series.counts, reference.counts)
    assert built.series.counts.sum() == len(arrivals)


def test_without_hours_quiet_intervals_count_zero_and_empty_days_are_absent() -> None:
    arrivals = [local(MONDAY, 9), local(MONDAY, 11), local(MONDAY + dt.timedelta(days=2), 10)]
    built = to_series(counts_of(arrivals), tz=SHANGHAI, interval_minutes=60)
    days = {str(s)[:10] for s in built.series.starts}
    assert days == {"2025-03-03", "2025-03-05"}  # Tuesday had nothing: not observed
    monday = built.series.counts[:3]
    assert monday.tolist() == [1.0, 0.0, 1.0]  # 10:00 was open (inside the span) and quiet


def test_opening_hours_lay_out_every_open_interval_and_drop_the_rest() -> None:
    holiday = MONDAY + dt.timedelta(days=1)  # a Tuesday holiday
    makeup = MONDAY + dt.timedelta(days=5)  # a worked Saturday
    calendar = HolidayCalendar("XX", {holiday: "Test day"}, frozenset({makeup}))
    hours = OpeningHours.weekly(dt.time(9), dt.time(12), calendar=calendar)
    arrivals = [
        local(MONDAY, 9, 10),
        local(MONDAY, 8, 59),  # before opening
        local(holiday, 10),  # on a holiday
        local(MONDAY + dt.timedelta(days=3), 11, 30),
    ]
    built = to_series(
        counts_of(arrivals),
        tz=SHANGHAI,
        interval_minutes=60,
        hours=hours,
        first_day=MONDAY,
        last_day=MONDAY + dt.timedelta(days=6),
    )
    by_day: dict[str, list[float]] = {}
    for start, count in zip(built.series.starts.astype(str), built.series.counts, strict=True):
        by_day.setdefault(start[:10], []).append(float(count))
    # Mon, Wed, Thu, Fri and the makeup Saturday, 09-12; the holiday and Sunday closed.
    assert by_day == {
        "2025-03-03": [1, 0, 0],
        "2025-03-05": [0, 0, 0],
        "2025-03-06": [0, 0, 1],
        "2025-03-07": [0, 0, 0],
        "2025-03-08": [0, 0, 0],
    }
    assert built.arrivals == 4
    assert built.outside_hours == 2


def test_partial_intervals_at_the_edges_of_opening_hours_are_not_open() -> None:
    hours = OpeningHours({0: (8 * 60 + 45, 17 * 60 + 15)})
    assert list(hours.open_slots(MONDAY, 30)) == list(range(9 * 60, 17 * 60, 30))
    assert list(hours.open_slots(MONDAY + dt.timedelta(days=1), 30)) == []


def test_daylight_saving_fall_back_keeps_every_arrival() -> None:
    new_york = ZoneInfo("America/New_York")
    fall_back = dt.datetime(2025, 11, 2, 5, 30, tzinfo=UTC)  # 01:30 EDT, then 01:30 EST
    arrivals = [fall_back, fall_back + dt.timedelta(hours=1)]
    built = to_series(counts_of(arrivals), tz=new_york, interval_minutes=60)
    assert built.series.counts.sum() == 2
    assert str(built.series.starts[0]) == "2025-11-02T01:00"


def test_selection_and_pairs() -> None:
    call = counts_of([local(MONDAY, 9)], "General", "call")
    chat = counts_of([local(MONDAY, 9), local(MONDAY, 10)], "Billing", "chat")
    both = ArrivalCounts(
        np.concatenate([call.queues, chat.queues]),
        np.concatenate([call.channels, chat.channels]),
        np.concatenate([call.bucket_minutes, chat.bucket_minutes]),
        np.concatenate([call.counts, chat.counts]),
    )
    assert both.pairs() == [("Billing", "chat"), ("General", "call")]
    assert both.select(channel="chat").total == 2
    assert both.select(queue="General", channel="chat").total == 0


@pytest.mark.parametrize("interval", [5, 20, 45])
def test_only_15_30_60_minute_intervals(interval: int) -> None:
    with pytest.raises(ForecastInputError, match="interval"):
        to_series(counts_of([local(MONDAY, 9)]), tz=SHANGHAI, interval_minutes=interval)


def test_no_arrivals_is_a_readable_error() -> None:
    with pytest.raises(ForecastInputError, match="no inbound interactions"):
        to_series(ArrivalCounts.empty(), tz=SHANGHAI, interval_minutes=15, name="General/sms")


def test_buckets_must_be_quarter_hours() -> None:
    with pytest.raises(ValueError, match="multiples"):
        ArrivalCounts(np.array(["q"], object), np.array(["call"], object), np.array([7]),
                      np.array([1]))  # fmt: skip


def test_handling_statistics() -> None:
    stats = HandlingStats(answered=90, abandoned=10, handle_seconds=27_000, wait_seconds=6_000)
    assert stats.aht_seconds == 300
    # 10 abandonments in 6,000 s of waiting: rate 1/600 s, the censored-exponential MLE.
    assert stats.patience_seconds == 600
    assert stats.abandon_rate == pytest.approx(0.1)
    empty = HandlingStats()
    assert empty.aht_seconds is None
    assert empty.patience_seconds is None
    assert empty.abandon_rate is None
