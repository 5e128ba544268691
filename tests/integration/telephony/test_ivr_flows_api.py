"""IVR flows and prompts over HTTP: admins only, validated with clear messages,
versioned and audited, uploaded WAV converted; the flow answering a number."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jietong.app.asgi import API_PREFIX, create_app
from jietong.app.platform import Platform
from jietong.core.tenancy import Role
from jietong.storage.tables import AuditRow
from jietong.telephony.ivr import service
from jietong.telephony.ivr.demo import demo_flow
from tests.conftest import Tenant, issue_all_scopes, make_user

URL = f"{API_PREFIX}/voice/ivr-flows"


@pytest.fixture
def api(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform)) as client:
        yield client


def demo_body(name: str = "default", numbers: list[str] | None = None) -> dict[str, object]:
    return {
        "name": name,
        "numbers": numbers or [],
        "definition": demo_flow().model_dump(mode="json"),
    }


def wav_bytes(rate: int = 16000, channels: int = 2, seconds: float = 0.5) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    frames = np.repeat(tone[:, None], channels, axis=1).tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return out.getvalue()


def test_admins_create_version_and_delete_flows(
    platform: Platform, api: TestClient, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    created = api.post(URL, json=demo_body(numbers=["4008001234"]), headers=tenant_a.headers)
    assert created.status_code == 201, created.text
    flow = created.json()
    assert flow["version"] == 1 and flow["numbers"] == ["4008001234"]
    body = demo_body(numbers=["4008001234", "4008005678"])
    updated = api.put(f"{URL}/{flow['id']}", json=body, headers=tenant_a.headers).json()
    assert updated["version"] == 2
    versions = api.get(f"{URL}/{flow['id']}/versions", headers=tenant_a.headers).json()
    assert [v["version"] for v in versions] == [2, 1]
    assert [f["name"] for f in api.get(URL, headers=tenant_a.headers).json()] == ["default"]
    # Another organisation sees nothing of it.
    assert api.get(URL, headers=tenant_b.headers).json() == []
    assert api.get(f"{URL}/{flow['id']}", headers=tenant_b.headers).status_code == 404
    with platform.uow() as uow:
        actions = uow.session.scalars(
            select(AuditRow.action).where(AuditRow.entity_id == flow["id"])
        ).all()
        assert list(actions) == ["ivr_flow.saved", "ivr_flow.saved"]
        assert service.flow_for_number(uow, tenant_a.org_id, "4008005678") == demo_flow()
        assert service.flow_for_number(uow, tenant_a.org_id, "999") == demo_flow()  # default
        assert service.flow_for_number(uow, tenant_b.org_id, "4008005678") is None
    assert api.delete(f"{URL}/{flow['id']}", headers=tenant_a.headers).status_code == 204
    assert api.get(f"{URL}/{flow['id']}", headers=tenant_a.headers).status_code == 404


def test_names_and_numbers_are_unique(api: TestClient, tenant_a: Tenant) -> None:
    assert api.post(URL, json=demo_body("a", ["100"]), headers=tenant_a.headers).status_code == 201
    assert api.post(URL, json=demo_body("a", ["200"]), headers=tenant_a.headers).status_code == 409
    clash = api.post(URL, json=demo_body("b", ["100"]), headers=tenant_a.headers)
    assert clash.status_code == 409 and "100" in clash.json()["detail"]


def test_agents_and_supervisors_may_not_manage_flows(
    platform: Platform, api: TestClient, tenant_a: Tenant
) -> None:
    for role in (Role.AGENT, Role.SUPERVISOR):
        user = make_user(platform, tenant_a.org_id, f"u-{role.value}", role, [tenant_a.team_id])
        headers = {"Authorization": f"Bearer {issue_all_scopes(platform, user)}"}
        assert api.post(URL, json=demo_body(), headers=headers).status_code == 403
        assert api.get(URL, headers=headers).status_code == 403


def _broken(change: dict[str, object]) -> dict[str, object]:
    definition = demo_flow().model_dump(mode="json")
    definition["nodes"].update(change)  # type: ignore[attr-defined]
    return {"name": "broken", "definition": definition}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"main": {"type": "menu", "prompt": {"text": {"zh-CN": "x", "en": "x"}},
                      "options": {"1": "nowhere"}, "on_failure": "billing"}},
            "node 'main': option 1 goes to unknown node 'nowhere'",
        ),
        (
            {"billing": {"type": "queue", "queue_id": "b",
                         "prompt": {"text": {"zh-CN": "只有中文"}}}},
            "node 'billing': prompt has no prompt for en",
        ),
        (
            {"hours": {"type": "hours", "open": "check", "closed": "closed"},
             "check": {"type": "lookup", "url": "https://crm.example/x", "next": "hours",
                       "on_failure": "closed"}},
            "loop with no wait: check -> hours -> check",
        ),
        (
            {"main": {"type": "menu", "prompt": {"text": {"zh-CN": "x", "en": "x"}},
                      "options": {"12": "billing"}, "on_failure": "billing"}},
            "String should match pattern",
        ),
    ],
)  # fmt: skip
def test_invalid_flows_are_refused_with_a_clear_message(
    api: TestClient, tenant_a: Tenant, change: dict[str, object], message: str
) -> None:
    response = api.post(URL, json=_broken(change), headers=tenant_a.headers)
    assert response.status_code == 422
    assert message in response.text


def test_prompts_are_converted_and_flows_may_only_use_uploaded_ones(
    platform: Platform, api: TestClient, tenant_a: Tenant
) -> None:
    definition = demo_flow().model_dump(mode="json")
    definition["nodes"]["billing"]["prompt"] = {"file": {"zh-CN": "billing", "en": "billing"}}
    body = {"name": "files", "definition": definition}
    missing = api.post(URL, json=body, headers=tenant_a.headers)
    assert (
        missing.status_code == 422 and "'billing' (zh-CN), which was not uploaded" in missing.text
    )
    for language in ("zh-CN", "en"):
        uploaded = api.post(
            f"{API_PREFIX}/voice/prompts",
            data={"name": "billing", "language": language},
            files={"file": ("billing.wav", wav_bytes(), "audio/wav")},
            headers=tenant_a.headers,
        )
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["duration_ms"] == 500
    assert api.post(URL, json=body, headers=tenant_a.headers).status_code == 201
    with platform.uow() as uow:
        row = service.find_prompt(uow, tenant_a.org_id, "billing", "en")
        assert row is not None
        with wave.open(io.BytesIO(platform.blobs.get(row.blob_key))) as stored:
            assert (stored.getframerate(), stored.getnchannels(), stored.getsampwidth()) == (
                8000,
                1,
                2,
            )
    garbage = api.post(
        f"{API_PREFIX}/voice/prompts",
        data={"name": "bad", "language": "en"},
        files={"file": ("bad.wav", b"RIFF....not a wave", "audio/wav")},
        headers=tenant_a.headers,
    )
    assert garbage.status_code == 422 and "not a PCM WAV file" in garbage.json()["detail"]
    wrong_language = api.post(
        f"{API_PREFIX}/voice/prompts",
        data={"name": "x", "language": "fr"},
        files={"file": ("x.wav", wav_bytes(), "audio/wav")},
        headers=tenant_a.headers,
    )
    assert wrong_language.status_code == 422
    listed = api.get(f"{API_PREFIX}/voice/prompts", headers=tenant_a.headers).json()
    assert sorted((p["name"], p["language"]) for p in listed) == [
        ("billing", "en"),
        ("billing", "zh-CN"),
    ]


def test_the_demo_flow_is_installed_once_as_the_default(
    platform: Platform, tenant_a: Tenant
) -> None:
    queues = {"billing": "q-billing", "general": "q-general", "operator": "q-general"}
    with platform.uow() as uow:
        first = service.ensure_demo_flow(uow, tenant_a.org_id, queues)
    with platform.uow() as uow:
        again = service.ensure_demo_flow(uow, tenant_a.org_id, {})
        assert again.id == first.id and again.version == 1
        flow = service.flow_for_number(uow, tenant_a.org_id, "4008001234")
    assert flow == demo_flow(queues)
