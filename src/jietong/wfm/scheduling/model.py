"""Scheduling inputs and outputs: requirements, shift rules, shifts and coverage.

Times are naive local ``datetime`` values. The planning grid is the requirement interval,
refined if needed so that shift lengths, start steps and breaks fall on grid lines.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "BreakRule",
    "Coverage",
    "PlacedBreak",
    "Requirements",
    "ScheduleConfig",
    "ScheduleInputError",
    "ScheduleResult",
    "Shift",
    "ShiftRules",
    "coverage_of",
    "load_requirements_csv",
    "refine",
]

IntArray = npt.NDArray[np.int64]
_REQUIRED_COLUMNS = ("required", "required_agents", "agents", "staff", "fte", "n")
_TIME_COLUMNS = ("interval_start", "timestamp", "start", "time", "ds")


class ScheduleInputError(ValueError):
    """Scheduling input cannot be used; the message says why, for a person."""


@dataclass(frozen=True, eq=False)
class Requirements:
    """Required agents per interval (whole agents, >= 0), strictly increasing starts.

    Intervals missing inside a day count as requiring 0 agents; days without any
    interval are closed and get no shifts.
    """

    starts: tuple[dt.datetime, ...]
    required: IntArray
    interval_minutes: int

    def __post_init__(self) -> None:
        required = np.asarray(self.required, dtype=np.int64).copy()
        if len(self.starts) != required.size:
            raise ScheduleInputError("starts and required differ in length")
        if required.size == 0:
            raise ScheduleInputError("no requirement intervals")
        if required.min() < 0:
            raise ScheduleInputError("required agents must be >= 0")
        if self.interval_minutes <= 0 or 1440 % self.interval_minutes:
            raise ScheduleInputError("the interval must divide a day")
        if any(b <= a for a, b in zip(self.starts, self.starts[1:], strict=False)):
            raise ScheduleInputError("interval starts must be strictly increasing")
        required.setflags(write=False)
        object.__setattr__(self, "required", required)


def _pick(columns: Iterable[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {str(c).lower().strip(): str(c) for c in columns}
    return next((lowered[w] for w in wanted if w in lowered), None)


def load_requirements_csv(source: str | Path | bytes) -> Requirements:
    """Read ``interval_start,required`` rows (fractional requirements are rounded up)."""
    try:
        frame = pd.read_csv(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ScheduleInputError(f"cannot read CSV: {exc}") from exc
    time_col = _pick(frame.columns, _TIME_COLUMNS)
    req_col = _pick(frame.columns, _REQUIRED_COLUMNS)
    if time_col is None or req_col is None or frame.empty:
        raise ScheduleInputError(
            "requirements CSV needs an 'interval_start' column and a 'required' column"
        )
    times = pd.to_datetime(frame[time_col], errors="coerce")
    values = pd.to_numeric(frame[req_col], errors="coerce")
    if times.isna().any() or values.isna().any() or (values < 0).any():
        raise ScheduleInputError(
            f"every row needs a valid time in {time_col!r} and a number >= 0 in {req_col!r}"
        )
    order = np.argsort(times.to_numpy(), kind="stable")
    starts = tuple(pd.Timestamp(t).to_pydatetime() for t in times.to_numpy()[order])
    gaps = {int((b - a).total_seconds() // 60) for a, b in itertools.pairwise(starts)}
    positive = sorted(g for g in gaps if g > 0)
    interval = positive[0] if positive else 15
    required = np.ceil(values.to_numpy(float)[order] - 1e-9).astype(np.int64)
    return Requirements(starts, required, interval)


def refine(requirements: Requirements, step_minutes: int) -> Requirements:
    """Split each interval into ``step_minutes`` pieces that need the same agents."""
    if requirements.interval_minutes % step_minutes:
        raise ScheduleInputError("the step must divide the requirement interval")
    parts = requirements.interval_minutes // step_minutes
    if parts == 1:
        return requirements
    starts = tuple(
        start + dt.timedelta(minutes=i * step_minutes)
        for start in requirements.starts
        for i in range(parts)
    )
    return Requirements(starts, np.repeat(requirements.required, parts), step_minutes)


@dataclass(frozen=True)
class BreakRule:
    """A break of ``minutes`` that starts between ``earliest_offset`` and
    ``latest_offset`` minutes after the shift start (both inclusive).

    A rule applies to a shift only if the whole window fits inside it, so short shifts
    get fewer breaks. Windows of one shift's rules must not overlap (checked).
    """

    name: str
    minutes: int
    earliest_offset: int
    latest_offset: int

    def __post_init__(self) -> None:
        if self.minutes <= 0 or self.earliest_offset < 0:
            raise ScheduleInputError(f"break {self.name!r}: minutes and offsets must be > 0")
        if self.latest_offset < self.earliest_offset:
            raise ScheduleInputError(f"break {self.name!r}: latest offset before earliest")


def _default_breaks() -> tuple[BreakRule, ...]:
    return (
        BreakRule("break", 15, 90, 150),
        BreakRule("lunch", 30, 210, 270),
        BreakRule("break2", 15, 330, 390),
    )


@dataclass(frozen=True)
class ShiftRules:
    """What shifts may look like.

    ``shift_minutes``: allowed paid lengths. Starts fall every ``start_step_minutes`` from
    ``earliest_start`` (default: the day's first interval) and shifts end by
    ``latest_end`` (default: the day's last interval end). Per agent and ISO week at most
    ``max_days_per_week`` shifts and ``max_minutes_per_week`` minutes, one shift a day,
    and ``min_rest_minutes`` between the end of one shift and the next day's start.
    """

    shift_minutes: tuple[int, ...] = (480,)
    start_step_minutes: int = 30
    breaks: tuple[BreakRule, ...] = field(default_factory=_default_breaks)
    earliest_start: dt.time | None = None
    latest_end: dt.time | None = None
    max_days_per_week: int = 5
    max_minutes_per_week: int = 40 * 60
    min_rest_minutes: int = 11 * 60

    def __post_init__(self) -> None:
        if not self.shift_minutes or min(self.shift_minutes) <= 0:
            raise ScheduleInputError("shift lengths must be positive")
        if self.start_step_minutes <= 0 or self.max_days_per_week <= 0:
            raise ScheduleInputError("start step and days per week must be positive")
        ordered = sorted(self.breaks, key=lambda b: b.earliest_offset)
        for first, second in itertools.pairwise(ordered):
            if first.latest_offset + first.minutes > second.earliest_offset:
                raise ScheduleInputError(
                    f"break windows {first.name!r} and {second.name!r} overlap"
                )

    def grid_minutes(self, requirement_minutes: int) -> int:
        """The largest step on which requirements, starts, lengths and breaks all align."""
        values = [requirement_minutes, self.start_step_minutes, *self.shift_minutes]
        for rule in self.breaks:
            values += [rule.minutes, rule.earliest_offset or requirement_minutes]
            values += [rule.latest_offset or requirement_minutes]
        return math.gcd(*values)

    def breaks_for(self, length: int) -> tuple[BreakRule, ...]:
        """The break rules that apply to a shift of ``length`` minutes."""
        return tuple(b for b in self.breaks if b.latest_offset + b.minutes <= length)


@dataclass(frozen=True)
class ScheduleConfig:
    """Solver options: headcount (None = enough for full coverage), penalty weights per
    agent-interval under/over the requirement, time limit, workers, random seed."""

    rules: ShiftRules = field(default_factory=ShiftRules)
    headcount: int | None = None
    under_weight: int = 10
    over_weight: int = 1
    time_limit_seconds: float = 10.0
    workers: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.headcount is not None and self.headcount < 0:
            raise ScheduleInputError("headcount must be >= 0")
        if self.under_weight < 0 or self.over_weight < 0:
            raise ScheduleInputError("weights must be >= 0")
        if self.time_limit_seconds <= 0:
            raise ScheduleInputError("the time limit must be positive")


@dataclass(frozen=True)
class PlacedBreak:
    """A break of one shift, [start, end)."""

    name: str
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Shift:
    """One agent's shift [start, end) with its breaks."""

    agent: str
    start: dt.datetime
    end: dt.datetime
    breaks: tuple[PlacedBreak, ...] = ()

    def works_at(self, moment: dt.datetime) -> bool:
        """True if the agent is on shift and not on a break at ``moment``."""
        if not self.start <= moment < self.end:
            return False
        return not any(b.start <= moment < b.end for b in self.breaks)


@dataclass(frozen=True, eq=False)
class Coverage:
    """Required vs scheduled agents per grid interval."""

    starts: tuple[dt.datetime, ...]
    required: IntArray
    scheduled: IntArray
    interval_minutes: int

    @property
    def under(self) -> int:
        """Agent-intervals short of the requirement."""
        return int(np.maximum(self.required - self.scheduled, 0).sum())

    @property
    def over(self) -> int:
        """Agent-intervals above the requirement."""
        return int(np.maximum(self.scheduled - self.required, 0).sum())


@dataclass(frozen=True, eq=False)
class ScheduleResult:
    """Solver outcome: ``status`` is optimal, feasible, infeasible or unknown."""

    status: str
    objective: float
    shifts: tuple[Shift, ...]
    coverage: Coverage
    headcount: int
    solve_seconds: float


def coverage_of(shifts: Sequence[Shift], requirements: Requirements) -> Coverage:
    """Count agents working (on shift, not on break) at each requirement interval start."""
    scheduled = np.array(
        [sum(1 for s in shifts if s.works_at(t)) for t in requirements.starts], dtype=np.int64
    )
    return Coverage(
        requirements.starts, requirements.required, scheduled, requirements.interval_minutes
    )
