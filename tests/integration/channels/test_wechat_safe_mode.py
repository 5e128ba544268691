"""A WeChat account in safe mode: encrypted pushes are verified (msg_signature),
decrypted and stored like plain ones; anything not encrypted for us is refused."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jietong.app.platform import Platform
from jietong.channels.wechat import crypto
from jietong.storage.tables import MessageRow
from tests.conftest import Tenant
from tests.integration.channels.test_wechat_and_api import (
    NOW,
    WX_TOKEN,
    create_account,
    signed_query,
)

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx1234567890abcdef"
TEXT_PUSH = (Path(__file__).parents[2] / "channels/wechat/fixtures/text.xml").read_bytes()


@pytest.fixture
def fixed_clock(platform: Platform) -> datetime:
    platform.clock = lambda: NOW  # the signed pushes' timestamp
    return NOW


def safe_mode_account(
    client: TestClient, tenant: Tenant, address: str = "gh_1a2b3c4d5e6f", **secrets: str
) -> str:
    account = create_account(
        client,
        tenant,
        channel="wechat",
        provider="official_account",
        address=address,
        name=f"WeChat {address}",
        settings={"app_id": APP_ID},
        secrets={"app_secret": "wechat-app-secret-0001", "token": WX_TOKEN, **secrets},
    )
    return str(account["id"])


def encrypted_push(
    client: TestClient, account_id: str, plain: bytes, *, app_id: str = APP_ID, **query: str
) -> Any:
    encrypted = crypto.encrypt(AES_KEY, app_id, plain)
    params = signed_query()
    params |= {
        "encrypt_type": "aes",
        "msg_signature": crypto.msg_signature(
            WX_TOKEN, params["timestamp"], params["nonce"], encrypted
        ),
    }
    body = (
        "<xml><ToUserName><![CDATA[gh_1a2b3c4d5e6f]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    return client.post(
        f"/api/v1/channels/wechat/{account_id}",
        params=params | query,
        content=body.encode(),
        headers={"Content-Type": "text/xml"},
    )


def test_an_encrypted_push_is_stored_as_its_plain_message(
    client: TestClient, platform: Platform, tenant_a: Tenant, fixed_clock: datetime
) -> None:
    account_id = safe_mode_account(client, tenant_a, encoding_aes_key=AES_KEY)

    answer = encrypted_push(client, account_id, TEXT_PUSH)
    again = encrypted_push(client, account_id, TEXT_PUSH)  # WeChat's retry: shown once

    assert [(a.status_code, a.text) for a in (answer, again)] == [(200, "success")] * 2
    with platform.sessions() as session:
        [message] = session.scalars(select(MessageRow))
    assert message.body_text and message.channel == "wechat"
    assert message.body_text in TEXT_PUSH.decode()


def test_pushes_not_encrypted_and_signed_for_this_account_are_refused(
    client: TestClient, platform: Platform, tenant_a: Tenant, fixed_clock: datetime
) -> None:
    account_id = safe_mode_account(client, tenant_a, encoding_aes_key=AES_KEY)
    plain_account = safe_mode_account(client, tenant_a, "gh_other000000")  # no AES key

    forged = encrypted_push(client, account_id, TEXT_PUSH, msg_signature="0" * 40)
    other_app = encrypted_push(client, account_id, TEXT_PUSH, app_id="wx0000000000000000")
    no_key = encrypted_push(client, plain_account, TEXT_PUSH)

    assert [r.status_code for r in (forged, other_app, no_key)] == [403, 403, 403]
    with platform.sessions() as session:
        assert session.scalars(select(MessageRow)).first() is None
