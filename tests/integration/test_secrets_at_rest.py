"""Secrets at rest (ADR 0016), on both backends: what the database holds is sealed, the
API and the adapters still get the secrets, rows from before sealing are read and then
sealed at start-up, `jietong secrets rotate` moves every row to the first key, and a
value no key opens is a clear error naming its row."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import typer
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import insert, select, text
from typer.testing import CliRunner

from jietong.app import secrets_at_rest
from jietong.app.bootstrap import migrate
from jietong.app.channels_runtime import retry_policy
from jietong.app.cli import secrets as secrets_cli
from jietong.app.platform import Platform, build_platform
from jietong.app.settings import Settings
from jietong.channels import deliveries
from jietong.channels import store as channels_store
from jietong.channels.accounts import find_webhook_account, to_channel_account
from jietong.core.ids import new_id
from jietong.storage.secretbox import SEALED_PREFIX, SecretBox, UndecryptableSecret
from jietong.storage.tables import AuditRow
from jietong.storage.tables_channels import ChannelAccountRow, DeliveryRow
from jietong.storage.tables_sip import SipTrunkRow
from jietong.telephony.sip.store import SqlSipDirectory
from tests.conftest import Tenant

INBOUND = "pos-inbound-token-ABCD"
HOOK = "pos-webhook-secret-WXYZ"
TRUNK_PASSWORD = "carrier-pass-7788"
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _api_account(client: TestClient, tenant: Tenant, name: str = "pos") -> dict[str, Any]:
    r = client.post(
        "/api/v1/channel-accounts",
        headers=tenant.headers,
        json={
            "name": name,
            "channel": "api",
            "provider": "app",
            "settings": {"webhook_url": "http://127.0.0.1:9/hook"},
            "secrets": {"inbound_token": INBOUND, "webhook_secret": HOOK},
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _trunk(client: TestClient, tenant: Tenant, password: str = TRUNK_PASSWORD) -> str:
    r = client.post(
        "/api/v1/voice/trunks",
        headers=tenant.headers,
        json={
            "name": "carrier",
            "host": "10.1.2.3",
            "username": "acct",
            "password": password,
            "is_default": True,
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _raw(platform: Platform) -> str:
    """Everything the two tables hold, read with plain SQL as text."""
    with platform.engine.connect() as conn:
        accounts = conn.execute(text("SELECT CAST(secrets AS TEXT) FROM channel_accounts"))
        trunks = conn.execute(text("SELECT password FROM sip_trunks"))
        return repr(accounts.scalars().all() + trunks.scalars().all())


def _trunk_password(platform: Platform, org_id: str) -> str | None:
    found = asyncio.run(SqlSipDirectory(platform.sessions).trunk(org_id, None))
    assert found is not None
    return found.password


def test_the_database_holds_sealed_values_and_the_api_still_works(
    client: TestClient, platform: Platform, tenant_a: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = _api_account(client, tenant_a)
    _trunk(client, tenant_a)
    raw = _raw(platform)
    assert INBOUND not in raw and HOOK not in raw and TRUNK_PASSWORD not in raw
    assert raw.count(SEALED_PREFIX) == 3 and "inbound_token" in raw  # names stay readable
    # Masks come from the opened value, not the token's tail.
    assert account["secrets"] == {"inbound_token": "…ABCD", "webhook_secret": "…WXYZ"}
    listed = client.get("/api/v1/channel-accounts", headers=tenant_a.headers).json()
    assert listed[0]["secrets"] == account["secrets"]
    # The adapter's view: the webhook authenticates with the opened token.
    path = f"/api/v1/channels/api/{account['id']}/messages"
    body = {"external_id": "c1", "sender": {"id": "u1"}, "text": "hi"}
    auth = {"Authorization": f"Bearer {INBOUND}"}
    assert client.post(path, json=body, headers=auth).status_code == 201
    assert _trunk_password(platform, tenant_a.org_id) == TRUNK_PASSWORD
    # An update of one secret keeps the other, both sealed again.
    patched = client.patch(
        f"/api/v1/channel-accounts/{account['id']}",
        headers=tenant_a.headers,
        json={"secrets": {"inbound_token": "pos-inbound-token-EFGH"}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["secrets"] == {"inbound_token": "…EFGH", "webhook_secret": "…WXYZ"}
    with platform.read_uow() as uow:
        found = find_webhook_account(uow, account["id"], "api")
        assert found is not None and found.account.secrets["webhook_secret"] == HOOK
        audit = repr(uow.session.scalars(select(AuditRow.changes)).all())
    assert "pos-inbound-token-EFGH" not in _raw(platform)
    for secret in (INBOUND, HOOK, TRUNK_PASSWORD, "pos-inbound-token-EFGH"):
        assert secret not in audit and secret not in caplog.text


def test_a_long_non_ascii_trunk_password_fits_sealed(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    password = "密" * 256  # the most the API takes, 768 bytes of UTF-8
    _trunk(client, tenant_a, password)
    assert _trunk_password(platform, tenant_a.org_id) == password


def _insert_plaintext_rows(platform: Platform, org_id: str) -> tuple[str, str]:
    """Rows as an installation from before sealing left them (plain SQL inserts)."""
    account_id, trunk_id = new_id(), new_id()
    with platform.engine.begin() as conn:
        conn.execute(
            insert(ChannelAccountRow.__table__).values(  # type: ignore[arg-type]
                id=account_id,
                org_id=org_id,
                channel="api",
                name="legacy",
                provider="app",
                settings={"webhook_url": "http://127.0.0.1:9/hook"},
                secrets={"inbound_token": INBOUND, "webhook_secret": HOOK},
                enabled=True,
                created_at=platform.clock(),
                updated_at=platform.clock(),
            )
        )
        conn.execute(
            insert(SipTrunkRow.__table__).values(  # type: ignore[arg-type]
                id=trunk_id,
                org_id=org_id,
                name="legacy",
                host="10.1.2.3",
                port=5060,
                allowed_sources=[],
                username="acct",
                password=TRUNK_PASSWORD,
                register=False,
                register_expires_s=3600,
                is_default=True,
                enabled=True,
                trusted_edge=False,
                created_at=platform.clock(),
                updated_at=platform.clock(),
            )
        )
    return account_id, trunk_id


def test_plaintext_rows_from_before_are_read_then_sealed_once_at_start_up(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    account_id, _ = _insert_plaintext_rows(platform, tenant_a.org_id)
    assert INBOUND in _raw(platform)
    got = client.get(f"/api/v1/channel-accounts/{account_id}", headers=tenant_a.headers)
    assert got.json()["secrets"] == {"inbound_token": "…ABCD", "webhook_secret": "…WXYZ"}
    assert _trunk_password(platform, tenant_a.org_id) == TRUNK_PASSWORD

    migrate(platform)  # what `jietong serve` does before serving

    raw = _raw(platform)
    assert INBOUND not in raw and HOOK not in raw and TRUNK_PASSWORD not in raw
    assert raw.count(SEALED_PREFIX) == 3
    assert _trunk_password(platform, tenant_a.org_id) == TRUNK_PASSWORD
    with platform.uow() as uow:
        row = channels_store.find_account(uow.session, account_id)
        assert row is not None
        assert to_channel_account(row, uow.secrets).secrets["inbound_token"] == INBOUND
        entries = uow.session.scalars(
            select(AuditRow).where(AuditRow.action == "secrets.resealed")
        ).all()
        assert [e.changes for e in entries] == [
            {"reason": "plaintext", "channel_accounts": 1, "sip_trunks": 1}
        ]
        again = secrets_at_rest.seal_plaintext(uow)  # idempotent
    assert again.total == 0 and _raw(platform) == raw


@pytest.fixture
def keyed(settings: Settings) -> Iterator[Platform]:
    built = build_platform(settings.model_copy(update={"secrets_keys": SecretStr(OLD)}))
    yield built
    built.close()


def _platform_with(settings: Settings, keys: str) -> Platform:
    return build_platform(settings.model_copy(update={"secrets_keys": SecretStr(keys)}))


def test_rotation_moves_every_row_to_the_first_key(
    keyed: Platform, settings: Settings, tenant_a: Tenant
) -> None:
    with TestClient(_app(keyed)) as client:
        account_id = _api_account(client, tenant_a)["id"]
        _trunk(client, tenant_a)
    _insert_plaintext_rows(keyed, tenant_a.org_id)  # plaintext rows are rotated too
    both = _platform_with(settings, f"{NEW},{OLD}")
    try:
        with both.uow() as uow:
            done = secrets_at_rest.rotate(uow)
        assert (done.channel_accounts, done.sip_trunks) == (2, 2)
    finally:
        both.close()
    assert INBOUND not in _raw(keyed) and TRUNK_PASSWORD not in _raw(keyed)
    new_only = _platform_with(settings, NEW)
    try:
        with new_only.uow() as uow:
            rows = channels_store.all_accounts_for_update(uow.session)
            opened = [to_channel_account(r, uow.secrets).secrets for r in rows]
        assert opened == [{"inbound_token": INBOUND, "webhook_secret": HOOK}] * 2
        assert _trunk_password(new_only, tenant_a.org_id) == TRUNK_PASSWORD
    finally:
        new_only.close()
    # The platform that has only the old key can no longer open them: a clear error.
    with keyed.uow() as uow, pytest.raises(UndecryptableSecret) as caught:
        row = channels_store.find_account(uow.session, account_id)
        assert row is not None
        to_channel_account(row, uow.secrets)
    assert f"channel account {account_id}" in str(caught.value)
    assert INBOUND not in str(caught.value) and HOOK not in str(caught.value)


def _app(platform: Platform) -> Any:
    from jietong.app.asgi import create_app

    return create_app(platform)


def _cli() -> typer.Typer:
    cli = typer.Typer()
    cli.add_typer(secrets_cli.app, name="secrets")
    return cli


def _cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, keys: str) -> None:
    monkeypatch.setenv("JIETONG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("JIETONG_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("JIETONG_SECRETS_KEYS", keys)


def test_the_rotate_command_counts_rows_and_a_missing_key_is_named_not_shown(
    keyed: Platform,
    settings: Settings,
    tenant_a: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with TestClient(_app(keyed)) as client:
        account_id = _api_account(client, tenant_a)["id"]
        trunk_id = _trunk(client, tenant_a)
    before = _raw(keyed)
    runner = CliRunner()

    _cli_env(monkeypatch, settings, Fernet.generate_key().decode())  # not the key in use
    failed = runner.invoke(_cli(), ["secrets", "rotate"])
    assert failed.exit_code == 2, failed.output
    assert account_id in failed.output or trunk_id in failed.output
    assert "nothing was changed" in " ".join(failed.output.split())
    assert _raw(keyed) == before

    _cli_env(monkeypatch, settings, f"{NEW},{OLD}")
    rotated = runner.invoke(_cli(), ["secrets", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert "re-sealed 2 rows" in rotated.output and _raw(keyed) != before
    for secret in (INBOUND, HOOK, TRUNK_PASSWORD, NEW, OLD):
        assert secret not in failed.output + rotated.output + caplog.text


def _sealed_with_another_key(platform: Platform, account_id: str) -> None:
    """The account's secrets as a key this platform lacks sealed them (a key removed
    from JIETONG_SECRETS_KEYS too early)."""
    other = SecretBox([Fernet.generate_key()])
    with platform.uow() as uow:
        row = channels_store.find_account(uow.session, account_id)
        assert row is not None
        row.secrets = other.seal_values({"inbound_token": INBOUND, "webhook_secret": HOOK})
        uow.commit()
    platform.webhook_accounts.invalidate()


def test_an_unopenable_secret_is_a_503_problem_naming_nothing_secret(
    client: TestClient, platform: Platform, tenant_a: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    account_id = _api_account(client, tenant_a)["id"]
    _sealed_with_another_key(platform, account_id)
    caplog.set_level(logging.ERROR)
    got = client.get(f"/api/v1/channel-accounts/{account_id}", headers=tenant_a.headers)
    posted = client.post(  # a webhook: 5xx, so the sender retries once the key is back
        f"/api/v1/channels/api/{account_id}/messages",
        json={"external_id": "k1", "sender": {"id": "u1"}, "text": "hi"},
        headers={"Authorization": f"Bearer {INBOUND}"},
    )
    for response in (got, posted):
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "restore the key" in response.json()["detail"]
        assert account_id not in response.text  # outsiders are not told which row
    assert f"channel account {account_id}" in caplog.text  # the operator is
    for secret in (INBOUND, HOOK):
        assert secret not in got.text + posted.text + caplog.text


def test_a_delivery_whose_account_cannot_be_opened_fails_visibly_and_blocks_none(
    platform: Platform, tenant_a: Tenant
) -> None:
    client = TestClient(_app(platform))  # no lifespan: no delivery worker claims meanwhile
    accounts = [_api_account(client, tenant_a, f"pos-{n}")["id"] for n in range(2)]
    for n, account_id in enumerate(accounts):
        r = client.post(
            f"/api/v1/channels/api/{account_id}/messages",
            json={"external_id": f"m{n}", "sender": {"id": f"user-{n}"}, "text": "hi"},
            headers={"Authorization": f"Bearer {INBOUND}"},
        )
        assert r.status_code == 201, r.text
    interactions = client.get("/api/v1/interactions", headers=tenant_a.headers).json()["items"]
    for item in interactions:
        r = client.post(
            f"/api/v1/interactions/{item['id']}/replies", headers=tenant_a.headers,
            json={"text": "ok"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    with platform.read_uow() as uow:
        rows = uow.session.scalars(select(DeliveryRow)).all()
        replies = {row.account_id: row.id for row in rows}
    assert sorted(replies) == sorted(accounts)  # type: ignore[type-var]
    broken, fine = accounts
    _sealed_with_another_key(platform, broken)
    with platform.uow() as uow:
        jobs = deliveries.claim_due(
            uow, platform.channels, now=platform.clock() + timedelta(minutes=1),
            policy=retry_policy(platform.settings), limit=10,
        )  # fmt: skip
    assert [job.delivery_id for job in jobs] == [replies[fine]]
    with platform.read_uow() as uow:
        failed = uow.session.get(DeliveryRow, replies[broken])
        assert failed is not None and failed.status == "failed"
        assert f"channel account {broken}" in (failed.last_error or "")
        assert INBOUND not in (failed.last_error or "")


def test_db_upgrade_seals_what_was_left_in_plaintext(
    platform: Platform, settings: Settings, tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jietong.app.cli import app as jietong_cli

    _insert_plaintext_rows(platform, tenant_a.org_id)
    assert INBOUND in _raw(platform)
    monkeypatch.setenv("JIETONG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("JIETONG_DATABASE_URL", settings.effective_database_url)
    upgraded = CliRunner().invoke(jietong_cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    raw = _raw(platform)
    assert INBOUND not in raw and TRUNK_PASSWORD not in raw and raw.count(SEALED_PREFIX) == 3
    assert _trunk_password(platform, tenant_a.org_id) == TRUNK_PASSWORD
