"""The unit of work: one transaction, its outbox events and its audit entries.

Service functions open one, change rows, `emit` events and `audit` changes, then
`commit`. Events reach the outbox table in the same transaction, so they exist if and
only if the change does; the relay publishes them after commit.

Inside `with uow.deferred_inserts():` the rows given to `add_later` (and the outbox and
audit rows of `emit` and `audit`) are not flushed one by one: they are inserted at
`flush_later` or `commit`, one executemany per table. Queries do not see them before;
code that needs them visible calls `flush_later` first. The intake committer uses this
to insert the rows of many messages in a few statements. `update_later` does the same
for changes to rows already loaded: one UPDATE by primary key per table, after the
inserts.

`UnitOfWork(..., read_only=True)` is for work that only reads (account look-ups, stream
replay, snapshots): on SQLite its transaction begins DEFERRED, so it neither takes nor
waits for the write lock; any attempt to write through it raises `ReadOnlyViolation`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Table, bindparam, event, insert, inspect, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from jietong.core.tenancy import SYSTEM_USER_ID, Actor
from jietong.events.base import DomainEvent, Envelope
from jietong.storage.audience import resolve_audience
from jietong.storage.engine import READ_ONLY
from jietong.storage.secretbox import SecretBox, secret_box_of
from jietong.storage.tables import AuditRow, Base, OutboxRow


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
        # None: not deferring. Each entry is a row to INSERT (key None) or the changes to
        # UPDATE in the row whose primary key is `key`.
        self._later: list[tuple[Table, dict[str, Any], Any]] | None = None

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

    @property
    def secrets(self) -> SecretBox:
        """The platform's box sealing secrets at rest (given to its session factory)."""
        return secret_box_of(self.session)

    def emit(self, event: DomainEvent) -> None:
        """Add `event` to the outbox of this transaction, with the audience its subject
        has right now (see storage.audience)."""
        self._check_writable()
        envelope = Envelope.wrap(event, self.now, resolve_audience(self.session, event))
        self._add_values(
            OutboxRow,
            {
                "event_id": envelope.event_id,
                "org_id": envelope.org_id,
                "event_type": envelope.event_type,
                "payload": envelope.payload,
                "audience": envelope.audience.model_dump(mode="json"),
                "occurred_at": envelope.occurred_at,
            },
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
        self._add_values(
            AuditRow,
            {
                "org_id": actor.org_id,
                "actor_user_id": None if actor.user_id == SYSTEM_USER_ID else actor.user_id,
                "actor_token_id": actor.token_id,
                "action": action,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "changes": changes or {},
                "at": self.now,
            },
        )

    @contextmanager
    def deferred_inserts(self) -> Iterator[None]:
        """Within this block `add_later`, `emit` and `audit` queue their INSERTs until
        `flush_later` or `commit` (see the module docstring)."""
        if self._later is not None:
            raise RuntimeError("deferred_inserts() does not nest")
        self._later = []
        try:
            yield
            self.flush_later()
        finally:
            self._later = None

    def add_later(self, row: Base) -> None:
        """Insert the new `row`: at once (through the session) normally, with the next
        `flush_later` inside `deferred_inserts`. A deferred row is a plain INSERT of the
        attributes set on it; it does not become a session object."""
        if self._later is None:
            self.session.add(row)
            return
        self._check_writable()
        table, columns = _columns_of(type(row))
        state = row.__dict__
        values = {name: state[key] for key, name in columns if key in state}
        self._later.append((table, values, None))

    def update_later(self, row: Base, **values: Any) -> None:
        """Set `values` on the loaded `row`: through the session normally; inside
        `deferred_inserts`, as an UPDATE by primary key at the next `flush_later` (after
        its inserts), the attributes reading as set meanwhile without the row becoming
        dirty. The intake touches one conversation per message, and the ORM's flush of
        those was a round trip of its own in every batch. Only for columns no query of
        the same transaction reads before `flush_later`."""
        if self._later is None:
            for name, value in values.items():
                setattr(row, name, value)
            return
        self._check_writable()
        table, columns = _columns_of(type(row))
        names = dict(columns)
        for name, value in values.items():
            set_committed_value(row, name, value)
        key = inspect(row).identity
        if key is None or len(key) != 1:
            raise ValueError("update_later needs a loaded row with a one-column primary key")
        self._later.append((table, {names[n]: v for n, v in values.items()}, key[0]))

    def _add_values(self, row_type: type[OutboxRow | AuditRow], values: dict[str, Any]) -> None:
        """`add_later` of a new `row_type` row given as its column values (for tables whose
        attribute names are their column names). Deferred, no mapped object is built at
        all: the intake emits several events per message, and building and taking apart
        those objects showed in its profile."""
        if self._later is None:
            self.session.add(row_type(**values))
        else:
            self._later.append((row_type.__table__, values, None))  # type: ignore[arg-type]

    def later_mark(self) -> int:
        """A position in the deferred rows, for `drop_later` (undoing one part's rows)."""
        return 0 if self._later is None else len(self._later)

    def drop_later(self, mark: int) -> None:
        """Forget the deferred rows queued since `mark` (their savepoint was rolled back)."""
        if self._later is not None:
            del self._later[mark:]

    def flush_later(self) -> None:
        """Write the deferred rows: inserts in foreign-key order of tables, rows in the
        order given (an outbox's seq follows emission), one executemany per run of rows
        of one table with the same columns; then the updates, one executemany per table
        and set of columns (a row changed twice: the later values win)."""
        if not self._later:
            return
        pending, self._later = self._later, []
        order = _table_order(len(Base.metadata.tables))
        inserts: dict[Table, list[dict[str, Any]]] = {}
        updates: dict[tuple[Table, Any], dict[str, Any]] = {}
        for table, values, key in pending:
            if key is None:
                inserts.setdefault(table, []).append(values)
            else:
                updates.setdefault((table, key), {}).update(values)
        # The session's own changes first, as the first INSERT's autoflush did: inside a
        # pipeline no statement reports its row count, which the ORM's UPDATEs check.
        self.session.flush()
        with self.session.no_autoflush, _pipelined(self.session):
            for table in sorted(inserts, key=order.__getitem__):
                rows = inserts[table]
                start = 0
                for end in range(1, len(rows) + 1):
                    if end == len(rows) or rows[end].keys() != rows[start].keys():
                        # inline: nothing is read back (no RETURNING of the key), so a
                        # single row also rides the pipeline without a round trip.
                        self.session.execute(insert(table).inline(), rows[start:end])
                        start = end
            by_statement: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
            for (table, key), values in updates.items():
                by_statement.setdefault((table, tuple(values)), []).append(
                    {**values, _KEY_PARAM: key}
                )
            for (table, _names), rows in by_statement.items():
                (primary_key,) = table.primary_key.columns
                statement = update(table).where(primary_key == bindparam(_KEY_PARAM))
                self.session.execute(statement, rows)

    def begin_read(self) -> None:
        """Begin a transaction that will only read; the next `session.rollback()` (or
        `commit()`) ends it, and transactions after it are normal again.

        For work that reads first and writes only if it found something (the routing
        engine's phases): on SQLite the read begins DEFERRED, so it neither takes nor
        waits for the one write lock while it scans, and the intake committer is not held
        up by a scan that finds nothing to do. Writing before the read ends raises
        `ReadOnlyViolation`: a DEFERRED reader that starts writing can fail with
        SQLITE_BUSY half-way, so the phase must end first. On PostgreSQL it changes
        nothing but the check."""
        if self.session.in_transaction():
            self.session.rollback()
        self.session.info[_READ_PHASE] = True
        self.session.connection(execution_options={READ_ONLY: True})

    def commit(self, *, announce: bool = True) -> None:
        """Commit; then, if events were emitted, call `after_commit` (the platform wakes
        the relay with it). `announce=False` is for a caller that publishes its events
        itself right after (the intake writer): the relay would only look for them."""
        self.flush_later()
        self.session.commit()
        if announce and self._emitted and self._after_commit is not None:
            self._after_commit()
        self._emitted = 0

    def _check_writable(self) -> None:
        if self.read_only or self.session.info.get(_READ_PHASE):
            raise ReadOnlyViolation("this unit of work is read-only")


@contextmanager
def _pipelined(session: Session) -> Iterator[None]:
    """On PostgreSQL, send the statements of the block in one pipeline: one round trip
    for all of them instead of one per statement (psycopg's executemany rides an open
    pipeline). The intake writer's inserts are several tables' worth per batch, and its
    thread spent most of its time waiting for answers, then for the GIL after each.

    A failure the database reports at the pipeline's end is raised as SQLAlchemy's
    error, as it would have been from the statement itself."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        yield
        return
    driver = connection.connection.driver_connection
    try:
        with driver.pipeline():  # type: ignore[union-attr]
            yield
    except DBAPIError:
        raise  # already translated: raised by a statement inside the block
    except connection.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            None, None, exc, connection.dialect.loaded_dbapi.Error, dialect=connection.dialect
        ) from exc


@functools.cache
def _columns_of(row_type: type[Base]) -> tuple[Table, tuple[tuple[str, str], ...]]:
    """A mapped class's table and its (attribute, column name) pairs."""
    mapper = inspect(row_type)
    columns = tuple((prop.key, prop.columns[0].name) for prop in mapper.column_attrs)
    return mapper.local_table, columns  # type: ignore[return-value]


@functools.cache
def _table_order(table_count: int) -> dict[Table, int]:
    """Tables in foreign-key order. `MetaData.sorted_tables` sorts anew on every call
    (~0.5 ms for our ~50 tables, once per batch of the intake committer); the order is
    kept per number of tables, so a table added to the metadata later is not missed."""
    return {table: n for n, table in enumerate(Base.metadata.sorted_tables)}


_KEY_PARAM = "jietong_key"
"""The bound parameter of `flush_later`'s UPDATEs naming the row (not a column name)."""

_READ_PHASE = "jietong_read_phase"
"""Session mark of a transaction begun by `UnitOfWork.begin_read` (cleared at its end)."""


def _reading(session: Session) -> bool:
    return bool(session.info.get(READ_ONLY) or session.info.get(_READ_PHASE))


# Registered once for every Session (a per-session listener would cost each unit of
# work an event registration); sessions without the READ_ONLY mark pay one dict look-up.
@event.listens_for(Session, "before_flush")
def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if _reading(session) and (session.new or session.dirty or session.deleted):
        raise ReadOnlyViolation("a read-only unit of work cannot write rows")


@event.listens_for(Session, "do_orm_execute")
def _refuse_dml(state: ORMExecuteState) -> None:
    if _reading(state.session) and (state.is_insert or state.is_update or state.is_delete):
        raise ReadOnlyViolation("a read-only unit of work cannot change rows")


@event.listens_for(Session, "after_transaction_end")
def _end_read_phase(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_READ_PHASE, None)
