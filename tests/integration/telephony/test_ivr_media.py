"""The IVR on the real media engine: espeak-ng prompts played over RTP to a synthetic
phone that presses keys as RFC 4733 telephone-events; the call recorded by the call
service on a real database (SQLite and PostgreSQL), its CDR checked.

The phone acts on time, not on what it hears: a key pressed before a menu is listening
is kept (typed ahead) and still answers it, so the walk does not depend on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from jietong.app.platform import Platform
from jietong.storage.tables_voice import VoiceCdrRow, VoiceLegEventRow
from jietong.telephony.calls import service as calls
from jietong.telephony.calls.model import CallDirection, EndCause, LegTrigger
from jietong.telephony.ivr.demo import demo_flow
from jietong.telephony.ivr.interpreter import IvrContext, IvrOutcome, run_flow
from jietong.telephony.ivr.media_audio import LegEvents, MediaCallAudio, PromptCache
from jietong.telephony.ivr.prompts import PromptLibrary
from jietong.telephony.ivr.schema import Flow
from jietong.telephony.media.client import MediaClient
from jietong.telephony.media.process import MediaProcess
from tests.conftest import Tenant

from .peers import RtpPeer, rms

WEEKDAY_10H_SHANGHAI = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


async def _phone(peer: RtpPeer, presses: dict[int, str], stop: asyncio.Event) -> None:
    """Send audio at 50 packets/s; press ``presses[tick]`` at that tick."""
    loop = asyncio.get_running_loop()
    start, tick = loop.time(), 0
    while not stop.is_set():
        if tick in presses:
            peer.press(presses[tick])
        peer.send_one()
        peer.drain()
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * 0.02 - loop.time()))


class Harness:
    """One media client, its event pump, prompts in the media root, a caller leg."""

    def __init__(self, process: MediaProcess, media_root: Path) -> None:
        self.process, self.media_root = process, media_root
        self.events = LegEvents()
        self.cache = PromptCache(media_root)
        self.library = PromptLibrary(media_root / "prompts")

    async def start(self, peer: RtpPeer, leg_id: str = "caller-1") -> MediaCallAudio:
        self.client = await MediaClient.connect(self.process.address, self.process.secret)
        self.pump = asyncio.create_task(self.events.pump(self.client))
        leg = await self.client.create_leg(leg_id, remote=peer.address, call_id="call-1")
        peer.target = (leg.local_host, leg.local_port)
        return MediaCallAudio(self.client, leg_id, self.events, self.cache)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.close()
        self.pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.pump


def _walk(
    platform: Platform,
    tenant: Tenant,
    process: MediaProcess,
    media_root: Path,
    flow: Flow,
    presses: dict[int, str],
    *,
    hang_up_after_s: float | None = None,
    kill_after_s: float | None = None,
    hash_into_recording_s: float | None = None,
) -> tuple[IvrOutcome, RtpPeer, str]:
    """Open a call, answer it, run ``flow`` on the real engine with a phone pressing
    keys; report IVR entry, nodes and exit to the call service as the orchestrator
    would. Returns the outcome, the phone and the call id."""
    org = tenant.org_id
    with platform.uow() as uow:
        view = calls.open_call(
            uow, org, direction=CallDirection.INBOUND, caller="+8613812345678",
            dialled="4008001234", media_leg_id="caller-1",
        )  # fmt: skip
    call_id, leg_id = view.call.id, view.legs[0].id
    with platform.uow() as uow:
        calls.leg_event(uow, org, call_id, leg_id, LegTrigger.ANSWER)
    with platform.uow() as uow:
        calls.ivr_entered(uow, org, call_id)

    async def on_node(node: str, step: str) -> None:
        with platform.uow() as uow:
            calls.ivr_node(uow, org, call_id, node, step)

    async def scenario() -> tuple[IvrOutcome, RtpPeer]:
        harness = Harness(process, media_root)
        peer = RtpPeer(300.0, 4242)
        audio = await harness.start(peer)
        stop = asyncio.Event()
        phone = asyncio.create_task(_phone(peer, presses, stop))
        ctx = IvrContext(
            audio=audio, prompts=harness.library, caller="+8613812345678",
            recordings_dir=media_root / "voicemail", now=lambda: WEEKDAY_10H_SHANGHAI,
            on_node=on_node,
        )  # fmt: skip
        flow_task = asyncio.create_task(run_flow(flow, ctx))
        if hash_into_recording_s is not None:
            # Press '#' once the recording has been running a while, however slowly the
            # prompt before it came (a loaded machine), so the message is not empty.
            await _recording_started(media_root / "voicemail")
            await asyncio.sleep(hash_into_recording_s)
            peer.press("#")
        if hang_up_after_s is not None:
            await asyncio.sleep(hang_up_after_s)
            harness.events.gone("caller-1", "signaling: remote BYE")
        if kill_after_s is not None:
            await asyncio.sleep(kill_after_s)
            os.kill(process.pid, signal.SIGKILL)
        try:
            outcome = await asyncio.wait_for(flow_task, 60)
        finally:
            stop.set()
            await phone
            if kill_after_s is not None:
                lost = await asyncio.wait_for(harness.client.wait_lost(), 10)
                with platform.uow() as uow:
                    closed = calls.close_calls_lost(
                        uow, [leg.call_id or "" for leg in lost.legs],
                        [leg.leg_id for leg in lost.legs],
                    )  # fmt: skip
                assert closed == [call_id]
            await harness.close()
        return outcome, peer

    outcome, peer = asyncio.run(scenario())
    if kill_after_s is None:
        with platform.uow() as uow:
            calls.ivr_left(
                uow, org, call_id, outcome.kind, target=outcome.target,
                variables={"language": outcome.variables.language, **outcome.variables.values},
            )  # fmt: skip
    return outcome, peer, call_id


async def _recording_started(folder: Path) -> None:
    for _ in range(600):
        if folder.is_dir() and any(folder.iterdir()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no recording started within 30 s")


def _cdr(platform: Platform, call_id: str) -> VoiceCdrRow:
    with platform.uow() as uow:
        row = uow.session.get(VoiceCdrRow, call_id)
        assert row is not None
        return row


def _nodes(platform: Platform, call_id: str) -> list[str]:
    with platform.uow() as uow:
        rows = uow.session.query(VoiceLegEventRow).filter_by(call_id=call_id, kind="ivr_node")
        return [row.data["node"] for row in rows.order_by(VoiceLegEventRow.id)]


def test_caller_walks_the_demo_flow_to_the_billing_queue(
    platform: Platform, tenant_a: Tenant, media_process: MediaProcess, media_root: Path
) -> None:
    # "2" (English) during the Mandarin welcome, "1" (billing) during the English menu.
    outcome, peer, call_id = _walk(
        platform, tenant_a, media_process, media_root, demo_flow(), {40: "2", 200: "1"}
    )
    assert outcome.kind == "queue" and outcome.target == "billing"
    assert outcome.variables.language == "en"
    assert outcome.path == ("language", "hours", "main", "billing")
    # The caller heard speech (espeak-ng prompts over RTP), not silence.
    assert len(peer.received) > 100 and rms(peer.heard()) > 300
    assert _nodes(platform, call_id) == list(outcome.path)
    cdr = _cdr(platform, call_id)
    assert cdr.ivr_outcome == "queue" and cdr.ivr_s > 0 and cdr.variables["language"] == "en"
    with platform.uow() as uow:
        calls.queue_entered(uow, tenant_a.org_id, call_id, "billing")
    with platform.uow() as uow:
        final = calls.end_call(uow, tenant_a.org_id, call_id, EndCause.CUSTOMER_HANGUP)
    assert final.abandoned and final.abandon_point == "queue"


def test_voicemail_records_the_caller_until_hash(
    platform: Platform, tenant_a: Tenant, media_process: MediaProcess, media_root: Path
) -> None:
    flow = Flow.model_validate(
        {
            "start": "vm",
            "nodes": {
                "vm": {
                    "type": "voicemail",
                    "prompt": {"text": {"zh-CN": "请留言", "en": "Leave a message"}},
                    "max_seconds": 30,
                }
            },
        }
    )
    # Speak (the peer's 300 Hz tone) into the recording, then '#' 2 s into it.
    outcome, _, call_id = _walk(
        platform, tenant_a, media_process, media_root, flow, {}, hash_into_recording_s=2.0
    )
    assert outcome.kind == "voicemail" and outcome.recording is not None
    assert 0.5 < outcome.recording.seconds < 10
    with wave.open(str(outcome.recording.path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (8000, 1)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert rms(samples.astype(np.float64)) > 1000  # the caller's voice, not silence
    assert _cdr(platform, call_id).ivr_outcome == "voicemail"


def test_hang_up_in_the_ivr_is_an_ivr_abandon(
    platform: Platform, tenant_a: Tenant, media_process: MediaProcess, media_root: Path
) -> None:
    outcome, _, call_id = _walk(
        platform, tenant_a, media_process, media_root, demo_flow(), {}, hang_up_after_s=1.0
    )
    assert outcome.kind == "abandoned" and outcome.path == ("language",)
    with platform.uow() as uow:
        leg_id = calls.get_call(uow, tenant_a.org_id, call_id).customer_leg.id
    with platform.uow() as uow:
        calls.end_leg(uow, tenant_a.org_id, call_id, leg_id, EndCause.CUSTOMER_HANGUP)
    cdr = _cdr(platform, call_id)
    assert cdr.abandoned and cdr.abandon_point == "ivr" and cdr.ended_at is not None
    assert cdr.ivr_s > 0 and cdr.ivr_outcome == "abandoned"


@pytest.mark.timeout(120)
def test_a_killed_media_process_ends_the_ivr_and_closes_the_call(
    platform: Platform, tenant_a: Tenant, media_process: MediaProcess, media_root: Path
) -> None:
    outcome, _, call_id = _walk(
        platform, tenant_a, media_process, media_root, demo_flow(), {}, kill_after_s=1.0
    )
    assert outcome.kind == "abandoned"
    cdr = _cdr(platform, call_id)
    assert cdr.ended_at is not None and cdr.end_cause == "media_lost"
    assert not cdr.abandoned  # our failure, not the caller's choice
    with platform.uow() as uow:
        view = calls.get_call(uow, tenant_a.org_id, call_id)
    assert view.call.state == "ended" and all(leg.state == "ended" for leg in view.legs)


def test_collect_and_music_over_real_rtp(media_process: MediaProcess, media_root: Path) -> None:
    """Digits collected up to the terminator from RFC 4733 events; music on hold heard
    while on, silence after."""

    async def scenario() -> tuple[str, str, float, float]:
        harness = Harness(media_process, media_root)
        peer = RtpPeer(300.0, 77)
        audio = await harness.start(peer)
        stop = asyncio.Event()
        phone = asyncio.create_task(_phone(peer, {10: "1", 25: "2", 40: "3", 55: "#"}, stop))
        try:
            digits = await audio.collect(
                max_digits=8, first_digit_timeout_s=5, inter_digit_timeout_s=3
            )
            none = await audio.collect(
                max_digits=1, first_digit_timeout_s=0.3, inter_digit_timeout_s=0.3
            )
            await audio.music(on=True)
            await asyncio.sleep(0.3)
            mark = len(peer.received)
            await asyncio.sleep(1.0)
            with_music = rms(peer.heard(len(peer.received) - mark))
            await audio.music(on=False)
            await asyncio.sleep(0.3)
            mark = len(peer.received)
            await asyncio.sleep(1.0)
            after = rms(peer.heard(len(peer.received) - mark))
        finally:
            stop.set()
            await phone
            await harness.close()
        return digits, none, with_music, after

    digits, none, with_music, after = asyncio.run(scenario())
    assert digits == "123" and none == ""
    assert with_music > 300 and after < 50


def test_a_prompt_the_engine_cannot_load_is_skipped(
    media_process: MediaProcess, media_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (media_root / "broken.wav").write_bytes(b"RIFF not really a wave file")
    outside = tmp_path_factory.mktemp("elsewhere") / "x.wav"
    outside.write_bytes(b"RIFF")

    async def scenario() -> tuple[str | None, str | None, str | None, str]:
        harness = Harness(media_process, media_root)
        peer = RtpPeer(300.0, 78)
        audio = await harness.start(peer)
        stop = asyncio.Event()
        phone = asyncio.create_task(_phone(peer, {30: "7"}, stop))
        try:
            broken = await audio.play(media_root / "broken.wav")
            missing = await audio.play(media_root / "missing.wav")
            foreign = await audio.play(outside)
            # The call goes on: the next step still hears the caller's key.
            digit = await audio.collect(
                max_digits=1, first_digit_timeout_s=5, inter_digit_timeout_s=5
            )
        finally:
            stop.set()
            await phone
            await harness.close()
        return broken, missing, foreign, digit

    assert asyncio.run(scenario()) == (None, None, None, "7")
