"""What SDP negotiates reaches the real media process (SQLite and PostgreSQL, real UDP on
loopback): a caller offering rtcp-mux is answered a=rtcp-mux and gets our RTCP on its RTP
port; a number we dial that answers with another telephone-event type and an a=rtcp port
gets our DTMF at that type and our RTCP at that port; one answering without
telephone-event gets no RFC 4733 DTMF at all (the engine refuses, so callers go in band)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from jietong.app.platform import Platform
from jietong.telephony.media import rtcp, rtp
from jietong.telephony.media.client import MediaError
from jietong.telephony.orchestrator.live import LiveCall
from jietong.telephony.ports import IncomingCall, MediaEndpoint, SipPeer
from jietong.telephony.sip import sdp
from jietong.telephony.sip.model import MemoryDirectory, Trunk
from tests.integration.routing.world import World

from .peers import RtpPeer
from .sip_harness import RawPhone, Recorder, running
from .voice_harness import VoiceWorld, start_voice_world, stop_voice_world, wait_for

pytestmark = pytest.mark.slow


def offer_text(host: str, port: int, *extra: str) -> str:
    lines = [
        "v=0",
        f"o=- 7 7 IN IP4 {host}",
        "s=-",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        *extra,
    ]
    return "\r\n".join(lines) + "\r\n"


def reports_in(datagrams: list[bytes]) -> list[rtcp.RtcpPacket]:
    """The RTCP packets among datagrams (RFC 5761 4: SR/RR types where RTP has none)."""
    found: list[rtcp.RtcpPacket] = []
    for data in datagrams:
        if len(data) > 1 and data[1] in (rtcp.SR, rtcp.RR):
            found += rtcp.parse_compound(data)
    return found


def test_a_caller_offering_rtcp_mux_gets_our_reports_on_its_rtp_port(
    platform: Platform, tmp_path: Path
) -> None:
    world = World(platform, slug="voice-mux")
    world.queue("Calls", channels=("call",))

    async def scenario() -> None:
        voice = await start_voice_world(world, tmp_path / "media")
        caller = RtpPeer(440.0, 0x1234)
        voice.pacer.peers.append(caller)
        try:
            remote = sdp.parse(offer_text(*caller.address, "a=rtcp-mux")).endpoint
            await voice.service.call_offered(
                IncomingCall(
                    call_id="m1", sip_call_id="sip-m1", org_id=world.org_id,
                    caller=SipPeer("sip:13800138000@x", None, "13800138000", ("127.0.0.1", 5099)),
                    dialled="4000", remote_media=remote,
                )
            )  # fmt: skip
            local = await wait_for(lambda: voice.signaling.answered.get("m1"))
            # What SipSignaling.answer puts on the wire, read back as the caller would.
            answer_text = sdp.build(sdp.answer_codecs(remote, local), session_id=1, version=1)
            answer = sdp.parse(answer_text).endpoint
            assert answer.rtcp_mux and "a=rtcp-mux\r\n" in answer_text
            caller.target = (answer.host, answer.port)
            # The first report is due 1.25-3.75 s after the leg was made (RFC 3550 6.2).
            reports = await wait_for(lambda: reports_in(caller.received), timeout=8)
            audio = [d for d in caller.received if d[1] not in (rtcp.SR, rtcp.RR)]
            assert audio, "no RTP from us"
            # It reports on the stream we send to the caller, on the very same port.
            first = reports[0]
            assert isinstance(first, rtcp.SenderReport | rtcp.ReceiverReport)
            assert first.ssrc == rtp.parse(audio[0]).header.ssrc
            await voice.service.call_ended("m1", "remote_bye", None)
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


async def dial_out(voice: VoiceWorld, world: World) -> tuple[LiveCall, str, str]:
    """An agent's desk phone dials a number; returns the call, the number's call id and
    its media leg."""
    phone = RtpPeer(1000.0, 0x77)
    voice.pacer.peers.append(phone)
    await voice.service.call_offered(
        IncomingCall(
            call_id="p1", sip_call_id="sip-p1", org_id=world.org_id,
            caller=SipPeer("sip:ann-phone@x", None, "ann-phone", ("127.0.0.1", 5062)),
            dialled="13912345678", remote_media=MediaEndpoint(*phone.address),
            phone_user="ann-phone",
        )
    )  # fmt: skip
    out = (await wait_for(lambda: voice.signaling.originated))[0]
    # Our offer to the number: rtcp-mux proposed, with the RTP+1 pair bound as fallback.
    ours = sdp.parse(sdp.build(out.local, session_id=1, version=1)).endpoint
    assert ours.rtcp_mux and ours.telephone_event_pt == 101
    found = voice.service.calls.by_leg_call(out.call_id)
    assert found is not None
    return found[0], out.call_id, found[1].leg_id


def test_the_answer_to_our_offer_sets_telephone_event_type_and_rtcp_port(
    platform: Platform, tmp_path: Path
) -> None:
    world = World(platform, slug="voice-te")
    world.queue("Calls", channels=("call",))
    world.agent("ann")

    async def scenario() -> None:
        voice = await start_voice_world(world, tmp_path / "media")
        voice.phones.by_agent[world.agents["ann"].user_id] = "ann-phone"
        rtcp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp_sock.bind(("127.0.0.1", 0))
        rtcp_sock.setblocking(False)
        try:
            live, call_id, leg_id = await dial_out(voice, world)
            customer = RtpPeer(440.0, 0x99)
            voice.pacer.peers.append(customer)
            out = voice.signaling.originated[0]
            customer.target = (out.local.host, out.local.port)
            rtcp_port = rtcp_sock.getsockname()[1]
            answer_text = (
                offer_text(*customer.address, f"a=rtcp:{rtcp_port} IN IP4 127.0.0.1")
                .replace("0 8 101", "0 97")
                .replace("a=rtpmap:101 telephone-event", "a=rtpmap:97 telephone-event")
            )
            answer = sdp.parse(answer_text).endpoint
            assert (answer.telephone_event_pt, answer.rtcp_port) == (97, rtcp_port)
            await voice.service.call_answered(call_id, answer)
            mark = len(customer.received)
            await live.media.send_dtmf(leg_id, "5")
            await asyncio.sleep(0.5)
            types = {rtp.parse(d).header.payload_type for d in customer.received[mark:]}
            assert 97 in types and 101 not in types

            def report() -> bytes | None:
                try:
                    return rtcp_sock.recv(2048)
                except BlockingIOError:
                    return None

            data = await wait_for(report, timeout=8)  # 1.25-3.75 s for the first one
            assert isinstance(rtcp.parse_compound(data)[0], rtcp.SenderReport)
            await voice.service.call_ended("p1", "remote_bye", None)
        finally:
            rtcp_sock.close()
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_an_answer_accepting_our_rtcp_mux_gets_our_reports_on_its_rtp_port(
    platform: Platform, tmp_path: Path
) -> None:
    world = World(platform, slug="voice-mux-out")
    world.queue("Calls", channels=("call",))
    world.agent("ann")

    async def scenario() -> None:
        voice = await start_voice_world(world, tmp_path / "media")
        voice.phones.by_agent[world.agents["ann"].user_id] = "ann-phone"
        try:
            live, call_id, leg_id = await dial_out(voice, world)
            customer = RtpPeer(440.0, 0x97)
            voice.pacer.peers.append(customer)
            out = voice.signaling.originated[0]
            customer.target = (out.local.host, out.local.port)
            answer = sdp.parse(offer_text(*customer.address, "a=rtcp-mux")).endpoint
            await voice.service.call_answered(call_id, answer)
            reports = await wait_for(lambda: reports_in(customer.received), timeout=8)
            audio = [d for d in customer.received if d[1] not in (rtcp.SR, rtcp.RR)]
            first = reports[0]
            assert isinstance(first, rtcp.SenderReport | rtcp.ReceiverReport)
            assert audio and first.ssrc == rtp.parse(audio[0]).header.ssrc
            # The customer's own report, sent to our RTP port, is taken as RTCP.
            rr = rtcp.build_compound([rtcp.ReceiverReport(0x97, ())])
            customer.sock.sendto(rr, customer.target)

            for _ in range(50):  # taken within a tick or two; 5 s before giving up
                _, (stats,) = await live.media.get_stats(leg_id)
                if stats.rtcp_rx:
                    break
                await asyncio.sleep(0.1)
            assert stats.rtcp_rx == 1 and stats.rtcp_rx_dropped == 0 and stats.rx_invalid == 0
            await voice.service.call_ended("p1", "remote_bye", None)
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


def test_an_answer_without_telephone_event_leaves_the_leg_without_it(
    platform: Platform, tmp_path: Path
) -> None:
    world = World(platform, slug="voice-note")
    world.queue("Calls", channels=("call",))
    world.agent("ann")

    async def scenario() -> None:
        voice = await start_voice_world(world, tmp_path / "media")
        voice.phones.by_agent[world.agents["ann"].user_id] = "ann-phone"
        try:
            live, call_id, leg_id = await dial_out(voice, world)
            customer = RtpPeer(440.0, 0x98)
            voice.pacer.peers.append(customer)
            answer = MediaEndpoint(*customer.address, (("PCMU", 0),), None)
            await voice.service.call_answered(call_id, answer)
            with pytest.raises(MediaError) as refused:
                await live.media.send_dtmf(leg_id, "5")
            assert refused.value.code == "no_telephone_event"
            await voice.service.call_ended("p1", "remote_bye", None)
        finally:
            await stop_voice_world(voice)

    asyncio.run(scenario())


# -- on the wire: real SipSignaling, a hand-written UDP caller -------------------------


class MuxingAnswerer(Recorder):
    """Answers every offer with a muxed endpoint when ``mux`` is "offered" (what the
    orchestrator does) or always (``mux`` "always", to see signaling refuse it)."""

    def __init__(self, mux: str) -> None:
        super().__init__(policy="hold")
        self.mux = mux

    async def call_offered(self, call: IncomingCall) -> None:
        await super().call_offered(call)
        assert self.signaling is not None
        mux = call.remote_media.rtcp_mux or self.mux == "always"
        await self.signaling.ring(call.call_id)
        local = MediaEndpoint("127.0.0.1", 40000, (("PCMU", 0),), 101, rtcp_mux=mux)
        await self.signaling.answer(call.call_id, local)


def invite(port: int, *extra: str) -> tuple[int, MediaEndpoint]:
    phone = RawPhone(port, "+8613800000000")
    try:
        reply = phone.request(
            "INVITE", ruri_user="4008", body=offer_text("127.0.0.1", 7000, *extra)
        )
    finally:
        phone.close()
    body = reply.text.split("\r\n\r\n", 1)[1]
    return reply.status, sdp.parse(body).endpoint


def test_our_200_answers_rtcp_mux_only_to_an_offer_of_it() -> None:
    directory = MemoryDirectory(
        trunks=[Trunk("trunk-1", "org-1", "carrier", "127.0.0.1", allowed_sources=("127.0.0.1",))]
    )

    async def scenario() -> None:
        offered = MuxingAnswerer("offered")
        async with running(directory, offered) as signaling:
            status, answer = await asyncio.to_thread(invite, signaling.port, "a=rtcp-mux")
            assert status == 200 and answer.rtcp_mux
            # Junk RTCP attributes are ignored, not a 488 (or a 500); a good one is read.
            junk = ("a=rtcp:junk", "a=rtcp:7001 IN IP4 127.0.0.1", "a=rtcp-mux:1")
            status, answer = await asyncio.to_thread(invite, signaling.port, *junk)
            assert status == 200 and not answer.rtcp_mux
            remotes = [call.remote_media for call in offered.offered]
            assert [(r.rtcp_mux, r.rtcp_port) for r in remotes] == [(True, None), (False, 7001)]
        always = MuxingAnswerer("always")
        async with running(directory, always) as signaling:
            # RFC 5761 5.1.1: no a=rtcp-mux in an answer to an offer without it.
            status, answer = await asyncio.to_thread(invite, signaling.port)
            assert status == 200 and not answer.rtcp_mux

    asyncio.run(scenario())
