"""Engine creation. SQLite runs in WAL mode with synchronous=FULL: a commit that Jietong
acknowledges to an outside sender (an SMTP 250, a webhook 200) must survive power loss.

On SQLite a transaction normally begins IMMEDIATE: it takes the one write lock at BEGIN,
so a read-then-write transaction never fails half-way when another writer got there
first. A connection carrying the `READ_ONLY` execution option begins DEFERRED instead:
in WAL mode such a reader takes no lock at all and never waits for writers (see
`UnitOfWork(read_only=True)`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

READ_ONLY = "jietong_read_only"
"""Execution option marking a connection whose transaction will only read."""


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for `url` with Jietong's durability settings applied."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    # Not `use_insertmanyvalues_wo_returning`: multi-row INSERTs cut the statements
    # 3.7-fold but cost more than they saved here (psycopg re-parses a long statement
    # each time; measured 530-550 against 560-610 msgs/s end to end).
    engine = create_engine(url, echo=echo, future=True, pool_size=10, max_overflow=20)
    _ping_after_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 5.0
"""A pooled connection unused this long is pinged before it is handed out."""

_IDLE_SINCE = "jietong_idle_since"


def _ping_after_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle a while (SQLAlchemy's
    `pool_pre_ping` checks every checkout). A connection the server dropped (restart,
    idle timeout, failover) is found by the ping and replaced: the pool retries the
    checkout with a new connection. Under load every connection is back in use within
    milliseconds, and a ping per checkout was a round trip each time the intake writer
    and the relay took one, twice per batch (5 % of the writer's time at 500 msgs/s)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or used moments ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError(f"pooled connection failed its ping: {error}") from error


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    parsed = make_url(url)
    pooling: dict[str, int] = {}
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Requests, the committer, the relay and routing all hold connections at once;
        # past the pool's size SQLAlchemy opens and closes one per use, and each opening
        # re-runs the PRAGMAs below (measured: a tenth of a loaded server's time).
        pooling = {"pool_size": 20, "max_overflow": 40}
    engine = create_engine(
        url,
        echo=echo,
        future=True,
        connect_args={"check_same_thread": False, "timeout": 30},
        **pooling,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's implicit BEGIN handling is replaced by an explicit one below so that
        # writers take the lock at BEGIN (IMMEDIATE) instead of failing at first write.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        dbapi_conn = conn.connection.dbapi_connection
        if dbapi_conn is not None and dbapi_conn.in_transaction:
            # Left open by a COMMIT that failed (SQLITE_BUSY, I/O error): SQLAlchemy counts
            # that transaction as ended and skips the pool's reset, so nothing of it can
            # be committed any more — end it before beginning anew.
            dbapi_conn.rollback()
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
