"""HTTP for channel accounts (admins), replies on an interaction's channel, and the
delivery queue (sent, failed, retry): translation only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from jietong.app.deps import ActorDep, CursorQuery, LimitQuery, PlatformDep, UowDep
from jietong.channels import accounts, deliveries
from jietong.channels.registry import ChannelRegistry
from jietong.channels.schemas import (
    ChannelAccountCreate,
    ChannelAccountOut,
    ChannelAccountUpdate,
    DeliveryOut,
    ReplyIn,
    ReplyOut,
)
from jietong.core.schemas import PageOut
from jietong.interactions.schemas import ID_PATTERN
from jietong.storage.secretbox import SecretBox
from jietong.storage.tables_channels import ChannelAccountRow

router = APIRouter(tags=["channels"])
API_PREFIX = "/api/v1"


def account_out(
    row: ChannelAccountRow, registry: ChannelRegistry, box: SecretBox
) -> ChannelAccountOut:
    spec = registry.account_spec(row.channel, row.provider)
    suffixes = ("",) if spec is None else spec.webhook_suffixes
    base = f"{API_PREFIX}/channels/{row.channel}/{row.id}"
    return ChannelAccountOut(
        id=row.id,
        channel=row.channel,
        provider=row.provider,
        name=row.name,
        address=row.address,
        queue_id=row.queue_id,
        settings={k: str(v) for k, v in row.settings.items()},
        secrets=accounts.masked(accounts.account_secrets(row, box)),
        enabled=row.enabled,
        webhook_paths=[base + s for s in suffixes],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _changes(body: ChannelAccountCreate | ChannelAccountUpdate) -> accounts.AccountChanges:
    return accounts.AccountChanges(
        name=body.name,
        address=body.address,
        queue_id=body.queue_id,
        settings=body.settings,
        secrets=body.secrets,
        enabled=body.enabled,
        clear_queue=getattr(body, "clear_queue", False),
    )


@router.get("/channel-accounts", response_model=list[ChannelAccountOut])
def list_channel_accounts(
    uow: UowDep,
    actor: ActorDep,
    platform: PlatformDep,
    channel: Annotated[str | None, Query(max_length=16)] = None,
) -> list[ChannelAccountOut]:
    rows = accounts.list_accounts(uow, actor, channel=channel)
    return [account_out(r, platform.channels, uow.secrets) for r in rows]


@router.post(
    "/channel-accounts", status_code=status.HTTP_201_CREATED, response_model=ChannelAccountOut
)
def create_channel_account(
    body: ChannelAccountCreate, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> ChannelAccountOut:
    row = accounts.create_account(
        uow,
        actor,
        platform.channels,
        channel=body.channel,
        provider=body.provider,
        changes=_changes(body),
    )
    platform.webhook_accounts.invalidate()
    return account_out(row, platform.channels, uow.secrets)


@router.get("/channel-accounts/{account_id}", response_model=ChannelAccountOut)
def get_channel_account(
    account_id: str, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> ChannelAccountOut:
    return account_out(accounts.get_account(uow, actor, account_id), platform.channels, uow.secrets)


@router.patch("/channel-accounts/{account_id}", response_model=ChannelAccountOut)
def update_channel_account(
    account_id: str,
    body: ChannelAccountUpdate,
    uow: UowDep,
    actor: ActorDep,
    platform: PlatformDep,
) -> ChannelAccountOut:
    row = accounts.update_account(uow, actor, platform.channels, account_id, _changes(body))
    platform.webhook_accounts.invalidate()
    return account_out(row, platform.channels, uow.secrets)


@router.delete("/channel-accounts/{account_id}", status_code=204)
def delete_channel_account(
    account_id: str, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> Response:
    accounts.delete_account(uow, actor, account_id)
    platform.webhook_accounts.invalidate()
    return Response(status_code=204)


@router.post(
    "/interactions/{interaction_id}/replies",
    status_code=status.HTTP_201_CREATED,
    response_model=ReplyOut,
    summary="Reply to the customer on the interaction's channel (queued for delivery)",
)
def send_reply(
    interaction_id: str, body: ReplyIn, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> ReplyOut:
    reply = deliveries.send_reply(
        uow, actor, platform.channels, interaction_id, body.text, now=uow.now
    )
    return ReplyOut(
        message_id=reply.message.id, delivery=DeliveryOut.model_validate(reply.delivery)
    )


@router.get("/deliveries", response_model=PageOut[DeliveryOut])
def list_deliveries(
    uow: UowDep,
    actor: ActorDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
    interaction_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[DeliveryOut]:
    page = deliveries.list_deliveries(
        uow, actor, status=status, interaction_id=interaction_id, cursor=cursor, limit=limit
    )
    return PageOut(
        items=[DeliveryOut.model_validate(d) for d in page.items], next_cursor=page.next_cursor
    )


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut)
def get_delivery(delivery_id: str, uow: UowDep, actor: ActorDep) -> DeliveryOut:
    return DeliveryOut.model_validate(deliveries.get_delivery(uow, actor, delivery_id))


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryOut)
def retry_delivery(delivery_id: str, uow: UowDep, actor: ActorDep) -> DeliveryOut:
    return DeliveryOut.model_validate(deliveries.requeue_delivery(uow, actor, delivery_id))
