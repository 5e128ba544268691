"""Intake against real databases: one message stored once, one customer, one
conversation; duplicates, threading windows, automatic mail, bad input."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from jietong.app.platform import Platform
from jietong.core.errors import InvalidInput, PayloadTooLarge
from jietong.core.ids import new_id
from jietong.identity.contact_points import ContactKind
from jietong.interactions.intake import raw_source
from jietong.storage.tables import (
    AttachmentRow,
    CaseInteractionRow,
    CaseRow,
    ContactPointRow,
    CustomerRow,
    InteractionRow,
    MessageRow,
)
from jietong.storage.tables_channels import DeliveryRow, MessageSourceRow
from tests.conftest import Tenant
from tests.integration.channels.factories import (
    HOUR,
    T0,
    attachment,
    close_interaction,
    count,
    event_types,
    inbound,
    receive,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_first_message_creates_customer_and_conversation(
    platform: Platform, tenant_a: Tenant
) -> None:
    raw = b"From=%2B8613800138000&Body=hi"
    result = receive(
        platform,
        inbound(tenant_a, sender="138 0013 8000", display_name="王小明\r\nBcc: x", raw=raw),
    )

    assert result.opened_interaction and result.created_customer and not result.duplicate
    with platform.sessions() as session:
        customer = session.get(CustomerRow, result.customer_id)
        point = session.scalar(select(ContactPointRow))
        interaction = session.get(InteractionRow, result.interaction_id)
        source = session.get(MessageSourceRow, result.message_id)
        stored_raw = None if source is None else raw_source(source, platform.blobs)
    assert customer is not None and customer.display_name == "王小明 Bcc: x"
    assert point is not None and point.value == "+8613800138000"
    assert interaction is not None and interaction.state == "arrived"
    assert interaction.customer_id == customer.id and interaction.channel == "sms"
    assert source is not None and source.sender_address == "+8613800138000"
    assert source.raw_key is None, "a small raw payload is kept in the row, not a blob file"
    assert stored_raw == raw
    assert event_types(platform)[-6:] == [
        "CustomerCreated",
        "ContactPointAdded",
        "InteractionCreated",
        "ConversationOpened",
        "MessageAdded",
        "InboundMessageReceived",
    ]


def test_duplicate_delivery_is_stored_once_and_answered_with_the_first(
    platform: Platform, tenant_a: Tenant
) -> None:
    message = inbound(tenant_a, external_id="SM123")
    first = receive(platform, message)
    events_after_first = len(event_types(platform))

    again = receive(platform, message, now=T0 + HOUR)

    assert again.duplicate and again.message_id == first.message_id
    assert again.interaction_id == first.interaction_id
    assert count(platform, MessageRow) == 1
    assert len(event_types(platform)) == events_after_first


def test_known_sender_joins_the_open_conversation(platform: Platform, tenant_a: Tenant) -> None:
    first = receive(platform, inbound(tenant_a))
    second = receive(platform, inbound(tenant_a, sender="+86 138-0013-8000"), now=T0 + HOUR)

    assert second.interaction_id == first.interaction_id
    assert second.customer_id == first.customer_id
    assert not second.opened_interaction and not second.created_customer
    assert count(platform, CustomerRow) == 1


def test_same_sender_on_another_channel_is_the_same_customer_in_a_new_conversation(
    platform: Platform, tenant_a: Tenant
) -> None:
    sms = receive(platform, inbound(tenant_a))
    api = receive(platform, inbound(tenant_a, channel="api"))

    assert api.customer_id == sms.customer_id
    assert api.interaction_id != sms.interaction_id


def test_open_conversation_idle_past_the_window_is_not_joined(
    platform: Platform, tenant_a: Tenant
) -> None:
    first = receive(platform, inbound(tenant_a))
    later = receive(platform, inbound(tenant_a), now=T0 + 73 * HOUR)

    assert later.opened_interaction and later.interaction_id != first.interaction_id


def test_thread_key_threads_even_when_the_sender_writes_from_elsewhere(
    platform: Platform, tenant_a: Tenant
) -> None:
    kind = ContactKind.EMAIL
    first = receive(
        platform, inbound(tenant_a, channel="email", kind=kind, sender="a@x.cn", thread_key="<r@x>")
    )
    other = receive(
        platform, inbound(tenant_a, channel="email", kind=kind, sender="b@x.cn", thread_key="<r@x>")
    )

    assert other.interaction_id == first.interaction_id
    assert other.customer_id != first.customer_id


def test_references_to_our_outbound_message_thread_the_reply(
    platform: Platform, tenant_a: Tenant
) -> None:
    first = receive(
        platform, inbound(tenant_a, channel="email", kind=ContactKind.EMAIL, sender="a@x.cn")
    )
    with platform.uow() as uow:
        out = MessageRow(
            id=new_id(),
            org_id=tenant_a.org_id,
            interaction_id=first.interaction_id,
            channel="email",
            direction="outbound",
            author_kind="agent",
            body_text="reply",
            created_at=T0,
        )
        uow.session.add(out)
        uow.session.flush()
        uow.session.add(
            DeliveryRow(
                id=new_id(),
                org_id=tenant_a.org_id,
                channel="email",
                interaction_id=first.interaction_id,
                message_id=out.id,
                recipient_kind="email",
                recipient_address="a@x.cn",
                thread={},
                status="sent",
                provider_message_id="<our-1@jietong>",
                created_at=T0,
                updated_at=T0,
            )
        )
        uow.commit()

    reply = receive(
        platform,
        inbound(
            tenant_a,
            channel="email",
            kind=ContactKind.EMAIL,
            sender="colleague@x.cn",
            references=("<unknown@x>", "<our-1@jietong>"),
        ),
    )

    assert reply.interaction_id == first.interaction_id


def test_message_after_resolution_opens_a_follow_up_linked_to_the_same_case(
    platform: Platform, tenant_a: Tenant
) -> None:
    first = receive(platform, inbound(tenant_a))
    close_interaction(platform, tenant_a, first.interaction_id)
    case_id = new_id()
    with platform.uow() as uow:
        uow.session.add(
            CaseRow(
                id=case_id,
                org_id=tenant_a.org_id,
                number=1,
                case_type="complaint",
                status="new",
                priority="normal",
                subject="s",
                created_at=T0,
                updated_at=T0,
            )
        )
        uow.session.flush()
        uow.session.add(
            CaseInteractionRow(
                case_id=case_id, interaction_id=first.interaction_id, org_id=tenant_a.org_id
            )
        )
        uow.commit()

    follow_up = receive(platform, inbound(tenant_a), now=T0 + 24 * HOUR)
    much_later = receive(platform, inbound(tenant_a), now=T0 + 24 * 30 * HOUR)

    assert follow_up.opened_interaction and follow_up.interaction_id != first.interaction_id
    with platform.sessions() as session:
        linked = set(
            session.scalars(
                select(CaseInteractionRow.interaction_id).where(
                    CaseInteractionRow.case_id == case_id
                )
            )
        )
    assert linked == {first.interaction_id, follow_up.interaction_id}
    assert much_later.opened_interaction
    assert much_later.interaction_id not in {first.interaction_id, follow_up.interaction_id}


def test_automatic_mail_never_opens_a_conversation(platform: Platform, tenant_a: Tenant) -> None:
    bounce = receive(platform, inbound(tenant_a, auto_generated=True))

    assert not bounce.opened_interaction
    with platform.sessions() as session:
        stored = session.get(InteractionRow, bounce.interaction_id)
    assert stored is not None and stored.state == "closed"
    assert "ConversationOpened" not in event_types(platform)
    # A real message afterwards opens a conversation; a later auto-reply joins it quietly.
    real = receive(platform, inbound(tenant_a), now=T0 + 2 * 24 * 30 * HOUR)
    auto = receive(platform, inbound(tenant_a, auto_generated=True), now=T0 + 2 * 24 * 30 * HOUR)
    assert real.opened_interaction and auto.interaction_id == real.interaction_id
    assert event_types(platform).count("ConversationOpened") == 1


def test_attachments_are_sniffed_and_sanitised(platform: Platform, tenant_a: Tenant) -> None:
    result = receive(
        platform,
        inbound(tenant_a, attachments=(attachment("../../etc/\u202egnp.exe", PNG, "text/html"),)),
    )

    with platform.sessions() as session:
        row = session.scalar(select(AttachmentRow))
    assert row is not None and row.message_id == result.message_id
    assert row.content_type == "image/png" and row.filename == "gnp.exe"
    assert row.sha256 == hashlib.sha256(PNG).hexdigest()


def test_oversized_attachment_is_refused_and_nothing_is_stored(
    platform: Platform, tenant_a: Tenant
) -> None:
    big = inbound(tenant_a, attachments=(attachment("big.bin", b"x" * 2048),))

    with pytest.raises(PayloadTooLarge):
        receive(platform, big, max_attachment_bytes=1024)
    assert count(platform, MessageRow) == 0 and count(platform, CustomerRow) == 0


def test_invalid_sender_address_is_refused(platform: Platform, tenant_a: Tenant) -> None:
    with pytest.raises(InvalidInput):
        receive(platform, inbound(tenant_a, sender="not a phone"))
    assert count(platform, MessageRow) == 0


def test_new_conversation_goes_to_the_accounts_queue(platform: Platform, tenant_a: Tenant) -> None:
    from jietong.org import service as org_service
    from jietong.org.schemas import QueueCreate

    with platform.uow() as uow:
        queue = org_service.create_queue(
            uow, tenant_a.admin, QueueCreate(name="sms", channels=["sms"], team_id=tenant_a.team_id)
        )
    result = receive(platform, inbound(tenant_a, queue_id=queue.id))

    with platform.sessions() as session:
        row = session.get(InteractionRow, result.interaction_id)
    assert row is not None and row.queue_id == queue.id and row.team_id == tenant_a.team_id


@given(deliveries=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=12))
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
def test_random_duplicate_deliveries_store_each_message_once(
    platform: Platform, tenant_a: Tenant, deliveries: list[int]
) -> None:
    run = new_id()
    first_ids: dict[int, str] = {}
    for index in deliveries:
        message = inbound(tenant_a, external_id=f"{run}-{index}", sender="+8613900139000")
        result = receive(platform, message)
        assert result.duplicate == (index in first_ids)
        assert result.message_id == first_ids.setdefault(index, result.message_id)
    with platform.sessions() as session:
        stored = list(
            session.scalars(
                select(MessageRow.external_id).where(MessageRow.external_id.like(f"{run}-%"))
            )
        )
    assert sorted(stored) == sorted({f"{run}-{i}" for i in deliveries})
