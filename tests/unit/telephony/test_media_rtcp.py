"""RTCP packets, receiver statistics and the per-leg session, against RFC 3550 by hand.

Oracles: the byte layout written out from the RFC's diagrams (section 6.4.1), the A.8
jitter recursion in floating point, loss counted by hand, and a hypothesis round trip;
malformed input only ever raises RtcpParseError (and the session counts it)."""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jietong.telephony.media import control as c
from jietong.telephony.media import dtmf, rtcp, rtp
from jietong.telephony.media.engine import Engine, EngineConfig, EngineError
from jietong.telephony.media.legs import Leg
from jietong.telephony.media.rtcp import (
    Goodbye,
    ReceiverReport,
    Reception,
    ReportBlock,
    RtcpParseError,
    RtcpSession,
    SenderReport,
    SentCounts,
    SourceDescription,
)
from jietong.telephony.media.sockets import SO_TIMESTAMPNS

u32 = st.integers(0, 0xFFFFFFFF)
blocks = st.builds(
    ReportBlock, u32, st.integers(0, 255), st.integers(-0x800000, 0x7FFFFF), u32, u32, u32, u32
)
block_lists = st.lists(blocks, max_size=31).map(tuple)
sender_reports = st.builds(SenderReport, u32, st.integers(0, 2**64 - 1), u32, u32, u32, block_lists)
receiver_reports = st.builds(ReceiverReport, u32, block_lists)
text = st.text(max_size=60).filter(lambda t: len(t.encode()) <= 255)
sdes = st.builds(
    SourceDescription, st.lists(st.tuples(u32, text), min_size=1, max_size=5).map(tuple)
)
byes = st.builds(Goodbye, st.lists(u32, max_size=5).map(tuple), text)


@given(st.one_of(sender_reports, receiver_reports), st.lists(st.one_of(sdes, byes), max_size=3))
def test_compound_packets_round_trip(first, rest):
    packets = [first, *rest]
    assert rtcp.parse_compound(rtcp.build_compound(packets)) == packets


def test_sender_report_layout_follows_the_rfc_diagram():
    block = ReportBlock(0xBBBBBBBB, 64, -3, 0x0001_0005, 80, 0x1234_5678, 0x0000_8000)
    sr = SenderReport(0xAAAAAAAA, 0x0102030405060708, 0x11111111, 7, 1120, (block,))
    data = rtcp.pack(sr)
    # V=2, P=0, RC=1 | PT=200 | length = 12 words after the first
    assert data[:4] == bytes([0x81, 200, 0, 12])
    assert len(data) == 52
    assert struct.unpack("!IIIIII", data[4:28]) == (
        0xAAAAAAAA, 0x01020304, 0x05060708, 0x11111111, 7, 1120,
    )  # fmt: skip
    ssrc, lost, seq, jitter, lsr, dlsr = struct.unpack("!IIIIII", data[28:])
    assert (ssrc, lost >> 24, lost & 0xFFFFFF) == (0xBBBBBBBB, 64, 0xFFFFFD)  # -3, 24-bit
    assert (seq, jitter, lsr, dlsr) == (0x10005, 80, 0x12345678, 0x8000)


def test_sdes_cname_is_null_terminated_and_padded_to_a_word():
    data = rtcp.pack(SourceDescription(((1, "abc"),)))
    # header, SSRC, CNAME(1) len 3 "abc", end item, pad: 4 + 4 + 5 + 1 + 2 = 16
    assert data == bytes([0x81, 202, 0, 3]) + (1).to_bytes(4, "big") + b"\x01\x03abc\x00\x00\x00"


@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_rtcp_parse_error(data):
    with contextlib.suppress(RtcpParseError):
        rtcp.parse_compound(data)


@given(
    st.one_of(sender_reports, receiver_reports),
    st.lists(st.one_of(sdes, byes), max_size=2),
    st.data(),
)
@settings(max_examples=300)
def test_damaged_packets_are_counted_never_raised(first, rest, data):
    good = bytearray(rtcp.build_compound([first, *rest]))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(good) - 1))
        good[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(good)))
    session = RtcpSession()
    accepted = session.receive(bytes(good[:cut]), 1_700_000_000.0, 42)
    assert session.rx_packets + session.rx_dropped == 1
    assert accepted == (session.rx_packets == 1)


def test_validity_checks_of_appendix_a2():
    rr = rtcp.pack(ReceiverReport(1))
    sdes_packet = rtcp.pack(SourceDescription(((1, "x"),)))
    with pytest.raises(RtcpParseError):
        rtcp.parse_compound(sdes_packet + rr)  # must start with SR or RR
    with pytest.raises(RtcpParseError):
        rtcp.parse_compound(rr + sdes_packet[:-1])  # lengths must add up
    with pytest.raises(RtcpParseError):
        rtcp.parse_compound(bytes([0x40]) + rr[1:])  # version 1
    padded_first = bytes([rr[0] | 0x20]) + rr[1:]
    with pytest.raises(RtcpParseError):
        rtcp.parse_compound(padded_first + sdes_packet)  # padding only in the last packet
    # Padding in the last packet is fine: an APP packet padded by 4 octets.
    app = bytes([0xA0, 204, 0, 3]) + b"\0" * 8 + b"\0\0\0\x04"
    assert rtcp.parse_compound(rr + app)[1] == rtcp.OtherPacket(204)


# -- reception statistics, through the engine's receive path -------------------------

KERNEL_EPOCH = 1_700_000_000 * 8000  # a receive time, in 8 kHz units


@pytest.fixture
def engine(tmp_path):
    engine = Engine(EngineConfig(tmp_path), lambda owner, event: None)
    yield engine
    engine.shutdown()


def make_leg(engine: Engine, leg_id: str = "a") -> Leg:
    engine.create_leg(c.CreateLeg(leg_id, remote_host="127.0.0.1", remote_port=40000), 1)
    return engine.legs[leg_id]


def deliver(engine, leg, seqs, *, ssrc=7, transit=None, payload_type=0) -> None:
    """Packets as the kernel hands them over: with SO_TIMESTAMPNS receive times, each
    ``160 * seq`` units after a fixed epoch plus ``transit[i]`` (a delay in RTP units)."""
    for i, seq in enumerate(seqs):
        arrival = KERNEL_EPOCH + 160 * seq + (transit[i] if transit else 0)
        seconds, units = divmod(arrival, 8000)
        anc = [(socket.SOL_SOCKET, SO_TIMESTAMPNS, struct.pack("@ll", seconds, units * 125_000))]
        payload = bytes(160) if payload_type == 0 else dtmf.digit_packets("1")[0][1]
        header = rtp.RtpHeader(payload_type, seq & 0xFFFF, (160 * seq) & 0xFFFFFFFF, ssrc)
        engine._on_datagram(leg, rtp.pack(header, payload), leg.remote, anc)
        leg.jitter.clear()  # nobody plays out here


def test_loss_counted_by_hand(engine):
    leg = make_leg(engine)
    deliver(engine, leg, [s for s in range(10) if s not in (3, 7)])
    reception = leg.reception()
    assert reception is not None
    assert (reception.ssrc, reception.highest_seq) == (7, 9)
    assert (reception.expected, reception.received, reception.cumulative_lost) == (10, 8, 2)
    session = RtcpSession()
    first = rtcp.parse_compound(session.report(0.0, 1, SentCounts(0, 0, 0), reception))
    assert first[0].blocks[0].fraction_lost == (2 << 8) // 10  # type: ignore[union-attr]
    deliver(engine, leg, range(10, 20))
    second = rtcp.parse_compound(session.report(5.0, 1, SentCounts(0, 0, 0), leg.reception()))
    (block,) = second[0].blocks  # type: ignore[union-attr]
    assert block.fraction_lost == 0 and block.cumulative_lost == 2 and block.highest_seq == 19


def test_sequence_wrap_extends_the_highest_number(engine):
    leg = make_leg(engine)
    deliver(engine, leg, range(65530, 65546))  # 65530..65535, then 0..9 after the wrap
    reception = leg.reception()
    assert reception is not None
    assert reception.highest_seq == 65536 + 9 and reception.cumulative_lost == 0


def test_late_packets_are_not_lost_and_duplicates_make_loss_negative(engine):
    leg = make_leg(engine)
    deliver(engine, leg, [0, 1, 3, 2, 4])  # 2 arrives late: counted, not lost
    assert leg.reception().cumulative_lost == 0  # type: ignore[union-attr]
    deliver(engine, leg, [4, 5])  # 4 again
    assert leg.reception().cumulative_lost == -1  # type: ignore[union-attr]  # A.3 allows it


def test_a_restarted_stream_starts_its_figures_afresh(engine):
    leg = make_leg(engine)
    deliver(engine, leg, [s for s in range(100, 110) if s != 105])
    before = leg.reception()
    deliver(engine, leg, [20000, 20001])  # a jump: the sender restarted
    after = leg.reception()
    assert before is not None and after is not None
    assert after.epoch == before.epoch + 1
    assert (after.highest_seq, after.expected, after.received) == (20001, 2, 2)
    deliver(engine, leg, [5, 6], ssrc=8)  # a new SSRC: likewise
    newest = leg.reception()
    assert newest is not None and (newest.ssrc, newest.expected) == (8, 2)


def test_jitter_is_zero_for_constant_transit_and_converges_to_the_swing(engine):
    steady = make_leg(engine, "steady")
    deliver(engine, steady, range(50), transit=[37] * 50)
    assert steady.jitter16 >> 4 == 0
    swinging = make_leg(engine, "swinging")
    deliver(engine, swinging, range(200), transit=[0, 16] * 100)  # |D| = 16 every packet
    assert 14 <= swinging.jitter16 >> 4 <= 16  # J_n = 16 (1 - (15/16)^n) -> 16
    assert swinging.stats().jitter_ms == pytest.approx((swinging.jitter16 >> 4) / 8)


@given(st.lists(st.integers(-4000, 4000), min_size=2, max_size=100))
@settings(deadline=None)
def test_integer_jitter_tracks_the_floating_point_recursion_of_a8(tmp_path_factory, transits):
    engine = Engine(EngineConfig(tmp_path_factory.mktemp("j")), lambda owner, event: None)
    try:
        leg = make_leg(engine)
        deliver(engine, leg, range(len(transits)), transit=transits)
    finally:
        engine.shutdown()
    expected = 0.0
    for previous, current in itertools.pairwise(transits):
        expected += (abs(current - previous) - expected) / 16
    assert abs(leg.jitter16 / 16 - expected) <= 1.0


def test_jitter_step_takes_timestamp_wrap_in_its_ring():
    assert rtcp.jitter_step(0, 2**32 - 16) == 16  # D = -16 across the wrap, not 4e9
    assert rtcp.jitter_step(160, 0) == 150  # 160 - (168 >> 4)


def test_telephone_events_count_for_loss_but_not_jitter(engine):
    leg = make_leg(engine)
    deliver(engine, leg, range(5), transit=[0, 900, 0, 900, 0], payload_type=101)
    reception = leg.reception()
    assert reception is not None and reception.received == 5 and reception.jitter == 0


# -- the session ----------------------------------------------------------------------


def test_round_trip_time_from_lsr_and_dlsr():
    sent_at = 1_700_000_000.25
    lsr = rtcp.ntp_middle(rtcp.ntp_time(sent_at))
    # The peer held our SR for 0.5 s; its report reaches us 0.6 s after we sent the SR.
    rtt = rtcp.round_trip_s(rtcp.ntp_time(sent_at + 0.6), lsr, 32768)
    assert rtt == pytest.approx(0.1, abs=1 / 65536 * 2)
    assert rtcp.round_trip_s(rtcp.ntp_time(sent_at), 0, 0) is None  # no SR from us yet
    assert rtcp.round_trip_s(rtcp.ntp_time(sent_at), lsr, 65536) is None  # negative


def test_session_reports_sr_after_sending_and_rr_otherwise():
    session = RtcpSession(cname="leg@test")
    now = 1_700_000_000.0
    first = rtcp.parse_compound(session.report(now, 5, SentCounts(0, 0, 0), None))
    assert first[0] == ReceiverReport(5)  # heard nothing, sent nothing
    assert first[1] == SourceDescription(((5, "leg@test"),))
    heard = Reception(7, 1, 4, 5, 4, 0)  # 0, 1, 2, 4 arrived
    packets = rtcp.parse_compound(session.report(now + 5, 5, SentCounts(250, 40000, 777), heard))
    sr = packets[0]
    assert isinstance(sr, SenderReport)
    assert (sr.ssrc, sr.rtp_timestamp, sr.packets, sr.octets) == (5, 777, 250, 40000)
    assert sr.ntp == rtcp.ntp_time(now + 5)
    (block,) = sr.blocks
    assert (block.ssrc, block.highest_seq, block.cumulative_lost) == (7, 4, 1)
    assert block.fraction_lost == (1 << 8) // 5
    assert block.lsr == 0 and block.dlsr == 0  # no SR from the peer yet
    # Nothing sent since: back to RR; with bye, a BYE closes the compound.
    last = rtcp.parse_compound(
        session.report(now + 10, 5, SentCounts(250, 40000, 0), heard, bye=True)
    )
    assert isinstance(last[0], ReceiverReport) and last[-1] == Goodbye((5,))


def test_session_takes_the_peers_view_and_answers_its_sr():
    session = RtcpSession()
    ours = 0xCAFE
    our_sr_at = 1_700_000_000.0
    lsr = rtcp.ntp_middle(rtcp.ntp_time(our_sr_at))
    about_us = ReportBlock(ours, 128, 12, 5000, 160, lsr, 65536 // 4)  # held 0.25 s
    about_other = ReportBlock(0x1234, 255, 99, 1, 1, 0, 0)
    peer_sr = SenderReport(77, rtcp.ntp_time(our_sr_at + 0.2), 0, 1, 160, (about_other, about_us))
    packet = rtcp.build_compound([peer_sr, SourceDescription(((77, "peer"),))])
    assert session.receive(packet, our_sr_at + 0.3, ours)
    assert (session.peer_fraction_lost, session.peer_cumulative_lost) == (128, 12)
    assert session.peer_jitter == 160
    assert session.rtt_s == pytest.approx(0.05, abs=1e-3)
    assert session.peer_cname == "peer"
    # Our next report answers the peer's SR: LSR its NTP middle, DLSR the time we held it.
    heard = Reception(77, 1, 2, 3, 3, 0)
    ours_next = rtcp.parse_compound(
        session.report(our_sr_at + 1.3, ours, SentCounts(0, 0, 0), heard)
    )
    (block,) = ours_next[0].blocks  # type: ignore[union-attr]
    assert block.lsr == rtcp.ntp_middle(rtcp.ntp_time(our_sr_at + 0.2))
    assert block.dlsr == pytest.approx(65536, abs=2)


def test_report_intervals_are_randomised_around_five_seconds():
    ticks = [rtcp.report_interval_ticks(50) for _ in range(300)]
    assert min(ticks) >= 125 and max(ticks) <= 375
    assert len(set(ticks)) > 50  # spread, not one tick for every leg
    firsts = [rtcp.report_interval_ticks(50, first=True) for _ in range(100)]
    assert max(firsts) <= 188


def test_e_model_estimate_against_hand_computed_values():
    # No delay, no loss: R = 93.2, MOS = 1 + 0.035 R + 7e-6 R (R - 60)(100 - R) = 4.41.
    assert rtcp.r_factor(0.0, 0.0) == pytest.approx(93.2)
    assert rtcp.mos(93.2) == pytest.approx(4.409, abs=1e-3)
    # 1 % loss, G.711 without concealment: Ie,eff = 95 * 1 / (1 + 4.3) = 17.92.
    assert rtcp.r_factor(0.0, 0.01) == pytest.approx(93.2 - 95 / 5.3)
    assert rtcp.mos(rtcp.r_factor(0.0, 0.01)) == pytest.approx(3.834, abs=1e-3)
    # 200 ms one way: Id = 0.024 * 200 + 0.11 * (200 - 177.3) = 7.297.
    assert rtcp.r_factor(200.0, 0.0) == pytest.approx(93.2 - 7.297)
    assert rtcp.mos(0.0) == 1.0 and rtcp.mos(100.0) == 4.5
    # A leg: half of a 100 ms round trip plus our 60 ms, the worse direction's loss.
    expected = rtcp.mos(rtcp.r_factor(110.0, 0.05))
    assert rtcp.mos_estimate(0.1, 0.0, 0.05) == pytest.approx(expected, abs=0.005)


@given(st.floats(0, 2000), st.floats(0, 1), st.floats(0, 2000), st.floats(0, 1))
def test_more_delay_or_loss_never_raises_the_estimate(d1, l1, d2, l2):
    better = rtcp.mos(rtcp.r_factor(min(d1, d2), min(l1, l2)))
    assert better >= rtcp.mos(rtcp.r_factor(max(d1, d2), max(l1, l2))) - 1e-9
    assert 1.0 <= better <= 4.5


# -- port pairs -----------------------------------------------------------------------


def _free_block(size: int) -> int:
    """The first port of ``size`` consecutive free UDP ports on loopback, even."""
    for base in range(36000, 60000, 64):
        probes = []
        try:
            for port in range(base, base + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probes.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in probes:
                s.close()
        return base
    raise RuntimeError("no free port block")


def test_legs_get_even_rtp_and_the_odd_port_above_for_rtcp(tmp_path):
    low = _free_block(6)
    engine = Engine(EngineConfig(tmp_path, rtp_ports=(low, low + 5)), lambda o, e: None)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.0.0.1", low + 3))  # someone holds the RTCP port of the 2nd pair
    try:
        first = engine.create_leg(c.CreateLeg("a"), 1)
        second = engine.create_leg(c.CreateLeg("b"), 1)
        assert (first["local_port"], first["rtcp_port"]) == (low, low + 1)
        assert (second["local_port"], second["rtcp_port"]) == (low + 4, low + 5)
        with pytest.raises(EngineError) as full:
            engine.create_leg(c.CreateLeg("c"), 1)
        assert full.value.code == "no_ports"
        # Multiplexed, a leg needs the RTP port alone: the pair with a taken odd port does.
        muxed = engine.create_leg(c.CreateLeg("d", rtcp_mux=True), 1)
        assert muxed["local_port"] == muxed["rtcp_port"] == low + 2
        engine.destroy_leg(c.DestroyLeg("a"))
        assert engine.create_leg(c.CreateLeg("e"), 1)["local_port"] == low  # freed, reused
    finally:
        squatter.close()
        engine.shutdown()


def test_rtcp_goes_to_the_next_port_up_unless_named(engine):
    leg = make_leg(engine)
    assert leg.rtcp_remote == ("127.0.0.1", 40001)
    engine.set_remote(c.SetRemote("a", "127.0.0.1", 40010, rtcp_port=40100))
    assert leg.rtcp_remote == ("127.0.0.1", 40100)
    engine.set_remote(c.SetRemote("a", "127.0.0.1", 65535))
    assert leg.rtcp_remote is None  # no port above: no RTCP rather than a bad address
