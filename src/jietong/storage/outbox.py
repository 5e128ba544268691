"""The outbox relay: publishes committed events in commit order, then marks them.

Runs in the server (an asyncio task calling `relay_once` in a thread) and at start-up,
so events committed just before a crash are published when the process comes back.
On PostgreSQL several relays may run at once: rows are claimed with SKIP LOCKED.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from jietong.events.base import Envelope
from jietong.events.bus import EventBus
from jietong.storage.tables import OutboxRow

log = logging.getLogger(__name__)


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
            query = (
                select(OutboxRow)
                .where(OutboxRow.published_at.is_(None))
                .order_by(OutboxRow.seq)
                .limit(self._batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(session.scalars(query))
            if not rows:
                return 0
            self._bus.publish([_envelope(row) for row in rows])
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.seq.in_([r.seq for r in rows]))
                .values(published_at=self._clock())
            )
        return len(rows)

    def relay_all(self) -> int:
        """Publish until nothing is pending; return the total."""
        total = 0
        while (count := self.relay_once()) > 0:
            total += count
        return total


def _envelope(row: OutboxRow) -> Envelope:
    return Envelope(
        event_id=row.event_id,
        event_type=row.event_type,
        org_id=row.org_id,
        occurred_at=row.occurred_at,
        payload=row.payload,
        seq=row.seq,
    )
