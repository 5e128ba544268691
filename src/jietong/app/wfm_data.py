"""Planning inputs from the platform's own database, shared by the CLI and the web page.

Glue between :mod:`jietong.wfm.store` (SQL, reads only) and :mod:`jietong.wfm.history`
(pure): which window of history to read, in which time zone, and how to split it into
series. History ends at the start of *today* in the organisation's time zone, so a
half-finished day never looks like a quiet one, and forecasts start with today.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from jietong.wfm import store
from jietong.wfm.history import (
    ArrivalCounts,
    HandlingStats,
    HistorySeries,
    OpeningHours,
    series_name,
    to_series,
)
from jietong.wfm.store import QueueInfo

__all__ = ["History", "HistoryWindow", "read_history", "window_for"]


@dataclass(frozen=True)
class HistoryWindow:
    """The local days [first_day, last_day] read, and the same span in UTC [since, until)."""

    first_day: dt.date
    last_day: dt.date
    since: dt.datetime
    until: dt.datetime


def window_for(now: dt.datetime, tz: ZoneInfo, weeks: int) -> HistoryWindow:
    """The ``weeks`` whole weeks of local days before today."""
    if weeks < 1:
        raise ValueError("read at least one week of history")
    today = now.astimezone(tz).date()
    first = today - dt.timedelta(days=7 * weeks)

    def utc_midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), tz).astimezone(dt.UTC)

    return HistoryWindow(
        first, today - dt.timedelta(days=1), utc_midnight(first), utc_midnight(today)
    )


@dataclass(frozen=True)
class History:
    """What was read for one selection (a queue and/or channel, None = all)."""

    org_id: str
    tz: ZoneInfo
    region: str  # the organisation's country: its public holidays close the center
    window: HistoryWindow
    queue: QueueInfo | None
    channel: str | None
    counts: ArrivalCounts
    handling: HandlingStats

    @property
    def name(self) -> str:
        """The selection as a series name, e.g. ``General/call`` or ``all/chat``."""
        return series_name(self.queue.name if self.queue else None, self.channel)

    def series(self, interval_minutes: int, hours: OpeningHours | None = None) -> HistorySeries:
        """Everything selected as one series (ForecastInputError if nothing arrived)."""
        return self._series(self.counts, self.name, interval_minutes, hours)

    def split(
        self, interval_minutes: int, hours: OpeningHours | None = None
    ) -> list[HistorySeries]:
        """One series per queue and channel with arrivals in the window."""
        return [
            self._series(
                self.counts.select(queue, channel),
                series_name(queue or "-", channel),
                interval_minutes,
                hours,
            )
            for queue, channel in self.counts.pairs()
        ]

    def _series(
        self, counts: ArrivalCounts, name: str, interval: int, hours: OpeningHours | None
    ) -> HistorySeries:
        w = self.window
        return to_series(
            counts,
            tz=self.tz,
            interval_minutes=interval,
            hours=hours,
            name=name,
            first_day=w.first_day if hours is not None else None,
            last_day=w.last_day if hours is not None else None,
        )


def read_history(
    session: Session,
    org_id: str,
    *,
    now: dt.datetime,
    weeks: int,
    queue: QueueInfo | None = None,
    channel: str | None = None,
) -> History:
    """Arrival counts and handling statistics of ``org_id``'s recent inbound interactions.

    ``queue`` must be one of ``org_id``'s queues (from :func:`store.find_queue`); every
    query is filtered on ``org_id`` as well, so another organisation's rows never count.
    """
    org = store.get_organisation(session, org_id)
    tz = ZoneInfo(org.timezone)
    window = window_for(now, tz, weeks)
    queue_id = queue.id if queue is not None else None
    counts = store.arrival_counts(
        session, org_id, since=window.since, until=window.until, queue_id=queue_id, channel=channel
    )
    handling = store.handling_stats(
        session, org_id, since=window.since, until=window.until, queue_id=queue_id, channel=channel
    )
    return History(org_id, tz, org.default_region, window, queue, channel, counts, handling)
