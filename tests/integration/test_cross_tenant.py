"""A user of organisation A can read or change nothing of organisation B, through any
endpoint: every path with an id is tried with B's ids using A's admin token, and every
list and search is checked for B's data. New endpoints are covered automatically."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from jietong.app.platform import Platform
from jietong.core.tenancy import Role, system_actor
from jietong.identity import service as identity_service
from jietong.identity.contact_points import ContactKind
from jietong.identity.schemas import ContactPointIn, CustomerCreate
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate, SkillCreate
from tests.conftest import Tenant, make_user

PARAM = re.compile(r"{(\w+)}")
# Marks organisation B's data; unlike "secret" it cannot occur in any generic response.
MARK = "qz7mark"


def seed_b(platform: Platform, tenant: Tenant) -> dict[str, str]:
    """Objects in organisation B, keyed by the path parameter name that addresses them."""
    actor = system_actor(tenant.org_id)
    with platform.uow() as uow:
        customer = identity_service.create_customer(
            uow,
            actor,
            CustomerCreate(
                display_name=f"机密客户 {MARK}",
                contact_points=[ContactPointIn(kind=ContactKind.PHONE, value="13800000001")],
            ),
            default_region="CN",
        )
    with platform.uow() as uow:
        skill = org_service.create_skill(uow, actor, SkillCreate(name=f"{MARK}-skill"))
    with platform.uow() as uow:
        queue = org_service.create_queue(
            uow, actor, QueueCreate(name=f"{MARK}-q", channels=["chat"])
        )
    agent = make_user(platform, tenant.org_id, "b-agent", Role.AGENT, [tenant.team_id])
    ids = {
        "customer_id": customer.customer.id,
        "point_id": customer.contact_points[0].id,
        "skill_id": skill.id,
        "queue_id": queue.id,
        "team_id": tenant.team_id,
        "user_id": agent.user_id,
        "token_id": "0" * 32,
    }
    ids.update(seed_b_work(platform, tenant, ids))
    return ids


def seed_b_work(platform: Platform, tenant: Tenant, ids: dict[str, str]) -> dict[str, str]:
    """Interactions and cases of B, created through B's own API token."""
    client_ids: dict[str, str] = {}
    app_client = TestClient(platform_app(platform))
    r = app_client.post(
        "/api/v1/interactions",
        headers=tenant.headers,
        json={
            "channel": "chat",
            "direction": "inbound",
            "customer_id": ids["customer_id"],
            "queue_id": ids["queue_id"],
            "subject": MARK,
        },
    )
    assert r.status_code == 201, r.text
    client_ids["interaction_id"] = r.json()["id"]
    r = app_client.post(
        f"/api/v1/interactions/{client_ids['interaction_id']}/attachments",
        headers=tenant.headers,
        files={"file": (f"{MARK}.txt", MARK.encode(), "text/plain")},
    )
    assert r.status_code == 201, r.text
    client_ids["attachment_id"] = r.json()["id"]
    r = app_client.post(
        "/api/v1/cases",
        headers=tenant.headers,
        json={
            "case_type": "complaint",
            "subject": f"{MARK} case",
            "customer_id": ids["customer_id"],
        },
    )
    assert r.status_code == 201, r.text
    client_ids["case_id"] = r.json()["id"]
    return client_ids


def platform_app(platform: Platform):  # type: ignore[no-untyped-def]
    from jietong.app.asgi import create_app

    return create_app(platform)


def test_no_endpoint_reaches_another_organisation(
    client: TestClient, platform: Platform, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    b_ids = seed_b(platform, tenant_b)
    spec = client.get("/openapi.json").json()
    tried = 0
    for path, methods in spec["paths"].items():
        params = PARAM.findall(path)
        if not params or not path.startswith("/api/v1"):
            continue
        concrete = path
        for name in params:
            concrete = concrete.replace("{" + name + "}", b_ids.get(name, "f" * 32))
        for method in methods:
            body = {} if method in ("post", "put", "patch") else None
            response = client.request(method.upper(), concrete, headers=tenant_a.headers, json=body)
            tried += 1
            assert response.status_code in (400, 403, 404, 405, 409, 422), (
                f"{method.upper()} {concrete} -> {response.status_code}: {response.text[:200]}"
            )
            assert MARK not in response.text
    assert tried >= 10


def test_lists_and_searches_show_nothing_of_another_organisation(
    client: TestClient, platform: Platform, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    seed_b(platform, tenant_b)
    spec = client.get("/openapi.json").json()
    listed = 0
    for path, methods in spec["paths"].items():
        if "get" not in methods or "{" in path or not path.startswith("/api/v1"):
            continue
        for query in ("", f"?q={MARK}", "?q=13800000001", "?q=机密"):
            response = client.get(path + query, headers=tenant_a.headers)
            listed += 1
            assert response.status_code < 500, path
            assert MARK not in response.text, f"{path}{query} leaks B's data"
    assert listed >= 8


def test_b_can_see_its_own_data(client: TestClient, platform: Platform, tenant_b: Tenant) -> None:
    """The control: the same requests with B's token do find B's data."""
    ids = seed_b(platform, tenant_b)
    r = client.get(f"/api/v1/customers/{ids['customer_id']}", headers=tenant_b.headers)
    assert r.status_code == 200 and r.json()["display_name"] == f"机密客户 {MARK}"
    found = client.get("/api/v1/customers?q=138 0000 0001", headers=tenant_b.headers).json()
    assert [c["id"] for c in found["items"]] == [ids["customer_id"]]
