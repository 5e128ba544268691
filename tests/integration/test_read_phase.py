"""UnitOfWork.begin_read: a read phase inside an ordinary unit of work (the routing
engine's cycles). It refuses writes until it ends, does not wait for SQLite's write lock,
and the transaction after it is an ordinary, writable one."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from jietong.app.platform import Platform
from jietong.storage.tables import AuditRow
from jietong.storage.uow import ReadOnlyViolation
from tests.conftest import Tenant

HELD = select(func.count()).select_from(AuditRow).where(AuditRow.action == "test.phase")


def test_a_read_phase_refuses_writes_and_the_next_transaction_writes(
    platform: Platform, tenant_a: Tenant
) -> None:
    with platform.uow() as uow:
        uow.begin_read()
        assert uow.session.scalar(HELD) == 0
        with pytest.raises(ReadOnlyViolation):
            uow.audit(tenant_a.admin, "test.phase", "test", "1")
        uow.session.rollback()  # the phase ends here
        uow.audit(tenant_a.admin, "test.phase", "test", "1")
        uow.commit()
        uow.begin_read()
        assert uow.session.scalar(HELD) == 1
        uow.session.add(AuditRow(org_id=tenant_a.org_id, action="x", entity_type="y"))
        with pytest.raises(ReadOnlyViolation):
            uow.session.flush()
        uow.session.rollback()
    with platform.uow() as uow:  # a fresh unit of work is never in a read phase
        uow.audit(tenant_a.admin, "test.phase", "test", "2")
        uow.commit()
    with platform.read_uow() as uow:
        assert uow.session.scalar(HELD) == 2


def test_a_read_phase_does_not_wait_for_a_writer(platform: Platform, tenant_a: Tenant) -> None:
    """A phase begun while another connection holds SQLite's write lock reads the last
    committed state at once (begun IMMEDIATE, it would wait out the busy timeout)."""
    finished = threading.Event()
    seen: list[int] = []

    def look() -> None:
        with platform.uow() as uow:
            uow.begin_read()
            seen.append(uow.session.scalar(HELD) or 0)
            uow.session.rollback()
        finished.set()

    with platform.uow() as writer:
        writer.audit(tenant_a.admin, "test.phase", "test", "1")
        writer.session.flush()  # SQLite: the write lock is held from BEGIN IMMEDIATE on
        reader = threading.Thread(target=look)
        reader.start()
        assert finished.wait(10), "the read phase waited for the writer"
        reader.join()
        writer.commit()
    assert seen == [0], "the read phase saw an uncommitted row"
