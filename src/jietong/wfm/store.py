"""SQL that reads the interaction history for workforce planning. Reads only, no decisions.

The only impure module of :mod:`jietong.wfm`: it turns ``interactions`` rows into the
pure inputs of :mod:`jietong.wfm.history`. Every query filters on ``org_id``. Counting
happens in the database (grouped by UTC quarter-hour, see :mod:`jietong.wfm.history` for
why that is exact in every time zone), so a year of history moves a few hundred
thousand small rows at most, however many interactions there were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Integer, and_, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from jietong.storage.tables import InteractionRow, OrganisationRow, QueueRow
from jietong.wfm.history import BUCKET_MINUTES, ArrivalCounts, HandlingStats

__all__ = [
    "QueueInfo",
    "arrival_counts",
    "find_organisation",
    "find_queue",
    "get_organisation",
    "handling_stats",
    "list_queues",
]

# Only contacts customers started are demand; outbound calls are the agents' own work.
_INBOUND = "inbound"


class epoch_seconds(FunctionElement[int]):  # noqa: N801 (SQL function naming)
    """Whole seconds since the Unix epoch of a UTC datetime column, on either backend."""

    type = Integer()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # UTC datetimes are stored as naive ISO text on SQLite (storage.types.UTCDateTime).
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgres(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


@dataclass(frozen=True)
class QueueInfo:
    """A queue as planning sees it: name, channels, service target."""

    id: str
    name: str
    channels: tuple[str, ...]
    target_service_level: float
    target_answer_seconds: int


def find_organisation(session: Session, slug: str) -> OrganisationRow | None:
    """The organisation with this slug, or None."""
    return session.scalar(select(OrganisationRow).where(OrganisationRow.slug == slug))


def get_organisation(session: Session, org_id: str) -> OrganisationRow:
    """The organisation (its time zone and region matter here); LookupError if missing."""
    org = session.get(OrganisationRow, org_id)
    if org is None:
        raise LookupError(f"no organisation {org_id}")
    return org


def _queue_info(row: QueueRow) -> QueueInfo:
    return QueueInfo(
        row.id,
        row.name,
        tuple(row.channels),
        row.target_service_level,
        row.target_answer_seconds,
    )


def list_queues(session: Session, org_id: str) -> list[QueueInfo]:
    """The organisation's queues by name."""
    rows = session.scalars(
        select(QueueRow).where(QueueRow.org_id == org_id).order_by(QueueRow.name)
    )
    return [_queue_info(row) for row in rows]


def find_queue(
    session: Session, org_id: str, *, queue_id: str | None = None, name: str | None = None
) -> QueueInfo | None:
    """The organisation's queue with this id or name, or None."""
    query = select(QueueRow).where(QueueRow.org_id == org_id)
    if queue_id is not None:
        query = query.where(QueueRow.id == queue_id)
    if name is not None:
        query = query.where(QueueRow.name == name)
    row = session.scalar(query.limit(1))
    return _queue_info(row) if row is not None else None


def _window(
    org_id: str, since: datetime, until: datetime, queue_id: str | None, channel: str | None
) -> list[ColumnElement[bool]]:
    where = [
        InteractionRow.org_id == org_id,
        InteractionRow.direction == _INBOUND,
        InteractionRow.arrived_at >= since,
        InteractionRow.arrived_at < until,
    ]
    if queue_id is not None:
        where.append(InteractionRow.queue_id == queue_id)
    if channel is not None:
        where.append(InteractionRow.channel == channel)
    return where


def arrival_counts(
    session: Session,
    org_id: str,
    *,
    since: datetime,
    until: datetime,
    queue_id: str | None = None,
    channel: str | None = None,
) -> ArrivalCounts:
    """Inbound interactions that arrived in [since, until), counted per UTC quarter-hour,
    queue name (``""`` without a queue) and channel."""
    # Floor division: integer division on both backends, so a bucket is an exact integer.
    bucket = (epoch_seconds(InteractionRow.arrived_at) // (BUCKET_MINUTES * 60)).label("bucket")
    queue_name = func.coalesce(QueueRow.name, "").label("queue")
    query = (
        select(queue_name, InteractionRow.channel, bucket, func.count().label("n"))
        .select_from(InteractionRow)
        .outerjoin(
            QueueRow, and_(QueueRow.id == InteractionRow.queue_id, QueueRow.org_id == org_id)
        )
        .where(*_window(org_id, since, until, queue_id, channel))
        .group_by(queue_name, InteractionRow.channel, bucket)
    )
    rows: Sequence[Any] = session.execute(query).all()
    if not rows:
        return ArrivalCounts.empty()
    queues, channels, buckets, counts = zip(*rows, strict=True)
    return ArrivalCounts(
        np.asarray(queues, dtype=object),
        np.asarray(channels, dtype=object),
        np.asarray(buckets, dtype=np.int64) * BUCKET_MINUTES,
        np.asarray(counts, dtype=np.int64),
    )


def handling_stats(
    session: Session,
    org_id: str,
    *,
    since: datetime,
    until: datetime,
    queue_id: str | None = None,
    channel: str | None = None,
) -> HandlingStats:
    """Sums of handle and waiting times of inbound interactions that arrived in the window
    (see :class:`~jietong.wfm.history.HandlingStats` for the definitions)."""
    row = InteractionRow
    answered = row.answered_at.is_not(None)
    abandoned = and_(row.answered_at.is_(None), row.state == "abandoned", row.ended_at.is_not(None))
    done = func.coalesce(row.wrapup_ended_at, row.ended_at)
    handle = case(
        (and_(answered, done.is_not(None)), epoch_seconds(done) - epoch_seconds(row.answered_at)),
        else_=0,
    )
    wait = case(
        (answered, epoch_seconds(row.answered_at) - epoch_seconds(row.arrived_at)),
        (abandoned, epoch_seconds(row.ended_at) - epoch_seconds(row.arrived_at)),
        else_=0,
    )
    query = select(
        func.coalesce(func.sum(case((and_(answered, done.is_not(None)), 1), else_=0)), 0),
        func.coalesce(func.sum(case((abandoned, 1), else_=0)), 0),
        func.coalesce(func.sum(handle), 0),
        func.coalesce(func.sum(wait), 0),
    ).where(*_window(org_id, since, until, queue_id, channel))
    n_answered, n_abandoned, handle_total, wait_total = session.execute(query).one()
    return HandlingStats(int(n_answered), int(n_abandoned), float(handle_total), float(wait_total))
