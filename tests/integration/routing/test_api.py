"""The routing and presence HTTP API, with the engine running in the server as in
production: an agent logs in, a contact arrives, the engine offers it over the event bus
and its tick, the agent accepts."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jietong.app.asgi import create_app
from jietong.app.platform import Platform
from jietong.app.routing_runtime import RoutingRuntime, RoutingRuntimeOptions, wakes_routing
from jietong.core.tenancy import Role
from jietong.events.base import Envelope
from jietong.storage.tables import AuditRow
from tests.conftest import Tenant, issue_all_scopes, make_user


def wait_for(probe: Callable[[], Any], seconds: float = 8.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def headers_of(
    platform: Platform, tenant: Tenant, name: str, role: Role
) -> tuple[str, dict[str, str]]:
    actor = make_user(platform, tenant.org_id, name, role, [tenant.team_id])
    return actor.user_id, {"Authorization": f"Bearer {issue_all_scopes(platform, actor)}"}


def make_queue(client: TestClient, tenant: Tenant, name: str = "sales") -> str:
    r = client.post(
        "/api/v1/queues",
        headers=tenant.headers,
        json={"name": name, "channels": ["call", "chat"], "team_id": tenant.team_id},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def arrive(client: TestClient, tenant: Tenant, queue_id: str, channel: str = "call") -> str:
    r = client.post(
        "/api/v1/interactions",
        headers=tenant.headers,
        json={"channel": channel, "queue_id": queue_id},
    )
    assert r.status_code == 201, r.text
    iid = str(r.json()["id"])
    said = client.post(
        f"/api/v1/interactions/{iid}/messages",
        headers=tenant.headers,
        json={"body_text": "你好", "direction": "inbound", "author_kind": "customer"},
    )
    assert said.status_code == 201, said.text  # the customer wrote: the engine queues it
    return iid


def test_login_offer_accept_through_http_with_the_engine_running(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    queue_id = make_queue(client, tenant_a)
    agent_id, agent = headers_of(platform, tenant_a, "http-agent", Role.AGENT)
    r = client.put("/api/v1/agents/me/presence", headers=agent, json={"state": "available"})
    assert r.status_code == 200 and r.json()["state"] == "available", r.text

    iid = arrive(client, tenant_a, queue_id)
    offered = wait_for(lambda: client.get("/api/v1/offers", headers=agent).json())
    assert offered[0]["interaction_id"] == iid and offered[0]["state"] == "pending"
    assert client.get("/api/v1/agents/me/presence", headers=agent).json()["state"] == "ringing"

    accepted = client.post(f"/api/v1/offers/{offered[0]['id']}/accept", headers=agent)
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted", accepted.text
    again = client.post(f"/api/v1/offers/{offered[0]['id']}/accept", headers=agent)
    assert again.status_code == 409
    me = client.get("/api/v1/agents/me/presence", headers=agent).json()
    assert me["state"] == "busy" and me["load"] == {"call": 1} and me["free"]["chat"] == 0
    interaction = client.get(f"/api/v1/interactions/{iid}", headers=tenant_a.headers).json()
    assert interaction["state"] == "connected" and interaction["assigned_user_id"] == agent_id


def test_a_customers_first_message_wakes_the_engine_without_the_tick(
    platform: Platform, tenant_a: Tenant
) -> None:
    """A chat interaction becomes routable with the customer's first message; that
    message's event wakes the engine (a tick of two minutes cannot be what offers it).
    Messages in conversations already queued do not wake it (`wakes_routing`)."""
    platform.routing = RoutingRuntime(RoutingRuntimeOptions(tick_seconds=120))
    with TestClient(create_app(platform)) as client:
        queue_id = make_queue(client, tenant_a)
        _agent_id, agent = headers_of(platform, tenant_a, "woken-agent", Role.AGENT)
        r = client.put("/api/v1/agents/me/presence", headers=agent, json={"state": "available"})
        assert r.status_code == 200, r.text
        created = client.post(
            "/api/v1/interactions",
            headers=tenant_a.headers,
            json={"channel": "chat", "queue_id": queue_id},
        )
        assert created.status_code == 201, created.text
        iid = created.json()["id"]
        time.sleep(1.0)  # the cycles its creation woke have run and found nothing to route
        assert client.get("/api/v1/offers", headers=agent).json() == []
        said = client.post(
            f"/api/v1/interactions/{iid}/messages",
            headers=tenant_a.headers,
            json={"body_text": "在吗", "direction": "inbound", "author_kind": "customer"},
        )
        assert said.status_code == 201, said.text
        offered = wait_for(lambda: client.get("/api/v1/offers", headers=agent).json(), 5.0)
        assert offered[0]["interaction_id"] == iid


def test_which_events_wake_the_engine() -> None:
    def envelope(event_type: str, **payload: object) -> Envelope:
        return Envelope(
            event_id="e",
            event_type=event_type,
            org_id="o",
            occurred_at=datetime.now(UTC),
            payload=payload,
        )

    def message(**fields: object) -> Envelope:
        return envelope("MessageAdded", direction="inbound", internal=False, **fields)

    assert wakes_routing(envelope("InteractionCreated"))
    assert wakes_routing(envelope("AgentStateChanged"))
    assert wakes_routing(message(interaction_state="arrived"))
    assert wakes_routing(message())  # state not told: wake, to be safe
    assert not wakes_routing(message(interaction_state="queued"))
    assert not wakes_routing(message(interaction_state="connected"))
    assert not wakes_routing(
        envelope("MessageAdded", direction="outbound", internal=False, interaction_state="arrived")
    )
    assert not wakes_routing(
        envelope("MessageAdded", direction="inbound", internal=True, interaction_state="arrived")
    )
    assert not wakes_routing(envelope("InboundMessageReceived", opened_interaction=False))
    assert not wakes_routing(envelope("OfferCreated"))


def test_queue_status_position_and_estimated_wait(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    queue_id = make_queue(client, tenant_a)
    first = arrive(client, tenant_a, queue_id, "chat")
    second = arrive(client, tenant_a, queue_id, "chat")

    position = wait_for(
        lambda: (
            r.json()
            if (
                r := client.get(
                    f"/api/v1/routing/interactions/{second}/position", headers=tenant_a.headers
                )
            ).status_code
            == 200
            else None
        )
    )
    assert (position["position"], position["ahead"], position["state"]) == (2, 1, "waiting")
    assert position["ewt_seconds"] is None  # nobody staffed, no history: unknown, not a guess
    status = client.get(f"/api/v1/routing/queues/{queue_id}", headers=tenant_a.headers).json()
    assert (status["waiting"], status["open"]) == (2, True)
    listed = client.get("/api/v1/routing/queues", headers=tenant_a.headers).json()
    assert [q["queue_id"] for q in listed] == [queue_id]
    entries = client.get(
        f"/api/v1/routing/queues/{queue_id}/entries", headers=tenant_a.headers
    ).json()
    assert [e["interaction_id"] for e in entries] == [first, second]


def test_agents_act_only_on_themselves_and_supervisors_are_audited(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    agent_id, agent = headers_of(platform, tenant_a, "self-agent", Role.AGENT)
    other_id, _other = headers_of(platform, tenant_a, "other-agent", Role.AGENT)
    _sup_id, supervisor = headers_of(platform, tenant_a, "boss", Role.SUPERVISOR)

    denied = client.put(
        f"/api/v1/agents/{other_id}/presence", headers=agent, json={"state": "available"}
    )
    assert denied.status_code == 403
    done = client.put(
        f"/api/v1/agents/{other_id}/presence",
        headers=supervisor,
        json={"state": "not_ready", "reason": "meeting"},
    )
    assert done.status_code == 200 and done.json()["reason"] == "meeting", done.text
    with platform.sessions() as session:
        audited = session.scalars(
            select(AuditRow.action).where(AuditRow.entity_id == other_id)
        ).all()
    assert "agent.state_set" in audited
    bad = client.put("/api/v1/agents/me/presence", headers=agent, json={"state": "busy"})
    assert bad.status_code == 422
    extra = client.put(
        "/api/v1/agents/me/presence", headers=agent, json={"state": "available", "x": 1}
    )
    assert extra.status_code == 422
    assert client.get(f"/api/v1/agents/{agent_id}/presence", headers=supervisor).status_code == 200


def test_supervisor_moves_assigns_and_pulls(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    sales = make_queue(client, tenant_a, "sales")
    support = make_queue(client, tenant_a, "support")
    agent_id, agent = headers_of(platform, tenant_a, "assignee", Role.AGENT)
    _sup_id, supervisor = headers_of(platform, tenant_a, "lead", Role.SUPERVISOR)
    client.put(
        "/api/v1/agents/me/presence", headers=agent, json={"state": "not_ready", "reason": "break"}
    )
    one = arrive(client, tenant_a, sales)
    two = arrive(client, tenant_a, sales)
    wait_for(
        lambda: (
            client.get(
                f"/api/v1/routing/interactions/{two}/position", headers=supervisor
            ).status_code
            == 200
        )
    )

    moved = client.post(
        f"/api/v1/routing/interactions/{one}/move", headers=supervisor, json={"queue_id": support}
    )
    assert moved.status_code == 200 and moved.json()["queue_id"] == support, moved.text
    forbidden = client.post(
        f"/api/v1/routing/interactions/{one}/move", headers=agent, json={"queue_id": sales}
    )
    assert forbidden.status_code == 403
    assigned = client.post(
        f"/api/v1/routing/interactions/{one}/assign",
        headers=supervisor,
        json={"agent_id": agent_id},
    )
    assert assigned.status_code == 200 and assigned.json()["agent_id"] == agent_id, assigned.text
    pulled = client.post(f"/api/v1/routing/interactions/{two}/pull", headers=supervisor)
    assert pulled.status_code == 200 and pulled.json()["state"] == "accepted", pulled.text
    view = client.get(f"/api/v1/interactions/{two}", headers=supervisor).json()
    assert view["state"] == "connected"


def test_callbacks_keep_the_place_or_wait_for_the_chosen_time(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    queue_id = make_queue(client, tenant_a)
    iid = arrive(client, tenant_a, queue_id)
    wait_for(
        lambda: (
            client.get(
                f"/api/v1/routing/interactions/{iid}/position", headers=tenant_a.headers
            ).status_code
            == 200
        )
    )
    r = client.post(
        f"/api/v1/routing/interactions/{iid}/callback",
        headers=tenant_a.headers,
        json={"channel": "call", "to": "+8613800138000"},
    )
    assert r.status_code == 200 and r.json()["kind"] == "callback", r.text
    assert r.json()["callback_to"] == "+8613800138000"

    later = client.post(
        "/api/v1/routing/callbacks",
        headers=tenant_a.headers,
        json={
            "queue_id": queue_id,
            "to": "+8613900000000",
            "at": "2099-01-01T10:00:00+08:00",
        },
    )
    assert later.status_code == 422 or later.status_code == 400  # more than 30 days ahead
    soon = client.post(
        "/api/v1/routing/callbacks",
        headers=tenant_a.headers,
        json={"queue_id": queue_id, "to": "+8613900000000"},
    )
    assert soon.status_code == 201 and soon.json()["kind"] == "callback", soon.text
    naive = client.post(
        "/api/v1/routing/callbacks",
        headers=tenant_a.headers,
        json={"queue_id": queue_id, "to": "+86139", "at": "2026-01-01T10:00:00"},
    )
    assert naive.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"ring_timeout_seconds": 1},
        {"overflow": [{"after_seconds": 30}, {"after_seconds": 10}]},
        {"limit_action": "queue"},
        {"hours": {"timezone": "Mars/Olympus"}},
        {"hours": {"weekly": {"0": [["18:00", "09:00"]]}}},
        {"unknown": True},
    ],
)
def test_queue_settings_are_validated(
    client: TestClient, tenant_a: Tenant, body: dict[str, Any]
) -> None:
    queue_id = make_queue(client, tenant_a)
    r = client.put(
        f"/api/v1/routing/queues/{queue_id}/settings", headers=tenant_a.headers, json=body
    )
    assert r.status_code == 422, r.text


def test_queue_settings_and_team_rules_round_trip(client: TestClient, tenant_a: Tenant) -> None:
    queue_id = make_queue(client, tenant_a)
    body = {
        "ring_timeout_seconds": 15,
        "max_wait_seconds": 600,
        "limit_action": "voicemail",
        "hours": {"weekly": {"0": [["09:00", "12:00"], ["13:00", "18:00"]]}},
    }
    r = client.put(
        f"/api/v1/routing/queues/{queue_id}/settings", headers=tenant_a.headers, json=body
    )
    assert r.status_code == 200, r.text
    got = client.get(f"/api/v1/routing/queues/{queue_id}/settings", headers=tenant_a.headers)
    assert got.json()["ring_timeout_seconds"] == 15 and got.json()["limit_action"] == "voicemail"
    rules = {
        "capacity": {"call": 1, "chat": 2},
        "excludes": {"call": ["chat"]},
        "wrap_up_seconds": 30,
    }
    r = client.put(
        f"/api/v1/routing/teams/{tenant_a.team_id}/rules", headers=tenant_a.headers, json=rules
    )
    assert r.status_code == 200 and r.json()["capacity"] == {"call": 1, "chat": 2}, r.text
