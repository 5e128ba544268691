"""SMS webhooks: inbound messages and delivery-status callbacks, in Twilio's format and
in the generic JSON format. Each answers 2xx only after intake committed; a bad
signature is 403, a malformed payload 422, an unknown account 404."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from jietong.channels import webhooks
from jietong.channels.accounts import ChannelAccountNotFound, WebhookAccount
from jietong.channels.signing import SIGNATURE_HEADER, verify_signature
from jietong.channels.sms import wire
from jietong.core.errors import InvalidInput

router = APIRouter(prefix="/channels/sms", tags=["channels: sms"])
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _form(fields: dict[str, str]) -> dict[str, Any]:
    properties = {name: {"type": "string", "description": text} for name, text in fields.items()}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": properties}
                }
            },
        },
        "parameters": [
            {
                "name": "X-Twilio-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "Base64 HMAC-SHA1 of the URL and sorted parameters.",
            }
        ],
    }


def _json(description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        },
        "parameters": [
            {
                "name": "X-Jietong-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": "t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>'>",
            }
        ],
    }


_INBOUND_FIELDS = {
    "MessageSid": "Twilio's message id (the de-duplication key).",
    "From": "The customer's number, E.164.",
    "To": "Our number, E.164.",
    "Body": "The text.",
    "NumMedia": "How many MediaUrlN/MediaContentTypeN pairs follow.",
}
_STATUS_FIELDS = {
    "MessageSid": "The id Twilio gave the message we sent.",
    "MessageStatus": "queued, sent, delivered, undelivered, failed, ...",
    "ErrorCode": "Twilio's error code for undelivered/failed.",
}


@router.post(
    "/{account_id}/twilio",
    summary="Inbound SMS from Twilio",
    response_class=Response,
    responses={200: {"content": {"text/xml": {}}, "description": "Stored (empty TwiML)."}},
    openapi_extra=_form(_INBOUND_FIELDS),
)
async def twilio_inbound(account_id: str, request: Request) -> Response:
    account = await _twilio_account(request, account_id)
    params = await _verified_form(request, account)
    origin = _origin(request, account)
    raw = await request.body()
    message = wire.parse_twilio_inbound(params, origin, raw)
    await webhooks.store_inbound(request, message)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post(
    "/{account_id}/twilio/status",
    summary="Delivery status from Twilio",
    status_code=204,
    response_class=Response,
    openapi_extra=_form(_STATUS_FIELDS),
)
async def twilio_status(account_id: str, request: Request) -> Response:
    account = await _twilio_account(request, account_id)
    params = await _verified_form(request, account)
    await webhooks.store_status(request, account, wire.parse_twilio_status(params))
    return Response(status_code=204)


@router.post(
    "/{account_id}/generic",
    summary="Inbound SMS in the generic JSON format",
    response_model=dict[str, str],
    openapi_extra=_json(
        "One inbound SMS.",
        {"id": "m-1", "from": "+8613800138000", "to": "+8610690000", "text": "你好"},
    ),
)
async def generic_inbound(account_id: str, request: Request) -> dict[str, str]:
    account, body = await _verified_generic(request, account_id)
    message = wire.parse_generic_inbound(body, _origin(request, account))
    result = await webhooks.store_inbound(request, message)
    return {"status": "stored", "message_id": result.message_id}


@router.post(
    "/{account_id}/generic/status",
    summary="Delivery status in the generic JSON format",
    status_code=204,
    response_class=Response,
    openapi_extra=_json("A delivery report.", {"id": "p-1", "status": "delivered"}),
)
async def generic_status(account_id: str, request: Request) -> Response:
    account, body = await _verified_generic(request, account_id)
    await webhooks.store_status(request, account, wire.parse_generic_status(body))
    return Response(status_code=204)


async def _twilio_account(request: Request, account_id: str) -> WebhookAccount:
    account = await webhooks.account_for(request, account_id, wire.CHANNEL)
    if account.account.provider != "twilio":
        raise ChannelAccountNotFound(f"no Twilio account {account_id}")
    return account


async def _verified_form(request: Request, account: WebhookAccount) -> list[tuple[str, str]]:
    body = await webhooks.body_of(request)
    try:
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidInput("the form body is not UTF-8") from None
    algorithm = wire.signature_algorithm(request.headers.get(wire.TWILIO_SETTINGS_HEADER))
    secrets = account.account.secrets
    secret = secrets.get("webhook_shared_key") if algorithm != "HMAC_SHA1" else None
    url = _public_url(request, account)
    webhooks.checked(
        lambda: wire.verify_twilio(
            secret or secrets.get("auth_token", ""),
            url,
            params,
            request.headers.get(wire.TWILIO_SIGNATURE_HEADER),
            algorithm,
        )
    )
    return params


async def _verified_generic(request: Request, account_id: str) -> tuple[WebhookAccount, bytes]:
    account = await webhooks.account_for(request, account_id, wire.CHANNEL)
    if account.account.provider != "generic":
        raise ChannelAccountNotFound(f"no generic SMS account {account_id}")
    body = await webhooks.body_of(request)
    platform = webhooks.platform_of(request)
    webhooks.checked(
        lambda: verify_signature(
            account.account.secrets.get("signing_secret", ""),
            body,
            request.headers.get(SIGNATURE_HEADER),
            now=platform.clock(),
            max_age_seconds=platform.settings.webhook_max_age_seconds,
        )
    )
    return account, body


def _public_url(request: Request, account: WebhookAccount) -> str:
    """The URL Twilio requested: behind a proxy, the account's `webhook_base_url` plus
    our path and query; otherwise the URL this server saw."""
    base = account.account.settings.get("webhook_base_url")
    if not base:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return base.rstrip("/") + request.url.path + query


def _origin(request: Request, account: WebhookAccount) -> wire.Origin:
    return wire.Origin(
        org_id=account.org_id,
        account_id=account.account.id,
        queue_id=account.queue_id,
        received_at=webhooks.platform_of(request).clock(),
    )
