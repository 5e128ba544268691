"""Cases against a real database: numbering, workflow, edits, visibility, links. Each
test gets fresh organisations in a module-wide database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from jietong.cases import service
from jietong.cases import store as case_store
from jietong.cases.model import CasePriority, CaseStatus, CaseType
from jietong.cases.schemas import CaseCreate, CaseUpdate
from jietong.cases.service import CaseNotFound, CaseView
from jietong.core.errors import Conflict, IllegalTransition, InvalidInput
from jietong.core.ids import new_id
from jietong.core.tenancy import Actor, Role
from jietong.interactions import service as interactions
from jietong.interactions.model import Channel
from jietong.interactions.schemas import InteractionCreate
from jietong.interactions.service import InteractionNotFound
from jietong.storage.engine import create_db_engine
from jietong.storage.migrate import upgrade
from jietong.storage.tables import (
    CaseInteractionRow,
    OrganisationRow,
    OutboxRow,
    TeamRow,
    UserRow,
)
from jietong.storage.uow import UnitOfWork

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("db") / "jietong.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine
    engine.dispose()


@dataclass
class Org:
    """Teams A (front line) and B; departments D (repairs) and E (billing)."""

    id: str
    teams: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)

    def actor(self, user: str, role: Role, *teams: str) -> Actor:
        team_ids = frozenset(self.teams[t] for t in teams)
        return Actor(org_id=self.id, user_id=self.users[user], role=role, team_ids=team_ids)

    @property
    def admin(self) -> Actor:
        return self.actor("admin", Role.ADMIN)


@dataclass
class World:
    sessions: sessionmaker[Session]
    now: datetime = T0

    def at(self, seconds: float) -> World:
        self.now = T0 + timedelta(seconds=seconds)
        return self

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with UnitOfWork(self.sessions, self.now) as uow:
            return fn(uow, *args, **kwargs)

    def count(self, query: Any) -> int:
        with self.sessions() as session:
            return int(session.scalar(query) or 0)


def make_org(sessions: sessionmaker[Session]) -> Org:
    org = Org(id=new_id())
    with sessions() as s, s.begin():
        s.add(OrganisationRow(id=org.id, slug=org.id, name="Org", created_at=T0))
        s.flush()
        for name, kind in (("A", "team"), ("B", "team"), ("D", "department"), ("E", "department")):
            org.teams[name] = new_id()
            s.add(TeamRow(id=org.teams[name], org_id=org.id, name=name, kind=kind, created_at=T0))
        for user in ("admin", "agent_a", "agent_b", "repairer", "biller", "gone"):
            org.users[user] = new_id()
            s.add(
                UserRow(
                    id=org.users[user], org_id=org.id, username=org.users[user],
                    display_name=user, email=None, password_hash=None, role="agent",
                    locale=None, timezone=None, active=user != "gone",
                    created_at=T0, updated_at=T0,
                )
            )  # fmt: skip
    return org


@pytest.fixture
def world(engine: Engine) -> World:
    return World(sessionmaker(engine, expire_on_commit=False))


@pytest.fixture
def org(world: World) -> Org:
    return make_org(world.sessions)


@pytest.fixture
def other_org(world: World) -> Org:
    return make_org(world.sessions)


def open_case(world: World, actor: Actor, **fields: Any) -> CaseView:
    fields.setdefault("case_type", CaseType.REPAIR)
    fields.setdefault("subject", "Washing machine leaks")
    view: CaseView = world.run(service.open_case, actor, CaseCreate(**fields))
    return view


def fire(world: World, actor: Actor, case_id: str, trigger: str) -> CaseView:
    view: CaseView = world.run(service.transition_case, actor, case_id, trigger)
    return view


def events(world: World, org_id: str, event_type: str) -> int:
    query = select(func.count()).where(
        OutboxRow.org_id == org_id, OutboxRow.event_type == event_type
    )
    return world.count(query)


# --- numbering -------------------------------------------------------------------------


def test_cases_are_numbered_per_organisation(world: World, org: Org, other_org: Org) -> None:
    numbers = [open_case(world, org.admin).case.number for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert open_case(world, other_org.admin).case.number == 1
    assert events(world, org.id, "CaseOpened") == 3


def test_a_number_taken_by_a_racing_opener_is_retried(
    world: World, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_case(world, org.admin)
    real = case_store.highest_case_number
    reads: list[int] = []

    def stale_once(session: Session, org_id: str) -> int:
        # The first read misses the case another transaction just committed.
        reads.append(1)
        return 0 if len(reads) == 1 else real(session, org_id)

    monkeypatch.setattr(case_store, "highest_case_number", stale_once)
    view = open_case(world, org.admin, subject="second")
    assert (view.case.number, len(reads)) == (2, 2)
    assert events(world, org.id, "CaseOpened") == 2


# --- workflow --------------------------------------------------------------------------


def test_the_workflow_records_moves_and_resolution_times(world: World, org: Org) -> None:
    cid = open_case(world.at(0), org.admin).case.id
    fire(world.at(10), org.admin, cid, "open")
    fire(world.at(20), org.admin, cid, "await_customer")
    fire(world.at(30), org.admin, cid, "resume")
    resolved = fire(world.at(40), org.admin, cid, "resolve").case
    assert (resolved.status, resolved.resolved_at) == ("resolved", _t(40))
    reopened = fire(world.at(50), org.admin, cid, "reopen").case
    assert (reopened.status, reopened.resolved_at) == ("open", None)
    fire(world.at(60), org.actor("admin", Role.ADMIN), cid, "await_back_office")
    fire(world.at(70), org.admin, cid, "resolve")
    closed = fire(world.at(80), org.admin, cid, "close")

    assert (closed.case.status, closed.case.resolved_at, closed.case.closed_at) == (
        "closed",
        _t(70),
        _t(80),
    )
    assert closed.allowed_triggers == []
    history = world.run(service.list_transitions, org.admin, cid)
    assert [h.trigger for h in history] == [
        "open", "await_customer", "resume", "resolve", "reopen",
        "await_back_office", "resolve", "close",
    ]  # fmt: skip
    assert events(world, org.id, "CaseStatusChanged") == 8


@pytest.mark.parametrize(
    ("path", "trigger"),
    [
        ([], "resolve"),  # new cases are opened first
        (["open"], "close"),  # only resolved cases close
        (["open", "await_customer"], "cancel"),
        (["open", "resolve", "close"], "reopen"),
        (["cancel"], "open"),
        ([], "bogus"),
    ],
)
def test_illegal_moves_are_refused(world: World, org: Org, path: list[str], trigger: str) -> None:
    cid = open_case(world, org.admin).case.id
    for step in path:
        fire(world, org.admin, cid, step)
    before = world.run(service.get_case, org.admin, cid).case.status
    with pytest.raises(IllegalTransition):
        fire(world, org.admin, cid, trigger)
    assert world.run(service.get_case, org.admin, cid).case.status == before


def test_cancelling_closes_the_case(world: World, org: Org) -> None:
    cid = open_case(world.at(0), org.admin).case.id
    case = fire(world.at(5), org.admin, cid, "cancel").case
    assert (case.status, case.closed_at, case.resolved_at) == ("cancelled", _t(5), None)
    with pytest.raises(Conflict):
        world.run(service.update_case, org.admin, cid, CaseUpdate(priority=CasePriority.HIGH))


# --- edits -----------------------------------------------------------------------------


def test_updates_change_only_what_is_given(world: World, org: Org) -> None:
    due = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)
    cid = open_case(world, org.admin, due_at=due, department_id=org.teams["D"]).case.id
    update = CaseUpdate(
        priority=CasePriority.URGENT, owner_user_id=org.users["repairer"], subject="Leak!"
    )
    case = world.run(service.update_case, org.admin, cid, update).case
    assert (case.priority, case.owner_user_id, case.subject) == (
        "urgent",
        org.users["repairer"],
        "Leak!",
    )
    assert (case.due_at, case.department_id) == (due, org.teams["D"])

    cleared = world.run(service.update_case, org.admin, cid, CaseUpdate(due_at=None)).case
    assert cleared.due_at is None
    world.run(service.update_case, org.admin, cid, CaseUpdate(priority=None, subject="Leak!"))
    assert events(world, org.id, "CaseUpdated") == 2


def test_referenced_people_and_departments_must_be_in_the_organisation(
    world: World, org: Org, other_org: Org
) -> None:
    cid = open_case(world, org.admin).case.id
    for update in (
        CaseUpdate(owner_user_id=other_org.users["repairer"]),
        CaseUpdate(owner_user_id=org.users["gone"]),
        CaseUpdate(department_id=other_org.teams["D"]),
        CaseUpdate(department_id=org.teams["A"]),  # a team, not a department
    ):
        with pytest.raises(InvalidInput):
            world.run(service.update_case, org.admin, cid, update)
    with pytest.raises(InvalidInput):
        open_case(world, org.admin, customer_id=new_id())


# --- visibility ------------------------------------------------------------------------


def test_back_office_sees_its_departments_cases_and_owners_their_own(
    world: World, org: Org, other_org: Org
) -> None:
    repairs = open_case(world, org.admin, department_id=org.teams["D"]).case.id
    billing = open_case(world, org.admin, department_id=org.teams["E"]).case.id
    owned = open_case(world, org.admin, owner_user_id=org.users["agent_a"]).case.id
    repairer = org.actor("repairer", Role.BACK_OFFICE, "D")
    agent_a = org.actor("agent_a", Role.AGENT, "A")

    assert _ids(world.run(service.list_cases, repairer)) == [repairs]
    assert _ids(world.run(service.list_cases, agent_a)) == [owned]
    assert _ids(world.run(service.list_cases, org.admin)) == [owned, billing, repairs]
    for actor, case_id in ((repairer, billing), (agent_a, repairs), (other_org.admin, owned)):
        with pytest.raises(CaseNotFound):
            world.run(service.get_case, actor, case_id)
        with pytest.raises(CaseNotFound):
            fire(world, actor, case_id, "open")
    assert world.run(service.get_case, repairer, repairs).case.id == repairs


def test_the_opener_owns_a_case_given_no_owner_or_department(world: World, org: Org) -> None:
    agent = org.actor("agent_b", Role.AGENT, "B")
    view = open_case(world, agent)
    assert view.case.owner_user_id == org.users["agent_b"]
    assert world.run(service.get_case, agent, view.case.id).case.number == 1


def test_list_filters_and_searches_subject_or_number(world: World, org: Org) -> None:
    leak = open_case(world, org.admin, subject="Fridge leaks water").case
    bill = open_case(
        world,
        org.admin,
        case_type=CaseType.COMPLAINT,
        subject="Wrong bill",
        priority=CasePriority.HIGH,
        department_id=org.teams["E"],
    ).case
    assert _ids(world.run(service.list_cases, org.admin, query="LEAKS")) == [leak.id]
    assert _ids(world.run(service.list_cases, org.admin, query=f"#{bill.number}")) == [bill.id]
    assert _ids(world.run(service.list_cases, org.admin, case_type=CaseType.COMPLAINT)) == [bill.id]
    assert _ids(world.run(service.list_cases, org.admin, priority=CasePriority.HIGH)) == [bill.id]
    assert _ids(world.run(service.list_cases, org.admin, department_id=org.teams["E"])) == [bill.id]
    assert _ids(world.run(service.list_cases, org.admin, status=CaseStatus.OPEN)) == []
    first = world.run(service.list_cases, org.admin, limit=1)
    rest = world.run(service.list_cases, org.admin, limit=1, cursor=first.next_cursor)
    assert _ids(first) + _ids(rest) == [bill.id, leak.id]


# --- links -----------------------------------------------------------------------------


def test_linking_needs_both_sides_visible_and_happens_once(world: World, org: Org) -> None:
    interaction = world.run(
        interactions.create_interaction,
        org.admin,
        InteractionCreate(channel=Channel.CALL, team_id=org.teams["A"]),
    ).interaction.id
    repairer = org.actor("repairer", Role.BACK_OFFICE, "D")
    cid = open_case(world, org.admin, department_id=org.teams["D"]).case.id

    with pytest.raises(InteractionNotFound):
        world.run(service.link_interaction, repairer, cid, interaction)
    world.run(service.link_interaction, org.admin, cid, interaction)
    view = world.run(service.link_interaction, org.admin, cid, interaction)

    assert view.interaction_ids == [interaction]
    links = select(func.count()).where(CaseInteractionRow.case_id == cid)
    assert world.count(links) == 1
    assert events(world, org.id, "CaseInteractionLinked") == 1
    # The back office sees the case, but not the id of a call it may not see.
    assert world.run(service.get_case, repairer, cid).interaction_ids == []
    with pytest.raises(CaseNotFound):
        world.run(service.link_interaction, org.actor("agent_a", Role.AGENT, "A"), cid, interaction)


def _t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _ids(page: Any) -> list[str]:
    return [v.case.id for v in page.items]
