"""What SDP negotiates reaches the real media process (SQLite and PostgreSQL, real UDP on
loopback): a caller offering rtcp-mux is answered a=rtcp-mux and gets our RTCP on its RTP
port; a number we dial that answers with another telephone-event type and an a=rtcp port
gets our DTMF at that type and our RTCP at that port; one answering without
telephone-event gets no RFC 4733 DTMF at all (the engine refuses, so callers go in band)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
from .voice_harness import VoiceWorld, start_voice_world, wait_for

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


async def our_reports_arrive_on_the_rtp_port(peer: RtpPeer) -> None:
    """Our first RTCP report reaches `peer` among the RTP we send it, on the very same
    port, and reports on that stream."""
    # The first report is due 1.25-3.75 s after the leg was made (RFC 3550 6.2).
    reports = await wait_for(lambda: reports_in(peer.received), timeout=8)
    audio = [d for d in peer.received if d[1] not in (rtcp.SR, rtcp.RR)]
    assert audio, "no RTP from us"
    first = reports[0]
    assert isinstance(first, rtcp.SenderReport | rtcp.ReceiverReport)
    assert first.ssrc == rtp.parse(audio[0]).header.ssrc


def test_a_caller_offering_rtcp_mux_gets_our_reports_on_its_rtp_port(
    platform: Platform, tmp_path: Path
) -> None:
    world = World(platform, slug="voice-mux")
    world.queue("Calls", channels=("call",))

    async def scenario() -> None:
        async with await start_voice_world(world, tmp_path / "media") as voice:
            caller = RtpPeer(440.0, 0x1234)
            voice.pacer.peers.append(caller)
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
            await our_reports_arrive_on_the_rtp_port(caller)
            await voice.service.call_ended("m1", "remote_bye", None)

    asyncio.run(scenario())


@dataclass
class Dialled:
    """A number ann's desk phone dialled, not yet answered: the call, the number's call
    id and media leg, our offer to it, and an RTP peer playing the number (not yet aimed
    at us)."""

    voice: VoiceWorld
    live: LiveCall
    call_id: str
    leg_id: str
    offer: MediaEndpoint
    customer: RtpPeer

    def aim(self) -> None:
        """The number's RTP goes to our offer's port."""
        self.customer.target = (self.offer.host, self.offer.port)

    async def answers(self, media: MediaEndpoint) -> None:
        """The number answers, its SDP read as `media`."""
        await self.voice.service.call_answered(self.call_id, media)


async def dial_out(voice: VoiceWorld, world: World, customer_ssrc: int) -> Dialled:
    """ann's desk phone (ann-phone) dials a number; we offer it media."""
    voice.phones.by_agent[world.agents["ann"].user_id] = "ann-phone"
    phone = RtpPeer(1000.0, 0x77)
    voice.pacer.peers.append(phone)
    await voice.desk_dials("ann-phone", "13912345678", MediaEndpoint(*phone.address))
    out = (await wait_for(lambda: voice.signaling.originated))[0]
    # Our offer to the number: rtcp-mux proposed, with the RTP+1 pair bound as fallback.
    ours = sdp.parse(sdp.build(out.local, session_id=1, version=1)).endpoint
    assert ours.rtcp_mux and ours.telephone_event_pt == 101
    found = voice.service.calls.by_leg_call(out.call_id)
    assert found is not None
    customer = RtpPeer(440.0, customer_ssrc)
    voice.pacer.peers.append(customer)
    return Dialled(voice, found[0], out.call_id, found[1].leg_id, out.local, customer)


def dial_out_and_play(
    platform: Platform,
    media_root: Path,
    slug: str,
    customer_ssrc: int,
    scenario: Callable[[Dialled], Awaitable[None]],
) -> None:
    """A contact center with a call queue and one agent, ann, and a real media process:
    ann's desk phone dials a number, `scenario` plays the number's side, then the desk
    phone hangs up."""
    world = World(platform, slug=slug)
    world.queue("Calls", channels=("call",))
    world.agent("ann")

    async def run() -> None:
        async with await start_voice_world(world, media_root) as voice:
            await scenario(await dial_out(voice, world, customer_ssrc))
            await voice.service.call_ended("p1", "remote_bye", None)

    asyncio.run(run())


def test_the_answer_to_our_offer_sets_telephone_event_type_and_rtcp_port(
    platform: Platform, tmp_path: Path
) -> None:
    async def scenario(number: Dialled) -> None:
        number.aim()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtcp_sock:
            rtcp_sock.bind(("127.0.0.1", 0))
            rtcp_sock.setblocking(False)
            rtcp_port = rtcp_sock.getsockname()[1]
            answer_text = (
                offer_text(*number.customer.address, f"a=rtcp:{rtcp_port} IN IP4 127.0.0.1")
                .replace("0 8 101", "0 97")
                .replace("a=rtpmap:101 telephone-event", "a=rtpmap:97 telephone-event")
            )
            answer = sdp.parse(answer_text).endpoint
            assert (answer.telephone_event_pt, answer.rtcp_port) == (97, rtcp_port)
            await number.answers(answer)
            received = number.customer.received
            mark = len(received)
            await number.live.media.send_dtmf(number.leg_id, "5")
            await asyncio.sleep(0.5)
            types = {rtp.parse(d).header.payload_type for d in received[mark:]}
            assert 97 in types and 101 not in types

            def report() -> bytes | None:
                try:
                    return rtcp_sock.recv(2048)
                except BlockingIOError:
                    return None

            data = await wait_for(report, timeout=8)  # 1.25-3.75 s for the first one
            assert isinstance(rtcp.parse_compound(data)[0], rtcp.SenderReport)

    dial_out_and_play(platform, tmp_path / "media", "voice-te", 0x99, scenario)


def test_an_answer_accepting_our_rtcp_mux_gets_our_reports_on_its_rtp_port(
    platform: Platform, tmp_path: Path
) -> None:
    async def scenario(number: Dialled) -> None:
        number.aim()
        customer = number.customer
        await number.answers(sdp.parse(offer_text(*customer.address, "a=rtcp-mux")).endpoint)
        await our_reports_arrive_on_the_rtp_port(customer)
        # The customer's own report, sent to our RTP port, is taken as RTCP.
        rr = rtcp.build_compound([rtcp.ReceiverReport(0x97, ())])
        customer.sock.sendto(rr, (number.offer.host, number.offer.port))

        for _ in range(50):  # taken within a tick or two; 5 s before giving up
            _, (stats,) = await number.live.media.get_stats(number.leg_id)
            if stats.rtcp_rx:
                break
            await asyncio.sleep(0.1)
        assert stats.rtcp_rx == 1 and stats.rtcp_rx_dropped == 0 and stats.rx_invalid == 0

    dial_out_and_play(platform, tmp_path / "media", "voice-mux-out", 0x97, scenario)


def test_an_answer_without_telephone_event_leaves_the_leg_without_it(
    platform: Platform, tmp_path: Path
) -> None:
    async def scenario(number: Dialled) -> None:
        await number.answers(MediaEndpoint(*number.customer.address, (("PCMU", 0),), None))
        with pytest.raises(MediaError) as refused:
            await number.live.media.send_dtmf(number.leg_id, "5")
        assert refused.value.code == "no_telephone_event"

    dial_out_and_play(platform, tmp_path / "media", "voice-note", 0x98, scenario)


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
