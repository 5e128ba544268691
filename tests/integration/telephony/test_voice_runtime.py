"""Voice inside the server: the app starts SIP and a media process with voice_enabled,
survives the media process being killed (a fresh one takes over), and serves call
control and recordings only to those who may have them."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jietong.app.asgi import create_app
from jietong.app.platform import Platform
from jietong.app.voice_runtime import VoiceRuntime
from jietong.core.tenancy import Role, system_actor
from jietong.interactions import service as interactions
from jietong.interactions.schemas import InteractionCreate
from jietong.storage.tables import AuditRow
from jietong.telephony import recording
from tests.conftest import issue_all_scopes, make_tenant, make_user

pytestmark = pytest.mark.slow

T = TypeVar("T")


def _wait(probe: Callable[[], T | None], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_app_survives_a_killed_media_process_and_restarts_it(voice_platform: Platform) -> None:
    tenant = make_tenant(voice_platform, "voice-rt")
    with TestClient(create_app(voice_platform)) as client:
        runtime: VoiceRuntime = client.app.state.voice  # type: ignore[attr-defined]
        assert len(runtime.processes) == 1
        first = runtime.processes[0]
        os.kill(first.pid, signal.SIGKILL)
        # The web app keeps answering while the media process is down and restarted.
        assert client.get("/healthz").status_code == 200
        calls = client.get("/api/v1/voice/calls", headers=tenant.headers)
        assert calls.status_code == 200 and calls.json() == []
        _wait(lambda: runtime.restarts == 1 and runtime.processes)
        assert runtime.processes[0].pid != first.pid and runtime.processes[0].poll() is None
        assert runtime.service is not None and len(runtime.service.media_clients()) == 1
        assert client.get("/healthz").status_code == 200


def test_call_control_without_a_call_is_a_clear_4xx(voice_platform: Platform) -> None:
    tenant = make_tenant(voice_platform, "voice-ctl")
    with voice_platform.uow() as uow:
        iid = interactions.create_interaction(
            uow, system_actor(tenant.org_id), InteractionCreate(channel="call")
        ).interaction.id
    with TestClient(create_app(voice_platform)) as client:
        held = client.post(
            f"/api/v1/voice/calls/{iid}/hold", json={"on": True}, headers=tenant.headers
        )
        assert held.status_code == 404 and held.json()["title"] == "No call in progress"
        bad = client.post(
            f"/api/v1/voice/calls/{iid}/dtmf", json={"digits": "12x"}, headers=tenant.headers
        )
        assert bad.status_code == 422
        whisper = client.post(
            f"/api/v1/voice/calls/{iid}/supervise", json={"mode": "whisper"}, headers=tenant.headers
        )
        assert whisper.status_code in (404, 409)
        unknown = client.get(f"/api/v1/voice/calls/{'0' * 32}", headers=tenant.headers)
        assert unknown.status_code == 404


def test_recordings_are_played_to_authorised_users_only_and_swept(
    voice_platform: Platform, tmp_path: Path
) -> None:
    tenant = make_tenant(voice_platform, "voice-rec")
    other = make_tenant(voice_platform, "voice-rec-b")
    with voice_platform.uow() as uow:
        iid = interactions.create_interaction(
            uow, system_actor(tenant.org_id), InteractionCreate(channel="call")
        ).interaction.id
    root = recording.media_root(voice_platform.settings.data_dir)
    now = voice_platform.clock()
    fresh = root / recording.recording_path(tenant.org_id, iid, "call-1", now)
    old = root / recording.recording_path(tenant.org_id, iid, "call-0", now - timedelta(days=100))
    for path in (fresh, old):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28)
    # An agent outside the interaction's team may not even see that it exists.
    outsider = make_user(voice_platform, tenant.org_id, "voice-rec-out", Role.AGENT, [])
    outsider_token = issue_all_scopes(voice_platform, outsider)
    with TestClient(create_app(voice_platform)) as client:
        # The start-up sweep deletes the 100-day-old recording (retention 90 days).
        _wait(lambda: not old.exists())
        listed = client.get(f"/api/v1/voice/recordings/{iid}", headers=tenant.headers)
        assert listed.status_code == 200
        assert [r["name"] for r in listed.json()] == [fresh.name]
        played = client.get(f"/api/v1/voice/recordings/{iid}/{fresh.name}", headers=tenant.headers)
        assert played.status_code == 200 and played.content == fresh.read_bytes()
        assert played.headers["content-type"] == "audio/wav"
        assert played.headers["x-content-type-options"] == "nosniff"
        assert played.headers["content-disposition"].startswith("attachment;")
        assert played.headers["cache-control"] == "private, no-store"
        for headers in (other.headers, {"Authorization": f"Bearer {outsider_token}"}):
            assert (
                client.get(f"/api/v1/voice/recordings/{iid}/{fresh.name}", headers=headers)
            ).status_code == 404
        traversal = client.get(
            f"/api/v1/voice/recordings/{iid}/..%2F..%2Fsecret.wav", headers=tenant.headers
        )
        assert traversal.status_code in (404, 422)
        runtime: VoiceRuntime = client.app.state.voice  # type: ignore[attr-defined]
        assert runtime.sweep_once() == 0  # nothing more is old enough
    assert fresh.exists() and not old.exists()
    with voice_platform.uow() as uow:
        audits = uow.session.scalars(
            select(AuditRow).where(AuditRow.action == "recording.deleted")
        ).all()
        played_audit = uow.session.scalars(
            select(AuditRow).where(AuditRow.action == "recording.played")
        ).all()
    assert [a.entity_id for a in audits] == [iid]
    assert len(played_audit) == 1
