"""/api/v1/voice/queues/{id}/recording on SQLite and PostgreSQL: admins write,
supervisors read, agents are refused, another organisation's queue is not found, bad
values are 422 problems, every change is audited; and the pure rule behind it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from jietong.app.platform import Platform
from jietong.core.tenancy import Role
from jietong.storage.tables import AuditRow
from jietong.telephony.policy.model import (
    QueuePolicy,
    RecordMode,
    SiteRecording,
    effective,
)
from tests.conftest import Tenant, issue_all_scopes, make_user

from .test_ivr_flows_api import wav_bytes

QUEUES = "/api/v1/queues"


def _queue(client: TestClient, tenant: Tenant, name: str = "Hotline") -> str:
    created = client.post(QUEUES, json={"name": name, "channels": ["call"]}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _url(queue_id: str) -> str:
    return f"/api/v1/voice/queues/{queue_id}/recording"


def test_a_queue_follows_the_site_until_an_admin_sets_its_policy(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    queue_id = _queue(client, tenant_a)
    site_days = platform.settings.voice_recording_retention_days
    first = client.get(_url(queue_id), headers=tenant_a.headers)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "queue_id": queue_id,
        "record": "inherit",
        "consent": True,
        "consent_prompt": None,
        "retention_days": None,
        "site_record_calls": platform.settings.voice_record_calls,
        "site_retention_days": site_days,
        "records_calls": platform.settings.voice_record_calls,
        "keeps_days": site_days,
        "updated_at": None,
    }
    body = {"record": "never", "consent": False, "retention_days": 30}
    saved = client.put(_url(queue_id), json=body, headers=tenant_a.headers)
    assert saved.status_code == 200, saved.text
    out = saved.json()
    assert (out["record"], out["consent"], out["retention_days"]) == ("never", False, 30)
    assert out["records_calls"] is False and out["keeps_days"] == 30
    assert out["updated_at"] is not None
    again = client.get(_url(queue_id), headers=tenant_a.headers).json()
    assert again == out
    with platform.read_uow() as uow:
        audit = uow.session.scalars(
            select(AuditRow).where(
                AuditRow.entity_id == queue_id, AuditRow.action == "queue.recording_policy_set"
            )
        ).all()
    assert len(audit) == 1
    assert audit[0].changes["record"] == "never" and audit[0].changes["retention_days"] == 30
    # Back to the site's days: null clears the override.
    back = client.put(_url(queue_id), json={"record": "always"}, headers=tenant_a.headers).json()
    assert back["retention_days"] is None and back["keeps_days"] == site_days
    assert back["records_calls"] is True and back["consent"] is True


def test_supervisors_read_only_admins_write_and_agents_are_refused(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    queue_id = _queue(client, tenant_a)
    supervisor = make_user(platform, tenant_a.org_id, "boss", Role.SUPERVISOR, [tenant_a.team_id])
    agent = make_user(platform, tenant_a.org_id, "agent", Role.AGENT, [tenant_a.team_id])
    as_supervisor = {"Authorization": f"Bearer {issue_all_scopes(platform, supervisor)}"}
    as_agent = {"Authorization": f"Bearer {issue_all_scopes(platform, agent)}"}
    assert client.get(_url(queue_id), headers=as_supervisor).status_code == 200
    refused = client.put(_url(queue_id), json={"record": "never"}, headers=as_supervisor)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert client.get(_url(queue_id), headers=as_agent).status_code == 403
    assert client.put(_url(queue_id), json={"record": "never"}, headers=as_agent).status_code == 403
    assert client.get(_url(queue_id)).status_code == 401
    # Nothing was stored by the refused writes.
    assert client.get(_url(queue_id), headers=tenant_a.headers).json()["record"] == "inherit"


def test_another_organisations_queue_is_not_found(
    client: TestClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    queue_b = _queue(client, tenant_b, "B calls")
    for response in (
        client.get(_url(queue_b), headers=tenant_a.headers),
        client.put(_url(queue_b), json={"record": "never"}, headers=tenant_a.headers),
    ):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get(_url("0" * 32), headers=tenant_a.headers).status_code == 404
    assert client.get(_url(queue_b), headers=tenant_b.headers).json()["record"] == "inherit"


def test_bad_values_are_422_problems_naming_the_field(client: TestClient, tenant_a: Tenant) -> None:
    queue_id = _queue(client, tenant_a)
    cases = [
        ({"record": "sometimes"}, "record"),
        ({}, "record"),
        ({"record": "always", "retention_days": 0}, "retention_days"),
        ({"record": "always", "retention_days": 100000}, "retention_days"),
        ({"record": "always", "retention_days": "soon"}, "retention_days"),
        ({"record": "always", "consent": "maybe"}, "consent"),
        ({"record": "always", "consent_prompt": "../etc/passwd"}, "consent_prompt"),
        ({"record": "always", "colour": "blue"}, "colour"),
        ({"record": "always", "consent_prompt": "never-uploaded"}, "consent_prompt"),
    ]
    for body, field in cases:
        response = client.put(_url(queue_id), json=body, headers=tenant_a.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in response.text, (body, response.text)
    bad_id = client.get("/api/v1/voice/queues/not-an-id/recording", headers=tenant_a.headers)
    assert bad_id.status_code == 422
    assert client.get(_url(queue_id), headers=tenant_a.headers).json()["record"] == "inherit"


def test_the_consent_prompt_must_be_one_the_organisation_uploaded(
    client: TestClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    queue_a = _queue(client, tenant_a)
    queue_b = _queue(client, tenant_b, "B calls")
    uploaded = client.post(
        "/api/v1/voice/prompts",
        data={"name": "consent-a", "language": "en"},
        files={"file": ("consent.wav", wav_bytes(), "audio/wav")},
        headers=tenant_a.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    body = {"record": "always", "consent": True, "consent_prompt": "consent-a"}
    saved = client.put(_url(queue_a), json=body, headers=tenant_a.headers)
    assert saved.status_code == 200 and saved.json()["consent_prompt"] == "consent-a"
    # Organisation B cannot name A's prompt.
    assert client.put(_url(queue_b), json=body, headers=tenant_b.headers).status_code == 422


def test_deleting_the_queue_deletes_its_policy(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    from jietong.storage.tables_voice import VoiceQueuePolicyRow

    queue_id = _queue(client, tenant_a)
    client.put(_url(queue_id), json={"record": "never"}, headers=tenant_a.headers)
    assert client.delete(f"{QUEUES}/{queue_id}", headers=tenant_a.headers).status_code == 204
    with platform.read_uow() as uow:
        assert uow.session.get(VoiceQueuePolicyRow, queue_id) is None
    assert client.get(_url(queue_id), headers=tenant_a.headers).status_code == 404


MODES = st.sampled_from(list(RecordMode))
DAYS = st.none() | st.integers(min_value=1, max_value=3650)


@given(
    MODES,
    st.booleans(),
    st.none() | st.just("p"),
    DAYS,
    st.booleans(),
    st.integers(min_value=1, max_value=3650),
)
def test_the_queue_decides_where_it_chose_and_the_site_elsewhere(
    mode: RecordMode,
    consent: bool,
    prompt: str | None,
    days: int | None,
    site_record: bool,
    site_days: int,
) -> None:
    site = SiteRecording(site_record, site_days)
    got = effective(QueuePolicy(mode, consent, prompt, days), site)
    if mode is RecordMode.NEVER:
        assert not got.record
    elif mode is RecordMode.ALWAYS:
        assert got.record
    else:
        assert got.record == site_record
    assert got.retention_days == (days if days is not None else site_days)
    # Nobody hears a consent announcement for a call that is not recorded.
    assert got.consent == (got.record and consent)
    assert got.consent_prompt == (prompt if got.consent else None)
    # No policy at all is the same as the default one: the site decides.
    assert effective(None, site) == effective(QueuePolicy(), site)
    assert effective(None, site).record == site_record
