"""Business hours of a queue, with public holidays and makeup workdays. Pure.

A queue is open at an instant if the local date (in the hours' time zone) is an open day
and the local time falls in one of that day's windows. Public holidays close the day;
China's makeup workdays (调休, weekend days worked to bridge a holiday) open it with the
windows of ``makeup_weekday``. Holidays come from `jietong.wfm.holidays` (the maintained
``holidays`` package); explicit ``closed_dates`` and ``open_dates`` override both.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from jietong.wfm.holidays import HolidayCalendar, load_calendar

HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")]
Window = tuple[HHMM, HHMM]
_LOOKAHEAD_DAYS = 30


class BusinessHours(BaseModel):
    """Opening windows per weekday ("0" = Monday … "6" = Sunday), local "HH:MM" pairs
    (end exclusive, "24:00" for midnight). A weekday absent from ``weekly`` is closed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: Annotated[str, StringConstraints(max_length=64)] = "Asia/Shanghai"
    weekly: dict[Annotated[str, StringConstraints(pattern=r"^[0-6]$")], list[Window]] = Field(
        default_factory=lambda: {str(d): [("09:00", "18:00")] for d in range(5)}, max_length=7
    )
    holiday_country: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")] | None = "CN"
    makeup_weekday: int = Field(default=0, ge=0, le=6)
    closed_dates: list[dt.date] = Field(default_factory=list, max_length=366)
    open_dates: list[dt.date] = Field(default_factory=list, max_length=366)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("weekly")
    @classmethod
    def _ordered_windows(cls, value: dict[str, list[Window]]) -> dict[str, list[Window]]:
        for windows in value.values():
            if len(windows) > 8:
                raise ValueError("at most 8 windows per day")
            for start, end in windows:
                if not start < end:
                    raise ValueError(f"window {start}-{end} ends before it starts")
        return value


def calendar_for(hours: BusinessHours, years: range) -> HolidayCalendar:
    """The holiday calendar the hours refer to (cached by `load_calendar`)."""
    try:
        return load_calendar(hours.holiday_country, years)
    except ValueError:
        return HolidayCalendar()  # a country the library does not know: no holidays


def is_open(hours: BusinessHours, calendar: HolidayCalendar, at: dt.datetime) -> bool:
    """Whether the queue is open at the aware instant ``at``."""
    local = at.astimezone(ZoneInfo(hours.timezone))
    minute = local.hour * 60 + local.minute
    return any(lo <= minute < hi for lo, hi in _windows(hours, calendar, local.date()))


def next_opening(
    hours: BusinessHours, calendar: HolidayCalendar, at: dt.datetime
) -> dt.datetime | None:
    """``at`` if open, else the next instant the queue opens (None if not within 30 days)."""
    if is_open(hours, calendar, at):
        return at
    zone = ZoneInfo(hours.timezone)
    local = at.astimezone(zone)
    minute = local.hour * 60 + local.minute
    for offset in range(_LOOKAHEAD_DAYS + 1):
        day = local.date() + dt.timedelta(days=offset)
        starts = sorted(lo for lo, _hi in _windows(hours, calendar, day))
        for lo in starts:
            if offset > 0 or lo > minute:
                opening = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
                return (opening + dt.timedelta(minutes=lo)).astimezone(dt.UTC)
    return None


def _windows(
    hours: BusinessHours, calendar: HolidayCalendar, day: dt.date
) -> list[tuple[int, int]]:
    """The day's opening windows in minutes since local midnight."""
    if day in hours.closed_dates:
        return []
    weekday = str(day.weekday())
    if day in hours.open_dates:
        # A date opened by hand keeps its own windows, or takes the makeup day's.
        weekday = weekday if hours.weekly.get(weekday) else str(hours.makeup_weekday)
    elif calendar.is_holiday(day):
        return []
    elif calendar.is_makeup_workday(day):
        weekday = str(hours.makeup_weekday)
    return [(_minutes(lo), _minutes(hi)) for lo, hi in hours.weekly.get(weekday, [])]


def _minutes(hhmm: str) -> int:
    hour, minute = hhmm.split(":")
    return int(hour) * 60 + int(minute)
