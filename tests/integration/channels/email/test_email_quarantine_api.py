"""Admins see, download and discard quarantined mail of their own organisation only."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jietong.app.email_runtime import mail_context
from jietong.app.platform import Platform
from jietong.channels.email import service
from jietong.core.tenancy import Role
from tests.conftest import Tenant, issue_all_scopes, make_user
from tests.integration.channels.email.emailfactories import email_account, migrated_sqlite

RAW = b"\r\n\r\n<script>alert('mail without headers')</script>"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: test_email_outbound_flow covers this path on PostgreSQL too."""
    return migrated_sqlite(tmp_path)


def quarantined(platform: Platform, tenant: Tenant, address: str) -> str:
    email_account(platform, tenant, address)
    with platform.uow() as uow:
        recipient = service.find_recipient(uow, address)
    assert recipient is not None
    outcome = service.receive_mail(mail_context(platform), RAW, recipient, envelope_from="x@y.cn")
    assert outcome.kind == "quarantined"
    return outcome.reason or ""


def test_quarantine_is_listed_downloaded_and_discarded_by_its_own_admins(
    client: TestClient, platform: Platform, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    quarantined(platform, tenant_b, "help@b.example")
    assert client.get("/api/v1/email/quarantine", headers=tenant_a.headers).json()["items"] == []
    listed = client.get("/api/v1/email/quarantine", headers=tenant_b.headers).json()["items"]
    [item] = listed
    assert item["recipient"] == "help@b.example" and "unreadable" in item["reason"]
    path = f"/api/v1/email/quarantine/{item['id']}"
    for method, suffix in (("GET", ""), ("GET", "/raw"), ("DELETE", "")):
        assert client.request(method, path + suffix, headers=tenant_a.headers).status_code == 404
    raw = client.get(path + "/raw", headers=tenant_b.headers)
    assert raw.status_code == 200 and raw.content == RAW
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.headers["content-disposition"].startswith("attachment;")
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert client.delete(path, headers=tenant_b.headers).status_code == 204
    assert client.get(path, headers=tenant_b.headers).status_code == 404


def test_quarantine_needs_the_channels_permission(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    agent = make_user(platform, tenant_a.org_id, "a-agent", Role.AGENT, [tenant_a.team_id])
    token = issue_all_scopes(platform, agent)
    response = client.get("/api/v1/email/quarantine", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert client.get("/api/v1/email/quarantine").status_code == 401


def test_email_accounts_are_channel_accounts_with_write_only_passwords(
    client: TestClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    password = "imap-password-9f3k2"
    body = {
        "channel": "email",
        "provider": "imap",
        "name": "Support mailbox",
        "address": "support@a.example",
        "settings": {"imap_host": "imap.a.example", "imap_username": "support@a.example"},
        "secrets": {"imap_password": password, "smtp_password": "relay-password-77x"},
    }
    created = client.post("/api/v1/channel-accounts", json=body, headers=tenant_a.headers)
    assert created.status_code == 201, created.text
    assert password not in created.text and "relay-password" not in created.text
    assert created.json()["secrets"]["imap_password"].endswith(password[-4:])
    assert created.json()["webhook_paths"] == []
    listed = client.get("/api/v1/channel-accounts", headers=tenant_a.headers)
    assert password not in listed.text
    others = client.get("/api/v1/channel-accounts", headers=tenant_b.headers).json()
    assert others == []
    missing = {**body, "secrets": {}}
    refused = client.post("/api/v1/channel-accounts", json=missing, headers=tenant_a.headers)
    assert refused.status_code == 422 and "imap_password" in refused.text
