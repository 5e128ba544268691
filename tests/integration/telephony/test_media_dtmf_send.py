"""Sending DTMF as RFC 4733 telephone-events from a real media process to a real UDP
peer: our own detector decodes what arrives (the oracle), and the packets keep the
rules of RFC 4733 2.5 -- audio stream's SSRC and sequence numbers, one timestamp per
event, marker on its first packet, growing durations, three end packets, no audio while
an event plays."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from jietong.telephony.media import dtmf, rtp
from jietong.telephony.media.client import MediaClient, MediaError

from .peers import RtpPeer, run_peers


async def connect(process) -> MediaClient:
    return await MediaClient.connect(process.address, process.secret, name=process.name)


def test_digits_go_out_as_telephone_events_our_detector_decodes(media_process):
    async def scenario():
        client = await connect(media_process)
        peer = RtpPeer(440.0, 1)
        leg = await client.create_leg("d-a", remote=peer.address, dtmf_payload_type=96)
        peer.target = (leg.local_host, leg.local_port)

        async def press() -> None:
            ms = await client.send_dtmf("d-a", "159#", duration_ms=100, gap_ms=60)
            assert ms == 4 * 7 * 20 + 3 * 3 * 20  # 7 packets per digit, 3-tick gaps

        await run_peers([peer], 2.0, actions={10: press})
        packets = [rtp.parse(p) for p in peer.received]
        assert {p.header.ssrc for p in packets} == {leg.ssrc}
        seqs = [p.header.sequence for p in packets]
        assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))

        detector = dtmf.DtmfDetector()
        digits = []
        for tick, p in enumerate(packets):
            if p.header.payload_type == 96:
                found = detector.on_packet(p.header.timestamp, p.header.marker, p.payload, tick)
                digits += [d.digit for d in found]
        assert "".join(digits) == "159#"

        events = [i for i, p in enumerate(packets) if p.header.payload_type == 96]
        assert len(events) == 4 * 7
        for n in range(4):
            run = packets[events[7 * n] : events[7 * n + 6] + 1]
            assert all(p.header.payload_type == 96 for p in run)  # audio suppressed
            assert len({p.header.timestamp for p in run}) == 1
            # The event's timestamp is the one the audio would have had at its start.
            before = packets[events[7 * n] - 1]
            assert run[0].header.timestamp == before.header.timestamp + 160
            assert [p.header.marker for p in run] == [True] + [False] * 6
            blocks = [dtmf.parse_events(p.payload)[0] for p in run]
            assert [b.duration for b in blocks] == [160, 320, 480, 640, 800, 800, 800]
            assert [b.end for b in blocks] == [False] * 4 + [True] * 3
            assert {b.event for b in blocks} == {dtmf.DIGITS.index("159#"[n])}
            after = packets[events[7 * n + 6] + 1]
            assert after.header.payload_type == 0  # audio resumes after the last end
            assert after.header.timestamp == run[0].header.timestamp + 7 * 160
        _, (stats,) = await client.get_stats("d-a")
        assert stats.tx_dtmf_packets == 28
        await client.close()
        peer.close()

    asyncio.run(scenario())


def test_a_leg_without_telephone_event_refuses_and_bad_digits_are_refused(media_process):
    async def scenario():
        client = await connect(media_process)
        peer = RtpPeer(440.0, 1)
        await client.create_leg("n-a", remote=peer.address, dtmf_payload_type=None)
        with pytest.raises(MediaError) as refused:
            await client.send_dtmf("n-a", "1")
        assert refused.value.code == "no_telephone_event"
        await client.create_leg("n-b", remote=peer.address)
        for digits in ("", "12x", "1" * 65):
            with pytest.raises(MediaError) as bad:
                await client.send_dtmf("n-b", digits)
            assert bad.value.code == "bad_digits"
        with pytest.raises(MediaError) as long:
            await client.send_dtmf("n-b", "1", duration_ms=10_000)
        assert long.value.code == "bad_duration"
        # The answer to our offer had no telephone-event: the leg learns it.
        await client.set_remote("n-b", *peer.address, dtmf_payload_type=None)
        with pytest.raises(MediaError) as gone:
            await client.send_dtmf("n-b", "1")
        assert gone.value.code == "no_telephone_event"
        await client.set_remote("n-b", *peer.address, dtmf_payload_type=101)
        assert await client.send_dtmf("n-b", "1") == 140
        await client.close()
        peer.close()

    asyncio.run(scenario())
