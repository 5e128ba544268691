"""WeChat push endpoint: GET answers the server-verification handshake, POST takes a
message or event push, stores it (ONE commit) and answers "success" at once; replies
go later through the customer-service interface (the 5-second rule)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from jietong.channels import webhooks
from jietong.channels.accounts import WebhookAccount
from jietong.channels.wechat import wire

router = APIRouter(prefix="/channels/wechat", tags=["channels: wechat"])
Param = Annotated[str | None, Query(max_length=128)]


@router.get(
    "/{account_id}",
    summary="WeChat server verification (echostr handshake)",
    response_class=PlainTextResponse,
)
async def verify_server(
    account_id: str,
    request: Request,
    signature: Param = None,
    timestamp: Param = None,
    nonce: Param = None,
    echostr: Param = None,
) -> PlainTextResponse:
    account = await _checked(request, account_id, signature, timestamp, nonce)
    del account
    return PlainTextResponse(echostr or "")


@router.post(
    "/{account_id}",
    summary="WeChat message and event push (XML, plain-text or safe mode)",
    response_class=PlainTextResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/xml": {"schema": {"type": "string"}}},
        }
    },
)
async def push(
    account_id: str,
    request: Request,
    signature: Param = None,
    timestamp: Param = None,
    nonce: Param = None,
    encrypt_type: Param = None,
    msg_signature: Param = None,
) -> PlainTextResponse:
    account = await _checked(request, account_id, signature, timestamp, nonce)
    body = await webhooks.body_of(request)
    if (encrypt_type or "raw").lower() == "aes":
        # Safe mode: the push inside is checked and decrypted; its XML is what is stored.
        secrets, app_id = account.account.secrets, account.account.settings.get("app_id", "")
        body = webhooks.checked(
            lambda: wire.decrypt_push(
                body,
                token=secrets.get("token", ""),
                encoding_aes_key=secrets.get("encoding_aes_key", ""),
                app_id=app_id,
                timestamp=timestamp or "",
                nonce=nonce or "",
                msg_signature=msg_signature,
            )
        )
    origin = wire.PushOrigin(
        org_id=account.org_id,
        account_id=account.account.id,
        queue_id=account.queue_id,
        received_at=webhooks.platform_of(request).clock(),
    )
    await webhooks.store_inbound(request, wire.parse_push(body, origin))
    return PlainTextResponse("success")


async def _checked(
    request: Request,
    account_id: str,
    signature: str | None,
    timestamp: str | None,
    nonce: str | None,
) -> WebhookAccount:
    account = await webhooks.account_for(request, account_id, wire.CHANNEL)
    platform = webhooks.platform_of(request)
    webhooks.checked(
        lambda: wire.verify_push(
            account.account.secrets.get("token", ""),
            signature,
            timestamp,
            nonce,
            now=platform.clock(),
            max_age_seconds=platform.settings.webhook_max_age_seconds,
        )
    )
    return account
