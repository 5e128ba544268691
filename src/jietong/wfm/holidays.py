"""Holiday calendars for volume forecasting and scheduling.

A contact center's volume on a date depends on what kind of day it is, not only on its
weekday. This module classifies dates into:

* ``OPEN``: a regular open weekday (learned from history, e.g. Monday-Friday);
* ``CLOSED``: a regular non-working weekday (e.g. the weekend of a Monday-Friday center);
* ``HOLIDAY``: a public holiday, treated as closed. Observed volume on such a date is
  kept out of model training because it is not representative of its weekday;
* ``MAKEUP``: a makeup workday (调休), e.g. a Saturday worked in China to bridge a
  holiday. It is open and forecast like a workday.

Each day also gets a *profile key*: the weekday whose seasonal profile applies to it. It
is the date's own weekday except for a makeup workday (a configurable typical workday,
Wednesday by default) and for the first open day after a holiday closure, which takes the
profile of the first open weekday of the week (Monday for a Monday-Friday center): after a
closure, customers who could not call come back at once, exactly like after a weekend.

Holiday data comes from the maintained ``holidays`` library, which also records China's
makeup workdays (``weekend_workdays``).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

import holidays as holidays_lib

__all__ = [
    "DayInfo",
    "DayKind",
    "DayRules",
    "HolidayCalendar",
    "classify_day",
    "classify_days",
    "load_calendar",
    "next_open_days",
]

# How far back to look for a holiday when deciding whether a day follows a closure: long
# enough to cross a weekend plus China's week-long Golden Week.
_MAX_CLOSURE_LOOKBACK_DAYS = 14


class DayKind(StrEnum):
    """What kind of day a date is for the contact center."""

    OPEN = "open"
    CLOSED = "closed"
    HOLIDAY = "holiday"
    MAKEUP = "makeup_workday"


def _empty_names() -> Mapping[dt.date, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class HolidayCalendar:
    """Public holidays (closed days) and makeup workdays of one country.

    ``holidays`` maps each holiday date to its name; ``makeup_workdays`` holds weekend
    dates that are worked. An empty calendar (no country) has neither.
    """

    country: str | None = None
    holidays: Mapping[dt.date, str] = field(default_factory=_empty_names)
    makeup_workdays: frozenset[dt.date] = frozenset()

    def is_holiday(self, day: dt.date) -> bool:
        """True if ``day`` is a public holiday (the center is closed)."""
        return day in self.holidays

    def is_makeup_workday(self, day: dt.date) -> bool:
        """True if ``day`` is a makeup workday (调休): worked although a weekend day."""
        return day in self.makeup_workdays

    def holiday_name(self, day: dt.date) -> str | None:
        """The holiday's name, or None if ``day`` is not a holiday."""
        return self.holidays.get(day)


def load_calendar(
    country: str | None, years: Iterable[int], subdivision: str | None = None
) -> HolidayCalendar:
    """Build the calendar of ``country`` (ISO 3166 alpha-2, e.g. "CN", "US") for ``years``.

    ``None``, "" or "none" give an empty calendar. An unknown country raises ValueError.
    """
    if country is None or country.strip().lower() in {"", "none"}:
        return HolidayCalendar()
    return _load(country.strip().upper(), tuple(sorted(set(years))), subdivision)


@functools.lru_cache(maxsize=64)
def _load(code: str, wanted: tuple[int, ...], subdivision: str | None) -> HolidayCalendar:
    """Build (and cache: calendars are immutable and building one takes ~50 ms)."""
    try:
        source = holidays_lib.country_holidays(code, subdiv=subdivision, years=list(wanted))
    except NotImplementedError as exc:
        raise ValueError(f"unknown holiday country {code!r}: {exc}") from exc
    names = {day: str(name) for day, name in source.items()}
    year_set = set(wanted)
    # The library keeps makeup days of every year it knows; keep those we were asked for.
    makeup = frozenset(
        day for day in getattr(source, "weekend_workdays", set()) if day.year in year_set
    )
    return HolidayCalendar(
        country=code, holidays=MappingProxyType(names), makeup_workdays=makeup - set(names)
    )


@dataclass(frozen=True)
class DayRules:
    """How dates map to open/closed days and seasonal profiles.

    ``open_weekdays``: regular open weekdays (0 = Monday). ``makeup_profile_weekday``: the
    weekday profile a makeup workday follows. ``post_closure_first_day``: whether the first
    open day after a holiday closure follows the profile of the first open weekday.
    """

    open_weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    makeup_profile_weekday: int = 2
    post_closure_first_day: bool = True

    def __post_init__(self) -> None:
        if not self.open_weekdays or not self.open_weekdays <= set(range(7)):
            raise ValueError("open_weekdays must be a non-empty subset of 0..6")
        if self.makeup_profile_weekday not in range(7):
            raise ValueError("makeup_profile_weekday must be in 0..6")

    @property
    def first_open_weekday(self) -> int:
        """The weekday whose profile a day after a closure follows."""
        return min(self.open_weekdays)


@dataclass(frozen=True)
class DayInfo:
    """One classified date: its kind, the weekday profile that applies, holiday name."""

    date: dt.date
    kind: DayKind
    profile_key: int
    holiday_name: str | None = None

    @property
    def is_open(self) -> bool:
        """True if the center works on this day (a regular open day or a makeup day)."""
        return self.kind in (DayKind.OPEN, DayKind.MAKEUP)


def _base_kind(day: dt.date, calendar: HolidayCalendar, rules: DayRules) -> DayKind:
    if calendar.is_holiday(day):
        return DayKind.HOLIDAY
    if calendar.is_makeup_workday(day):
        return DayKind.MAKEUP
    if day.weekday() in rules.open_weekdays:
        return DayKind.OPEN
    return DayKind.CLOSED


def _follows_closure(day: dt.date, calendar: HolidayCalendar, rules: DayRules) -> bool:
    """True if an open day is the first one after a holiday that closed an open weekday."""
    for back in range(1, _MAX_CLOSURE_LOOKBACK_DAYS + 1):
        previous = day - dt.timedelta(days=back)
        kind = _base_kind(previous, calendar, rules)
        if kind in (DayKind.OPEN, DayKind.MAKEUP):
            return False
        # A holiday on a day the center never opens (a Saturday for a weekday center)
        # closes nothing, so it creates no backlog.
        if kind is DayKind.HOLIDAY and previous.weekday() in rules.open_weekdays:
            return True
    return False


def classify_day(day: dt.date, calendar: HolidayCalendar, rules: DayRules) -> DayInfo:
    """Classify one date; see the module docstring for the rules."""
    kind = _base_kind(day, calendar, rules)
    key = day.weekday()
    if kind is DayKind.MAKEUP:
        key = rules.makeup_profile_weekday
    if (
        kind in (DayKind.OPEN, DayKind.MAKEUP)
        and rules.post_closure_first_day
        and _follows_closure(day, calendar, rules)
    ):
        key = rules.first_open_weekday
    return DayInfo(day, kind, key, calendar.holiday_name(day))


def classify_days(
    days: Sequence[dt.date], calendar: HolidayCalendar, rules: DayRules
) -> tuple[DayInfo, ...]:
    """Classify each date of ``days`` (order kept)."""
    return tuple(classify_day(day, calendar, rules) for day in days)


def next_open_days(
    after: dt.date, count: int, calendar: HolidayCalendar, rules: DayRules
) -> tuple[DayInfo, ...]:
    """The ``count`` open days (regular or makeup) strictly after ``after``, in order."""
    if count < 0:
        raise ValueError("count must be >= 0")
    found: list[DayInfo] = []
    day = after
    # A year of all-closed days means the rules are unusable; stop instead of looping.
    for _ in range(count * 7 + 370):
        if len(found) == count:
            break
        day += dt.timedelta(days=1)
        info = classify_day(day, calendar, rules)
        if info.is_open:
            found.append(info)
    return tuple(found)
