"""Interactions against a real database: lifecycle, messages, visibility, timeline,
attachments. The org world is inserted row by row, so these tests need no other domain's
service; each test gets fresh organisations in a module-wide database."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from jietong.app import deps
from jietong.app.channels_runtime import build_channel_registry
from jietong.app.platform import Platform
from jietong.app.settings import Settings
from jietong.core.errors import (
    Conflict,
    IllegalTransition,
    InvalidInput,
    PayloadTooLarge,
    PermissionDenied,
)
from jietong.core.ids import new_id
from jietong.core.pagination import Page
from jietong.core.tenancy import Actor, Role, system_actor
from jietong.events.bus import InProcessBus
from jietong.identity.service import CustomerNotFound
from jietong.interactions import api, attachments, service
from jietong.interactions import store as interaction_store
from jietong.interactions.attachments import AttachmentNotFound
from jietong.interactions.model import Channel, Direction, InteractionState
from jietong.interactions.schemas import InteractionCreate, MessageCreate
from jietong.interactions.service import InteractionNotFound, InteractionView
from jietong.storage.blobs import FileBlobStore
from jietong.storage.engine import create_db_engine
from jietong.storage.migrate import upgrade
from jietong.storage.outbox import OutboxRelay
from jietong.storage.tables import (
    CustomerRow,
    MessageRow,
    OrganisationRow,
    OutboxRow,
    QueueRow,
    TeamRow,
    UserRow,
)
from jietong.storage.uow import UnitOfWork

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("db") / "jietong.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine
    engine.dispose()


@dataclass
class Org:
    id: str
    admin: Actor
    teams: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    customers: dict[str, str] = field(default_factory=dict)

    def actor(self, user: str, role: Role, *teams: str) -> Actor:
        team_ids = frozenset(self.teams[t] for t in teams)
        return Actor(org_id=self.id, user_id=self.users[user], role=role, team_ids=team_ids)


@dataclass
class World:
    sessions: sessionmaker[Session]
    blobs: FileBlobStore
    now: datetime = T0

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.now)

    def at(self, seconds: float) -> World:
        self.now = T0 + timedelta(seconds=seconds)
        return self

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self.uow() as uow:
            return fn(uow, *args, **kwargs)

    def count(self, query: Any) -> int:
        with self.sessions() as session:
            return int(session.scalar(query) or 0)


def make_org(sessions: sessionmaker[Session]) -> Org:
    """An organisation with teams A and B, department D, a user per role and a queue per
    team, and two customers."""
    org_id = new_id()
    with sessions() as s, s.begin():
        s.add(OrganisationRow(id=org_id, slug=org_id, name="Org", created_at=T0))
        s.flush()
        org = Org(id=org_id, admin=system_actor(org_id))
        for name, kind in (("A", "team"), ("B", "team"), ("D", "department")):
            org.teams[name] = new_id()
            s.add(TeamRow(id=org.teams[name], org_id=org_id, name=name, kind=kind, created_at=T0))
        for user in ("admin", "agent_a", "agent_a2", "agent_b", "back_office", "reader"):
            org.users[user] = new_id()
            s.add(_user(org_id, org.users[user]))
        s.flush()
        for team in ("A", "B"):
            org.queues[team] = new_id()
            s.add(_queue(org_id, org.queues[team], org.teams[team]))
        for name in ("alice", "bob"):
            org.customers[name] = new_id()
            s.add(_customer(org_id, org.customers[name], name))
    org.admin = org.actor("admin", Role.ADMIN)
    return org


def _user(org_id: str, user_id: str) -> UserRow:
    return UserRow(
        id=user_id, org_id=org_id, username=user_id, display_name=user_id, email=None,
        password_hash=None, role="agent", locale=None, timezone=None, active=True,
        created_at=T0, updated_at=T0,
    )  # fmt: skip


def _queue(org_id: str, queue_id: str, team_id: str) -> QueueRow:
    return QueueRow(
        id=queue_id, org_id=org_id, name=queue_id, channels=["chat", "call"], team_id=team_id,
        policy="longest_idle", priority=0, required_skills={}, target_service_level=0.8,
        target_answer_seconds=20, created_at=T0,
    )  # fmt: skip


def _customer(org_id: str, customer_id: str, name: str) -> CustomerRow:
    return CustomerRow(
        id=customer_id, org_id=org_id, display_name=name, company=None, vip_tier="none",
        tags=[], attributes={}, search_text=name, created_at=T0, updated_at=T0,
    )  # fmt: skip


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> World:
    return World(sessionmaker(engine, expire_on_commit=False), FileBlobStore(tmp_path / "blobs"))


@pytest.fixture
def org(world: World) -> Org:
    return make_org(world.sessions)


@pytest.fixture
def other_org(world: World) -> Org:
    return make_org(world.sessions)


def create(world: World, actor: Actor, **fields: Any) -> InteractionView:
    fields.setdefault("channel", Channel.CHAT)
    view: InteractionView = world.run(
        service.create_interaction, actor, InteractionCreate(**fields)
    )
    return view


def fire(
    world: World, actor: Actor, interaction_id: str, trigger: str, **kw: Any
) -> InteractionView:
    view: InteractionView = world.run(
        service.transition_interaction, actor, interaction_id, trigger, **kw
    )
    return view


def events(world: World, org_id: str, event_type: str) -> int:
    query = select(func.count()).where(
        OutboxRow.org_id == org_id, OutboxRow.event_type == event_type
    )
    return world.count(query)


# --- lifecycle -------------------------------------------------------------------------


def test_inbound_lifecycle_sets_each_kpi_timestamp_and_records_every_move(
    world: World, org: Org
) -> None:
    agent = org.actor("agent_a", Role.AGENT, "A")
    iid = create(world.at(0), org.admin, queue_id=org.queues["A"]).interaction.id

    fire(world.at(1), org.admin, iid, "enqueue")
    fire(world.at(5), org.admin, iid, "offer", assigned_user_id=org.users["agent_a"])
    fire(world.at(8), agent, iid, "accept")
    fire(world.at(60), agent, iid, "end")
    view = fire(world.at(90), agent, iid, "close")

    row = view.interaction
    assert row.state == InteractionState.CLOSED
    assert (row.arrived_at, row.queued_at, row.offered_at) == (T0, _t(1), _t(5))
    assert (row.answered_at, row.ended_at, row.wrapup_ended_at) == (_t(8), _t(60), _t(90))
    history = world.run(service.list_transitions, org.admin, iid)
    assert [(h.from_state, h.trigger, h.to_state) for h in history] == [
        ("arrived", "enqueue", "queued"),
        ("queued", "offer", "offered"),
        ("offered", "accept", "connected"),
        ("connected", "end", "wrap_up"),
        ("wrap_up", "close", "closed"),
    ]
    assert history[2].actor_id == org.users["agent_a"]
    assert events(world, org.id, "InteractionStateChanged") == 5
    assert view.allowed_triggers == []


def test_agent_joins_when_connected_and_leaves_at_the_end(world: World, org: Org) -> None:
    customer = org.customers["alice"]
    view = create(world.at(0), org.admin, queue_id=org.queues["A"], customer_id=customer)
    iid = view.interaction.id
    fire(world.at(1), org.admin, iid, "enqueue")
    fire(world.at(2), org.admin, iid, "offer", assigned_user_id=org.users["agent_a"])
    fire(world.at(3), org.admin, iid, "accept")
    view = fire(world.at(30), org.admin, iid, "end")

    roles = {(p.role, p.user_id or p.customer_id): p for p in view.participants}
    agent = roles[("agent", org.users["agent_a"])]
    assert (agent.joined_at, agent.left_at) == (_t(3), _t(30))
    assert roles[("customer", customer)].left_at == _t(30)


def test_returning_to_the_queue_unassigns_and_keeps_the_first_timestamps(
    world: World, org: Org
) -> None:
    iid = create(world.at(0), org.admin, queue_id=org.queues["A"]).interaction.id
    fire(world.at(1), org.admin, iid, "enqueue")
    fire(world.at(2), org.admin, iid, "offer", assigned_user_id=org.users["agent_a"])
    fire(world.at(3), org.admin, iid, "timeout")
    fire(world.at(4), org.admin, iid, "offer", assigned_user_id=org.users["agent_a2"])
    fire(world.at(5), org.admin, iid, "accept")
    view = fire(world.at(9), org.admin, iid, "transfer")

    row = view.interaction
    assert row.state == InteractionState.QUEUED
    assert row.assigned_user_id is None
    assert (row.queued_at, row.offered_at, row.answered_at) == (_t(1), _t(2), _t(5))


def test_abandoning_in_the_queue_ends_the_interaction(world: World, org: Org) -> None:
    iid = create(world.at(0), org.admin, queue_id=org.queues["A"]).interaction.id
    fire(world.at(1), org.admin, iid, "enqueue")
    row = fire(world.at(41), org.admin, iid, "abandon").interaction
    assert (row.state, row.ended_at, row.answered_at) == ("abandoned", _t(41), None)


def test_outbound_dial_connects_without_queueing_and_assigns_the_dialler(
    world: World, org: Org
) -> None:
    agent = org.actor("agent_a", Role.AGENT, "A")
    iid = create(
        world.at(0),
        agent,
        channel=Channel.CALL,
        direction=Direction.OUTBOUND,
        team_id=org.teams["A"],
    ).interaction.id
    row = fire(world.at(12), agent, iid, "dial").interaction
    assert (row.state, row.assigned_user_id, row.answered_at) == (
        "connected",
        org.users["agent_a"],
        _t(12),
    )
    assert row.queued_at is None


@pytest.mark.parametrize(
    ("trigger", "error"),
    [
        ("accept", IllegalTransition),  # not offered yet
        ("dial", IllegalTransition),  # inbound interactions are never dialled
        ("close", IllegalTransition),
        ("no-such-trigger", IllegalTransition),
    ],
)
def test_illegal_moves_are_refused_and_change_nothing(
    world: World, org: Org, trigger: str, error: type[Exception]
) -> None:
    iid = create(world.at(0), org.admin, queue_id=org.queues["A"]).interaction.id
    with pytest.raises(error):
        fire(world.at(1), org.admin, iid, trigger)
    assert world.run(service.get_interaction, org.admin, iid).interaction.state == "arrived"
    assert events(world, org.id, "InteractionStateChanged") == 0


def test_an_offer_names_an_active_agent_of_the_organisation(
    world: World, org: Org, other_org: Org
) -> None:
    iid = create(world.at(0), org.admin, queue_id=org.queues["A"]).interaction.id
    fire(world.at(1), org.admin, iid, "enqueue")
    with pytest.raises(InvalidInput):
        fire(world.at(2), org.admin, iid, "offer")
    with pytest.raises(InvalidInput):
        fire(world.at(2), org.admin, iid, "offer", assigned_user_id=other_org.users["agent_a"])
    with pytest.raises(InvalidInput):
        fire(world.at(2), org.admin, iid, "abandon", assigned_user_id=org.users["agent_a"])


def test_only_the_offered_agent_accepts(world: World, org: Org) -> None:
    iid = create(world.at(0), org.admin, queue_id=org.queues["A"]).interaction.id
    fire(world.at(1), org.admin, iid, "enqueue")
    fire(world.at(2), org.admin, iid, "offer", assigned_user_id=org.users["agent_a"])
    with pytest.raises(PermissionDenied):
        fire(world.at(3), org.actor("agent_a2", Role.AGENT, "A"), iid, "accept")
    view = fire(world.at(3), org.actor("agent_a", Role.AGENT, "A"), iid, "accept")
    assert view.interaction.state == "connected"


# --- creation --------------------------------------------------------------------------


def test_the_queue_gives_the_interaction_its_team(world: World, org: Org) -> None:
    view = create(world, org.admin, queue_id=org.queues["B"], subject="退款 refund")
    assert view.interaction.team_id == org.teams["B"]
    assert view.interaction.state == "arrived"
    assert events(world, org.id, "InteractionCreated") == 1


def test_references_outside_the_organisation_are_invalid(
    world: World, org: Org, other_org: Org
) -> None:
    for fields in (
        {"queue_id": other_org.queues["A"]},
        {"customer_id": other_org.customers["alice"]},
        {"assigned_user_id": other_org.users["agent_a"]},
        {"team_id": other_org.teams["A"]},
        {"queue_id": org.queues["A"], "team_id": org.teams["B"]},
    ):
        with pytest.raises(InvalidInput):
            create(world, org.admin, **fields)


# --- messages --------------------------------------------------------------------------


def test_a_repeated_external_id_returns_the_first_message(world: World, org: Org) -> None:
    iid = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    inbound = MessageCreate(
        body_text="你好", direction=Direction.INBOUND, author_kind="customer", external_id="wx-1"
    )
    first = world.run(service.add_message, org.admin, iid, inbound)
    again = world.run(service.add_message, org.admin, iid, inbound)

    assert first.created and not again.created
    assert again.message.id == first.message.id
    assert world.count(select(func.count()).where(MessageRow.interaction_id == iid)) == 1
    assert events(world, org.id, "MessageAdded") == 1


def test_a_racing_duplicate_is_settled_by_the_unique_constraint(
    world: World, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    iid = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    data = MessageCreate(body_text="hi", direction=Direction.INBOUND, external_id="sms-7")
    first = world.run(service.add_message, org.admin, iid, data)
    # The second writer's look-up misses (as if the first had not committed yet).
    real = interaction_store.find_message_by_external_id
    calls: list[str] = []

    def miss_once(*args: Any) -> MessageRow | None:
        calls.append("x")
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(interaction_store, "find_message_by_external_id", miss_once)
    again = world.run(service.add_message, org.admin, iid, data)

    assert (again.created, again.message.id, len(calls)) == (False, first.message.id, 2)
    assert world.count(select(func.count()).where(MessageRow.interaction_id == iid)) == 1


def test_an_external_id_of_another_interaction_conflicts(world: World, org: Org) -> None:
    one = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    two = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    data = MessageCreate(body_text="x", external_id="mail-1@example.com")
    world.run(service.add_message, org.admin, one, data)
    with pytest.raises(Conflict):
        world.run(service.add_message, org.admin, two, data)


def test_notes_and_messages_are_listed_in_reading_order(world: World, org: Org) -> None:
    agent = org.actor("agent_a", Role.AGENT, "A")
    iid = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    for i in range(5):
        note = MessageCreate(body_text=f"note {i}", internal=i % 2 == 0)
        world.run(service.add_message, agent, iid, note)
    first: Page[MessageRow] = world.run(service.list_messages, agent, iid, cursor=None, limit=3)
    rest: Page[MessageRow] = world.run(
        service.list_messages, agent, iid, cursor=first.next_cursor, limit=3
    )
    texts = [m.body_text for m in first.items + rest.items]
    assert texts == [f"note {i}" for i in range(5)]
    assert rest.next_cursor is None
    assert first.items[0].internal and first.items[0].author_user_id == org.users["agent_a"]
    with pytest.raises(InvalidInput):
        world.run(
            service.add_message, agent, iid, MessageCreate(internal=True, author_kind="customer")
        )


# --- visibility ------------------------------------------------------------------------


def test_an_agent_sees_their_teams_work_and_what_is_assigned_to_them(
    world: World, org: Org
) -> None:
    agent_a = org.actor("agent_a", Role.AGENT, "A")
    agent_b = org.actor("agent_b", Role.AGENT, "B")
    iid = create(world, org.admin, queue_id=org.queues["A"]).interaction.id

    assert world.run(service.get_interaction, agent_a, iid).interaction.id == iid
    for read in (
        lambda: world.run(service.get_interaction, agent_b, iid),
        lambda: world.run(service.list_messages, agent_b, iid, cursor=None, limit=10),
        lambda: world.run(service.list_transitions, agent_b, iid),
        lambda: world.run(service.add_message, agent_b, iid, MessageCreate(body_text="x")),
        lambda: fire(world, agent_b, iid, "enqueue"),
    ):
        with pytest.raises(InteractionNotFound):
            read()
    assert _ids(world.run(service.list_interactions, agent_b)) == []

    fire(world, org.admin, iid, "enqueue")
    fire(world, org.admin, iid, "offer", assigned_user_id=org.users["agent_b"])
    assert _ids(world.run(service.list_interactions, agent_b)) == [iid]


def test_another_organisation_sees_nothing(world: World, org: Org, other_org: Org) -> None:
    iid = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    with pytest.raises(InteractionNotFound):
        world.run(service.get_interaction, other_org.admin, iid)
    assert iid not in _ids(world.run(service.list_interactions, other_org.admin))
    with pytest.raises(InteractionNotFound):
        world.run(service.get_interaction, org.admin, "../" + iid)


def test_supervisors_and_readers_see_the_whole_organisation(world: World, org: Org) -> None:
    iid = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    for role, user in ((Role.SUPERVISOR, "agent_b"), (Role.READ_ONLY, "reader")):
        assert world.run(service.get_interaction, org.actor(user, role), iid).interaction.id == iid
    with pytest.raises(PermissionDenied):
        create(world, org.actor("reader", Role.READ_ONLY))


def test_list_filters_and_pages_newest_first(world: World, org: Org) -> None:
    made = [
        create(world.at(i), org.admin, queue_id=org.queues["A"], subject=f"Order {i}")
        for i in range(5)
    ]
    email = create(world.at(9), org.admin, channel=Channel.EMAIL, subject="Invoice")
    ids = [v.interaction.id for v in made]

    first = world.run(service.list_interactions, org.admin, limit=4)
    second = world.run(service.list_interactions, org.admin, limit=4, cursor=first.next_cursor)
    assert _ids(first) + _ids(second) == [email.interaction.id, *reversed(ids)]
    assert _ids(world.run(service.list_interactions, org.admin, channel=Channel.EMAIL)) == [
        email.interaction.id
    ]
    assert _ids(world.run(service.list_interactions, org.admin, query="order 3")) == [ids[3]]
    queued = world.run(service.list_interactions, org.admin, state=InteractionState.QUEUED)
    assert _ids(queued) == []
    with pytest.raises(InvalidInput):
        world.run(service.list_interactions, org.admin, cursor="not-a-cursor")


# --- timeline --------------------------------------------------------------------------


def test_the_timeline_spans_channels_latest_first_within_reach(
    world: World, org: Org, other_org: Org
) -> None:
    alice = org.customers["alice"]
    chat = create(world.at(10), org.admin, queue_id=org.queues["A"], customer_id=alice)
    call = create(
        world.at(20), org.admin, channel=Channel.CALL, queue_id=org.queues["B"], customer_id=alice
    )
    mail = create(
        world.at(30), org.admin, channel=Channel.EMAIL, queue_id=org.queues["A"], customer_id=alice
    )
    create(world.at(40), org.admin, queue_id=org.queues["A"], customer_id=org.customers["bob"])
    expected = [mail.interaction.id, call.interaction.id, chat.interaction.id]

    first = world.run(service.customer_timeline, org.admin, alice, cursor=None, limit=2)
    rest = world.run(service.customer_timeline, org.admin, alice, cursor=first.next_cursor, limit=2)
    assert _ids(first) + _ids(rest) == expected
    agent_b = org.actor("agent_b", Role.AGENT, "B")
    timeline = world.run(service.customer_timeline, agent_b, alice, cursor=None, limit=10)
    assert _ids(timeline) == [call.interaction.id]
    with pytest.raises(CustomerNotFound):
        world.run(service.customer_timeline, other_org.admin, alice, cursor=None, limit=10)


# --- attachments -----------------------------------------------------------------------


def store(world: World, actor: Actor, iid: str, data: bytes, **kw: Any) -> Any:
    kw.setdefault("filename", "file.bin")
    kw.setdefault("declared_content_type", None)
    kw.setdefault("max_bytes", 1024)
    return world.run(attachments.store_attachment, actor, world.blobs, iid, data=data, **kw)


def test_the_content_type_is_sniffed_from_the_bytes(world: World, org: Org) -> None:
    iid = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    png = store(world, org.admin, iid, PNG, filename="x.html", declared_content_type="text/html")
    page = store(world, org.admin, iid, b"  <!DOCTYPE html><script>alert(1)</script>")
    text = store(world, org.admin, iid, "发票已开 invoice sent\n".encode())
    blob = store(world, org.admin, iid, b"\x00\x01\x02\xff")

    assert (png.content_type, png.declared_content_type) == ("image/png", "text/html")
    assert png.sha256 == hashlib.sha256(PNG).hexdigest() and png.size_bytes == len(PNG)
    assert page.content_type == "text/html"
    assert text.content_type == "text/plain"
    assert blob.content_type == "application/octet-stream"
    served = world.run(attachments.open_attachment, org.admin, world.blobs, page.id)
    assert served.served_type == "application/octet-stream"
    assert served.data.startswith(b"  <!DOCTYPE html>")
    assert events(world, org.id, "AttachmentStored") == 4


def test_an_attachment_past_the_limit_is_refused(world: World, org: Org) -> None:
    iid = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    with pytest.raises(PayloadTooLarge):
        store(world, org.admin, iid, b"x" * 1025)
    assert store(world, org.admin, iid, b"x" * 1024).size_bytes == 1024


def test_filenames_are_sanitised(world: World, org: Org) -> None:
    iid = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    row = store(world, org.admin, iid, b"hi", filename="..\\..//etc/报告\u202egpj.exe\x00")
    assert row.filename == "报告gpj.exe"
    assert attachments.sanitise_filename("../..") == "attachment"
    long = attachments.sanitise_filename("名" * 300 + ".pdf")
    assert len(long) == 255 and long.endswith(".pdf")


def test_attachments_are_visible_only_with_their_interaction(
    world: World, org: Org, other_org: Org
) -> None:
    iid = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    other = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    row = store(world, org.admin, iid, b"secret")
    agent_a = org.actor("agent_a", Role.AGENT, "A")
    assert world.run(attachments.open_attachment, agent_a, world.blobs, row.id).data == b"secret"
    for actor in (org.actor("agent_b", Role.AGENT, "B"), other_org.admin):
        with pytest.raises(AttachmentNotFound):
            world.run(attachments.open_attachment, actor, world.blobs, row.id)
    with pytest.raises(AttachmentNotFound):
        world.run(attachments.get_attachment, agent_a, row.id, interaction_id=other)
    with pytest.raises(InteractionNotFound):
        store(world, org.actor("agent_b", Role.AGENT, "B"), iid, b"x")


def test_an_attachment_may_belong_to_a_message_of_its_interaction(world: World, org: Org) -> None:
    iid = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    other = create(world, org.admin, queue_id=org.queues["A"]).interaction.id
    message = world.run(service.add_message, org.admin, other, MessageCreate(body_text="x"))
    with pytest.raises(InvalidInput):
        store(world, org.admin, iid, b"x", message_id=message.message.id)
    row = store(world, org.admin, other, b"x", message_id=message.message.id)
    assert row.message_id == message.message.id


# --- HTTP translation ------------------------------------------------------------------


@pytest.fixture
def client(world: World, engine: Engine, org: Org, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, max_attachment_bytes=2048)
    bus = InProcessBus()
    platform = Platform(
        settings=settings,
        engine=engine,
        sessions=world.sessions,
        bus=bus,
        relay=OutboxRelay(world.sessions, bus, lambda: world.now),
        blobs=world.blobs,
        clock=lambda: world.now,
        channels=build_channel_registry(settings),
    )
    app = FastAPI()
    app.state.platform = platform
    app.include_router(api.router)
    app.include_router(api.timeline_router)
    app.dependency_overrides[deps.get_actor] = lambda: org.admin
    with TestClient(app) as client:
        yield client


def test_downloads_are_attachments_never_inline(client: TestClient, org: Org) -> None:
    created = client.post("/interactions", json={"channel": "chat", "queue_id": org.queues["A"]})
    iid = created.json()["id"]
    html = b"<html><body><script>alert(1)</script></body></html>"
    upload = client.post(
        f"/interactions/{iid}/attachments",
        files={"file": ("客户 报告.html", html, "text/html")},
    )
    assert upload.status_code == 201, upload.text
    attachment = upload.json()
    assert attachment["content_type"] == "text/html"

    response = client.get(f"/interactions/{iid}/attachments/{attachment['id']}/content")
    assert response.status_code == 200
    assert response.content == html
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == (
        "attachment; filename*=UTF-8''%E5%AE%A2%E6%88%B7%20%E6%8A%A5%E5%91%8A.html"
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"


def test_http_upload_past_the_limit_and_repeated_messages(client: TestClient, org: Org) -> None:
    iid = client.post("/interactions", json={"channel": "sms"}).json()["id"]
    with pytest.raises(PayloadTooLarge):
        client.post(f"/interactions/{iid}/attachments", files={"file": ("a", b"x" * 2049)})
    body = {"body_text": "hi", "direction": "inbound", "external_id": "m-1"}
    first = client.post(f"/interactions/{iid}/messages", json=body)
    again = client.post(f"/interactions/{iid}/messages", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    bad = client.post(f"/interactions/{iid}/messages", json={**body, "extra": 1})
    assert bad.status_code == 422


def _t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _ids(page: Page[InteractionView]) -> list[str]:
    return [v.interaction.id for v in page.items]
