"""A voice process that died (kill -9, power) leaves its calls "active" in the database.
The server that starts in its place closes them before taking a call: cause
``media_lost``, disposition ``lost``, ended at the dead process's last heartbeat (not at
the restart), interactions settled; another node's calls are left alone. SQLite and
PostgreSQL, through the real app start-up."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from jietong.app.asgi import create_app
from jietong.app.platform import Platform
from jietong.app.voice_runtime import VoiceRuntime
from jietong.storage.tables import InteractionRow
from jietong.storage.tables_voice import VoiceCallRow, VoiceCdrRow, VoiceNodeRow
from jietong.storage.uow import UnitOfWork
from jietong.telephony.calls import service as calls_service
from jietong.telephony.calls.model import EndCause, LegTrigger
from jietong.telephony.orchestrator import records, recovery
from tests.conftest import make_tenant

pytestmark = pytest.mark.slow


def _uow(platform: Platform, at: datetime) -> UnitOfWork:
    return UnitOfWork(platform.sessions, at)


def _node(platform: Platform) -> str:
    """The voice node this platform's server runs as (its SIP address)."""
    s = platform.settings
    return f"{s.sip_public_host or s.sip_host}:{s.sip_port}"


def _open_call(platform: Platform, org_id: str, at: datetime, node: str | None) -> tuple[str, str]:
    """A call as a voice process records it: opened, answered by us (IVR); returns
    (call id, interaction id)."""
    with _uow(platform, at) as uow:
        contact = records.open_inbound(
            uow, org_id, caller="13800138000", display_name=None, dialled="4000", region="CN",
            media_leg_id=f"leg-{at.timestamp()}", node=node,
        )  # fmt: skip
    assert contact.cdr_call_id is not None and contact.cdr_customer_leg is not None
    with _uow(platform, at + timedelta(seconds=2)) as uow:
        calls_service.leg_event(
            uow, org_id, contact.cdr_call_id, contact.cdr_customer_leg, LegTrigger.ANSWER
        )
    return contact.cdr_call_id, contact.interaction_id


def test_calls_left_open_by_a_dead_process_are_closed_at_its_last_heartbeat(
    voice_platform: Platform,
) -> None:
    platform = voice_platform
    tenant = make_tenant(platform, "voice-restart")
    node = _node(platform)
    t0 = platform.clock() - timedelta(hours=3)  # the crash was hours before the restart
    mine, mine_iid = _open_call(platform, tenant.org_id, t0, node)
    legacy, _ = _open_call(platform, tenant.org_id, t0 + timedelta(seconds=10), None)
    other, _ = _open_call(platform, tenant.org_id, t0 + timedelta(seconds=20), "10.0.0.12:5070")
    ended_before, _ = _open_call(platform, tenant.org_id, t0, node)
    with _uow(platform, t0 + timedelta(seconds=30)) as uow:
        calls_service.end_call(uow, tenant.org_id, ended_before, EndCause.CUSTOMER_HANGUP)
    last_beat = t0 + timedelta(seconds=95)
    with _uow(platform, last_beat) as uow:  # the dead process's last heartbeat
        recovery.beat(uow, node)

    with TestClient(create_app(platform)) as client:
        runtime: VoiceRuntime = client.app.state.voice  # type: ignore[attr-defined]
        assert runtime.node == node
        assert {c.call_id for c in runtime.recovered} == {mine, legacy}
        assert client.get("/healthz").status_code == 200
    with platform.read_uow() as uow:
        cdrs = {
            row.call_id: row
            for row in uow.session.scalars(
                select(VoiceCdrRow).where(VoiceCdrRow.org_id == tenant.org_id)
            )
        }
        states = {
            row.id: row.state
            for row in uow.session.scalars(
                select(VoiceCallRow).where(VoiceCallRow.org_id == tenant.org_id)
            )
        }
        interaction = uow.session.get(InteractionRow, mine_iid)
        beat = uow.session.get(VoiceNodeRow, node)
    for call_id in (mine, legacy):
        cdr = cdrs[call_id]
        assert states[call_id] == "ended"
        assert cdr.end_cause == "media_lost" and cdr.disposition == "lost"
        # The last moment the dead process was known alive, not the restart.
        assert cdr.ended_at == last_beat
        assert not cdr.abandoned  # the caller did not give up: we lost them
    assert states[other] == "active" and cdrs[other].ended_at is None  # another node's
    assert cdrs[ended_before].end_cause == "customer_hangup"  # untouched
    assert interaction is not None and interaction.state == "abandoned"  # left in the IVR
    # The new process beats: its start is recorded (and its calls will end there next time).
    assert beat is not None and beat.started_at > last_beat


def test_without_a_heartbeat_the_end_is_the_calls_last_fact(voice_platform: Platform) -> None:
    platform = voice_platform
    tenant = make_tenant(platform, "voice-restart-2")
    node = _node(platform)
    t0 = platform.clock() - timedelta(days=1)
    call_id, _ = _open_call(platform, tenant.org_id, t0, node)
    closed = recovery.close_left_open(lambda at: _uow(platform, at), node, platform.clock())
    assert [c.call_id for c in closed] == [call_id]
    assert closed[0].ended_at == t0 + timedelta(seconds=2)  # the answer, its last fact
    # Closing again finds nothing (an idempotent start-up).
    assert recovery.close_left_open(lambda at: _uow(platform, at), node, platform.clock()) == []


T = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1))


@given(T, st.none() | T, T)
def test_the_end_is_never_before_the_last_fact_nor_after_now(
    last_fact: datetime, last_seen: datetime | None, now: datetime
) -> None:
    end = recovery.end_time(last_fact, last_seen, now)
    assert end >= last_fact
    if now >= last_fact:
        assert end <= now
    if last_seen is not None and last_fact <= last_seen <= now:
        assert end == last_seen
