"""RTCP packets, receiver statistics and the per-leg session, against RFC 3550 by hand.

Oracles: the byte layout written out from the RFC's diagrams (section 6.4.1), the A.8
jitter recursion in floating point, loss counted by hand, and a hypothesis round trip;
malformed input only ever raises RtcpParseError (and the session counts it)."""

from __future__ import annotations

import contextlib
import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jietong.telephony.media import rtcp
from jietong.telephony.media.rtcp import (
    Goodbye,
    ReceiverReport,
    ReceptionStats,
    ReportBlock,
    RtcpParseError,
    RtcpSession,
    SenderReport,
    SentCounts,
    SourceDescription,
)

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


# -- reception statistics -------------------------------------------------------------


def feed(stats: ReceptionStats, seqs, *, ssrc=b"\0\0\0\7", transit=None) -> None:
    for i, seq in enumerate(seqs):
        arrival = 1000 + 160 * seq + (transit[i] if transit else 0)
        stats.on_packet(ssrc, seq & 0xFFFF, 160 * seq, arrival, True)


def test_loss_counted_by_hand():
    stats = ReceptionStats()
    feed(stats, [s for s in range(10) if s not in (3, 7)])
    assert stats.extended_max == 9
    assert stats.cumulative_lost == 2
    assert stats.next_interval() == (2 << 8) // 10  # 51: 2 lost of 10 expected
    feed(stats, range(10, 20))
    assert stats.next_interval() == 0  # nothing lost in the second interval
    assert stats.cumulative_lost == 2


def test_sequence_wrap_extends_the_highest_number():
    stats = ReceptionStats()
    feed(stats, range(65530, 65546))  # 65530..65535, then 0..9 after the wrap
    assert stats.extended_max == 65536 + 9
    assert stats.cumulative_lost == 0


def test_duplicates_make_the_cumulative_loss_negative():
    stats = ReceptionStats()
    feed(stats, [0, 1, 2, 2, 3])
    assert stats.cumulative_lost == -1  # A.3: allowed, reported as is
    assert stats.next_interval() == 0


def test_a_restarted_sender_is_believed_after_two_packets_in_a_row():
    stats = ReceptionStats()
    feed(stats, range(100, 110))
    feed(stats, [20000])  # one stray packet far ahead is not a restart
    assert stats.extended_max == 109
    feed(stats, [20001])  # two in a row are
    assert stats.extended_max == 20001 and stats.received == 1


def test_jitter_is_zero_for_constant_transit_and_converges_to_the_swing():
    steady = ReceptionStats()
    feed(steady, range(50), transit=[37] * 50)
    assert steady.jitter == 0
    swinging = ReceptionStats()
    feed(swinging, range(200), transit=[0, 16] * 100)  # |D| = 16 every packet
    assert 14 <= swinging.jitter <= 16  # J_n = 16 (1 - (15/16)^n) -> 16


@given(st.lists(st.integers(-4000, 4000), min_size=2, max_size=100))
def test_integer_jitter_tracks_the_floating_point_recursion_of_a8(transits):
    stats = ReceptionStats()
    feed(stats, range(len(transits)), transit=transits)
    expected = 0.0
    for previous, current in itertools.pairwise(transits):
        expected += (abs(current - previous) - expected) / 16
    assert abs(stats.jitter16 / 16 - expected) <= 1.0


def test_telephone_events_count_for_loss_but_not_jitter():
    stats = ReceptionStats()
    for seq in range(5):
        stats.on_packet(b"\0\0\0\1", seq, 999, 1000 + 5000 * seq, False)
    assert stats.received == 5 and stats.jitter == 0


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
    first = rtcp.parse_compound(session.report(now, 5, SentCounts(0, 0, 0)))
    assert first[0] == ReceiverReport(5)  # heard nothing, sent nothing
    assert first[1] == SourceDescription(((5, "leg@test"),))
    feed(session.reception, [0, 1, 2, 4])
    packets = rtcp.parse_compound(session.report(now + 5, 5, SentCounts(250, 40000, 777)))
    sr = packets[0]
    assert isinstance(sr, SenderReport)
    assert (sr.ssrc, sr.rtp_timestamp, sr.packets, sr.octets) == (5, 777, 250, 40000)
    assert sr.ntp == rtcp.ntp_time(now + 5)
    (block,) = sr.blocks
    assert (block.ssrc, block.highest_seq, block.cumulative_lost) == (7, 4, 1)
    assert block.fraction_lost == (1 << 8) // 5
    assert block.lsr == 0 and block.dlsr == 0  # no SR from the peer yet
    # Nothing sent since: back to RR; with bye, a BYE closes the compound.
    last = rtcp.parse_compound(session.report(now + 10, 5, SentCounts(250, 40000, 0), bye=True))
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
    feed(session.reception, range(3))
    ours_next = rtcp.parse_compound(session.report(our_sr_at + 1.3, ours, SentCounts(0, 0, 0)))
    (block,) = ours_next[0].blocks  # type: ignore[union-attr]
    assert block.lsr == rtcp.ntp_middle(rtcp.ntp_time(our_sr_at + 0.2))
    assert block.dlsr == pytest.approx(65536, abs=2)


def test_report_intervals_are_randomised_around_five_seconds():
    ticks = [rtcp.report_interval_ticks(50) for _ in range(300)]
    assert min(ticks) >= 125 and max(ticks) <= 375
    assert len(set(ticks)) > 50  # spread, not one tick for every leg
    firsts = [rtcp.report_interval_ticks(50, first=True) for _ in range(100)]
    assert max(firsts) <= 188
