"""The page shells and what they let through: sign-in required, the wallboard and the admin
console only for their roles, a conversation URL only for those who may see it, strict
CSP with no inline script, and no way to reach another team's work by editing a URL, a
query or a WebSocket message."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from jietong.app.platform import Platform
from tests.conftest import Tenant
from tests.integration.desktop.helpers import (
    API,
    World,
    enqueue,
    make_world,
    new_interaction,
    read_until_customer,
    sentinel,
)

PASSWORD = "correct-horse-9"


def sign_in(client: TestClient, username: str) -> str:
    client.cookies.clear()
    done = client.post(f"{API}/auth/login", json={"username": username, "password": PASSWORD})
    assert done.status_code == 200, done.text
    csrf: str = done.json()["csrf_token"]
    return csrf


def page_config(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="dsk-config">(.*?)</script>', html, re.S)
    assert found is not None
    config: dict[str, Any] = json.loads(found.group(1))
    return config


def test_pages_need_a_session_and_the_right_role(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    make_world(platform, tenant_a)
    for path in ("/desk", "/wallboard", "/admin"):
        anonymous = client.get(path, follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    sign_in(client, "w-agent")
    assert client.get("/desk").status_code == 200
    assert client.get("/wallboard").status_code == 403
    assert client.get("/admin").status_code == 403
    refused = client.get(f"{API}/desktop/snapshot", params={"view": "wallboard"})
    assert refused.status_code == 403
    sign_in(client, "w-sup")
    assert client.get("/wallboard").status_code == 200
    console = client.get("/admin")
    assert console.status_code == 200, "supervisors look after the desk's resources"
    assert page_config(console.text)["sections"] == ["wrapup", "canned"]
    assert page_config(console.text)["providers"] == []
    sign_in(client, "org-a-admin")
    full = page_config(client.get("/admin").text)
    assert "channels" in full["sections"] and "tokens" in full["sections"]


def test_the_shell_is_strict_and_carries_what_the_scripts_need(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    make_world(platform, tenant_a)
    csrf = sign_in(client, "w-agent")
    page = client.get("/desk", headers={"Accept-Language": "zh-CN"})
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    scripts = re.findall(r"<script([^>]*)>", page.text)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts)
    assert ' style="' not in page.text
    config = page_config(page.text)
    assert config["csrf"] == csrf and config["locale"] == "zh-CN"
    assert config["timezone"] == "Asia/Shanghai"
    assert config["messages"]["desk.action.accept"] == "接受"
    assert all(
        k.startswith(("dsk.", "desk.", "wall.", "adm.", "vip.", "role.", "weekday."))
        for k in config["messages"]
    )


def test_another_teams_conversation_stays_out_of_reach(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w: World = make_world(platform, tenant_a)
    mine = new_interaction(client, w, w.queue_id, "mine")
    theirs = new_interaction(client, w, w.other_queue_id, "theirs secret")
    enqueue(client, w.admin_headers, theirs)
    sign_in(client, "w-agent")
    assert client.get(f"/desk/conversations/{mine}").status_code == 200
    assert page_config(client.get(f"/desk/conversations/{mine}").text)["open"] == mine
    for path in (f"/desk/conversations/{theirs}", "/desk/conversations/not-an-id"):
        refused = client.get(path)
        assert refused.status_code == 404
        assert "theirs secret" not in refused.text
    cards = client.get(f"{API}/desktop/interaction-cards", params={"ids": [mine, theirs]}).json()
    assert [c["id"] for c in cards] == [mine]
    snapshot = client.get(f"{API}/desktop/snapshot").json()
    assert mine in snapshot["state"]["work"] and theirs not in snapshot["state"]["work"]
    messages = client.get(f"{API}/interactions/{theirs}/messages")
    assert messages.status_code == 404


def test_websocket_messages_from_the_client_open_nothing(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w = make_world(platform, tenant_a)
    sign_in(client, "w-agent")
    origin = {"Origin": "http://testserver"}
    with client.websocket_connect(f"{API}/stream", headers=origin) as ws:
        assert ws.receive_json()["type"] == "hello"
        theirs = new_interaction(client, w, w.other_queue_id, "theirs")
        # A forged request to follow the other team's conversation changes nothing: the
        # stream takes no orders from the client, its filter is the server's.
        ws.send_json({"type": "subscribe", "interaction_id": theirs, "team_id": w.other_team_id})
        enqueue(client, w.admin_headers, theirs)
        sentinel(client, w, "after forged subscribe")
        heard = read_until_customer(ws, "after forged subscribe")
    assert all(m["payload"].get("interaction_id") != theirs for m in heard)
