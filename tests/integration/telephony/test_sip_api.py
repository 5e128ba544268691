"""/api/v1/voice/phones and /api/v1/voice/trunks on SQLite and PostgreSQL: admin only,
the password shown once and stored as HA1, trunk passwords write-only, other
organisations' objects invisible, bad input 422."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from jietong.app.platform import Platform
from jietong.core.tenancy import Role
from jietong.storage.tables import AuditRow
from jietong.storage.tables_sip import SipPhoneAccountRow, SipTrunkRow
from jietong.telephony.sip import digest
from tests.conftest import Tenant, issue_all_scopes, make_user

PHONES = "/api/v1/voice/phones"
TRUNKS = "/api/v1/voice/trunks"


def test_admin_creates_a_phone_for_an_agent_and_sees_the_password_once(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    agent = make_user(platform, tenant_a.org_id, "wang.fang", Role.AGENT, [tenant_a.team_id])
    created = client.post(PHONES, json={"user_id": agent.user_id}, headers=tenant_a.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    password = body["password"]
    assert len(password) >= 16
    phone = body["phone"]
    assert phone["username"] == "wang.fang" and phone["user_id"] == agent.user_id
    assert phone["realm"] == platform.settings.sip_realm
    listed = client.get(PHONES, headers=tenant_a.headers).json()
    assert [p["id"] for p in listed] == [phone["id"]]
    assert "password" not in listed[0] and "ha1" not in listed[0]
    assert password not in client.get(f"{PHONES}/{phone['id']}", headers=tenant_a.headers).text
    with platform.read_uow() as uow:
        row = uow.session.get(SipPhoneAccountRow, phone["id"])
        assert row is not None
        assert row.ha1 == digest.ha1("wang.fang", row.realm, password)
        audit = uow.session.scalars(select(AuditRow).where(AuditRow.entity_id == row.id)).all()
        assert audit and all(password not in str(a.changes) for a in audit)


def test_rotation_gives_a_new_password_and_the_old_one_stops_working(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    agent = make_user(platform, tenant_a.org_id, "li.lei", Role.AGENT, [tenant_a.team_id])
    first = client.post(
        PHONES, json={"user_id": agent.user_id, "username": "1001"}, headers=tenant_a.headers
    ).json()
    rotated = client.post(f"{PHONES}/{first['phone']['id']}/rotate", headers=tenant_a.headers)
    assert rotated.status_code == 200
    new_password = rotated.json()["password"]
    assert new_password != first["password"]
    with platform.read_uow() as uow:
        row = uow.session.get(SipPhoneAccountRow, first["phone"]["id"])
        assert row is not None
        assert row.ha1 == digest.ha1("1001", row.realm, new_password)
        assert row.ha1 != digest.ha1("1001", row.realm, first["password"])


def test_only_admins_manage_phones_and_trunks(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    supervisor = make_user(platform, tenant_a.org_id, "boss", Role.SUPERVISOR, [tenant_a.team_id])
    agent = make_user(platform, tenant_a.org_id, "agent", Role.AGENT, [tenant_a.team_id])
    for actor in (supervisor, agent):
        headers = {"Authorization": f"Bearer {issue_all_scopes(platform, actor)}"}
        assert client.get(PHONES, headers=headers).status_code == 403
        assert client.get(TRUNKS, headers=headers).status_code == 403
        refused = client.post(PHONES, json={"user_id": actor.user_id}, headers=headers)
        assert refused.status_code == 403
    assert client.get(PHONES).status_code == 401


def test_another_organisations_phones_and_trunks_are_not_found(
    client: TestClient, platform: Platform, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    agent_b = make_user(platform, tenant_b.org_id, "b-agent", Role.AGENT, [tenant_b.team_id])
    phone_b = client.post(
        PHONES, json={"user_id": agent_b.user_id}, headers=tenant_b.headers
    ).json()
    trunk_b = client.post(
        TRUNKS, json={"name": "b", "host": "sip.example.net"}, headers=tenant_b.headers
    ).json()
    # Org A's admin cannot see, rotate, change or delete them, nor create a phone for B's agent.
    phone_url = f"{PHONES}/{phone_b['phone']['id']}"
    assert client.get(phone_url, headers=tenant_a.headers).status_code == 404
    assert client.post(f"{phone_url}/rotate", headers=tenant_a.headers).status_code == 404
    assert (
        client.patch(phone_url, json={"enabled": False}, headers=tenant_a.headers).status_code
        == 404
    )
    assert client.delete(phone_url, headers=tenant_a.headers).status_code == 404
    trunk_url = f"{TRUNKS}/{trunk_b['id']}"
    assert client.get(trunk_url, headers=tenant_a.headers).status_code == 404
    assert client.patch(trunk_url, json={"port": 5070}, headers=tenant_a.headers).status_code == 404
    assert client.delete(trunk_url, headers=tenant_a.headers).status_code == 404
    refused = client.post(PHONES, json={"user_id": agent_b.user_id}, headers=tenant_a.headers)
    assert refused.status_code == 404
    assert client.get(PHONES, headers=tenant_a.headers).json() == []
    assert client.get(TRUNKS, headers=tenant_a.headers).json() == []


def test_phone_usernames_are_unique_and_checked(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    one = make_user(platform, tenant_a.org_id, "one", Role.AGENT, [tenant_a.team_id])
    two = make_user(platform, tenant_a.org_id, "two", Role.AGENT, [tenant_a.team_id])
    ok = client.post(
        PHONES, json={"user_id": one.user_id, "username": "2001"}, headers=tenant_a.headers
    )
    assert ok.status_code == 201
    again = client.post(
        PHONES, json={"user_id": two.user_id, "username": "2001"}, headers=tenant_a.headers
    )
    assert again.status_code == 409
    for bad in ("a b", "x", "sip:1@h", "é1", "1" * 65):
        answer = client.post(
            PHONES, json={"user_id": two.user_id, "username": bad}, headers=tenant_a.headers
        )
        assert answer.status_code == 422, bad
    unknown = client.post(PHONES, json={"user_id": "nope"}, headers=tenant_a.headers)
    assert unknown.status_code == 404


def test_trunk_password_is_write_only_and_input_is_checked(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    created = client.post(
        TRUNKS,
        json={
            "name": "carrier",
            "host": "sip.carrier.example",
            "allowed_sources": ["203.0.113.0/24", "198.51.100.7"],
            "username": "acct",
            "password": "s3cret-pass",
            "registering": True,
            "is_default": True,
        },
        headers=tenant_a.headers,
    )
    assert created.status_code == 201, created.text
    trunk = created.json()
    assert trunk["has_password"] is True and "password" not in trunk
    assert "s3cret-pass" not in client.get(TRUNKS, headers=tenant_a.headers).text
    second = client.post(
        TRUNKS,
        json={"name": "backup", "host": "10.0.0.9", "is_default": True},
        headers=tenant_a.headers,
    ).json()
    with platform.read_uow() as uow:
        rows = {r.name: r for r in uow.session.scalars(select(SipTrunkRow))}
        stored = rows["carrier"].password
        assert stored is not None and "s3cret-pass" not in stored  # sealed (ADR 0016)
        assert uow.secrets.open(stored, owner="test") == "s3cret-pass"
        assert [r.name for r in rows.values() if r.is_default] == ["backup"]  # one default
        audit = uow.session.scalars(select(AuditRow).where(AuditRow.entity_id == trunk["id"])).all()
        assert audit and all("s3cret-pass" not in str(a.changes) for a in audit)
    patched = client.patch(
        f"{TRUNKS}/{second['id']}", json={"port": 5080}, headers=tenant_a.headers
    )
    assert patched.status_code == 200 and patched.json()["port"] == 5080
    bad_inputs = [
        {"name": "x", "host": "h", "allowed_sources": ["not-an-ip"]},
        {"name": "x", "host": "bad host!"},
        {"name": "x", "host": "h", "port": 70000},
        {"name": "x", "host": "h", "unknown": 1},
        {"name": "", "host": "h"},
    ]
    for bad in bad_inputs:
        assert client.post(TRUNKS, json=bad, headers=tenant_a.headers).status_code == 422, bad
    no_secret = client.post(
        TRUNKS, json={"name": "reg", "host": "h", "registering": True}, headers=tenant_a.headers
    )
    assert no_secret.status_code == 422
    duplicate = client.post(TRUNKS, json={"name": "carrier", "host": "h"}, headers=tenant_a.headers)
    assert duplicate.status_code == 409
    assert client.delete(f"{TRUNKS}/{second['id']}", headers=tenant_a.headers).status_code == 204
    assert client.get(f"{TRUNKS}/{second['id']}", headers=tenant_a.headers).status_code == 404
