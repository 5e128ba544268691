"""The workforce-planning form: parsing, bounds and the canonical query string.

Pure. The bounds are what keeps a request's work finite on a shared server: at most 14
planned days, intervals of at least 15 minutes, at most 26 weeks of history; the
scheduler and the simulation get fixed time budgets in :mod:`jietong.web.wfm_pages`.
Problems come back as catalogue keys (with values), so the page shows them translated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

__all__ = [
    "CHANNELS",
    "INTERVALS",
    "MAX_HORIZON_DAYS",
    "FormProblem",
    "PlanForm",
    "parse_form",
]

INTERVALS = (15, 30, 60)
MAX_HORIZON_DAYS = 14
MAX_WEEKS = 26
MIN_WEEKS = 3
CHANNELS = ("call", "chat", "email", "sms", "wechat", "api")


@dataclass(frozen=True)
class FormProblem:
    """One thing wrong with the form: the field's name, a catalogue key and its values."""

    name: str
    key: str
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanForm:
    """A valid form. Percentages are fractions here; None leaves a target out."""

    queue_id: str | None = None
    channel: str | None = None
    interval: int = 30
    horizon_days: int = 5
    weeks: int = 8
    service_level: float | None = 0.8
    target_seconds: int = 20
    asa_seconds: float | None = None
    max_abandon: float | None = None
    max_occupancy: float | None = None
    shrinkage: float = 0.3
    aht_seconds: float | None = None
    schedule: bool = True

    def query(self) -> str:
        """The form as a canonical query string (same plan, same string)."""
        pairs: list[tuple[str, str]] = [("run", "1")]
        pairs += [("queue", self.queue_id or ""), ("channel", self.channel or "")]
        pairs += [("interval", str(self.interval)), ("horizon", str(self.horizon_days))]
        pairs += [("weeks", str(self.weeks)), ("sl", _percent(self.service_level))]
        pairs += [("t", str(self.target_seconds)), ("asa", _number(self.asa_seconds))]
        pairs += [("abandon", _percent(self.max_abandon))]
        pairs += [("occupancy", _percent(self.max_occupancy))]
        pairs += [("shrinkage", _percent(self.shrinkage)), ("aht", _number(self.aht_seconds))]
        if self.schedule:
            pairs.append(("schedule", "1"))
        return urlencode(pairs)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:g}"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


class _Reader:
    """Reads fields one by one, collecting problems instead of stopping at the first."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self.params = params
        self.problems: list[FormProblem] = []

    def text(self, name: str) -> str:
        return self.params.get(name, "").strip()[:64]

    def number(self, name: str, low: float, high: float, default: float | None) -> float | None:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low <= value <= high):
            values = {"field": name, "low": f"{low:g}", "high": f"{high:g}"}
            self.problems.append(FormProblem(name, "wfm.error.range", values))
            return default
        return value

    def choice(self, name: str, allowed: tuple[int, ...], default: int) -> int:
        raw = self.text(name)
        if not raw:
            return default
        if not raw.isdigit() or int(raw) not in allowed:
            self.problems.append(FormProblem(name, f"wfm.error.{name}"))
            return default
        return int(raw)


def _fraction(value: float | None) -> float | None:
    return None if value is None else value / 100.0


def parse_form(params: Mapping[str, str]) -> PlanForm | list[FormProblem]:
    """A :class:`PlanForm`, or the problems found (every one of them)."""
    read = _Reader(params)
    channel = read.text("channel") or None
    if channel is not None and channel not in CHANNELS:
        read.problems.append(FormProblem("channel", "wfm.error.channel"))
    queue = read.text("queue") or None
    if queue is not None and not queue.isalnum():
        read.problems.append(FormProblem("queue", "wfm.error.queue"))
    horizon = read.number("horizon", 1, MAX_HORIZON_DAYS, 5)
    weeks = read.number("weeks", MIN_WEEKS, MAX_WEEKS, 8)
    target_seconds = read.number("t", 1, 3600, 20)
    form = PlanForm(
        queue_id=queue,
        channel=channel,
        interval=read.choice("interval", INTERVALS, 30),
        horizon_days=int(horizon or 5),
        weeks=int(weeks or 8),
        service_level=_fraction(read.number("sl", 1, 100, 80)),
        target_seconds=int(target_seconds or 20),
        asa_seconds=read.number("asa", 1, 3600, None),
        max_abandon=_fraction(read.number("abandon", 0.1, 100, None)),
        max_occupancy=_fraction(read.number("occupancy", 1, 100, None)),
        shrinkage=_fraction(read.number("shrinkage", 0, 90, 30)) or 0.0,
        aht_seconds=read.number("aht", 1, 36_000, None),
        schedule=read.text("schedule") == "1",
    )
    return read.problems or form
