"""The live event stream: replay then live with no gap or repeat, resume after a drop,
and only what the actor may see (team, organisation), decided on the server."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from jietong.app.platform import Platform
from jietong.core.tenancy import Role, system_actor
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate, TeamCreate
from tests.conftest import Tenant, issue_all_scopes, make_user

API = "/api/v1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def read_until(ws: Any, predicate: Any, limit: int = 200) -> list[dict[str, Any]]:
    """Messages up to and including the first one matching `predicate`."""
    seen = []
    for _ in range(limit):
        message = ws.receive_json()
        seen.append(message)
        if predicate(message):
            return seen
    raise AssertionError(f"no matching message in {limit}: {seen[-5:]}")


def customer_named(name: str) -> Any:
    return lambda m: (
        m.get("event_type") == "CustomerCreated" and (m["payload"]["display_name"] == name)
    )


def make_queue(platform: Platform, tenant: Tenant, team_id: str, name: str) -> str:
    with platform.uow() as uow:
        return org_service.create_queue(
            uow,
            system_actor(tenant.org_id),
            QueueCreate(name=name, channels=["chat"], team_id=team_id),
        ).id


def test_replay_then_live_then_resume_without_loss_or_repeat(
    client: TestClient, tenant_a: Tenant
) -> None:
    h = tenant_a.headers
    client.post(f"{API}/customers", headers=h, json={"display_name": "before"})
    with client.websocket_connect(f"{API}/stream?after=0", headers=h) as ws:
        assert ws.receive_json()["type"] == "hello"
        replayed = read_until(ws, customer_named("before"))
        client.post(f"{API}/customers", headers=h, json={"display_name": "live"})
        live = read_until(ws, customer_named("live"))
    seqs = [m["seq"] for m in replayed + live]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    last = seqs[-1]
    for name in ("missed-1", "missed-2"):  # while disconnected
        client.post(f"{API}/customers", headers=h, json={"display_name": name})
    with client.websocket_connect(f"{API}/stream?after={last}", headers=h) as ws:
        ws.receive_json()
        resumed = read_until(ws, customer_named("missed-2"))
    names = [
        m["payload"].get("display_name") for m in resumed if m["event_type"] == "CustomerCreated"
    ]
    assert names == ["missed-1", "missed-2"]
    assert all(m["seq"] > last for m in resumed)


def test_agents_hear_only_their_teams_work(
    client: TestClient, platform: Platform, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with platform.uow() as uow:
        other_team = org_service.create_team(
            uow, system_actor(tenant_a.org_id), TeamCreate(name="Other team")
        ).id
    mine = make_queue(platform, tenant_a, tenant_a.team_id, "mine")
    theirs = make_queue(platform, tenant_a, other_team, "theirs")
    agent = make_user(platform, tenant_a.org_id, "agent-s", Role.AGENT, [tenant_a.team_id])
    agent_headers = bearer(issue_all_scopes(platform, agent))
    h = tenant_a.headers
    with (
        client.websocket_connect(f"{API}/stream", headers=agent_headers) as ws,
        client.websocket_connect(f"{API}/stream", headers=tenant_b.headers) as other_org,
    ):
        ws.receive_json()
        other_org.receive_json()
        for queue_id, subject in ((theirs, "not yours"), (mine, "yours")):
            made = client.post(
                f"{API}/interactions",
                headers=h,
                json={
                    "channel": "chat",
                    "direction": "inbound",
                    "queue_id": queue_id,
                    "subject": subject,
                },
            )
            assert made.status_code == 201, made.text
        client.post(f"{API}/customers", headers=h, json={"display_name": "sentinel"})
        heard = read_until(ws, customer_named("sentinel"))
        client.post(
            f"{API}/customers", headers=tenant_b.headers, json={"display_name": "b-sentinel"}
        )
        heard_by_b = read_until(other_org, customer_named("b-sentinel"))
    created = [m["payload"]["queue_id"] for m in heard if m["event_type"] == "InteractionCreated"]
    assert created == [mine]
    assert {m["payload"]["org_id"] for m in heard_by_b} == {tenant_b.org_id}
    assert all(m["payload"]["org_id"] == tenant_a.org_id for m in heard)


def test_handshakes_that_are_not_ours_are_refused(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as anonymous,
        client.websocket_connect(f"{API}/stream") as ws,
    ):
        ws.receive_json()
    assert anonymous.value.code == 4403
    make_user(platform, tenant_a.org_id, "cookie-user", Role.AGENT, [tenant_a.team_id])
    login = client.post(
        f"{API}/auth/login", json={"username": "cookie-user", "password": "correct-horse-9"}
    )
    assert login.status_code == 200
    with (
        pytest.raises(WebSocketDisconnect) as foreign,
        client.websocket_connect(f"{API}/stream", headers={"Origin": "https://evil.example"}) as ws,
    ):
        ws.receive_json()
    assert foreign.value.code == 4403
    with client.websocket_connect(f"{API}/stream", headers={"Origin": "http://testserver"}) as ws:
        assert ws.receive_json()["type"] == "hello"
