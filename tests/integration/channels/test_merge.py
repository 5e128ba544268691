"""Suggested merges from evidence, merge and unmerge through the API: what moved comes
back, and only that."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from jietong.app.platform import Platform
from jietong.identity.contact_points import ContactKind
from jietong.identity.merge import phones_in
from jietong.storage.tables import AuditRow, CaseRow, InteractionRow
from tests.conftest import Tenant
from tests.integration.channels.factories import inbound, receive


def customer(
    client: TestClient, tenant: Tenant, name: str, company: str | None, *points: tuple[str, str]
) -> str:
    r = client.post(
        "/api/v1/customers",
        headers=tenant.headers,
        json={
            "display_name": name,
            "company": company,
            "contact_points": [{"kind": k, "value": v} for k, v in points],
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_phone_in_an_email_signature_and_same_name_and_company_are_suggested(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    by_phone = customer(client, tenant_a, "王经理", None, ("phone", "13800138000"))
    twin = customer(client, tenant_a, "李雷", "接通科技", ("email", "lilei@a.cn"))
    other = customer(client, tenant_a, "李雷", "别的公司", ("email", "lilei@b.cn"))
    mail = receive(
        platform,
        inbound(
            tenant_a,
            channel="email",
            kind=ContactKind.EMAIL,
            sender="wang@corp.cn",
            text="请回电",
            quoted_text="--\n王经理\n手机: 138-0013-8000",
        ),
    )
    emailer = mail.customer_id
    client.patch(
        f"/api/v1/customers/{emailer}",
        headers=tenant_a.headers,
        json={"display_name": "李雷", "company": "接通科技"},
    )

    r = client.get(f"/api/v1/customers/{emailer}/merge-suggestions", headers=tenant_a.headers)

    assert r.status_code == 200
    found = {(s["customer_id"], s["reason"]) for s in r.json()}
    assert found == {(by_phone, "phone_in_messages"), (twin, "same_name_and_company")}
    assert other not in {c for c, _ in found}
    # Suggestions are only suggestions: nothing was merged.
    assert client.get(f"/api/v1/customers/{by_phone}", headers=tenant_a.headers).status_code == 200


def test_merge_moves_everything_and_unmerge_restores_exactly_that(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    survivor = customer(client, tenant_a, "Survivor", None, ("email", "s@a.cn"))
    first = receive(platform, inbound(tenant_a, sender="+8613900139000"))
    loser = first.customer_id
    assert loser is not None
    case = client.post(
        "/api/v1/cases",
        headers=tenant_a.headers,
        json={"case_type": "complaint", "subject": "s", "customer_id": loser},
    ).json()["id"]

    r = client.post(
        "/api/v1/customer-merges",
        headers=tenant_a.headers,
        json={"survivor_id": survivor, "loser_id": loser, "reason": "same person"},
    )
    assert r.status_code == 201, r.text
    merge = r.json()
    assert client.get(f"/api/v1/customers/{loser}", headers=tenant_a.headers).status_code == 404
    points = client.get(f"/api/v1/customers/{survivor}", headers=tenant_a.headers).json()[
        "contact_points"
    ]
    assert {p["value"] for p in points} == {"s@a.cn", "+8613900139000"}
    # A message after the merge finds the survivor through the moved phone number.
    later = receive(platform, inbound(tenant_a, sender="+8613900139000"))
    assert later.customer_id == survivor and later.interaction_id == first.interaction_id

    undone = client.post(f"/api/v1/customer-merges/{merge['id']}/unmerge", headers=tenant_a.headers)

    assert undone.status_code == 200 and undone.json()["unmerged_at"] is not None
    restored = client.get(f"/api/v1/customers/{loser}", headers=tenant_a.headers).json()
    assert [p["value"] for p in restored["contact_points"]] == ["+8613900139000"]
    with platform.sessions() as session:
        assert session.get(InteractionRow, first.interaction_id).customer_id == loser  # type: ignore[union-attr]
        assert session.get(CaseRow, case).customer_id == loser  # type: ignore[union-attr]
        actions = list(
            session.scalars(select(AuditRow.action).where(AuditRow.action.like("customer.%merged")))
        )
    assert actions == ["customer.merged", "customer.unmerged"]
    again = client.post(f"/api/v1/customer-merges/{merge['id']}/unmerge", headers=tenant_a.headers)
    assert again.status_code == 409
    self_merge = client.post(
        "/api/v1/customer-merges",
        headers=tenant_a.headers,
        json={"survivor_id": survivor, "loser_id": survivor},
    )
    assert self_merge.status_code == 422


def test_phones_in_text_are_found_in_any_spelling() -> None:
    text = "call me: +86 138 0013 8000 or (010) 6552-9988, order no. 20250303"
    assert phones_in(text, "CN") == {"+8613800138000", "+861065529988"}
