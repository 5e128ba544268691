"""What every provider webhook does around its own parsing: find the account from the
URL (404), check the signature (403), parse (422), store through intake (ONE commit),
and only then answer 2xx. Runs the blocking parts in the thread pool; storing goes
through the platform's intake committer, which commits the messages arriving together in
one transaction and resolves each request after that commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from jietong.app.platform import Platform
from jietong.channels.accounts import (
    ChannelAccountNotFound,
    WebhookAccount,
    find_webhook_account,
)
from jietong.channels.base import InboundMessage, ProviderStatus
from jietong.channels.deliveries import record_provider_status
from jietong.channels.errors import BadSignature
from jietong.core.errors import NotFound, PayloadTooLarge, PermissionDenied
from jietong.interactions import intake
from jietong.interactions.committer import IntakeRequest
from jietong.storage.tables_channels import DeliveryRow

T = TypeVar("T")
MAX_WEBHOOK_BODY = 1024 * 1024  # provider webhooks are small; media come as URLs


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def account_for(request: Request, account_id: str, channel: str) -> WebhookAccount:
    """The enabled account addressed by the URL, or 404 (nothing about why)."""
    platform = platform_of(request)

    def find() -> WebhookAccount | None:
        with platform.read_uow() as uow:  # a read: never queue for SQLite's write lock
            return find_webhook_account(uow, account_id, channel)

    async def load() -> WebhookAccount | None:
        return await run_in_threadpool(find)

    found = await platform.webhook_accounts.get(account_id, channel, load)
    if found is None:
        raise ChannelAccountNotFound(f"no {channel} account {account_id}")
    return found


async def body_of(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BODY:
        raise PayloadTooLarge(f"webhook bodies are limited to {MAX_WEBHOOK_BODY} bytes")
    return body


def checked(check: Callable[[], T]) -> T:
    """Run a signature check; a BadSignature becomes 403."""
    try:
        return check()
    except BadSignature as exc:
        raise PermissionDenied(f"invalid signature: {exc}") from None


async def store_inbound(request: Request, message: InboundMessage) -> intake.IntakeResult:
    """Intake through the group committer; returns once the message is committed."""
    platform = platform_of(request)
    settings = platform.settings
    policy = intake.ThreadingPolicy(
        open_window=timedelta(hours=settings.conversation_open_hours),
        reopen_window=timedelta(hours=settings.conversation_reopen_hours),
    )

    def prepare() -> intake.PreparedMessage:
        return intake.prepare(
            message, blobs=platform.blobs, max_attachment_bytes=settings.max_attachment_bytes
        )

    if message.attachments or (
        message.raw is not None and len(message.raw) > intake.INLINE_RAW_MAX
    ):
        prepared = await run_in_threadpool(prepare)  # blob files: fsyncs off the event loop
    else:
        prepared = prepare()  # checks only: cheaper than a thread hop
    future = platform.intake.submit(
        IntakeRequest(prepared, default_region=settings.default_region, policy=policy)
    )
    return await asyncio.wrap_future(future)


async def store_status(
    request: Request, account: WebhookAccount, status: ProviderStatus
) -> DeliveryRow:
    """Apply a delivery-status callback; 404 for a message id we never sent."""
    platform = platform_of(request)

    def store() -> DeliveryRow | None:
        with platform.uow() as uow:
            return record_provider_status(
                uow,
                account.org_id,
                account.channel,
                status.provider_message_id,
                delivered=status.delivered,
                provider_status=status.status,
                error=status.error,
                now=uow.now,
            )

    row = await run_in_threadpool(store)
    if row is None:
        raise NotFound(f"no delivery with provider id {status.provider_message_id[:64]}")
    return row
