"""Callbacks and limit actions end in something that reaches the customer or an agent:
a messaging callback opens the outbound conversation for the agent who accepts it, a call
callback tells voice whom to dial for which agent, and a customer told to leave a message
becomes a case the back office sees. Real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from jietong.app.platform import Platform
from jietong.core.errors import InvalidInput
from jietong.identity import service as identity_service
from jietong.identity.contact_points import ContactKind
from jietong.identity.schemas import ContactPointIn, CustomerCreate
from jietong.interactions import service as interactions
from jietong.interactions.model import AuthorKind, Channel, Direction
from jietong.interactions.schemas import InteractionCreate, MessageCreate
from jietong.routing import callbacks
from jietong.routing.model import LimitAction, QueueSettings
from jietong.storage.tables import CaseInteractionRow, CaseRow, InteractionRow, OutboxRow
from tests.integration.routing.world import World


@pytest.fixture
def world(platform: Platform) -> Iterator[World]:
    yield World(platform)


def customer_with(world: World, kind: ContactKind, value: str) -> str:
    with world.uow() as uow:
        view = identity_service.create_customer(
            uow,
            world.system,
            CustomerCreate(
                display_name="王女士", contact_points=[ContactPointIn(kind=kind, value=value)]
            ),
            default_region="CN",
        )
    return view.customer.id


def last_event(world: World, event_type: str) -> dict[str, Any]:
    with world.uow() as uow:
        row = uow.session.scalars(
            select(OutboxRow)
            .where(OutboxRow.org_id == world.org_id, OutboxRow.event_type == event_type)
            .order_by(OutboxRow.seq.desc())
        ).first()
        assert row is not None, f"no {event_type}"
        return dict(row.payload)


def chat_with_message(world: World, queue: str, customer_id: str | None) -> str:
    with world.uow() as uow:
        iid = interactions.create_interaction(
            uow,
            world.system,
            InteractionCreate(
                channel=Channel.CHAT, queue_id=world.queues[queue], customer_id=customer_id
            ),
        ).interaction.id
    with world.uow() as uow:
        interactions.add_message(
            uow,
            world.system,
            iid,
            MessageCreate(
                body_text="能回个短信吗",
                direction=Direction.INBOUND,
                author_kind=AuthorKind.CUSTOMER,
            ),
        )
    return iid


def test_an_sms_callback_opens_an_outbound_conversation_for_the_agent(world: World) -> None:
    world.queue("care", channels=("chat", "sms"))
    customer = customer_with(world, ContactKind.PHONE, "+8613800138000")
    chat = chat_with_message(world, "care", customer)
    world.cycle()  # queued (nobody logged in)
    with world.uow() as uow:
        callbacks.request_callback(
            uow, world.system, chat, channel="sms", to=None, at=None, now=world.now
        )
    assert world.entry(chat).callback_to == "+8613800138000"
    world.agent("a")
    world.login("a")
    world.cycle()
    assert world.offered_to(chat) == "a"
    world.accept("a")

    started = last_event(world, "CallbackStarted")
    conversation = started["conversation_id"]
    assert conversation not in (None, chat)
    assert (started["channel"], started["to"], started["agent_id"]) == (
        "sms",
        "+8613800138000",
        world.agents["a"].user_id,
    )
    opened = world.interaction(conversation)
    assert (opened.channel, opened.direction, opened.state) == ("sms", "outbound", "connected")
    assert (opened.assigned_user_id, opened.customer_id) == (world.agents["a"].user_id, customer)
    assert world.interaction(chat).state == "closed"  # answered by the conversation
    world.cycle()
    assert world.state_of("a") == "busy"  # working the SMS conversation


def test_a_scheduled_sms_callback_is_its_own_conversation(world: World) -> None:
    world.queue("care", channels=("sms",))
    customer = customer_with(world, ContactKind.PHONE, "+8613900139000")
    with world.uow() as uow:
        entry = callbacks.schedule_callback(
            uow,
            world.system,
            queue_id=world.queues["care"],
            channel="sms",
            customer_id=customer,
            to=None,
            at=None,
            subject="回访",
            now=world.now,
        )
    world.agent("a")
    world.login("a")
    world.cycle()
    world.accept("a")
    started = last_event(world, "CallbackStarted")
    assert started["conversation_id"] == entry.interaction_id
    row = world.interaction(entry.interaction_id)
    assert (row.channel, row.state, row.assigned_user_id) == (
        "sms",
        "connected",
        world.agents["a"].user_id,
    )


def test_a_call_callback_is_left_to_voice_with_number_and_agent(world: World) -> None:
    world.queue("calls", channels=("call",))
    iid = world.arrive("calls")
    world.cycle()
    with world.uow() as uow:
        callbacks.request_callback(
            uow, world.system, iid, channel="call", to="+8613700137000", at=None, now=world.now
        )
    world.agent("a")
    world.login("a")
    world.cycle()
    world.accept("a")
    started = last_event(world, "CallbackStarted")
    assert (started["channel"], started["to"], started["agent_id"]) == (
        "call",
        "+8613700137000",
        world.agents["a"].user_id,
    )
    assert started["interaction_id"] == started["conversation_id"] == iid
    with world.uow() as uow:
        outbound = uow.session.scalars(
            select(InteractionRow).where(
                InteractionRow.org_id == world.org_id, InteractionRow.direction == "outbound"
            )
        ).all()
    assert outbound == []  # voice dials; routing opens nothing
    assert world.interaction(iid).state == "connected"


def test_a_messaging_callback_for_an_unknown_customer_is_refused(world: World) -> None:
    world.queue("care", channels=("chat",))
    chat = chat_with_message(world, "care", None)
    world.cycle()
    with world.uow() as uow, pytest.raises(InvalidInput):
        callbacks.request_callback(
            uow, world.system, chat, channel="wechat", to="oAbCdEf123", at=None, now=world.now
        )
    with world.uow() as uow, pytest.raises(InvalidInput):
        callbacks.schedule_callback(
            uow,
            world.system,
            queue_id=world.queues["care"],
            channel="email",
            customer_id=None,
            to="a@example.com",
            at=None,
            subject=None,
            now=world.now,
        )
    assert world.entry(chat).kind == "live"


@pytest.mark.parametrize("action", [LimitAction.MESSAGE, LimitAction.VOICEMAIL])
def test_a_message_limit_action_on_a_chat_queue_becomes_a_case(
    world: World, action: LimitAction
) -> None:
    world.queue(
        "chat", channels=("chat",), settings=QueueSettings(max_wait_seconds=30, limit_action=action)
    )
    customer = customer_with(world, ContactKind.PHONE, "+8613600136000")
    chat = chat_with_message(world, "chat", customer)
    world.cycle()
    world.advance(31)
    world.cycle()
    entry = world.entry(chat)
    assert (entry.kind, entry.limit_action, entry.state) == (action.value, action.value, "waiting")
    with world.uow() as uow:
        case = uow.session.scalar(
            select(CaseRow)
            .join(CaseInteractionRow, CaseInteractionRow.case_id == CaseRow.id)
            .where(CaseInteractionRow.interaction_id == chat)
        )
        assert case is not None
        # The queue's team is a front-line team, not a department: the case is seen by
        # those who see the whole organisation (supervisors, the back office).
        assert (case.customer_id, case.department_id, case.status) == (customer, None, "new")
        assert case.subject.startswith("Message" if action is LimitAction.MESSAGE else "Voicemail")
    # The visitor leaves: the interaction ends, the case stays for the back office.
    world.fire(chat, "abandon")
    world.cycle()
    with world.uow() as uow:
        assert uow.session.get(CaseRow, case.id) is not None
    world.advance(60)
    assert world.cycle().timers == 0  # taken once: no second case
    with world.uow() as uow:
        linked = uow.session.scalars(
            select(CaseInteractionRow).where(CaseInteractionRow.interaction_id == chat)
        ).all()
    assert len(linked) == 1
