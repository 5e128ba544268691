"""Today's queue figures as contributions of single interactions (pure).

Mirrors ``static/desktop/kpi.js`` line for line: the snapshot is computed here, the
browser keeps it current from events, and the consistency test checks they agree. An
interaction counts for the queue it is in now (its routing entry's queue, else the one it
arrived in) and for the interval of the local day in which it was first queued:

    [offered, answered, answered within the queue's target, abandoned, answer time µs]

Definitions (docs/subsystems/desktop.md): offered = first queued today; answered =
connected at least once; service level = answered within target / (answered +
abandoned); ASA = answer time / answered; abandoned % = abandoned / (answered +
abandoned). Integers only, so sums are exact on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
Vector = list[int]
Figures = dict[str, dict[str, Vector]]  # queue id -> slot -> vector


def micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float on the way)."""
    return (moment - EPOCH) // MICROSECOND


def micros_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else micros(moment)


class Day(TypedDict):
    day_start_us: int
    day_end_us: int
    interval_us: int
    targets: dict[str, int]  # queue id -> target answer seconds


@dataclass(frozen=True)
class Contribution:
    queue: str
    slot: str
    vec: Vector


def day_of(now: datetime, tz: ZoneInfo, interval_minutes: int, targets: dict[str, int]) -> Day:
    """The local calendar day containing `now` in `tz` (23 or 25 hours on DST days)."""
    local = now.astimezone(tz).date()
    start = datetime.combine(local, time(), tzinfo=tz)
    end = datetime.combine(local + timedelta(days=1), time(), tzinfo=tz)
    return Day(
        day_start_us=micros(start),
        day_end_us=micros(end),
        interval_us=interval_minutes * 60 * 1_000_000,
        targets=targets,
    )


def contribution(
    *,
    queue_id: str | None,
    state: str,
    queued_us: int | None,
    answered_us: int | None,
    day: Day,
) -> Contribution | None:
    """What one interaction adds to today's figures, or None when it does not count."""
    if queue_id is None or queued_us is None:
        return None
    if not day["day_start_us"] <= queued_us < day["day_end_us"]:
        return None
    slot = str((queued_us - day["day_start_us"]) // day["interval_us"])
    answered = 1 if answered_us is not None else 0
    wait = answered_us - queued_us if answered_us is not None else 0
    target = day["targets"].get(queue_id)
    in_sl = 1 if answered and target is not None and wait <= target * 1_000_000 else 0
    abandoned = 1 if state == "abandoned" else 0
    return Contribution(queue_id, slot, [1, answered, in_sl, abandoned, wait])


def add(figures: Figures, part: Contribution | None) -> None:
    """Add a contribution in place (the snapshot only ever adds)."""
    if part is None:
        return
    slots = figures.setdefault(part.queue, {})
    old = slots.get(part.slot, [0, 0, 0, 0, 0])
    slots[part.slot] = [a + b for a, b in zip(old, part.vec, strict=True)]


def totals(figures: Mapping[str, Mapping[str, Vector]], queue_ids: list[str]) -> Vector:
    """Sum of the interval vectors of the given queues."""
    total = [0, 0, 0, 0, 0]
    for queue_id in queue_ids:
        for vec in figures.get(queue_id, {}).values():
            total = [a + b for a, b in zip(total, vec, strict=True)]
    return total
