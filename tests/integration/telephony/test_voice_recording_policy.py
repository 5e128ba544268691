"""The per-queue recording policy at work, on SQLite and PostgreSQL: with a real media
process and real RTP, a call to a "never" queue is bridged without a recording or a
consent announcement although the site records; a call to an "always" queue is recorded
although the site does not, after the queue's own uploaded consent prompt; an admin's
change applies to the next call. The retention sweep keeps each queue's days."""

from __future__ import annotations

import asyncio
import io
import wave
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from jietong.app.platform import Platform
from jietong.app.voice_runtime import VoiceRuntime
from jietong.core.tenancy import system_actor
from jietong.interactions import service as interactions
from jietong.interactions.schemas import InteractionCreate
from jietong.storage.tables import AuditRow
from jietong.telephony import recording
from jietong.telephony.ivr import service as ivr_service
from jietong.telephony.orchestrator.live import LiveCall, Phase
from jietong.telephony.policy import service as policies
from jietong.telephony.policy.model import RecordMode, SiteRecording
from jietong.telephony.policy.schemas import RecordingPolicyIn
from jietong.telephony.ports import CallAudio, IncomingCall
from jietong.telephony.service import Database, IvrResult
from tests.integration.routing.world import World

from .peers import RtpPeer, dominant_hz, rms
from .voice_harness import VoiceWorld, read_wav, start_voice_world, stop_voice_world, wait_for

NO_ANNOUNCEMENTS = {"first_announcement_s": 600.0, "announce_every_s": 600.0}
SITE = SiteRecording(record_calls=True, retention_days=90)
CONSENT_HZ = 1500.0


class ByNumber:
    """The IVR: the dialled number names the queue ("quiet" or "loud")."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def __call__(
        self, call: IncomingCall, audio: CallAudio, contact: object, on_node: object
    ) -> IvrResult:
        return IvrResult("queue", queue_id=self.world.queues[call.dialled])


def _tone_wav(hz: float, seconds: float = 1.0) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    samples = (0.5 * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    return out.getvalue()


def _world(platform: Platform) -> World:
    world = World(platform, slug="voice-policy")
    world.queue("quiet", channels=("call",))
    world.queue("loud", channels=("call",))
    world.agent("ann")
    world.login("ann")
    return world


def _set(world: World, queue: str, body: RecordingPolicyIn) -> None:
    with world.uow() as uow:
        policies.set_policy(uow, world.admin, world.queues[queue], body, SITE)


async def _answered_call(
    voice: VoiceWorld, call_id: str, queue: str
) -> tuple[LiveCall, RtpPeer, int]:
    """A call to `queue`, rung on ann's phone and answered; returns (live, caller peer,
    caller packets before the answer)."""
    before = len(voice.signaling.originated)
    caller = await voice.call_in(call_id, "13800138000", dialled=queue)
    live = voice.live(call_id)
    assert live is not None
    rung = await voice.route_until(lambda: voice.signaling.originated[before:])
    mark = len(caller.received)
    await voice.phone_answers(rung[-1])
    await wait_for(lambda: live.phase is Phase.BRIDGED, timeout=30)
    return live, caller, mark


def test_never_and_always_queues_override_the_site(platform: Platform, tmp_path: Path) -> None:
    world = _world(platform)
    media_root = tmp_path / "media"

    async def scenario() -> None:
        def ivr(db: Database) -> ByNumber:
            return ByNumber(world)

        # The site records every call: the "never" queue must still not be recorded.
        voice = await start_voice_world(
            world, media_root, ivr=ivr, options={**NO_ANNOUNCEMENTS, "record_calls": True}
        )

        async def uploaded(org_id: str, name: str, language: str) -> Path | None:
            def work() -> Path | None:
                with world.uow() as uow:
                    return ivr_service.materialise_prompt(
                        uow, platform.blobs, org_id, name, language, media_root / "prompts"
                    )

            return await asyncio.to_thread(work)

        voice.service.uploaded_prompt = uploaded
        voice.phones.by_agent[world.agents["ann"].user_id] = "ann-phone"
        try:
            _set(world, "quiet", RecordingPolicyIn(record=RecordMode.NEVER))
            live, caller, mark = await _answered_call(voice, "q1", "quiet")
            assert live.recording_path is None
            iid = live.contact.interaction_id if live.contact else ""
            await asyncio.sleep(1.0)
            await voice.service.call_ended("q1", "remote_bye", None)
            with world.uow() as uow:
                assert recording.list_recordings(uow, world.admin, media_root, iid) == []
            world.fire(iid, "close", world.agents["ann"])  # wrap-up done: ann is free
            # No consent announcement either: between the answer and the bridge the
            # caller heard no prompt, only the agent (1000 Hz) after it.
            heard = caller.heard(len(caller.received) - mark)
            assert abs(dominant_hz(heard) - 1000) < 30

            # Now the site does not record; "loud" records always, after its own
            # consent prompt (uploaded in English only: the Mandarin caller gets it too).
            voice.service.options = replace(voice.service.options, record_calls=False)
            with world.uow() as uow:
                ivr_service.upload_prompt(
                    uow,
                    world.admin,
                    platform.blobs,
                    name="consent-tone",
                    language="en",
                    data=_tone_wav(CONSENT_HZ),
                )
            body = RecordingPolicyIn(
                record=RecordMode.ALWAYS, consent=True, consent_prompt="consent-tone"
            )
            _set(world, "loud", body)
            world.advance(600)
            live, caller, mark = await _answered_call(voice, "l1", "loud")
            assert live.recording_path is not None
            iid = live.contact.interaction_id if live.contact else ""
            consent = caller.heard(len(caller.received) - mark)
            assert abs(dominant_hz(consent) - CONSENT_HZ) < 30
            await asyncio.sleep(1.5)
            await voice.service.call_ended("l1", "remote_bye", None)
            with world.uow() as uow:
                files = recording.list_recordings(uow, world.admin, media_root, iid)
            assert len(files) == 1
            samples = read_wav(files[0].path)
            assert len(samples) > 8000 and rms(samples) > 500
            world.fire(iid, "close", world.agents["ann"])  # wrap-up done: ann is free

            # The admin turns "loud" to "never": the next call is not recorded.
            _set(world, "loud", RecordingPolicyIn(record=RecordMode.NEVER))
            world.advance(600)
            live, _, _ = await _answered_call(voice, "l2", "loud")
            assert live.recording_path is None
            await voice.service.call_ended("l2", "remote_bye", None)
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_retention_sweep_keeps_each_queues_days(platform: Platform, tmp_path: Path) -> None:
    world = World(platform, slug="voice-retention")
    world.queue("short", channels=("call",))
    world.queue("long", channels=("call",))
    _set(world, "short", RecordingPolicyIn(record=RecordMode.ALWAYS, retention_days=7))
    _set(world, "long", RecordingPolicyIn(record=RecordMode.ALWAYS, retention_days=365))
    site_days = platform.settings.voice_recording_retention_days
    assert 30 < site_days < 200
    runtime = VoiceRuntime(platform)  # not started: the sweep needs only the database
    root = runtime.media_root
    now = platform.clock()
    ids = {"short": world.arrive("short"), "long": world.arrive("long")}
    with world.uow() as uow:
        ids["none"] = interactions.create_interaction(
            uow, system_actor(world.org_id), InteractionCreate(channel="call")
        ).interaction.id
    files: dict[tuple[str, int], Path] = {}
    for name, iid in ids.items():
        for age in (30, 200):
            path = root / recording.recording_path(
                world.org_id, iid, f"c-{age}", now - timedelta(days=age)
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"RIFF")
            files[(name, age)] = path
    # A folder made for a recording about to start (no file yet) is left alone.
    starting = root / recording.recording_path(world.org_id, ids["none"], "c-new", now)
    starting.parent.mkdir(parents=True, exist_ok=True)

    assert runtime.sweep_once() == 3
    gone = {key for key, path in files.items() if not path.exists()}
    # 7 days: both go; 365 days: both stay; no queue: the site's days (90).
    assert gone == {("short", 30), ("short", 200), ("none", 200)}
    assert files[("long", 200)].exists() and files[("long", 30)].exists()
    assert starting.parent.is_dir()
    with world.uow() as uow:
        reasons = [
            a.changes["reason"]
            for a in uow.session.scalars(
                select(AuditRow).where(AuditRow.action == "recording.deleted")
            )
        ]
    assert sorted(reasons) == sorted(
        ["retention 7 days", "retention 7 days", f"retention {site_days} days"]
    )
    assert runtime.sweep_once() == 0


pytestmark = pytest.mark.slow
