"""The database a benchmark runs on (shared by the benchmarks; not a benchmark itself)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from jietong.core.ids import new_id


@contextlib.contextmanager
def database(backend: str, postgres_url: str | None, root: Path) -> Iterator[str]:
    """A fresh database URL: a file under `root` for SQLite; for PostgreSQL a database of
    its own on the server of `postgres_url` (a role that may create databases), dropped
    afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{root / 'bench.db'}"
        return
    if not postgres_url:
        raise SystemExit("PostgreSQL: pass --postgres-url or set JIETONG_TEST_POSTGRES_URL")
    name = f"jt_bench_{new_id()[-12:]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
