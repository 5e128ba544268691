"""RTCP with a real media process and real UDP peers on loopback: the peer receives and
parses our SR (with its report block on the peer's stream) and CNAME, answers with its own
SR/RR, and sees round-trip time and its figures in our stats; wrong sources and garbage
are counted and dropped; destroying the leg sends BYE; rtcp-mux shares the RTP port."""

from __future__ import annotations

import asyncio
import socket
import time

from jietong.telephony.media import rtcp
from jietong.telephony.media.client import MediaClient
from jietong.telephony.media.process import MediaProcess

from .peers import RtpPeer, run_peers

PEER_SSRC = 0x5EED


async def connect(process: MediaProcess) -> MediaClient:
    return await MediaClient.connect(process.address, process.secret, name=process.name)


def paired_peer(ssrc: int = PEER_SSRC) -> tuple[RtpPeer, socket.socket]:
    """A peer whose RTP port is even with RTCP on the port above (the RFC 3550 default)."""
    for _ in range(100):
        peer = RtpPeer(440.0, ssrc)
        port = peer.address[1]
        if port % 2 == 0:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                sock.close()
            else:
                sock.setblocking(False)
                return peer, sock
        peer.close()
    raise RuntimeError("no even/odd port pair on loopback")


def read_all(sock: socket.socket) -> list[tuple[bytes, float]]:
    out = []
    while True:
        try:
            out.append((sock.recv(2048), time.time()))
        except BlockingIOError:
            return out


def compounds(datagrams: list[tuple[bytes, float]]) -> list[tuple[list[rtcp.RtcpPacket], float]]:
    return [(rtcp.parse_compound(data), at) for data, at in datagrams]


def test_peer_parses_our_reports_and_we_see_its_figures(media_process):
    async def scenario():
        client = await connect(media_process)
        peer, rtcp_sock = paired_peer()
        leg = await client.create_leg("r-a", remote=peer.address, call_id="r")
        assert leg.local_port % 2 == 0 and leg.rtcp_port == leg.local_port + 1
        peer.target = (leg.local_host, leg.local_port)

        async def lose_five() -> None:
            peer.seq += 5  # five packets "lost" on the way
            peer.timestamp += 5 * 160

        # The first report is due 1.25-3.75 s after the leg was made (RFC 3550 6.2).
        await run_peers([peer], 4.5, actions={25: lose_five})
        reports = compounds(read_all(rtcp_sock))
        assert reports, "no RTCP from the media engine"
        packets, sr_arrival = reports[0]  # its interval holds the loss (at 0.5 s)
        sr = packets[0]
        assert isinstance(sr, rtcp.SenderReport) and sr.ssrc == leg.ssrc
        assert sr.packets > 50 and sr.octets == 160 * sr.packets
        (block,) = sr.blocks
        assert block.ssrc == PEER_SSRC
        assert block.cumulative_lost == 5
        assert 30 <= block.highest_seq < peer.seq  # past the gap, not past what was sent
        assert block.fraction_lost == (5 << 8) // (block.highest_seq + 1)
        cname = next(p for p in packets if isinstance(p, rtcp.SourceDescription))
        assert cname.chunks[0][0] == leg.ssrc and cname.chunks[0][1]

        # Our answer: an SR of our own stream with a block on theirs.
        held = time.time() - sr_arrival
        about_them = rtcp.ReportBlock(leg.ssrc, 64, 7, 1234, 80, rtcp.ntp_middle(sr.ntp),
                                      round(held * 65536))  # fmt: skip
        answer = rtcp.build_compound([
            rtcp.SenderReport(PEER_SSRC, rtcp.ntp_time(time.time()), peer.timestamp,
                              peer.seq, 160 * peer.seq, (about_them,)),
            rtcp.SourceDescription(((PEER_SSRC, "peer@test"),)),
        ])  # fmt: skip
        target = (leg.local_host, leg.rtcp_port)
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.sendto(answer, target)  # right packet, wrong address
        rtcp_sock.sendto(b"\x81\xc9\x00\x07garbage", target)  # right address, malformed
        rtcp_sock.sendto(answer, target)
        stranger.close()
        await asyncio.sleep(0.2)
        _, (stats,) = await client.get_stats("r-a")
        assert stats.rtcp_rx == 1 and stats.rtcp_rx_dropped == 2
        assert stats.rtcp_tx >= 1
        assert stats.peer_fraction_lost == 0.25 and stats.peer_cumulative_lost == 7
        assert stats.peer_jitter_ms == 10.0  # 80 units at 8 kHz
        assert stats.rtt_ms is not None and 0 <= stats.rtt_ms < 5000
        # fraction_lost is per report interval: a second report may already have gone
        # out (its interval lost nothing), so the loss is checked in total here and per
        # interval in the first report above.
        assert stats.rx_lost == 5 and 0 <= stats.fraction_lost < 1 and stats.jitter_ms >= 0

        final = await client.destroy_leg("r-a")
        assert final.rtcp_rx == 1
        await asyncio.sleep(0.1)
        last, _ = compounds(read_all(rtcp_sock))[-1]
        assert last[-1] == rtcp.Goodbye((leg.ssrc,))
        assert isinstance(last[0], rtcp.SenderReport | rtcp.ReceiverReport)
        await client.close()
        peer.close()
        rtcp_sock.close()

    asyncio.run(scenario())


def test_jitter_is_measured_from_kernel_receive_times(media_process):
    """Packets sent in pairs every 40 ms: each arrives 20 ms early or late against its
    timestamp, so the interarrival jitter tends to 20 ms (RFC 3550 A.8); a leg that heard
    nothing reports none."""

    async def scenario():
        client = await connect(media_process)
        peer, rtcp_sock = paired_peer()
        await client.create_leg("j-a", remote=peer.address)
        info = (await client.get_stats("j-a"))[1][0]
        assert info.jitter_ms == 0
        leg = await client.create_leg("j-b", remote=peer.address)
        peer.target = (leg.local_host, leg.local_port)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for pair in range(75):  # 3 s
            peer.send_one()
            peer.send_one()
            await asyncio.sleep(max(0.0, start + (pair + 1) * 0.04 - loop.time()))
        await asyncio.sleep(0.1)
        _, (stats,) = await client.get_stats("j-b")
        assert stats.rx_packets == 150
        assert 15 <= stats.jitter_ms <= 40, stats.jitter_ms
        await client.close()
        peer.close()
        rtcp_sock.close()

    asyncio.run(scenario())


def test_rtcp_mux_shares_the_rtp_port(media_process):
    async def scenario():
        client = await connect(media_process)
        peer = RtpPeer(440.0, PEER_SSRC)
        leg = await client.create_leg("m-a", remote=peer.address, rtcp_mux=True)
        assert leg.rtcp_port == leg.local_port
        peer.target = (leg.local_host, leg.local_port)
        await run_peers([peer], 4.5)
        kinds = {data[1] for data in peer.received}
        assert kinds & {rtcp.SR, rtcp.RR}, "no RTCP on the shared port"
        report = next(d for d in peer.received if d[1] in (rtcp.SR, rtcp.RR))
        assert rtcp.parse_compound(report)[0].ssrc == leg.ssrc  # type: ignore[union-attr]
        rr = rtcp.build_compound([
            rtcp.ReceiverReport(PEER_SSRC, (rtcp.ReportBlock(leg.ssrc, 0, 0, 0, 8, 0, 0),)),
        ])  # fmt: skip
        peer.sock.sendto(rr, peer.target)
        await asyncio.sleep(0.2)
        _, (stats,) = await client.get_stats("m-a")
        assert stats.rtcp_rx == 1 and stats.peer_jitter_ms == 1.0
        assert stats.rx_invalid == 0  # RTCP is not taken for bad RTP
        assert stats.rtt_ms is None  # LSR 0: the peer had no SR of ours to time
        await client.close()
        peer.close()

    asyncio.run(scenario())


def test_a_named_rtcp_port_is_used_and_the_default_is_not(media_process):
    """SDP ``a=rtcp`` (RFC 3605) names the peer's RTCP port: reports go there."""

    async def scenario():
        client = await connect(media_process)
        peer = RtpPeer(440.0, PEER_SSRC)
        elsewhere = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        elsewhere.bind(("127.0.0.1", 0))
        elsewhere.setblocking(False)
        leg = await client.create_leg(
            "n-a", remote=peer.address, remote_rtcp_port=elsewhere.getsockname()[1]
        )
        peer.target = (leg.local_host, leg.local_port)
        await run_peers([peer], 4.5)
        reports = compounds(read_all(elsewhere))
        assert reports and reports[0][0][0].ssrc == leg.ssrc  # type: ignore[union-attr]
        await client.close()
        peer.close()
        elsewhere.close()

    asyncio.run(scenario())
