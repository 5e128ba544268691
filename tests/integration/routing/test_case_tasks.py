"""Back-office case tasks are queued and routed like any other work: skills, priority by
case priority, offer, accept, complete. Real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jietong.app.platform import Platform
from jietong.cases import service as cases
from jietong.cases.model import CasePriority, CaseType
from jietong.cases.schemas import CaseCreate
from jietong.core.errors import Conflict, InvalidInput
from jietong.core.tenancy import Role
from jietong.routing import case_tasks
from jietong.routing.configuration import QueueNotFound
from jietong.storage.tables import AuditRow, CaseInteractionRow
from tests.conftest import Tenant
from tests.integration.routing.world import World


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    yield World(platform)


def open_case(world: World, subject: str, priority: CasePriority = CasePriority.NORMAL) -> str:
    with world.uow() as uow:
        view = cases.open_case(
            uow,
            world.admin,
            CaseCreate(case_type=CaseType.REPAIR, priority=priority, subject=subject),
        )
    return view.case.id


def queue_task(world: World, case_id: str, queue: str) -> str:
    with world.uow() as uow:
        entry = case_tasks.queue_case_task(
            uow, world.admin, case_id, world.queues[queue], now=world.now
        )
    return entry.interaction_id


def test_a_case_task_is_offered_to_a_skilled_back_office_agent_accepted_and_completed(
    world: World,
) -> None:
    world.queue("back office", channels=("task",), skills={"repairs": 5})
    world.agent("novice", {"repairs": 2})
    world.agent("fixer", {"repairs": 8})
    world.login("novice", "fixer")
    case_id = open_case(world, "Air conditioner leaks")

    task = queue_task(world, case_id, "back office")
    entry = world.entry(task)
    row = world.interaction(task)
    assert (row.channel, row.state, entry.kind, entry.channel) == ("task", "queued", "task", "task")
    assert row.external_ref == f"case:{case_id}"
    with world.uow() as uow:
        linked = uow.session.scalar(
            select(CaseInteractionRow).where(CaseInteractionRow.interaction_id == task)
        )
    assert linked is not None and linked.case_id == case_id

    world.cycle()
    assert world.offered_to(task) == "fixer"  # only the skilled agent
    world.accept("fixer")
    assert world.interaction(task).state == "connected"
    assert world.state_of("fixer") == "busy"
    world.finish("fixer", task)
    assert world.interaction(task).state == "closed"
    assert world.entry(task).state == "served"
    # Done: the case may be queued again (a new task).
    again = queue_task(world, case_id, "back office")
    assert again != task


def test_case_priority_orders_tasks(world: World) -> None:
    world.queue("back office", channels=("task",))
    world.agent("clerk")
    low = queue_task(world, open_case(world, "Paperwork", CasePriority.LOW), "back office")
    world.advance(10)
    urgent = queue_task(world, open_case(world, "Outage", CasePriority.URGENT), "back office")
    assert world.entry(urgent).priority - world.entry(low).priority == 3  # urgent +2, low -1
    world.login("clerk")
    world.cycle()
    assert world.offered_to(urgent) == "clerk"
    assert world.offered_to(low) is None


def test_tasks_are_not_live_contacts_for_queue_limits(world: World) -> None:
    from jietong.routing.model import QueueSettings

    world.queue("back office", channels=("task",), settings=QueueSettings(max_wait_seconds=30))
    task = queue_task(world, open_case(world, "Refund"), "back office")
    world.advance(3600)
    world.cycle()
    entry = world.entry(task)
    assert (entry.kind, entry.limit_action, entry.state) == ("task", None, "waiting")


def test_bad_requests_are_refused_clearly(world: World) -> None:
    world.queue("calls", channels=("call",))
    world.queue("back office", channels=("task",))
    case_id = open_case(world, "Warranty")
    with world.uow() as uow, pytest.raises(InvalidInput):
        case_tasks.queue_case_task(uow, world.admin, case_id, world.queues["calls"], now=world.now)
    with world.uow() as uow, pytest.raises(QueueNotFound):
        case_tasks.queue_case_task(uow, world.admin, case_id, "f" * 32, now=world.now)
    queue_task(world, case_id, "back office")
    with world.uow() as uow, pytest.raises(Conflict):
        case_tasks.queue_case_task(
            uow, world.admin, case_id, world.queues["back office"], now=world.now
        )
    with world.uow() as uow:
        cases.transition_case(uow, world.admin, case_id, "cancel")
    closed = open_case(world, "Cancelled one")
    with world.uow() as uow:
        cases.transition_case(uow, world.admin, closed, "cancel")
    with world.uow() as uow, pytest.raises(Conflict):
        case_tasks.queue_case_task(
            uow, world.admin, closed, world.queues["back office"], now=world.now
        )
    agent = world.agent("reader", role=Role.AGENT)
    with world.uow() as uow:
        audited = uow.session.scalars(
            select(AuditRow.actor_user_id).where(AuditRow.action == "routing.case_task_queued")
        ).all()
    assert audited == [world.admin.user_id] and agent.user_id not in audited


def test_queue_a_case_task_over_http(client: TestClient, tenant_a: Tenant) -> None:
    queue = client.post(
        "/api/v1/queues",
        headers=tenant_a.headers,
        json={"name": "bo", "channels": ["task"], "team_id": tenant_a.team_id},
    ).json()["id"]
    case = client.post(
        "/api/v1/cases",
        headers=tenant_a.headers,
        json={"case_type": "request", "subject": "Invoice copy", "priority": "high"},
    )
    assert case.status_code == 201, case.text
    case_id = case.json()["id"]
    made = client.post(
        f"/api/v1/routing/cases/{case_id}/task", headers=tenant_a.headers, json={"queue_id": queue}
    )
    assert made.status_code == 201, made.text
    assert (made.json()["kind"], made.json()["channel"]) == ("task", "task")
    again = client.post(
        f"/api/v1/routing/cases/{case_id}/task", headers=tenant_a.headers, json={"queue_id": queue}
    )
    assert again.status_code == 409
    missing = client.post(
        f"/api/v1/routing/cases/{'0' * 32}/task", headers=tenant_a.headers, json={"queue_id": queue}
    )
    assert missing.status_code == 404
    malformed = client.post(
        f"/api/v1/routing/cases/{case_id}/task", headers=tenant_a.headers, json={"queue_id": "x"}
    )
    assert malformed.status_code == 422
    anonymous = client.post(f"/api/v1/routing/cases/{case_id}/task", json={"queue_id": queue})
    assert anonymous.status_code == 401
