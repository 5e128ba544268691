"""WeChat push (handshake, messages, events, 'success' after storing) and replies through
a local fake of WeChat's token and customer-service interfaces; the API channel's
inbound endpoint and its signed reply webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jietong.app.channels_runtime import DeliveryWorker
from jietong.app.platform import Platform
from jietong.channels.signing import verify_signature
from jietong.channels.wechat import wire
from jietong.core.tenancy import Role
from jietong.storage.tables import AttachmentRow, InteractionRow, MessageRow
from tests.conftest import Tenant, issue_all_scopes, make_user
from tests.integration.channels.factories import count
from tests.integration.channels.fakes import FakeProvider, Seen

FIXTURES = Path(__file__).parents[2] / "channels"
NOW = datetime.fromtimestamp(1741000100, UTC)
WX_TOKEN = "wechat-push-token"


@pytest.fixture
def fixed_clock(platform: Platform) -> datetime:
    platform.clock = lambda: NOW
    return NOW


def create_account(client: TestClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    r = client.post("/api/v1/channel-accounts", headers=tenant.headers, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def wechat_account(client: TestClient, tenant: Tenant, api_base: str = "http://127.0.0.1:9") -> str:
    account = create_account(
        client,
        tenant,
        channel="wechat",
        provider="official_account",
        address="gh_1a2b3c4d5e6f",
        settings={"app_id": "wx1234567890abcdef", "api_base_url": api_base},
        secrets={"app_secret": "wechat-app-secret-0001", "token": WX_TOKEN},
    )
    return str(account["id"])


def signed_query(timestamp: str = "1741000100", nonce: str = "n0nce") -> dict[str, str]:
    return {
        "signature": wire.push_signature(WX_TOKEN, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
    }


def push(client: TestClient, account_id: str, body: bytes, **query: str) -> Any:
    return client.post(
        f"/api/v1/channels/wechat/{account_id}",
        params=query or signed_query(),
        content=body,
        headers={"Content-Type": "text/xml"},
    )


def test_handshake_echoes_only_for_a_valid_signature(
    client: TestClient, tenant_a: Tenant, fixed_clock: datetime
) -> None:
    account_id = wechat_account(client, tenant_a)
    path = f"/api/v1/channels/wechat/{account_id}"

    ok = client.get(path, params={**signed_query(), "echostr": "echo-123"})
    forged = client.get(path, params={**signed_query(), "nonce": "other", "echostr": "x"})
    old = client.get(path, params={**signed_query(timestamp="1740000000"), "echostr": "x"})

    assert ok.status_code == 200 and ok.text == "echo-123"
    assert forged.status_code == 403 and old.status_code == 403


def test_pushes_are_stored_and_answered_success(
    client: TestClient, platform: Platform, tenant_a: Tenant, fixed_clock: datetime
) -> None:
    account_id = wechat_account(client, tenant_a)
    wx = FIXTURES / "wechat" / "fixtures"

    answers = [
        push(client, account_id, (wx / name).read_bytes())
        for name in ("subscribe.xml", "text.xml", "text.xml", "image.xml")
    ]

    assert [(a.status_code, a.text) for a in answers] == [(200, "success")] * 4
    assert count(platform, MessageRow) == 3  # the repeated text push is stored once
    with platform.sessions() as session:
        states = sorted(i.state for i in session.query(InteractionRow))
    # The subscribe event is kept in a closed conversation; the text opened a new one.
    assert states == ["arrived", "closed"]
    broken = push(client, account_id, (wx / "entity_bomb.xml").read_bytes())
    unsigned = push(
        client,
        account_id,
        (wx / "text.xml").read_bytes(),
        signature="0" * 40,
        timestamp="1741000100",
        nonce="n",
    )
    assert broken.status_code == 422 and unsigned.status_code == 403


def test_reply_goes_through_the_customer_service_interface_with_token_refresh(
    client: TestClient, platform: Platform, tenant_a: Tenant, fixed_clock: datetime
) -> None:
    tokens = iter(["TOKEN_1", "TOKEN_2"])
    sends = [b'{"errcode":42001,"errmsg":"access_token expired"}', b'{"errcode":0,"errmsg":"ok"}']

    def wechat(seen: Seen) -> tuple[int, bytes]:
        if seen.path == "/cgi-bin/token":
            assert seen.query["grant_type"] == "client_credential"
            assert seen.query["secret"] == "wechat-app-secret-0001"
            return 200, json.dumps({"access_token": next(tokens), "expires_in": 7200}).encode()
        return 200, sends.pop(0)

    with FakeProvider(wechat).running() as fake:
        account_id = wechat_account(client, tenant_a, fake.url)
        push(client, account_id, (FIXTURES / "wechat" / "fixtures" / "text.xml").read_bytes())
        reply = _reply(client, tenant_a, "您好，订单已发货")
        assert DeliveryWorker(platform).run_once() == 1

    paths = [(s.path, s.query.get("access_token")) for s in fake.seen]
    assert paths == [
        ("/cgi-bin/token", None),
        ("/cgi-bin/message/custom/send", "TOKEN_1"),
        ("/cgi-bin/token", None),
        ("/cgi-bin/message/custom/send", "TOKEN_2"),
    ]
    assert json.loads(fake.seen[-1].body) == {
        "touser": "oABCD1234efgh5678ijkl90mnop",
        "msgtype": "text",
        "text": {"content": "您好，订单已发货"},
    }
    assert _status(client, tenant_a, reply) == "sent"


def test_reply_outside_the_48_hour_window_fails_visibly(
    client: TestClient, platform: Platform, tenant_a: Tenant, fixed_clock: datetime
) -> None:
    late = (FIXTURES / "wechat" / "fixtures" / "custom_send_45015.json").read_bytes()

    def wechat(seen: Seen) -> tuple[int, bytes]:
        if seen.path == "/cgi-bin/token":
            return 200, (FIXTURES / "wechat" / "fixtures" / "token_ok.json").read_bytes()
        return 200, late

    with FakeProvider(wechat).running() as fake:
        account_id = wechat_account(client, tenant_a, fake.url)
        push(client, account_id, (FIXTURES / "wechat" / "fixtures" / "text.xml").read_bytes())
        reply = _reply(client, tenant_a, "还在吗？")
        DeliveryWorker(platform).run_once()

    failed = client.get(f"/api/v1/deliveries/{reply}", headers=tenant_a.headers).json()
    assert failed["status"] == "failed" and "45015" in failed["last_error"]
    retried = client.post(f"/api/v1/deliveries/{reply}/retry", headers=tenant_a.headers)
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    again = client.post(f"/api/v1/deliveries/{reply}/retry", headers=tenant_a.headers)
    assert again.status_code == 409


def api_account(
    client: TestClient, tenant: Tenant, webhook_url: str = "http://127.0.0.1:9/hook"
) -> str:
    account = create_account(
        client,
        tenant,
        channel="api",
        provider="app",
        settings={"webhook_url": webhook_url},
        secrets={"inbound_token": "pos-inbound-token-01", "webhook_secret": "pos-webhook-secret"},
    )
    return str(account["id"])


def test_api_channel_takes_messages_with_its_token_and_replies_by_signed_webhook(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    with FakeProvider(lambda seen: (204, b"")).running() as fake:
        account_id = api_account(client, tenant_a, fake.url + "/hook")
        body = json.loads((FIXTURES / "api" / "fixtures" / "inbound.json").read_text())
        path = f"/api/v1/channels/api/{account_id}/messages"
        auth = {"Authorization": "Bearer pos-inbound-token-01"}

        first = client.post(path, headers=auth, json=body)
        again = client.post(path, headers=auth, json=body)
        assert first.status_code == 201 and again.status_code == 200, first.text
        assert (
            again.json()["duplicate"] and again.json()["message_id"] == first.json()["message_id"]
        )
        reply = _reply(client, tenant_a, "已退款")
        assert DeliveryWorker(platform).run_once() == 1

    [seen] = fake.seen
    verify_signature(
        "pos-webhook-secret",
        seen.body,
        seen.headers["x-jietong-signature"],
        now=datetime.now(UTC),
        max_age_seconds=300,
    )
    payload = json.loads(seen.body)
    assert payload["recipient"] == {"kind": "chat_visitor", "id": "member-000981"}
    assert payload["text"] == "已退款" and payload["delivery_id"] == reply
    assert payload["thread_key"] == f"{account_id}:ticket-7781"
    assert count(platform, AttachmentRow) == 1


def test_api_channel_authentication(
    client: TestClient, platform: Platform, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    account_id = api_account(client, tenant_a)
    path = f"/api/v1/channels/api/{account_id}/messages"
    body = {"external_id": "m1", "sender": {"id": "u1"}, "text": "hi"}
    poster = make_user(platform, tenant_a.org_id, "pos-bot", Role.ADMIN, [tenant_a.team_id])
    with platform.uow() as uow:
        from jietong.auth import service as auth_service

        scoped = auth_service.issue_token(
            uow, poster, name="pos", scopes=["channels:post"], expires_at=None
        ).token
    narrow = issue_all_scopes(
        platform, make_user(platform, tenant_a.org_id, "agent1", Role.AGENT, [])
    )

    assert client.post(path, json=body).status_code == 401
    assert (
        client.post(path, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    )
    assert client.post(path, json=body, headers=tenant_b.headers).status_code == 403
    assert (
        client.post(path, json=body, headers={"Authorization": f"Bearer {narrow}"}).status_code
        == 403
    )
    ok = client.post(path, json=body, headers={"Authorization": f"Bearer {scoped}"})
    assert ok.status_code == 201, ok.text
    bad = client.post(
        path,
        json={**body, "external_id": "m2", "attachments": [{"filename": "a", "data_base64": "!!"}]},
        headers={"Authorization": f"Bearer {scoped}"},
    )
    assert bad.status_code == 422


def _reply(client: TestClient, tenant: Tenant, text: str) -> str:
    items = client.get("/api/v1/interactions?state=arrived", headers=tenant.headers).json()["items"]
    assert len(items) == 1
    r = client.post(
        f"/api/v1/interactions/{items[0]['id']}/replies",
        headers=tenant.headers,
        json={"text": text},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["delivery"]["id"])


def _status(client: TestClient, tenant: Tenant, delivery_id: str) -> str:
    return str(
        client.get(f"/api/v1/deliveries/{delivery_id}", headers=tenant.headers).json()["status"]
    )


def test_account_changes_through_the_api_reach_cached_webhook_lookups_at_once(
    client: TestClient, tenant_a: Tenant
) -> None:
    """Webhooks reuse account look-ups for a few seconds (WebhookAccountCache); an admin's
    change through this process's API must not wait for that."""
    account_id = api_account(client, tenant_a)
    path = f"/api/v1/channels/api/{account_id}/messages"
    body = {"external_id": "c1", "sender": {"id": "u1"}, "text": "hi"}
    old = {"Authorization": "Bearer pos-inbound-token-01"}
    assert client.post(path, json=body, headers=old).status_code == 201  # now cached

    rekeyed = client.patch(
        f"/api/v1/channel-accounts/{account_id}",
        headers=tenant_a.headers,
        json={"secrets": {"inbound_token": "pos-inbound-token-02"}},
    )
    assert rekeyed.status_code == 200, rekeyed.text
    body2 = {**body, "external_id": "c2"}
    assert client.post(path, json=body2, headers=old).status_code == 401
    new = {"Authorization": "Bearer pos-inbound-token-02"}
    assert client.post(path, json=body2, headers=new).status_code == 201

    disabled = client.patch(
        f"/api/v1/channel-accounts/{account_id}", headers=tenant_a.headers, json={"enabled": False}
    )
    assert disabled.status_code == 200, disabled.text
    assert client.post(path, json={**body, "external_id": "c3"}, headers=new).status_code == 404
