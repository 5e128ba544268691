"""Six weeks of past interactions for the demo organisation, so that workforce planning
(forecast, staffing, schedule, simulation) has a history to learn from on first start.

The arrivals are generated, not copied: a day's volume is a per-series base level times a
day-of-week factor, a slight upward trend and ~6 % day-to-day noise; within the day,
quarter-hour counts are Poisson around an intraday profile. The weekday factors, the
intraday profile (07:00-21:00) and the noise level were measured once on the real bank
call-center data in ``shared/data`` (see ``bench/RESULTS.md``) and are kept here as
constants. Closed days follow the organisation's public-holiday calendar, including
China's makeup workdays (调休), so the forecaster's holiday handling has something to do.

Each interaction is inbound and finished: closed (queued, offered, answered, ended, wrapped
up) or, for calls and chats, abandoned while waiting, with the KPI timestamps set. They are
bulk-inserted in one transaction as a historical import: no events and no per-step
transition rows (tens of thousands of outbox rows would only replay history to consumers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Table, insert, select

from jietong.app.platform import Platform
from jietong.storage.tables import InteractionRow, OrganisationRow, QueueRow, TeamRow, UserRow
from jietong.wfm.holidays import HolidayCalendar, load_calendar

__all__ = ["DEMO_SERIES", "DemoSeries", "add_demo_history", "generate_interactions"]

_INTERACTIONS = cast(Table, InteractionRow.__table__)

# Share of a day's calls per quarter-hour from 07:00 to 21:00 (per mille), bank data.
INTRADAY_PER_MILLE = (
    8, 7, 8, 9, 12, 14, 16, 18, 23, 25, 26, 26, 26, 26, 26, 26, 25, 25, 25, 25, 24, 24, 24, 23,
    23, 23, 23, 23, 22, 22, 22, 22, 22, 22, 21, 21, 20, 20, 18, 18, 16, 15, 14, 13, 12, 12, 11,
    10, 9, 9, 9, 8, 8, 7, 7, 7,
)  # fmt: skip
OPENS_MINUTE = 7 * 60
# Monday..Friday volume relative to the weekday mean (bank data: Monday catches up).
WEEKDAY_FACTOR = (1.129, 1.007, 0.942, 0.949, 0.973)
MAKEUP_FACTOR = 0.95  # a worked weekend day behaves like a mid-week day
DAILY_NOISE_CV = 0.06
WEEKLY_GROWTH = 0.005
HISTORY_DAYS = 42
_QUARTER = 15 * 60


@dataclass(frozen=True)
class DemoSeries:
    """One queue/channel of the demo: mean contacts per open weekday and its behaviour."""

    queue: str
    channel: str
    per_day: float
    handle_seconds: float  # talk/handling, lognormal
    wrapup_seconds: float
    mean_wait_seconds: float
    abandon_share: float  # of contacts that wait, abandon (calls and chats only)


DEMO_SERIES = (
    DemoSeries("General", "call", 420, 240, 30, 18, 0.05),
    DemoSeries("General", "chat", 150, 420, 20, 40, 0.03),
    DemoSeries("General", "wechat", 110, 360, 20, 60, 0.02),
    DemoSeries("General", "email", 60, 420, 60, 3600, 0.0),
    DemoSeries("General", "sms", 20, 150, 10, 600, 0.0),
    DemoSeries("Billing", "call", 160, 300, 45, 25, 0.06),
    DemoSeries("Billing", "email", 30, 540, 60, 5400, 0.0),
)


def _open_days(
    last_day: dt.date, days: int, calendar: HolidayCalendar
) -> list[tuple[dt.date, float]]:
    """Open days (weekdays that are not holidays, plus makeup workdays) with their factor."""
    out = []
    for back in range(days - 1, -1, -1):
        day = last_day - dt.timedelta(days=back)
        if calendar.is_makeup_workday(day):
            out.append((day, MAKEUP_FACTOR))
        elif day.weekday() < 5 and not calendar.is_holiday(day):
            out.append((day, WEEKDAY_FACTOR[day.weekday()]))
    return out


def _uuid7(ms: npt.NDArray[np.int64], rng: np.random.Generator) -> list[str]:
    """UUIDv7 ids carrying the arrival time, so ids sort like the history they describe."""
    seq = rng.integers(0, 1 << 12, ms.size)
    low = rng.integers(0, 1 << 62, ms.size, dtype=np.int64)
    return [
        f"{int(m) << 80 | 0x7 << 76 | int(s) << 64 | 0b10 << 62 | int(r):032x}"
        for m, s, r in zip(ms, seq, low, strict=True)
    ]


def _arrivals(
    spec: DemoSeries, days: Sequence[tuple[dt.date, float]], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Local arrival times (epoch seconds of the wall clock) of one series."""
    profile = np.asarray(INTRADAY_PER_MILLE, dtype=float) / sum(INTRADAY_PER_MILLE)
    out: list[npt.NDArray[np.int64]] = []
    for position, (day, factor) in enumerate(days):
        level = spec.per_day * factor * (1 + WEEKLY_GROWTH * position / 5)
        level *= rng.lognormal(-(DAILY_NOISE_CV**2) / 2, DAILY_NOISE_CV)
        counts = rng.poisson(level * profile)
        midnight = (day - dt.date(1970, 1, 1)).days * 86400
        quarter_starts = midnight + OPENS_MINUTE * 60 + _QUARTER * np.arange(profile.size)
        starts = np.repeat(quarter_starts, counts)
        out.append(starts + rng.integers(0, _QUARTER, starts.size))
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def _to_utc(local_seconds: npt.NDArray[np.int64], tz: ZoneInfo) -> pd.DatetimeIndex:
    stamps = pd.to_datetime(local_seconds, unit="s").tz_localize(
        tz, ambiguous="NaT", nonexistent="NaT"
    )
    return stamps.tz_convert("UTC")


def _timeline(
    spec: DemoSeries, arrived: pd.DatetimeIndex, rng: np.random.Generator
) -> dict[str, Any]:
    """KPI timestamps of each contact (None where a milestone was never reached)."""
    n = len(arrived)

    def seconds(values: npt.NDArray[np.float64]) -> pd.TimedeltaIndex:
        return pd.to_timedelta(np.round(values, 3), unit="s")

    queued = arrived + seconds(rng.uniform(0.5, 3.0, n))
    waits = rng.exponential(spec.mean_wait_seconds, n)
    abandons = rng.random(n) < spec.abandon_share
    offered = queued + seconds(waits)
    answered = offered + seconds(rng.uniform(2.0, 8.0, n))
    sigma = 0.6  # lognormal handle times: a long right tail, as measured in call centers
    talk = rng.lognormal(np.log(spec.handle_seconds) - sigma**2 / 2, sigma, n)
    ended = answered + seconds(talk)
    wrapped = ended + seconds(rng.exponential(spec.wrapup_seconds, n))
    gone = queued + seconds(waits * rng.uniform(0.2, 1.0, n))  # hung up while waiting
    return {
        "state": np.where(abandons, "abandoned", "closed"),
        "offered_at": _maybe(offered, ~abandons),
        "answered_at": _maybe(answered, ~abandons),
        "ended_at": np.where(abandons, _py(gone), _py(ended)),
        "wrapup_ended_at": _maybe(wrapped, ~abandons),
        "queued_at": _py(queued),
    }


def _py(index: pd.DatetimeIndex) -> npt.NDArray[np.object_]:
    values: npt.NDArray[np.object_] = np.asarray(index.to_pydatetime(), dtype=object)
    return values


def _maybe(index: pd.DatetimeIndex, keep: npt.NDArray[np.bool_]) -> npt.NDArray[np.object_]:
    values = _py(index)
    values[~keep] = None
    return values


def generate_interactions(
    *,
    org_id: str,
    queue_ids: Mapping[str, str],
    team_id: str | None,
    agent_ids: Sequence[str],
    tz: ZoneInfo,
    last_day: dt.date,
    calendar: HolidayCalendar,
    days: int = HISTORY_DAYS,
    seed: int = 7,
) -> list[dict[str, Any]]:
    """Rows for ``interactions``: the demo series over the ``days`` ending ``last_day``.

    Deterministic for a seed. Series whose queue is not in ``queue_ids`` are skipped.
    """
    rng = np.random.default_rng(seed)
    open_days = _open_days(last_day, days, calendar)
    rows: list[dict[str, Any]] = []
    for spec in DEMO_SERIES:
        queue_id = queue_ids.get(spec.queue)
        if queue_id is None:
            continue
        arrived = _to_utc(_arrivals(spec, open_days, rng), tz).dropna()
        stamps = _timeline(spec, arrived, rng)
        ids = _uuid7(np.asarray(arrived.asi8 // 1_000_000, dtype=np.int64), rng)
        agents = [agent_ids[i % len(agent_ids)] for i in range(len(arrived))] if agent_ids else []
        arrived_py = _py(arrived)
        for i in range(len(arrived)):
            closed = stamps["state"][i] == "closed"
            rows.append(
                {
                    "id": ids[i],
                    "org_id": org_id,
                    "channel": spec.channel,
                    "direction": "inbound",
                    "state": str(stamps["state"][i]),
                    "queue_id": queue_id,
                    "team_id": team_id,
                    "assigned_user_id": agents[i] if agents and closed else None,
                    "arrived_at": arrived_py[i],
                    "queued_at": stamps["queued_at"][i],
                    "offered_at": stamps["offered_at"][i],
                    "answered_at": stamps["answered_at"][i],
                    "ended_at": stamps["ended_at"][i],
                    "wrapup_ended_at": stamps["wrapup_ended_at"][i],
                    "updated_at": stamps["wrapup_ended_at"][i] or stamps["ended_at"][i],
                }
            )
    return rows


def _calendar(region: str, last_day: dt.date) -> HolidayCalendar:
    try:
        return load_calendar(region, range(last_day.year - 1, last_day.year + 1))
    except ValueError:  # a region the holiday library does not know: no holidays
        return HolidayCalendar()


def add_demo_history(platform: Platform, org_id: str) -> int:
    """Insert the demo history for ``org_id`` (ending yesterday, organisation time).

    Returns the number of interactions inserted. Call once, right after the demo
    organisation and its queues are created.
    """
    with platform.uow() as uow:
        session = uow.session
        org = session.get(OrganisationRow, org_id)
        if org is None:
            raise LookupError(f"no organisation {org_id}")
        queues = {
            name: queue_id
            for name, queue_id in session.execute(
                select(QueueRow.name, QueueRow.id).where(QueueRow.org_id == org_id)
            ).all()
        }
        team_id = session.scalar(
            select(TeamRow.id).where(TeamRow.org_id == org_id, TeamRow.kind == "team").limit(1)
        )
        agents = list(
            session.scalars(
                select(UserRow.id)
                .where(UserRow.org_id == org_id, UserRow.role == "agent")
                .order_by(UserRow.username)
            )
        )
        tz = ZoneInfo(org.timezone)
        last_day = uow.now.astimezone(tz).date() - dt.timedelta(days=1)
        calendar = _calendar(org.default_region, last_day)
        rows = generate_interactions(
            org_id=org_id,
            queue_ids=queues,
            team_id=team_id,
            agent_ids=agents,
            tz=tz,
            last_day=last_day,
            calendar=calendar,
        )
        if rows:
            # A Core executemany: the ORM's per-row bookkeeping would double the time.
            session.execute(insert(_INTERACTIONS), rows)
        uow.commit()
    return len(rows)
