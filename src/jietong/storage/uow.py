"""The unit of work: one transaction, its outbox events and its audit entries.

Service functions open one, change rows, `emit` events and `audit` changes, then
`commit`. Events reach the outbox table in the same transaction, so they exist if and
only if the change does; the relay publishes them after commit.

`UnitOfWork(..., read_only=True)` is for work that only reads (account look-ups, stream
replay, snapshots): on SQLite its transaction begins DEFERRED, so it neither takes nor
waits for the write lock; any attempt to write through it raises `ReadOnlyViolation`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from jietong.core.tenancy import SYSTEM_USER_ID, Actor
from jietong.events.base import DomainEvent, Envelope
from jietong.storage.audience import resolve_audience
from jietong.storage.engine import READ_ONLY
from jietong.storage.tables import AuditRow, OutboxRow


class ReadOnlyViolation(RuntimeError):
    """A read-only unit of work was asked to write: a programming error, not bad input."""


class UnitOfWork:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        now: datetime,
        after_commit: Callable[[], None] | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        self.read_only = read_only
        if read_only:
            self.session: Session = session_factory(
                execution_options={READ_ONLY: True}, info={READ_ONLY: True}
            )
        else:
            self.session = session_factory()
        self.now = now
        self._after_commit = after_commit
        self._emitted = 0

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back anything not committed explicitly; unlike rollback() it
        # leaves loaded rows readable (detached), so results outlive the unit of work.
        self.session.close()

    def emit(self, event: DomainEvent) -> None:
        """Add `event` to the outbox of this transaction, with the audience its subject
        has right now (see storage.audience)."""
        self._check_writable()
        envelope = Envelope.wrap(event, self.now, resolve_audience(self.session, event))
        self.session.add(
            OutboxRow(
                event_id=envelope.event_id,
                org_id=envelope.org_id,
                event_type=envelope.event_type,
                payload=envelope.payload,
                audience=envelope.audience.model_dump(mode="json"),
                occurred_at=envelope.occurred_at,
            )
        )
        self._emitted += 1

    def audit(
        self,
        actor: Actor,
        action: str,
        entity_type: str,
        entity_id: str,
        changes: dict[str, Any] | None = None,
    ) -> None:
        self._check_writable()
        self.session.add(
            AuditRow(
                org_id=actor.org_id,
                actor_user_id=None if actor.user_id == SYSTEM_USER_ID else actor.user_id,
                actor_token_id=actor.token_id,
                action=action,
                entity_type=entity_type,
                entity_id=entity_id,
                changes=changes or {},
                at=self.now,
            )
        )

    def commit(self) -> None:
        self.session.commit()
        if self._emitted and self._after_commit is not None:
            self._after_commit()
        self._emitted = 0

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyViolation("this unit of work is read-only")


# Registered once for every Session (a per-session listener would cost each unit of
# work an event registration); sessions without the READ_ONLY mark pay one dict look-up.
@event.listens_for(Session, "before_flush")
def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise ReadOnlyViolation("a read-only unit of work cannot write rows")


@event.listens_for(Session, "do_orm_execute")
def _refuse_dml(state: ORMExecuteState) -> None:
    if state.session.info.get(READ_ONLY) and (
        state.is_insert or state.is_update or state.is_delete
    ):
        raise ReadOnlyViolation("a read-only unit of work cannot change rows")
