"""Business hours with Chinese holidays and makeup workdays, overflow steps, and the
estimated-wait model."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from jietong.routing.ewt import (
    Rates,
    RateTracker,
    WaitEstimate,
    estimate,
    gamma_median,
    naive_wait,
    staffing_rate,
)
from jietong.routing.hours import BusinessHours, calendar_for, is_open, next_opening
from jietong.routing.model import (
    OverflowStep,
    QueueSettings,
    effective_requirements,
    entry_priority,
    first_move,
    overflow_stage,
    priority_boost,
)

HOURS = BusinessHours()  # Mon-Fri 09:00-18:00 Asia/Shanghai, Chinese holidays
CAL = calendar_for(HOURS, range(2025, 2027))


def shanghai(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return (
        datetime(y, m, d, hh - 8, mm, tzinfo=UTC)
        if hh >= 8
        else datetime(y, m, d - 1, hh + 16, mm, tzinfo=UTC)
    )


def test_open_on_a_weekday_closed_at_night_and_on_weekends() -> None:
    assert is_open(HOURS, CAL, shanghai(2025, 3, 3, 10))  # Monday
    assert not is_open(HOURS, CAL, shanghai(2025, 3, 3, 18, 30))
    assert not is_open(HOURS, CAL, shanghai(2025, 3, 8, 10))  # Saturday


def test_national_day_is_closed_and_its_makeup_saturday_is_open() -> None:
    assert CAL.is_holiday(date(2025, 10, 1))
    assert not is_open(HOURS, CAL, shanghai(2025, 10, 2, 10))  # Thursday, Golden Week
    assert CAL.is_makeup_workday(date(2025, 9, 28))  # a Sunday worked
    assert is_open(HOURS, CAL, shanghai(2025, 9, 28, 10))


def test_closed_and_open_dates_override_the_calendar() -> None:
    hours = BusinessHours(closed_dates=[date(2025, 3, 4)], open_dates=[date(2025, 3, 8)])
    assert not is_open(hours, CAL, shanghai(2025, 3, 4, 10))
    assert is_open(hours, CAL, shanghai(2025, 3, 8, 10))


def test_next_opening_skips_the_weekend() -> None:
    friday_evening = shanghai(2025, 3, 7, 19)
    assert next_opening(HOURS, CAL, friday_evening) == shanghai(2025, 3, 10, 9)
    monday = shanghai(2025, 3, 10, 11)
    assert next_opening(HOURS, CAL, monday) == monday


def test_hours_are_validated() -> None:
    with pytest.raises(ValidationError):
        BusinessHours(timezone="Nowhere/Else")
    with pytest.raises(ValidationError):
        BusinessHours.model_validate({"weekly": {"7": [["09:00", "10:00"]]}})
    with pytest.raises(ValidationError):
        BusinessHours.model_validate({"weekly": {"1": [["25:00", "26:00"]]}})


def test_overflow_steps_widen_drop_escalate_and_move() -> None:
    steps = [
        OverflowStep(after_seconds=30, min_levels={"a" * 32: 5}),
        OverflowStep(after_seconds=60, min_levels={"b" * 32: 0}, priority_boost=2),
        OverflowStep(after_seconds=90, move_to_queue_id="c" * 32),
    ]
    required = {"a" * 32: 8, "b" * 32: 3}
    assert overflow_stage(steps, 29.9) == 0
    assert overflow_stage(steps, 60) == 2
    assert effective_requirements(required, steps, 1) == {"a" * 32: 5, "b" * 32: 3}
    assert effective_requirements(required, steps, 2) == {"a" * 32: 5}
    assert priority_boost(steps, 3) == 2
    assert first_move(steps, 2) is None and first_move(steps, 3) == "c" * 32


def test_queue_settings_refuse_unordered_steps_and_a_queue_action_without_a_queue() -> None:
    with pytest.raises(ValidationError):
        QueueSettings(overflow=[OverflowStep(after_seconds=9), OverflowStep(after_seconds=9)])
    with pytest.raises(ValidationError):
        QueueSettings.model_validate({"limit_action": "queue"})


def test_priority_adds_vip_and_the_most_urgent_case() -> None:
    assert entry_priority(1, 3, ["low", "urgent"]) == 6
    assert entry_priority(0, 0, []) == 0


# --- estimated wait ---------------------------------------------------------------------


def test_without_history_or_abandonment_the_mean_is_the_textbook_formula() -> None:
    rates = Rates(served=0, backlog_seconds=0, abandoned=0, waiting_seconds=0)
    staffing = staffing_rate(10, 300)
    found = estimate(4, rates, staffing=staffing)
    assert found is not None
    assert found.mean == pytest.approx(naive_wait(4, 10, 300))
    assert found.median < found.mean  # waits are skewed
    assert estimate(0, rates, staffing=staffing, free_agent=True) == WaitEstimate(0.0, 0.0)
    assert estimate(3, rates, staffing=None) is None


def test_a_queue_passed_over_for_other_work_learns_its_efficiency() -> None:
    """Served at 60% of what its staffing allows (agents busy elsewhere): the estimate
    follows the measurement, and a change of staffing shows at once."""
    rates = Rates(
        served=600, backlog_seconds=10_000, abandoned=0, waiting_seconds=1, nominal_services=1000
    )
    staffing = staffing_rate(20, 200)
    assert staffing is not None and staffing == pytest.approx(0.1)
    assert rates.service_rate(staffing) == pytest.approx(0.06, rel=0.01)
    assert rates.service_rate(2 * staffing) == pytest.approx(0.12, rel=0.01)


def test_the_gamma_median_of_one_exponential_is_close_to_ln2() -> None:
    assert gamma_median(10.0, 100.0) == pytest.approx(10 * math.log(2), rel=0.02)


@given(ahead=st.integers(min_value=0, max_value=200), theta=st.floats(0.0001, 0.1))
def test_abandonment_ahead_shortens_the_wait_and_more_ahead_lengthens_it(
    ahead: int, theta: float
) -> None:
    rates = Rates(served=100, backlog_seconds=1000, abandoned=theta * 1000, waiting_seconds=1000)
    plain_rates = Rates(100, 1000, 0, 1000)
    with_abandon = estimate(ahead, rates, staffing=None)
    plain = estimate(ahead, plain_rates, staffing=None)
    further = estimate(ahead + 1, rates, staffing=None)
    assert with_abandon is not None and plain is not None and further is not None
    assert with_abandon.mean <= plain.mean + 1e-9
    assert further.mean > with_abandon.mean and further.median > with_abandon.median


def test_the_tracker_measures_service_and_abandonment_rates() -> None:
    """A simulated queue with a constant backlog: 2 services/s, each waiter abandoning at
    0.01/s. The tracker's rates come out close to those."""
    rng = random.Random(7)
    tracker = RateTracker(tau=600.0)
    t, waiting = 0.0, 0
    for _ in range(30):
        tracker.started_waiting(t)
        waiting += 1
    while t < 3600:
        service = 2.0 if waiting else 0.0
        total = service + 0.01 * waiting + 2.0  # service, abandonment, arrival
        t += rng.expovariate(total)
        u = rng.random() * total
        if u < service:
            tracker.served(t)
            waiting -= 1
        elif u < service + 0.01 * waiting:
            tracker.abandoned(t)
            waiting -= 1
        else:
            tracker.started_waiting(t)
            waiting += 1
    rates = tracker.rates(t)
    assert rates.service_rate(None) == pytest.approx(2.0, rel=0.15)
    assert rates.abandon_rate == pytest.approx(0.01, rel=0.35)
    assert math.isfinite(rates.backlog_seconds)
