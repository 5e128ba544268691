"""PostgreSQL connections in the pool: one the server dropped while it sat idle is
found at checkout and replaced; one used moments ago is handed out without a ping."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from jietong.storage import engine as engine_module
from jietong.storage.engine import create_db_engine


@pytest.fixture
def pg_engine(db_url_postgres_only: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url_postgres_only)
    yield engine
    engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


def _terminate(url: str, pid: int) -> None:
    """End the backend `pid` and wait (up to 5 s) until it is gone."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
    admin.dispose()


def test_a_connection_dropped_while_idle_is_replaced_at_checkout(
    pg_engine: Engine, db_url_postgres_only: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = _backend_pid(pg_engine)
    _terminate(db_url_postgres_only, dropped)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # "idle a while"
    # The pool's only connection is dead; the checkout's ping finds it and the pool
    # opens another, so the statement succeeds on a new backend.
    replacement = _backend_pid(pg_engine)
    assert replacement != dropped


def test_a_connection_used_moments_ago_is_not_pinged(
    pg_engine: Engine, db_url_postgres_only: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = _backend_pid(pg_engine)
    _terminate(db_url_postgres_only, dropped)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    # No ping: the dead connection is handed out and the first statement finds it dead
    # (SQLAlchemy then invalidates it, and the next checkout gets a new one).
    with pytest.raises(OperationalError), pg_engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert _backend_pid(pg_engine) != dropped
