"""CRUD and search for teams, skills, queues and customers, and what deletion refuses."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Tenant

API = "/api/v1"


def test_teams_skills_queues_crud_and_search(client: TestClient, tenant_a: Tenant) -> None:
    h = tenant_a.headers
    skill = client.post(
        f"{API}/skills", headers=h, json={"name": "粤语 Cantonese", "kind": "language"}
    ).json()
    team = client.post(f"{API}/teams", headers=h, json={"name": "账单组 Billing"}).json()
    queue = client.post(
        f"{API}/queues",
        headers=h,
        json={
            "name": "Billing",
            "channels": ["call", "email"],
            "team_id": team["id"],
            "required_skills": {skill["id"]: 3},
        },
    ).json()
    assert [t["name"] for t in client.get(f"{API}/teams?q=账单", headers=h).json()["items"]] == [
        "账单组 Billing"
    ]
    assert client.get(f"{API}/skills?q=%25", headers=h).json()["items"] == []
    renamed = client.patch(f"{API}/teams/{team['id']}", headers=h, json={"name": "Billing team"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Billing team"
    dup = client.post(f"{API}/teams", headers=h, json={"name": "Billing team"})
    assert dup.status_code == 409
    in_use = client.delete(f"{API}/skills/{skill['id']}", headers=h)
    assert in_use.status_code == 409 and "Billing" in in_use.json()["detail"]
    assert client.delete(f"{API}/teams/{team['id']}", headers=h).status_code == 409
    assert client.delete(f"{API}/queues/{queue['id']}", headers=h).status_code == 204
    assert client.delete(f"{API}/skills/{skill['id']}", headers=h).status_code == 204
    assert client.delete(f"{API}/teams/{team['id']}", headers=h).status_code == 204
    assert client.get(f"{API}/teams/{team['id']}", headers=h).status_code == 404


def test_customer_with_history_cannot_be_deleted(client: TestClient, tenant_a: Tenant) -> None:
    h = tenant_a.headers
    lone = client.post(f"{API}/customers", headers=h, json={"display_name": "mistake"}).json()
    kept = client.post(f"{API}/customers", headers=h, json={"display_name": "张三"}).json()
    made = client.post(
        f"{API}/interactions",
        headers=h,
        json={"channel": "email", "direction": "inbound", "customer_id": kept["id"]},
    )
    assert made.status_code == 201, made.text
    assert client.delete(f"{API}/customers/{kept['id']}", headers=h).status_code == 409
    assert client.delete(f"{API}/customers/{lone['id']}", headers=h).status_code == 204
    assert client.get(f"{API}/customers/{lone['id']}", headers=h).status_code == 404
    timeline = client.get(f"{API}/customers/{kept['id']}/timeline", headers=h).json()
    assert [i["id"] for i in timeline["items"]] == [made.json()["id"]]


def test_interactions_accept_registered_channels_only(client: TestClient, tenant_a: Tenant) -> None:
    h = tenant_a.headers
    for channel in ("call", "chat", "email", "sms", "wechat", "api"):
        made = client.post(
            f"{API}/interactions", headers=h, json={"channel": channel, "direction": "inbound"}
        )
        assert made.status_code == 201, (channel, made.text)
        assert made.json()["channel"] == channel
    unknown = client.post(
        f"{API}/interactions", headers=h, json={"channel": "fax", "direction": "inbound"}
    )
    assert unknown.status_code == 422 and "fax" in unknown.json()["detail"]


def test_time_zones_must_be_iana_names(client: TestClient, tenant_a: Tenant) -> None:
    """Every screen converts times with the stored zone: an unknown one is refused on
    the way in (a fuzzer once stored garbage that broke the desk's snapshot)."""
    h = tenant_a.headers
    user = {"username": "tz-user", "display_name": "T", "password": "12345678", "role": "agent"}
    bad = [
        client.patch(f"{API}/organisation", headers=h, json={"timezone": "Mars/Olympus"}),
        client.post(f"{API}/users", headers=h, json={**user, "timezone": "../../etc/passwd"}),
    ]
    good = client.post(f"{API}/users", headers=h, json={**user, "timezone": "Asia/Urumqi"})

    assert [r.status_code for r in bad] == [422, 422]
    assert "unknown time zone" in bad[0].text
    assert good.status_code == 201 and good.json()["timezone"] == "Asia/Urumqi"
    renamed = client.patch(f"{API}/users/{good.json()['id']}", headers=h, json={"timezone": "x"})
    assert renamed.status_code == 422
