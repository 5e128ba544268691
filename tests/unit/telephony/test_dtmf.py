"""RFC 4733 DTMF detection from crafted telephone-event packets."""

from __future__ import annotations

from jietong.telephony.media.dtmf import (
    DtmfDetector,
    TelephoneEvent,
    digit_packets,
    pack_event,
    parse_events,
)


def feed(detector, packets, timestamp, start_tick=0):
    digits = []
    for i, (marker, payload) in enumerate(packets):
        digits += detector.on_packet(timestamp, marker, payload, start_tick + i)
    return digits


def test_payload_round_trips():
    event = TelephoneEvent(11, True, 10, 1600)
    assert parse_events(pack_event(event)) == [event]
    assert pack_event(event) == bytes([11, 0x80 | 10, 0x06, 0x40])


def test_one_key_press_with_three_end_packets_is_one_digit():
    detector = DtmfDetector()
    digits = feed(detector, digit_packets("5", duration=800), timestamp=1000)
    assert [(d.digit, d.duration) for d in digits] == [("5", 800)]


def test_same_digit_twice_is_two_digits():
    detector = DtmfDetector()
    first = feed(detector, digit_packets("1"), timestamp=1000)
    second = feed(detector, digit_packets("1"), timestamp=3000, start_tick=20)
    assert [d.digit for d in first + second] == ["1", "1"]


def test_late_end_retransmission_after_the_next_digit_is_ignored():
    detector = DtmfDetector()
    packets = digit_packets("2")
    feed(detector, packets, timestamp=1000)
    feed(detector, digit_packets("3"), timestamp=5000, start_tick=20)
    assert detector.on_packet(1000, False, packets[-1][1], 40) == []


def test_lost_end_packets_end_the_event_at_the_next_key():
    detector = DtmfDetector()
    without_end = [p for p in digit_packets("4", duration=640) if not parse_events(p[1])[0].end]
    assert feed(detector, without_end, timestamp=1000) == []
    digits = feed(detector, digit_packets("#"), timestamp=4000, start_tick=10)
    assert [d.digit for d in digits] == ["4", "#"]
    assert digits[0].duration == 480  # the last duration heard


def test_lost_end_packets_end_the_event_after_a_quiet_second():
    detector = DtmfDetector(stale_after=50)
    without_end = [p for p in digit_packets("9") if not parse_events(p[1])[0].end]
    feed(detector, without_end, timestamp=1000)
    assert detector.flush(10) == []
    assert [d.digit for d in detector.flush(60)] == ["9"]
    assert detector.flush(200) == []


def test_only_the_end_packet_arrives():
    detector = DtmfDetector()
    end = pack_event(TelephoneEvent(0, True, 10, 800))
    assert [d.digit for d in detector.on_packet(7, False, end, 0)] == ["0"]


def test_long_event_in_segments_is_one_digit():
    """RFC 4733 2.5.1.3: past 65535 units a new segment gets a new timestamp, no marker."""
    detector = DtmfDetector()
    first = pack_event(TelephoneEvent(6, False, 10, 65535))
    assert detector.on_packet(0, True, first, 0) == []
    later = pack_event(TelephoneEvent(6, False, 10, 4000))
    assert detector.on_packet(65535, False, later, 1) == []
    end = pack_event(TelephoneEvent(6, True, 10, 8000))
    digits = detector.on_packet(65535, False, end, 2)
    assert [(d.digit, d.duration) for d in digits] == [("6", 65535 + 8000)]


def test_non_dtmf_events_are_not_digits():
    detector = DtmfDetector()
    fax_tone = pack_event(TelephoneEvent(36, True, 10, 800))  # RFC 4734 CNG
    assert detector.on_packet(5, True, fax_tone, 0) == []


def test_an_end_block_bundled_before_a_new_event_reports_both():
    detector = DtmfDetector()
    detector.on_packet(100, True, pack_event(TelephoneEvent(1, False, 10, 160)), 0)
    bundle = pack_event(TelephoneEvent(1, True, 10, 480)) + pack_event(
        TelephoneEvent(2, False, 10, 160)
    )
    assert [d.digit for d in detector.on_packet(900, True, bundle, 3)] == ["1"]
    end = pack_event(TelephoneEvent(2, True, 10, 800))
    assert [d.digit for d in detector.on_packet(900, False, end, 8)] == ["2"]


def test_short_payloads_are_ignored():
    assert DtmfDetector().on_packet(1, True, b"\x01\x02", 0) == []
