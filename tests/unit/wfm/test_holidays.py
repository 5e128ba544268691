"""Holiday calendars: public holidays, makeup workdays (调休), post-closure profiles."""

from __future__ import annotations

import datetime as dt

import pytest

from jietong.wfm.holidays import (
    DayKind,
    DayRules,
    HolidayCalendar,
    classify_day,
    load_calendar,
    next_open_days,
)

WEEKDAYS = DayRules()


@pytest.fixture(scope="module")
def cn() -> HolidayCalendar:
    return load_calendar("CN", [2024, 2025])


def test_cn_makeup_sunday_is_an_open_workday(cn: HolidayCalendar) -> None:
    # 2024-02-04 is a Sunday worked to bridge the Spring Festival holiday.
    info = classify_day(dt.date(2024, 2, 4), cn, WEEKDAYS)
    assert info.kind is DayKind.MAKEUP
    assert info.is_open
    assert info.profile_key == WEEKDAYS.makeup_profile_weekday


def test_cn_holiday_weekday_is_closed(cn: HolidayCalendar) -> None:
    info = classify_day(dt.date(2024, 2, 12), cn, WEEKDAYS)  # a Monday in Spring Festival
    assert info.kind is DayKind.HOLIDAY
    assert not info.is_open
    assert info.holiday_name


def test_regular_days(cn: HolidayCalendar) -> None:
    tuesday = classify_day(dt.date(2024, 3, 5), cn, WEEKDAYS)
    saturday = classify_day(dt.date(2024, 3, 9), cn, WEEKDAYS)
    assert (tuesday.kind, tuesday.profile_key) == (DayKind.OPEN, 1)
    assert saturday.kind is DayKind.CLOSED and not saturday.is_open


def test_first_day_after_golden_week_follows_the_monday_profile(cn: HolidayCalendar) -> None:
    # National Day 2024: Oct 1-7 off; Tuesday Oct 8 is the first day back.
    back = classify_day(dt.date(2024, 10, 8), cn, WEEKDAYS)
    assert back.kind is DayKind.OPEN
    assert back.profile_key == 0
    normal = classify_day(dt.date(2024, 10, 15), cn, WEEKDAYS)
    assert normal.profile_key == 1


def test_post_closure_rule_can_be_switched_off(cn: HolidayCalendar) -> None:
    rules = DayRules(post_closure_first_day=False)
    assert classify_day(dt.date(2024, 10, 8), cn, rules).profile_key == 1


def test_us_memorial_day_and_the_day_after() -> None:
    us = load_calendar("US", [2003])
    assert classify_day(dt.date(2003, 5, 26), us, WEEKDAYS).kind is DayKind.HOLIDAY
    assert classify_day(dt.date(2003, 5, 27), us, WEEKDAYS).profile_key == 0


def test_holiday_on_a_never_open_day_creates_no_backlog() -> None:
    # The center never opens on Tuesdays, so a Tuesday holiday closes nothing and
    # Wednesday keeps its own profile instead of the first-day-of-week one.
    calendar = HolidayCalendar("XX", {dt.date(2025, 3, 11): "tuesday fete"})
    rules = DayRules(open_weekdays=frozenset({0, 2, 3, 4}))
    wednesday = classify_day(dt.date(2025, 3, 12), calendar, rules)
    assert wednesday.profile_key == 2
    # The same holiday on an open weekday does create a backlog.
    calendar = HolidayCalendar("XX", {dt.date(2025, 3, 10): "monday fete"})
    assert classify_day(dt.date(2025, 3, 12), calendar, rules).profile_key == 0


def test_seven_day_center_after_a_midweek_holiday() -> None:
    calendar = HolidayCalendar("XX", {dt.date(2025, 3, 12): "fete"})  # a Wednesday
    rules = DayRules(open_weekdays=frozenset(range(7)))
    assert classify_day(dt.date(2025, 3, 13), calendar, rules).profile_key == 0
    assert classify_day(dt.date(2025, 3, 14), calendar, rules).profile_key == 4


def test_next_open_days_skip_holidays_and_include_makeup_days(cn: HolidayCalendar) -> None:
    days = next_open_days(dt.date(2024, 2, 8), 3, cn, WEEKDAYS)
    assert [d.date for d in days] == [
        dt.date(2024, 2, 9),
        dt.date(2024, 2, 18),  # makeup Sunday right after the holiday
        dt.date(2024, 2, 19),
    ]
    assert days[1].kind is DayKind.MAKEUP
    assert days[1].profile_key == 0  # also the first day back after the closure


def test_empty_and_unknown_calendars() -> None:
    empty = load_calendar(None, [2024])
    assert not empty.holidays and not empty.makeup_workdays
    assert load_calendar("none", [2024]).country is None
    with pytest.raises(ValueError, match="unknown holiday country"):
        load_calendar("XX", [2024])


def test_rules_validation() -> None:
    with pytest.raises(ValueError):
        DayRules(open_weekdays=frozenset())
    with pytest.raises(ValueError):
        DayRules(makeup_profile_weekday=9)
