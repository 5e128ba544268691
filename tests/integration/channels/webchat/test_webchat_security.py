"""Bad inputs of the web chat, each refused: a visitor posing as another (forged or
changed tokens, another widget's token, a user id without the host site's HMAC), floods
of sessions and messages from one address (on loopback too), pages of sites the widget
does not allow, and unknown widgets."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from jietong.app.platform import Platform
from jietong.channels.webchat import tokens
from jietong.channels.webchat.runtime import ChatLimits, ChatRuntime
from jietong.storage.tables_webchat import WebchatVisitorRow
from tests.integration.channels.webchat.chat import (
    CHAT,
    is_message,
    read_until,
    socket,
    start,
    visitor,
)
from tests.integration.channels.webchat.conftest import Org, add_widget, new_org, use_runtime

HOST_SECRET = "shop-identity-secret-2026"


def say(client: TestClient, key: str, token: str, text: str, client_id: str) -> int:
    r = client.post(
        f"{CHAT}/{key}/messages",
        headers=visitor(token),
        json={"client_id": client_id, "text": text},
    )
    return r.status_code


def test_a_changed_or_forged_token_is_refused(client: TestClient, org: Org) -> None:
    alice = start(client, org.widget)
    assert say(client, org.widget, alice["visitor_token"], "我的地址是…", "a-00000001") == 201
    version, body, signature = alice["visitor_token"].split(".")
    # Bob keeps his own signature but puts Alice's claims in front of it, and vice versa.
    bob = start(client, org.widget)["visitor_token"]
    _v, bob_body, bob_signature = bob.split(".")
    for forged in (
        f"{version}.{bob_body}.{signature}",
        f"{version}.{body}.{bob_signature}",
        f"{version}.{body}.{signature[:-2]}AA",
        "v1.e30.AAAA",
    ):
        r = client.get(f"{CHAT}/{org.widget}/messages", headers=visitor(forged))
        assert r.status_code == 401, forged
        r = client.post(f"{CHAT}/{org.widget}/sessions", json={"visitor_token": forged})
        assert r.status_code == 401
        with pytest.raises(WebSocketDisconnect) as closed, socket(client, org.widget, forged):
            pass
        assert closed.value.code == 4401
    # Bob's own token shows Bob nothing of Alice's.
    r = client.get(f"{CHAT}/{org.widget}/messages", headers=visitor(bob))
    assert r.status_code == 200 and r.json()["items"] == []


def test_a_token_of_another_widget_or_organisation_is_refused(
    client: TestClient, platform: Platform, org: Org
) -> None:
    token = start(client, org.widget)["visitor_token"]
    same_org = add_widget(platform, org.org_id, org.queue_id, name="Second site")
    other_org = new_org(platform).widget
    for key in (same_org, other_org):
        assert client.get(f"{CHAT}/{key}/messages", headers=visitor(token)).status_code == 401
        assert say(client, key, token, "hi", "x-00000001") == 401


def test_a_blocked_visitor_cannot_come_back(
    client: TestClient, platform: Platform, org: Org
) -> None:
    session = start(client, org.widget)
    with platform.uow() as uow:
        row = uow.session.get(WebchatVisitorRow, session["visitor_id"])
        assert row is not None
        row.blocked_at = uow.now
        uow.commit()
    assert say(client, org.widget, session["visitor_token"], "hi", "b-00000001") == 403
    r = client.post(
        f"{CHAT}/{org.widget}/sessions", json={"visitor_token": session["visitor_token"]}
    )
    assert r.status_code == 403


def test_host_verified_identity_cannot_be_changed_in_the_widget(
    client: TestClient, platform: Platform, org: Org
) -> None:
    key = add_widget(platform, org.org_id, org.queue_id, name="Shop", identity_secret=HOST_SECRET)
    wang = {"user_id": "member-1001", "user_hash": tokens.identity_hash(HOST_SECRET, "member-1001")}
    first = start(client, key, **wang)
    assert first["verified"] is True
    assert say(client, key, first["visitor_token"], "会员积分", "w-00000001") == 201
    # The same user on another device lands in the same conversation.
    second = start(client, key, **wang)
    assert second["visitor_id"] == first["visitor_id"] and second["last_seq"] == 1
    # Changing the user id, with Wang's hash or a made-up one, is refused.
    for body in (
        {"user_id": "member-1002", "user_hash": wang["user_hash"]},
        {"user_id": "member-1002", "user_hash": "0" * 64},
        {"user_id": "member-1002"},
    ):
        r = client.post(f"{CHAT}/{key}/sessions", json=body)
        assert r.status_code == 403, body
    # A verified visitor's old token is no way back in: the site vouches every time.
    r = client.post(f"{CHAT}/{key}/sessions", json={"visitor_token": first["visitor_token"]})
    assert r.status_code == 401
    # Where the widget has no identity secret, no user id is accepted at all.
    assert client.post(f"{CHAT}/{org.widget}/sessions", json=wang).status_code == 403


def test_a_widget_for_signed_in_users_refuses_anonymous_visitors(
    client: TestClient, platform: Platform, org: Org
) -> None:
    key = add_widget(
        platform, org.org_id, None, name="Members", identity_secret=HOST_SECRET, identity="required"
    )
    assert client.post(f"{CHAT}/{key}/sessions", json={}).status_code == 403
    user = {"user_id": "u-7", "user_hash": tokens.identity_hash(HOST_SECRET, "u-7")}
    assert client.post(f"{CHAT}/{key}/sessions", json=user).status_code == 201


def test_floods_from_one_address_are_limited_on_loopback_too(
    client: TestClient, platform: Platform, org: Org
) -> None:
    limits = ChatLimits(
        sessions_per_address=3,
        messages_per_address=4,
        messages_per_visitor=100,
        connections_per_address=100,
    )
    use_runtime(client, ChatRuntime(platform, limits=limits))
    loopback = TestClient(client.app, client=("127.0.0.1", 50123))
    codes = [loopback.post(f"{CHAT}/{org.widget}/sessions", json={}).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    limited = loopback.post(f"{CHAT}/{org.widget}/sessions", json={})
    assert int(limited.headers["retry-after"]) > 0
    token = start(client, org.widget)["visitor_token"]  # another address: not limited
    sent = [
        loopback.post(
            f"{CHAT}/{org.widget}/messages",
            headers=visitor(token),
            json={"client_id": f"l-0000000{n}", "text": f"消息 {n}"},
        ).status_code
        for n in range(3)
    ]
    assert sent == [201, 201, 201]
    with socket(loopback, org.widget, token) as ws:
        ws.send_json({"type": "message", "client_id": "l-00000003", "text": "第四条"})
        read_until(ws, is_message("第四条"))
        ws.send_json({"type": "message", "client_id": "l-00000004", "text": "第五条"})
        error = read_until(ws, lambda f: f["type"] == "error")[-1]
    assert error["code"] == "rate_limited" and error["client_id"] == "l-00000004"


def test_messages_per_visitor_are_limited(client: TestClient, platform: Platform, org: Org) -> None:
    use_runtime(client, ChatRuntime(platform, limits=ChatLimits(messages_per_visitor=2)))
    token = start(client, org.widget)["visitor_token"]
    codes = [say(client, org.widget, token, "spam", f"s-0000000{n}") for n in range(3)]
    assert codes == [201, 201, 429]


def test_only_allowed_sites_may_use_a_widget(
    client: TestClient, platform: Platform, org: Org
) -> None:
    key = add_widget(
        platform, org.org_id, org.queue_id, name="Locked", allowed_origins="https://shop.example"
    )
    ok = client.post(f"{CHAT}/{key}/sessions", json={}, headers={"Origin": "https://shop.example"})
    assert ok.status_code == 201
    assert ok.headers["access-control-allow-origin"] == "https://shop.example"
    evil = client.post(
        f"{CHAT}/{key}/sessions", json={}, headers={"Origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    token = ok.json()["visitor_token"]
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(
            f"{CHAT}/{key}/ws", headers={"Origin": "https://evil.example"}
        ) as ws,
    ):
        ws.send_json({"type": "hello", "token": token, "after": 0})
        ws.receive_json()
    assert closed.value.code == 4403
    preflight = client.options(
        f"{CHAT}/{key}/messages",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-visitor-token",
        },
    )
    assert preflight.status_code == 204
    assert "x-visitor-token" in preflight.headers["access-control-allow-headers"]


def test_unknown_widgets_and_bad_hellos(client: TestClient, platform: Platform, org: Org) -> None:
    assert client.post(f"{CHAT}/{'f' * 32}/sessions", json={}).status_code == 404
    with platform.uow() as uow:  # a disabled widget is unknown
        from jietong.storage.tables_channels import ChannelAccountRow

        row = uow.session.get(ChannelAccountRow, add_widget(platform, org.org_id, None, name="Off"))
        assert row is not None
        row.enabled = False
        disabled = row.id
        uow.commit()
    assert client.get(f"{CHAT}/{disabled}/config").status_code == 404
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(f"{CHAT}/{'f' * 32}/ws"),
    ):
        pass
    assert closed.value.code == 4404
    token = start(client, org.widget)["visitor_token"]
    for hello in ({"type": "message", "text": "x"}, {"type": "hello", "token": token, "after": -1}):
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect(f"{CHAT}/{org.widget}/ws") as ws,
        ):
            ws.send_json(hello)
            ws.receive_json()
        assert closed.value.code == 4400
    with client.websocket_connect(f"{CHAT}/{org.widget}/ws") as ws:
        ws.send_text("x" * 70_000)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1009
    with platform.sessions() as s:
        assert s.scalars(
            select(WebchatVisitorRow).where(WebchatVisitorRow.org_id == org.org_id)
        ).all()


def test_a_required_pre_chat_form_is_enforced_by_the_server(
    client: TestClient, platform: Platform, org: Org
) -> None:
    key = add_widget(platform, org.org_id, org.queue_id, name="Form first", pre_chat="required")
    silent = start(client, key)["visitor_token"]
    assert say(client, key, silent, "hi", "p-00000001") == 422
    known = start(client, key, name="周杰", email="zhou@example.cn")["visitor_token"]
    assert say(client, key, known, "hi", "p-00000002") == 201
    config = client.get(f"{CHAT}/{key}/config").json()
    assert config["pre_chat"] == "required"
    # The offline form asks for the email itself: it is enough.
    left = client.post(
        f"{CHAT}/{key}/offline",
        headers=visitor(silent),
        json={"client_id": "p-00000003", "email": "q@example.cn", "text": "留言"},
    )
    assert left.status_code == 201, left.text
