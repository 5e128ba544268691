"""Helpers for the desktop tests: the browser's reducer run by node, the event stream read
up to a sentinel, and a small world of queues, agents and tokens."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jietong.app.platform import Platform
from jietong.core.tenancy import Actor, Role, system_actor
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate, TeamCreate
from tests.conftest import REQUIRE_SERVICES, Tenant, issue_all_scopes, make_user

API = "/api/v1"
ROOT = Path(__file__).resolve().parents[3]
REDUCE_CLI = ROOT / "tests" / "js" / "reduce_cli.mjs"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if REQUIRE_SERVICES:
            pytest.fail("node is required for the desktop's reducer tests")
        pytest.skip("node not installed")
    return found


def js_reduce(state: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The browser's reducer applied by node: {"state": comparable, "as_of", "stale"}."""
    done = subprocess.run(
        [node(), str(REDUCE_CLI)],
        input=json.dumps({"state": state, "events": events}).encode(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    return {k: state[k] for k in ("agents", "offers", "work", "kpi")}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def read_until_customer(ws: Any, name: str, limit: int = 2000) -> list[dict[str, Any]]:
    """Stream events up to and including the CustomerCreated of `name` (a sentinel that
    every member of staff hears)."""
    seen: list[dict[str, Any]] = []
    for _ in range(limit):
        message = ws.receive_json()
        if message["type"] != "event":
            continue
        seen.append(message)
        payload = message["payload"]
        if message["event_type"] == "CustomerCreated" and payload["display_name"] == name:
            return seen
    raise AssertionError(f"sentinel {name} not heard in {limit} messages")


@dataclass
class World:
    """One organisation: a front-line team with a chat queue, two agents in it, an agent
    of another team with its own queue, and a supervisor."""

    tenant: Tenant
    queue_id: str
    other_queue_id: str
    other_team_id: str
    agent: Actor
    agent_headers: dict[str, str]
    colleague: Actor
    outsider: Actor
    outsider_headers: dict[str, str]
    supervisor_headers: dict[str, str]

    @property
    def admin_headers(self) -> dict[str, str]:
        return self.tenant.headers


def make_world(platform: Platform, tenant: Tenant, prefix: str = "w") -> World:
    system = system_actor(tenant.org_id)
    with platform.uow() as uow:
        other_team = org_service.create_team(uow, system, TeamCreate(name=f"{prefix} back"))
    queues = []
    for name, team in (("chat", tenant.team_id), ("other", other_team.id)):
        with platform.uow() as uow:
            queues.append(
                org_service.create_queue(
                    uow,
                    system,
                    QueueCreate(
                        name=f"{prefix}-{name}",
                        channels=["chat", "email", "sms"],
                        team_id=team,
                        target_answer_seconds=20,
                    ),
                ).id
            )
    agent = make_user(platform, tenant.org_id, f"{prefix}-agent", Role.AGENT, [tenant.team_id])
    colleague = make_user(platform, tenant.org_id, f"{prefix}-mate", Role.AGENT, [tenant.team_id])
    outsider = make_user(platform, tenant.org_id, f"{prefix}-out", Role.AGENT, [other_team.id])
    supervisor = make_user(
        platform, tenant.org_id, f"{prefix}-sup", Role.SUPERVISOR, [tenant.team_id]
    )
    return World(
        tenant=tenant,
        queue_id=queues[0],
        other_queue_id=queues[1],
        other_team_id=other_team.id,
        agent=agent,
        agent_headers=bearer(issue_all_scopes(platform, agent)),
        colleague=colleague,
        outsider=outsider,
        outsider_headers=bearer(issue_all_scopes(platform, outsider)),
        supervisor_headers=bearer(issue_all_scopes(platform, supervisor)),
    )


def new_interaction(client: TestClient, world: World, queue_id: str, subject: str) -> str:
    made = client.post(
        f"{API}/interactions",
        headers=world.admin_headers,
        json={"channel": "chat", "direction": "inbound", "queue_id": queue_id, "subject": subject},
    )
    assert made.status_code == 201, made.text
    interaction_id: str = made.json()["id"]
    return interaction_id


def move(
    client: TestClient,
    headers: dict[str, str],
    interaction_id: str,
    trigger: str,
    assigned_user_id: str | None = None,
) -> None:
    body: dict[str, Any] = {"trigger": trigger}
    if assigned_user_id is not None:
        body["assigned_user_id"] = assigned_user_id
    done = client.post(
        f"{API}/interactions/{interaction_id}/transitions", headers=headers, json=body
    )
    assert done.status_code == 200, done.text


def enqueue(client: TestClient, headers: dict[str, str], interaction_id: str) -> None:
    """Queue a new interaction, unless the routing engine (when running) already did."""
    done = client.post(
        f"{API}/interactions/{interaction_id}/transitions",
        headers=headers,
        json={"trigger": "enqueue"},
    )
    if done.status_code == 409:
        state = client.get(f"{API}/interactions/{interaction_id}", headers=headers).json()
        assert state["state"] == "queued", state
        return
    assert done.status_code == 200, done.text


def say(
    client: TestClient,
    headers: dict[str, str],
    interaction_id: str,
    text: str,
    *,
    direction: str = "outbound",
    internal: bool = False,
) -> None:
    body = {
        "body_text": text,
        "direction": direction,
        "internal": internal,
        "author_kind": "customer" if direction == "inbound" else "agent",
    }
    done = client.post(f"{API}/interactions/{interaction_id}/messages", headers=headers, json=body)
    assert done.status_code in (200, 201), done.text


def sentinel(client: TestClient, world: World, name: str) -> None:
    done = client.post(f"{API}/customers", headers=world.admin_headers, json={"display_name": name})
    assert done.status_code == 201, done.text


def snapshot(client: TestClient, headers: dict[str, str], view: str) -> dict[str, Any]:
    got = client.get(f"{API}/desktop/snapshot", headers=headers, params={"view": view})
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body
