"""The desk's DTMF keypad on a bridged call with a real media process: a caller whose
SDP offered telephone-event gets RFC 4733 events (decoded by our own detector), one
whose SDP did not gets the tones in band (heard at their frequencies)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from jietong.telephony import ports
from jietong.telephony.media import dtmf, g711, rtp
from jietong.telephony.orchestrator.control import CallControl
from jietong.telephony.orchestrator.live import Phase
from tests.integration.routing.world import World

from .peers import RtpPeer, band_level
from .voice_harness import start_voice_world, stop_voice_world, wait_db, wait_for

pytestmark = pytest.mark.slow
QUIET = {"first_announcement_s": 600.0, "announce_every_s": 600.0}


async def _call_in(voice, key: str, *, telephone_event: bool) -> RtpPeer:
    """As VoiceWorld.call_in, with or without telephone-event in the caller's SDP."""
    peer = RtpPeer(440.0, 4242)
    voice.pacer.peers.append(peer)
    host, port = peer.address
    await voice.service.call_offered(
        ports.IncomingCall(
            call_id=key, sip_call_id=f"sip-{key}", org_id=voice.org_id,
            caller=ports.SipPeer("sip:13800000012@203.0.113.9", None, "13800000012",
                                 ("127.0.0.1", 5099)),
            dialled="4000",
            remote_media=ports.MediaEndpoint(host, port,
                                             telephone_event_pt=101 if telephone_event else None),
        )
    )  # fmt: skip
    answer = await wait_for(lambda: voice.signaling.answered.get(key))
    peer.target = (answer.host, answer.port)
    return peer


def _events(peer: RtpPeer, since: int) -> str:
    detector = dtmf.DtmfDetector()
    digits = []
    for tick, data in enumerate(peer.received[since:]):
        if data[1] >= 192:  # RTCP, should it reach this port
            continue
        packet = rtp.parse(data)
        if packet.header.payload_type == 101:
            found = detector.on_packet(
                packet.header.timestamp, packet.header.marker, packet.payload, tick
            )
            digits += [d.digit for d in found]
    return "".join(digits)


def _audio(peer: RtpPeer, since: int) -> np.ndarray:
    packets = [rtp.parse(d) for d in peer.received[since:] if d[1] < 192]
    audio = b"".join(p.payload for p in packets if p.header.payload_type == 0)
    return g711.decode_bytes(audio, g711.PCMU).astype(np.float64)


def test_desk_dtmf_out_of_band_when_negotiated_in_band_otherwise(platform, tmp_path):
    world = World(platform, slug="voice-dtmf")
    world.queue("Calls", channels=("call",))
    world.agent("ann")
    world.agent("bob")
    world.login("ann", "bob")

    async def bridged(voice, key: str, *, telephone_event: bool):
        caller = await _call_in(voice, key, telephone_event=telephone_event)
        live = voice.live(key)
        iid = live.contact.interaction_id
        await wait_db(lambda: world.interaction(iid).state == "queued")
        before = len(voice.signaling.originated)
        await voice.route_until(lambda: len(voice.signaling.originated) > before)
        agent = await voice.phone_answers(voice.signaling.originated[-1])
        await wait_for(lambda: live.phase is Phase.BRIDGED, timeout=30)
        on_call = next(a for a in world.agents.values() if a.user_id == live.agent.user_id)
        return on_call, iid, caller, agent

    async def scenario():
        voice = await start_voice_world(world, tmp_path / "media", options=QUIET)
        voice.phones.by_agent.update(
            {world.agents[name].user_id: f"{name}-phone" for name in ("ann", "bob")}
        )
        control = CallControl(voice.service)
        try:
            actor, iid, caller, _ = await bridged(voice, "d1", telephone_event=True)
            mark = len(caller.received)
            await control.dtmf(actor, iid, "47")
            await asyncio.sleep(1.0)
            assert _events(caller, mark) == "47"

            actor, iid, caller, _ = await bridged(voice, "d2", telephone_event=False)
            await asyncio.sleep(0.3)
            mark = len(caller.received)
            await control.dtmf(actor, iid, "1")  # 697 + 1209 Hz, 100 ms
            await asyncio.sleep(0.6)
            assert _events(caller, mark) == ""
            heard = _audio(caller, mark)
            # The agent's 1000 Hz plays throughout; the digit is one 100 ms window.
            windows = [heard[i : i + 800] for i in range(0, len(heard) - 800, 160)]
            assert any(band_level(w, 697) > 0.3 and band_level(w, 1209) > 0.3 for w in windows)
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())
