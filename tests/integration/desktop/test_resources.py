"""The desk's own resources and actions through HTTP: canned responses and wrap-up codes
(managed by supervisors, read by everyone, clear conflicts), internal notes that mention
colleagues (who hear it live), the wrap-up that closes a contact, and transfers."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from jietong.app.platform import Platform
from tests.conftest import Tenant
from tests.integration.desktop.helpers import (
    API,
    World,
    enqueue,
    make_world,
    move,
    new_interaction,
    read_until_customer,
    sentinel,
)

DESK = f"{API}/desktop"


def connected(client: TestClient, w: World, subject: str = "help") -> str:
    interaction_id = new_interaction(client, w, w.queue_id, subject)
    enqueue(client, w.admin_headers, interaction_id)
    move(client, w.admin_headers, interaction_id, "offer", w.agent.user_id)
    move(client, w.agent_headers, interaction_id, "accept")
    return interaction_id


def test_canned_responses_are_managed_by_supervisors_and_read_by_agents(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w = make_world(platform, tenant_a)
    body = {"title": "Greeting", "body": "您好 {customer.name}!", "shortcut": "hi"}
    refused = client.post(f"{DESK}/canned-responses", headers=w.agent_headers, json=body)
    assert refused.status_code == 403
    made = client.post(f"{DESK}/canned-responses", headers=w.supervisor_headers, json=body)
    assert made.status_code == 201, made.text
    team_only = {"title": "Other team", "body": "x", "team_id": w.other_team_id}
    assert (
        client.post(f"{DESK}/canned-responses", headers=w.admin_headers, json=team_only).status_code
        == 201
    )
    again = client.post(
        f"{DESK}/canned-responses", headers=w.admin_headers, json={**body, "title": "B"}
    )
    assert again.status_code == 409 and "/hi" in again.json()["detail"]
    bad = client.post(
        f"{DESK}/canned-responses",
        headers=w.admin_headers,
        json={"title": "", "body": "x", "shortcut": "Not OK"},
    )
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["errors"]} >= {
        ("body", "title"),
        ("body", "shortcut"),
    }
    seen = client.get(f"{DESK}/canned-responses", headers=w.agent_headers).json()
    assert [c["title"] for c in seen] == ["Greeting"], "other teams' answers are not listed"
    canned_id = made.json()["id"]
    changed = client.patch(
        f"{DESK}/canned-responses/{canned_id}",
        headers=w.admin_headers,
        json={"clear_shortcut": True, "channels": ["sms", "chat", "sms"]},
    )
    assert changed.json()["shortcut"] is None and changed.json()["channels"] == ["chat", "sms"]
    assert (
        client.delete(f"{DESK}/canned-responses/{canned_id}", headers=w.admin_headers).status_code
        == 204
    )
    assert (
        client.delete(f"{DESK}/canned-responses/{canned_id}", headers=w.admin_headers).status_code
        == 404
    )


def test_wrap_up_records_the_outcome_and_closes_the_contact(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w = make_world(platform, tenant_a)
    code = client.post(
        f"{DESK}/wrap-up-codes",
        headers=w.admin_headers,
        json={"code": "SOLVED", "label": "已解决 Solved"},
    )
    assert code.status_code == 201, code.text
    dup = client.post(
        f"{DESK}/wrap-up-codes", headers=w.admin_headers, json={"code": "SOLVED", "label": "x"}
    )
    assert dup.status_code == 409
    interaction_id = connected(client, w)
    early = client.post(
        f"{DESK}/interactions/{interaction_id}/wrap-up", headers=w.agent_headers, json={}
    )
    assert early.status_code == 409, "a connected contact cannot be closed"
    colleague = client.post(
        f"{DESK}/interactions/{interaction_id}/wrap-up", headers=w.outsider_headers, json={}
    )
    assert colleague.status_code == 404, "another team's agent does not even see it"
    move(client, w.agent_headers, interaction_id, "end")
    done = client.post(
        f"{DESK}/interactions/{interaction_id}/wrap-up",
        headers=w.agent_headers,
        json={"code_id": code.json()["id"], "note": "客户满意"},
    )
    assert done.status_code == 201, done.text
    state = client.get(f"{API}/interactions/{interaction_id}", headers=w.agent_headers).json()
    assert state["state"] == "closed"
    used = client.delete(f"{DESK}/wrap-up-codes/{code.json()['id']}", headers=w.admin_headers)
    assert used.status_code == 409 and "deactivate" in used.json()["detail"]
    wrapups = client.get(
        f"{DESK}/interactions/{interaction_id}/wrap-ups", headers=w.agent_headers
    ).json()
    assert [(x["note"], x["user_id"]) for x in wrapups] == [("客户满意", w.agent.user_id)]


def test_a_mentioned_colleague_hears_the_note_live(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w = make_world(platform, tenant_a)
    interaction_id = connected(client, w)
    with client.websocket_connect(f"{API}/stream", headers=w.outsider_headers) as ws:
        assert ws.receive_json()["type"] == "hello"
        note = client.post(
            f"{DESK}/interactions/{interaction_id}/notes",
            headers=w.agent_headers,
            json={"text": "@out please check", "mention_ids": [w.outsider.user_id]},
        )
        assert note.status_code == 201, note.text
        sentinel(client, w, "after note")
        heard = read_until_customer(ws, "after note")
    mentions = [m["payload"] for m in heard if m["event_type"] == "ColleagueMentioned"]
    assert [m["user_id"] for m in mentions] == [w.outsider.user_id]
    assert all(m["event_type"] != "MessageAdded" for m in heard), "the note itself stays private"
    # The mention does not open another team's conversation to them.
    assert client.get(f"{DESK}/mentions", headers=w.outsider_headers).json() == []
    messages = client.get(
        f"{API}/interactions/{interaction_id}/messages", headers=w.agent_headers
    ).json()
    assert messages["items"][-1]["internal"] is True
    bad = client.post(
        f"{DESK}/interactions/{interaction_id}/notes",
        headers=w.agent_headers,
        json={"text": "x", "mention_ids": ["f" * 32]},
    )
    assert bad.status_code == 422


def test_transfer_to_a_department_hands_a_linked_case_over(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w = make_world(platform, tenant_a)
    department = client.post(
        f"{API}/teams", headers=w.admin_headers, json={"name": "维修部", "kind": "department"}
    )
    assert department.status_code == 201, department.text
    interaction_id = connected(client, w, "broken fridge")
    body: dict[str, Any] = {
        "target": "department",
        "target_id": department.json()["id"],
        "note": "needs a technician",
    }
    done = client.post(
        f"{DESK}/interactions/{interaction_id}/transfer", headers=w.agent_headers, json=body
    )
    assert done.status_code == 200, done.text
    case_id = done.json()["case_id"]
    case = client.get(f"{API}/cases/{case_id}", headers=w.admin_headers).json()
    assert case["department_id"] == department.json()["id"]
    assert case["owner_user_id"] is None and case["interaction_ids"] == [interaction_id]
    assert case["description"] == "needs a technician"
    not_mine = client.post(
        f"{DESK}/interactions/{interaction_id}/transfer", headers=w.outsider_headers, json=body
    )
    assert not_mine.status_code == 404
    to_queue = {"target": "queue", "target_id": w.other_queue_id, "note": "billing question"}
    moved = client.post(
        f"{DESK}/interactions/{interaction_id}/transfer", headers=w.agent_headers, json=to_queue
    )
    assert moved.status_code == 200, moved.text
    board = client.get(f"{DESK}/snapshot?view=wallboard", headers=w.supervisor_headers).json()
    entry = board["state"]["work"][interaction_id]
    assert entry["state"] in ("queued", "offered") and entry["routed_queue_id"] == w.other_queue_id
    assert entry["assigned_user_id"] != w.agent.user_id
    notes = client.get(
        f"{API}/interactions/{interaction_id}/messages", headers=w.admin_headers
    ).json()
    assert [m["body_text"] for m in notes["items"] if m["internal"]][-1] == "billing question"
    audit = client.get(f"{API}/audit", headers=w.admin_headers, params={"limit": 50}).json()
    entries = audit["items"] if isinstance(audit, dict) else audit
    transfers = [a for a in entries if a["action"] == "interaction.transferred"]
    assert [(a["actor_user_id"], a["changes"]["target"]) for a in transfers] == [
        (w.agent.user_id, "queue"),
        (w.agent.user_id, "department"),
    ], "each transfer audited under the agent, newest first"
    # The transfer is the agent's own action: routing's supervisor move stays closed to them.
    other = new_interaction(client, w, w.queue_id, "waiting in my team's queue")
    enqueue(client, w.admin_headers, other)
    forbidden = client.post(
        f"{API}/routing/interactions/{other}/move",
        headers=w.agent_headers,
        json={"queue_id": w.other_queue_id},
    )
    assert forbidden.status_code == 403


def test_transfer_to_an_agent_offers_it_to_them(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    w = make_world(platform, tenant_a)
    interaction_id = connected(client, w)
    body = {"target": "agent", "target_id": w.colleague.user_id, "note": "you know this customer"}
    offline = client.post(
        f"{DESK}/interactions/{interaction_id}/transfer", headers=w.agent_headers, json=body
    )
    assert offline.status_code == 409 and "not logged in" in offline.json()["detail"]
    still = client.get(f"{API}/interactions/{interaction_id}", headers=w.agent_headers).json()
    assert still["state"] == "connected", "a refused transfer changes nothing"
    mate = client.put(
        f"{API}/agents/{w.colleague.user_id}/presence",
        headers=w.supervisor_headers,
        json={"state": "not_ready", "reason": "meeting"},
    )
    assert mate.status_code == 200, mate.text
    done = client.post(
        f"{DESK}/interactions/{interaction_id}/transfer", headers=w.agent_headers, json=body
    )
    assert done.status_code == 200, done.text
    state = client.get(f"{API}/interactions/{interaction_id}", headers=w.admin_headers).json()
    assert (state["state"], state["assigned_user_id"]) == ("offered", w.colleague.user_id)
