"""The API channel: apps, kiosks, POS terminals and in-house systems post customer
messages here and receive agents' replies on their webhook (see the adapter).

Authentication: `Authorization: Bearer <the account's inbound_token>`, or a Jietong API
token of the same organisation carrying the `channels:post` scope. A message is
acknowledged (201, or 200 for a repeated `external_id`) only after it is committed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request, Response, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from jietong.auth import service as auth_service
from jietong.channels import webhooks
from jietong.channels.accounts import WebhookAccount
from jietong.channels.api_channel.adapter import CHANNEL
from jietong.channels.base import InboundAttachment, InboundMessage, Party
from jietong.core.errors import AuthenticationFailed, InvalidInput, PermissionDenied
from jietong.core.permissions import Permission, has_permission
from jietong.identity.contact_points import ContactKind
from jietong.interactions.schemas import no_nul, one_line

router = APIRouter(prefix="/channels/api", tags=["channels: api"])

Line = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(one_line)]
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BASE64 = 14_000_000  # about 10 MB of bytes


class ApiSender(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["chat_visitor", "phone", "email"] = Field(
        default="chat_visitor",
        description="How the customer is identified: your app's user id, a phone, an email.",
    )
    id: Annotated[str, StringConstraints(min_length=1, max_length=320), AfterValidator(one_line)]
    name: Line | None = None


class ApiAttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: Line
    content_type: Line | None = None
    data_base64: Annotated[str, StringConstraints(max_length=MAX_ATTACHMENT_BASE64)]


class ApiMessageIn(BaseModel):
    """One customer message from your system."""

    model_config = ConfigDict(extra="forbid")
    external_id: Line = Field(description="Your id for this message; a repeat is stored once.")
    sender: ApiSender
    text: Annotated[str, StringConstraints(max_length=100_000), AfterValidator(no_nul)] = ""
    thread_key: Line | None = Field(
        default=None, description="Groups messages into one conversation (e.g. a ticket id)."
    )
    subject: Line | None = None
    attachments: list[ApiAttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class ApiMessageOut(BaseModel):
    message_id: str
    interaction_id: str
    customer_id: str | None
    duplicate: bool
    opened_interaction: bool


@router.post(
    "/{account_id}/messages",
    summary="Post a customer message into the API channel",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiMessageOut,
    responses={200: {"model": ApiMessageOut, "description": "A repeated external_id."}},
)
async def post_message(
    account_id: str,
    body: ApiMessageIn,
    request: Request,
    response: Response,
    authorization: Annotated[str | None, Header(max_length=500)] = None,
) -> ApiMessageOut:
    account = await webhooks.account_for(request, account_id, CHANNEL)
    await _authorise(request, account, authorization)
    message = _inbound(body, account, request)
    result = await webhooks.store_inbound(request, message)
    if result.duplicate:
        response.status_code = status.HTTP_200_OK
    return ApiMessageOut(
        message_id=result.message_id,
        interaction_id=result.interaction_id,
        customer_id=result.customer_id,
        duplicate=result.duplicate,
        opened_interaction=result.opened_interaction,
    )


async def _authorise(request: Request, account: WebhookAccount, authorization: str | None) -> None:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed("send 'Authorization: Bearer <inbound token or API token>'")
    expected = account.account.secrets.get("inbound_token", "")
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return
    if not token.startswith(auth_service.TOKEN_PREFIX):
        raise AuthenticationFailed("invalid token")
    platform = webhooks.platform_of(request)

    def actor_of():  # type: ignore[no-untyped-def]
        with platform.uow() as uow:
            return auth_service.actor_for_token(uow, token)

    actor = await run_in_threadpool(actor_of)
    if actor is None:
        raise AuthenticationFailed("invalid, expired or revoked token")
    if actor.org_id != account.org_id or not has_permission(actor, Permission.CHANNELS_POST):
        raise PermissionDenied("this token may not post to this channel account")


def _inbound(body: ApiMessageIn, account: WebhookAccount, request: Request) -> InboundMessage:
    return InboundMessage(
        channel=CHANNEL,
        org_id=account.org_id,
        external_id=body.external_id,
        sender=Party(
            kind=ContactKind(body.sender.kind),
            address=body.sender.id,
            display_name=body.sender.name,
        ),
        received_at=webhooks.platform_of(request).clock(),
        text=body.text,
        subject=body.subject,
        # Scoped to the account: two clients' ticket numbers never meet.
        thread_key=None if body.thread_key is None else f"{account.account.id}:{body.thread_key}",
        attachments=tuple(_attachment(a) for a in body.attachments),
        raw=body.model_dump_json(exclude={"attachments"}).encode(),
        account_id=account.account.id,
        queue_id=account.queue_id,
    )


def _attachment(item: ApiAttachmentIn) -> InboundAttachment:
    try:
        data = base64.b64decode(item.data_base64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"attachment '{item.filename}' is not valid base64") from None
    return InboundAttachment(
        filename=item.filename, declared_content_type=item.content_type, data=data
    )
