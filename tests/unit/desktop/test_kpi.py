"""Today's figures: the local day's bounds (also on daylight-saving days) and which
interactions count where."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from jietong.web.desktop import kpi

HOUR = 3_600_000_000


def test_the_day_is_the_local_calendar_day_even_when_clocks_change() -> None:
    shanghai = kpi.day_of(datetime(2026, 11, 22, 17, tzinfo=UTC), ZoneInfo("Asia/Shanghai"), 15, {})
    assert shanghai["day_start_us"] == kpi.micros(datetime(2026, 11, 22, 16, tzinfo=UTC))
    assert shanghai["day_end_us"] - shanghai["day_start_us"] == 24 * HOUR
    spring = kpi.day_of(datetime(2026, 3, 8, 12, tzinfo=UTC), ZoneInfo("America/New_York"), 15, {})
    assert spring["day_end_us"] - spring["day_start_us"] == 23 * HOUR
    autumn = kpi.day_of(datetime(2026, 11, 1, 12, tzinfo=UTC), ZoneInfo("America/New_York"), 30, {})
    assert autumn["day_end_us"] - autumn["day_start_us"] == 25 * HOUR
    assert autumn["interval_us"] == 30 * 60_000_000


def test_what_counts_where() -> None:
    day = kpi.Day(day_start_us=0, day_end_us=24 * HOUR, interval_us=HOUR // 4, targets={"q": 20})
    at = HOUR + 1

    def part(**kw: object) -> kpi.Contribution | None:
        base: dict[str, object] = {
            "queue_id": "q",
            "state": "connected",
            "queued_us": at,
            "answered_us": at + 20_000_000,
        }
        return kpi.contribution(**{**base, **kw}, day=day)  # type: ignore[arg-type]

    assert part() == kpi.Contribution("q", "4", [1, 1, 1, 0, 20_000_000])
    assert part(answered_us=at + 20_000_001).vec[2] == 0  # type: ignore[union-attr]
    assert part(state="abandoned", answered_us=None).vec == [1, 0, 0, 1, 0]  # type: ignore[union-attr]
    assert part(queue_id="other").vec[2] == 0, "no target known: never within it"  # type: ignore[union-attr]
    assert part(queued_us=None) is None and part(queue_id=None) is None
    assert part(queued_us=-1) is None and part(queued_us=24 * HOUR) is None
    figures: kpi.Figures = {}
    kpi.add(figures, part())
    kpi.add(figures, part(state="abandoned", answered_us=None))
    assert figures == {"q": {"4": [2, 1, 1, 1, 20_000_000]}}
    assert kpi.totals(figures, ["q", "none"]) == [2, 1, 1, 1, 20_000_000]
