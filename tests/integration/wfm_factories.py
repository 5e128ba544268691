"""Factories for workforce-planning tests: queues and weeks of inbound interactions."""

from __future__ import annotations

import datetime as dt
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert

from jietong.app.platform import Platform
from jietong.app.wfm_data import window_for
from jietong.core.ids import new_id
from jietong.core.tenancy import system_actor
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate
from jietong.storage.tables import InteractionRow
from jietong.wfm import store
from tests.conftest import Tenant

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Sunday evening: history is the weeks before today, Monday 2025-03-03 .. Saturday.
NOW = dt.datetime(2025, 4, 13, 12, 0, tzinfo=dt.UTC)
WEEKS = 6
_INTERACTIONS = cast(Table, InteractionRow.__table__)


def make_queue(platform: Platform, tenant: Tenant, name: str) -> store.QueueInfo:
    with platform.uow() as uow:
        row = org_service.create_queue(
            uow, system_actor(tenant.org_id), QueueCreate(name=name, channels=["call", "chat"])
        )
    with platform.uow() as uow:
        found = store.find_queue(uow.session, tenant.org_id, queue_id=row.id)
    assert found is not None
    return found


def interaction(
    org_id: str,
    queue_id: str | None,
    channel: str,
    arrived: dt.datetime,
    *,
    direction: str = "inbound",
    wait: float = 10.0,
    handle: float = 200.0,
    abandoned: bool = False,
) -> dict[str, object]:
    answered = None if abandoned else arrived + dt.timedelta(seconds=wait)
    ended = arrived + dt.timedelta(seconds=wait if abandoned else wait + handle)
    return {
        "id": new_id(),
        "org_id": org_id,
        "channel": channel,
        "direction": direction,
        "state": "abandoned" if abandoned else "closed",
        "queue_id": queue_id,
        "arrived_at": arrived,
        "queued_at": arrived,
        "answered_at": answered,
        "ended_at": ended,
        "wrapup_ended_at": None,
        "updated_at": ended,
    }


def weekday_history(
    org_id: str, queue_id: str, channel: str, per_hour: int, now: dt.datetime = NOW
) -> list[dict[str, object]]:
    """``per_hour`` contacts every weekday hour 09:00-17:00 Shanghai time for six weeks;
    Wednesdays at 14:00 get none (an open interval with no contacts)."""
    rows = []
    first = window_for(now, SHANGHAI, WEEKS).first_day
    for day in range(WEEKS * 7):
        date = first + dt.timedelta(days=day)
        if date.weekday() >= 5:
            continue
        for hour in range(9, 17):
            if date.weekday() == 2 and hour == 14:
                continue
            for k in range(per_hour):
                moment = dt.datetime.combine(date, dt.time(hour), SHANGHAI)
                offset = dt.timedelta(minutes=60 * k / per_hour)
                rows.append(interaction(org_id, queue_id, channel, moment + offset))
    return rows


def insert_rows(platform: Platform, rows: list[dict[str, object]]) -> None:
    with platform.uow() as uow:
        uow.session.execute(insert(_INTERACTIONS), rows)  # Core executemany: fast
        uow.commit()
