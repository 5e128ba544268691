"""Factories for channel tests: inbound messages, intake with the platform's ports, and
walking an interaction to 'closed' through the real lifecycle service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from jietong.app.platform import Platform
from jietong.channels.base import InboundAttachment, InboundMessage, Party
from jietong.core.ids import new_id
from jietong.identity.contact_points import ContactKind
from jietong.interactions import intake
from jietong.interactions import service as interaction_service
from jietong.storage.tables import OutboxRow
from tests.conftest import Tenant

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def inbound(
    tenant: Tenant,
    *,
    sender: str = "+8613800138000",
    kind: ContactKind = ContactKind.PHONE,
    channel: str = "sms",
    external_id: str | None = None,
    text: str = "你好, I need help",
    **extra: Any,
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        org_id=tenant.org_id,
        external_id=external_id or f"ext-{new_id()}",
        sender=Party(kind=kind, address=sender, display_name=extra.pop("display_name", None)),
        received_at=T0,
        text=text,
        **extra,
    )


def receive(
    platform: Platform, message: InboundMessage, now: datetime = T0, **kwargs: Any
) -> intake.IntakeResult:
    with platform.uow() as uow:
        return intake.receive(
            uow,
            message,
            default_region="CN",
            now=now,
            blobs=platform.blobs,
            **kwargs,
        )


def close_interaction(
    platform: Platform, tenant: Tenant, interaction_id: str, at: datetime = T0
) -> None:
    """arrived -> queued -> offered -> connected -> wrap_up -> closed, as agents would,
    with the platform's clock at `at`."""
    clock = platform.clock
    platform.clock = lambda: at
    try:
        _walk(platform, tenant, interaction_id)
    finally:
        platform.clock = clock


def _walk(platform: Platform, tenant: Tenant, interaction_id: str) -> None:
    for trigger in ("enqueue", "offer", "accept", "end", "close"):
        assignee = tenant.admin.user_id if trigger == "offer" else None
        with platform.uow() as uow:
            interaction_service.transition_interaction(
                uow, tenant.admin, interaction_id, trigger, assigned_user_id=assignee
            )


def event_types(platform: Platform) -> list[str]:
    with platform.sessions() as session:
        return list(session.scalars(select(OutboxRow.event_type).order_by(OutboxRow.seq)))


def count(platform: Platform, row: Any, **where: Any) -> int:
    with platform.sessions() as session:
        query = select(func.count()).select_from(row)
        for key, value in where.items():
            query = query.where(getattr(row, key) == value)
        return int(session.scalar(query) or 0)


def attachment(name: str, data: bytes, declared: str | None = None) -> InboundAttachment:
    return InboundAttachment(filename=name, declared_content_type=declared, data=data)


HOUR = timedelta(hours=1)
