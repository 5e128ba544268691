"""The outbox relay: publishes committed events in commit order, then marks them.

Runs in the server — after each batch of the intake writer, in its thread, and as an
asyncio task (`relay_pending` in a thread) for every other writer's events — and at
start-up, so events committed just before a crash are published when the process comes
back.

Each published event gets the next `published_seq`: the one total order every consumer
sees, and the position a reconnecting client resumes after. Only one relay may assign it at
a time, so on PostgreSQL each batch runs under a transaction-level advisory lock: a second
server process waits for the first one's (short) batch, then finds what is left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from jietong.events.base import Audience, Envelope
from jietong.events.bus import EventBus
from jietong.storage.engine import READ_ONLY
from jietong.storage.tables import OutboxRow

log = logging.getLogger(__name__)

# Arbitrary but fixed: the advisory lock key that lets one relay publish at a time.
RELAY_LOCK_KEY = 0x4A49_4554_4F4E_4701


class OutboxRelay:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        bus: EventBus,
        clock: Callable[[], datetime],
        batch_size: int = 500,
    ) -> None:
        self._sessions = session_factory
        self._bus = bus
        self._clock = clock
        self._batch_size = batch_size

    def relay_once(self) -> int:
        """Publish one batch of unpublished events; return how many were published."""
        with self._sessions() as session, session.begin():
            envelopes = self._claim(session)
            # Publish before the marks commit: a crash in between re-publishes (at least
            # once), never loses. Consumers dedupe on event_id.
            if envelopes:
                self._bus.publish(envelopes)
        return len(envelopes)

    def _claim(self, session: Session) -> list[Envelope]:
        """Number and mark (up to a batch of) the unpublished events in `session`'s
        transaction, under the relays' lock, and return their envelopes."""
        _serialise_relays(session)
        if session.get_bind().dialect.name == "postgresql":
            return self._claim_in_one_statement(session)
        # Columns and one UPDATE, not ORM entities: the relay handles every event of the
        # system, and loading and flushing entities cost it most of its time.
        rows = session.execute(
            select(*_ENVELOPE_COLUMNS)
            .where(OutboxRow.published_at.is_(None))
            .order_by(OutboxRow.seq)
            .limit(self._batch_size)
        ).all()
        if not rows:
            return []
        last = session.scalar(select(func.max(OutboxRow.published_seq))) or 0
        _mark(session, [row.seq for row in rows], last, self._clock())
        return [_envelope(row, last + n) for n, row in enumerate(rows, 1)]

    def _claim_in_one_statement(self, session: Session) -> list[Envelope]:
        """PostgreSQL: find, number and mark the batch in one UPDATE … RETURNING.

        One round trip instead of three (select, max, update): the intake writer runs
        the relay after every batch, and its thread spent most of its time waiting for
        the database's answers. The statement runs after the lock is held, so its
        snapshot sees every earlier relay's marks; its reads (the pending rows, the
        highest number) all see the table as it was before its own update."""
        table = OutboxRow.__table__
        batch = (
            select(
                table.c.seq,
                func.row_number().over(order_by=table.c.seq).label("n"),
            )
            .where(table.c.published_at.is_(None))
            .order_by(table.c.seq)
            .limit(self._batch_size)
            .subquery("batch")
        )
        last = select(func.coalesce(func.max(table.c.published_seq), 0)).scalar_subquery()
        rows = session.execute(
            update(table)  # type: ignore[arg-type]
            .where(table.c.seq == batch.c.seq)
            .values(published_seq=last + batch.c.n, published_at=self._clock())
            .returning(*_ENVELOPE_COLUMNS, table.c.published_seq)
        ).all()
        ordered = sorted(rows, key=lambda row: row.published_seq)  # RETURNING has no order
        return [_envelope(row, row.published_seq) for row in ordered]

    def relay_pending(self) -> int:
        """`relay_all` after a look for pending events that takes no lock (on SQLite a
        DEFERRED read, on PostgreSQL no advisory lock): for the relay task, whose wakes
        mostly come after the intake writer published its own batch (it runs the relay
        after each one) and would otherwise take the lock to find nothing."""
        with self._sessions() as session:
            if not _pending(session):
                return 0
        return self.relay_all()

    def relay_all(self) -> int:
        """Publish until nothing is pending; return the total. A batch smaller than the
        limit took everything pending: no second look (an empty transaction per wake);
        anything committed since has woken the relay again."""
        total = 0
        while True:
            count = self.relay_once()
            total += count
            if count < self._batch_size:
                return total


def envelope_of(row: OutboxRow) -> Envelope:
    """The envelope of a published (or being published) outbox row."""
    return Envelope(
        event_id=row.event_id,
        event_type=row.event_type,
        org_id=row.org_id,
        occurred_at=row.occurred_at,
        payload=row.payload,
        seq=row.published_seq,
        audience=Audience.model_validate(row.audience),
    )


_ENVELOPE_COLUMNS = (
    OutboxRow.seq,
    OutboxRow.event_id,
    OutboxRow.event_type,
    OutboxRow.org_id,
    OutboxRow.occurred_at,
    OutboxRow.payload,
    OutboxRow.audience,
)


def _envelope(row: Row[Any], seq: int) -> Envelope:
    return Envelope(
        event_id=row.event_id,
        event_type=row.event_type,
        org_id=row.org_id,
        occurred_at=row.occurred_at,
        payload=row.payload,
        seq=seq,
        audience=Audience.model_validate(row.audience),
    )


def _mark(session: Session, seqs: list[int], last: int, at: datetime) -> None:
    """Number the rows `seqs` (in this order) last+1, last+2, … and date them `at`
    (SQLite, whose executemany loops in C over one prepared statement)."""
    session.execute(
        update(OutboxRow.__table__)  # type: ignore[arg-type]
        .where(OutboxRow.__table__.c.seq == bindparam("row_seq"))
        .values(published_seq=bindparam("new_seq"), published_at=at),
        [{"row_seq": seq, "new_seq": last + n} for n, seq in enumerate(seqs, 1)],
    )


def _pending(session: Session) -> bool:
    """Whether any event waits, read without a write lock (SQLite: a DEFERRED read)."""
    session.connection(execution_options={READ_ONLY: True})  # begins the read
    found = session.scalar(select(OutboxRow.seq).where(OutboxRow.published_at.is_(None)).limit(1))
    session.rollback()
    return found is not None


def _serialise_relays(session: Session) -> None:
    """Hold the relay lock until this transaction ends (SQLite's BEGIN IMMEDIATE already
    serialises every writer)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": RELAY_LOCK_KEY})
