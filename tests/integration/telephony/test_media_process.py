"""A real media process on loopback: bridging, recording, DTMF, source filtering, hold,
prompts, timeouts, and what the controller learns when the process dies."""

from __future__ import annotations

import asyncio
import os
import signal
import wave

import numpy as np
import pytest

from jietong.telephony.media import control as c
from jietong.telephony.media.client import (
    MediaClient,
    MediaEngineLost,
    MediaError,
    MediaProcessLost,
)
from jietong.telephony.media.process import MediaProcess

from .peers import RtpPeer, band_level, dominant_hz, rms, run_peers


async def connect(process: MediaProcess, **kwargs) -> MediaClient:
    return await MediaClient.connect(process.address, process.secret, name=process.name, **kwargs)


async def open_call(client: MediaClient, a: RtpPeer, b: RtpPeer, call: str = "call-1"):
    leg_a = await client.create_leg(f"{call}-a", remote=a.address, call_id=call)
    leg_b = await client.create_leg(f"{call}-b", remote=b.address, call_id=call)
    a.target = (leg_a.local_host, leg_a.local_port)
    b.target = (leg_b.local_host, leg_b.local_port)
    await client.create_bridge(call, [leg_a.leg_id, leg_b.leg_id])
    return leg_a, leg_b


def read_wav(path: str) -> np.ndarray:
    with wave.open(path, "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)


def test_bridged_call_is_mixed_recorded_and_filtered(media_process):
    async def scenario():
        client = await connect(media_process)
        caller, agent = RtpPeer(440.0, 1), RtpPeer(1000.0, 2)
        rogue = RtpPeer(2500.0, 3)
        leg_a, _ = await open_call(client, caller, agent)
        await client.record_start("call-1", "recordings/call-1.wav")
        # the rogue aims at the caller's leg from an address nobody negotiated
        rogue.target = caller.target
        await run_peers([caller, agent, rogue], 1.6, actions={40: lambda: _press(caller, "7")})
        finished = await client.record_stop("call-1")
        _, stats = await client.get_stats(leg_a.leg_id)
        events = await _drain_events(client)
        await client.close()
        return caller, agent, finished, stats[0], events

    caller, agent, finished, stats_a, events = asyncio.run(scenario())
    # each side hears the other's tone, on the wire, at close to 50 packets/s
    assert len(agent.received) >= 60 and len(caller.received) >= 60
    assert abs(dominant_hz(agent.heard(last=40)) - 440) < 15
    assert abs(dominant_hz(caller.heard(last=40)) - 1000) < 15
    # RTP from the wrong source was dropped and counted, and never heard
    assert stats_a.rx_wrong_source >= 50
    assert band_level(agent.heard(last=40), 2500) < 0.05
    # the recording has both voices
    audio = read_wav(finished.path)
    assert finished.error is None and finished.frames == len(audio) >= 8000
    assert rms(audio) > 1000
    assert band_level(audio, 440) > 0.3 and band_level(audio, 1000) > 0.3
    # one key press, one digit, despite the three end packets
    digits = [e for e in events if isinstance(e, c.DtmfReceived)]
    assert [(d.leg_id, d.digit, d.call_id) for d in digits] == [("call-1-a", "7", "call-1")]
    assert stats_a.rx_dtmf_packets >= 5


async def _press(peer: RtpPeer, digit: str) -> None:
    peer.press(digit)


async def _drain_events(client: MediaClient) -> list:
    events = []
    while True:
        try:
            events.append(await client.next_event(timeout=0.3))
        except TimeoutError:
            return events


def test_paused_recording_keeps_the_timeline_with_silence(media_process):
    async def scenario():
        client = await connect(media_process)
        caller, agent = RtpPeer(440.0, 1), RtpPeer(1000.0, 2)
        await open_call(client, caller, agent)
        await client.record_start("call-1", "r.wav")

        async def pause():
            await client.record_pause("call-1")

        async def resume():
            await client.record_resume("call-1")

        await run_peers([caller, agent], 2.0, actions={30: pause, 70: resume})
        finished = await client.record_stop("call-1")
        await client.close()
        return finished

    audio = read_wav(asyncio.run(scenario()).path)
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    silent = np.sqrt(np.mean(frames**2, axis=1)) < 1.0
    # the longest silent run is the pause: ~40 ticks (0.8 s), with audio on both sides
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, silent.astype(int), 0])))[::2]
    start = int(np.flatnonzero(np.diff(np.r_[0, silent.astype(int)]) == 1)[np.argmax(runs)])
    assert 30 <= runs.max() <= 50
    before, after = ~silent[5:start], ~silent[start + runs.max() : -5]
    # tolerant of a few late frames from the test's own peers on a busy machine
    assert before.mean() > 0.7 and after.mean() > 0.7 and len(after) >= 20


def test_hold_plays_music_to_the_held_leg_only(media_process):
    async def scenario():
        client = await connect(media_process)
        caller, agent = RtpPeer(440.0, 1), RtpPeer(1000.0, 2)
        leg_a, _ = await open_call(client, caller, agent)

        async def hold():
            await client.set_hold(leg_a.leg_id, True)
            await asyncio.sleep(0.05)  # let packets mixed before the hold arrive, then forget them
            for peer in (caller, agent):
                peer.drain()
                peer.received.clear()

        await run_peers([caller, agent], 1.4, actions={20: hold})
        await client.close()
        return caller, agent

    caller, agent = asyncio.run(scenario())
    # the held caller hears music (not the agent's 1 kHz); the agent no longer hears 440 Hz
    assert rms(caller.heard()) > 300
    assert band_level(caller.heard(), 1000) < 0.1
    assert band_level(agent.heard(last=30), 440) < 0.05


def test_prompt_plays_once_and_reports_its_end(media_process, media_root):
    tone = (0.3 * 32767 * np.sin(2 * np.pi * 700 * np.arange(4000) / 16000)).astype("<i2")
    with wave.open(str(media_root / "hello.wav"), "wb") as out:  # 16 kHz: converted on load
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(tone.tobytes())

    async def scenario():
        client = await connect(media_process)
        caller = RtpPeer(440.0, 1)
        leg = await client.create_leg("ivr-1", remote=caller.address, call_id="c9")
        caller.target = (leg.local_host, leg.local_port)
        duration = await client.load_prompt("hello", "hello.wav")
        await client.play("ivr-1", "hello")
        await run_peers([caller], 0.6)
        event = await client.next_event(timeout=2)
        with pytest.raises(MediaError) as outside:
            await client.load_prompt("x", "../../etc/passwd")
        await client.close()
        return duration, caller, event, outside.value.code

    duration, caller, event, outside = asyncio.run(scenario())
    assert duration == 250
    assert event == c.PromptFinished("ivr-1", "hello", "c9")
    assert abs(dominant_hz(caller.heard()[:2000]) - 700) < 15  # resampled, same pitch
    assert outside == "bad_path"


def test_silent_peer_times_out(tmp_path):
    from jietong.telephony.media.process import MediaProcessSpec

    process = MediaProcess.start(MediaProcessSpec(tmp_path, rtp_timeout_s=0.5))

    async def scenario():
        client = await connect(process)
        peer = RtpPeer(440.0, 1)
        await client.create_leg("quiet", remote=peer.address, call_id="c1")
        event = await client.next_event(timeout=5)
        await client.close()
        return event

    try:
        event = asyncio.run(scenario())
    finally:
        process.terminate()
    assert isinstance(event, c.LegTimedOut) and event.leg_id == "quiet" and event.silent_s >= 0.5


def test_killed_media_process_is_reported_with_its_calls(media_process):
    async def scenario():
        client = await connect(media_process)
        caller, agent = RtpPeer(440.0, 1), RtpPeer(1000.0, 2)
        await open_call(client, caller, agent, call="call-7")
        await client.record_start("call-7", "call-7.wav")
        await client.create_leg("ivr-3", call_id="call-8")
        await run_peers([caller, agent], 0.3)
        os.kill(media_process.pid, signal.SIGKILL)  # a crash, as far as anyone can tell
        lost = await asyncio.wait_for(client.wait_lost(), 5)
        with pytest.raises(MediaEngineLost):
            await client.ping()
        events = [e async for e in client.events()]
        await client.close()
        return lost, events

    lost, events = asyncio.run(scenario())
    assert isinstance(lost, MediaProcessLost)
    assert {(leg.leg_id, leg.call_id, leg.bridge_id) for leg in lost.legs} == {
        ("call-7-a", "call-7", "call-7"),
        ("call-7-b", "call-7", "call-7"),
        ("ivr-3", "call-8", None),
    }
    assert lost.bridges == ("call-7",) and lost.recordings[0].endswith("call-7.wav")
    assert events[-1] == lost


def test_wrong_secret_is_refused(media_process):
    async def scenario():
        return await MediaClient.connect(media_process.address, "not-the-secret")

    with pytest.raises(MediaError) as info:
        asyncio.run(scenario())
    assert info.value.code in ("unauthorized", "engine_lost")


def test_a_departed_controllers_legs_are_dropped(media_process):
    async def scenario():
        first = await connect(media_process)
        await first.create_leg("orphan")
        await first.close()
        second = await connect(media_process)
        for _ in range(50):
            engine, _ = await second.get_stats()
            if engine.legs == 0:
                break
            await asyncio.sleep(0.02)
        await second.close()
        return engine

    assert asyncio.run(scenario()).legs == 0


def test_a_hung_media_process_is_reported_by_the_heartbeat(media_process):
    async def scenario():
        client = await connect(media_process, heartbeat_s=0.2)
        await client.create_leg("held-up", call_id="call-9")
        os.kill(media_process.pid, signal.SIGSTOP)  # alive, but answering nothing
        try:
            lost = await asyncio.wait_for(client.wait_lost(), 5)
        finally:
            os.kill(media_process.pid, signal.SIGCONT)
        await client.close()
        return lost

    lost = asyncio.run(scenario())
    assert lost.reason == "media process stopped answering"
    assert [(leg.leg_id, leg.call_id) for leg in lost.legs] == [("held-up", "call-9")]


def test_subscribers_get_periodic_stats(media_process):
    async def scenario():
        client = await connect(media_process)
        await client.create_leg("counted")
        await client.subscribe(0.1)
        event = await client.next_event(timeout=3)
        await client.close()
        return event

    event = asyncio.run(scenario())
    assert isinstance(event, c.StatsReport)
    assert event.engine.legs == 1 and [leg.leg_id for leg in event.legs] == ["counted"]
