"""Every wallboard action of a supervisor is audited under the supervisor: an agent's
state, an agent's skills, moving waiting work to another queue, assigning it to an agent.
The same calls the wallboard makes, through HTTP."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from jietong.app.platform import Platform
from tests.conftest import Tenant
from tests.integration.desktop.helpers import API, enqueue, make_world, new_interaction


def audit_of(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    page = client.get(f"{API}/audit", headers=headers, params={"limit": 100})
    assert page.status_code == 200, page.text
    body = page.json()
    items: list[dict[str, Any]] = body["items"] if isinstance(body, dict) else body
    return items


def in_queue(client: TestClient, headers: dict[str, str], interaction_id: str) -> None:
    """Wait until routing has given the queued interaction its place (its next cycle)."""
    path = f"{API}/routing/interactions/{interaction_id}/position"
    deadline = time.monotonic() + 20
    while client.get(path, headers=headers).status_code != 200:
        assert time.monotonic() < deadline, "routing never queued it"
        time.sleep(0.1)


def test_wallboard_actions_are_audited_under_the_supervisor(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w = make_world(platform, tenant_a, "aud")
    sup = w.supervisor_headers
    supervisor_id = client.get(f"{API}/me", headers=sup).json()["user_id"]
    skill = client.post(f"{API}/skills", headers=w.admin_headers, json={"name": "粤语 Cantonese"})
    assert skill.status_code == 201, skill.text

    # Logged in but not ready: the engine offers them nothing while the test moves work.
    for user, reason in ((w.agent, "meeting"), (w.colleague, "break")):
        body = {"state": "not_ready", "reason": reason}
        done = client.put(f"{API}/agents/{user.user_id}/presence", headers=sup, json=body)
        assert done.status_code == 200, done.text
    skills = {"skills": {skill.json()["id"]: 7}}
    done = client.put(f"{API}/users/{w.agent.user_id}/skills", headers=sup, json=skills)
    assert done.status_code == 200, done.text
    moved = new_interaction(client, w, w.queue_id, "to be moved")
    enqueue(client, w.admin_headers, moved)
    in_queue(client, sup, moved)
    done = client.post(
        f"{API}/routing/interactions/{moved}/move", headers=sup, json={"queue_id": w.other_queue_id}
    )
    assert done.status_code == 200, done.text
    assigned = new_interaction(client, w, w.queue_id, "to be assigned")
    enqueue(client, w.admin_headers, assigned)
    in_queue(client, sup, assigned)
    done = client.post(
        f"{API}/routing/interactions/{assigned}/assign",
        headers=sup,
        json={"agent_id": w.agent.user_id},
    )
    assert done.status_code == 200, done.text

    mine = [a for a in audit_of(client, w.admin_headers) if a["actor_user_id"] == supervisor_id]
    actions = {(a["action"], a["entity_id"]) for a in mine}
    assert {
        ("agent.state_set", w.agent.user_id),
        ("agent.state_set", w.colleague.user_id),
        ("user.skills_set", w.agent.user_id),
        ("routing.moved", moved),
        ("routing.assigned", assigned),
    } <= actions
    # An agent cannot take these actions at all.
    refused = client.put(
        f"{API}/agents/{w.colleague.user_id}/presence",
        headers=w.agent_headers,
        json={"state": "available", "reason": None},
    )
    assert refused.status_code == 403
