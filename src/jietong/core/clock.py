"""Time is passed in, never read inside domain code; this is where it is read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def utcnow() -> datetime:
    """The wall clock in UTC, for composition-root code that has no injected clock."""
    return datetime.now(UTC)
