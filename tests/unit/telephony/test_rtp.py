"""RTP headers (RFC 3550 5.1): scalar pack/parse and the vectorised header writer."""

from __future__ import annotations

import numpy as np
import pytest

from jietong.telephony.media import rtp


def test_pack_then_parse_round_trips():
    header = rtp.RtpHeader(0, 65535, 0xFFFFFFFF, 0xDEADBEEF, marker=True, csrcs=(1, 2))
    packet = rtp.parse(rtp.pack(header, b"\x01" * 160))
    assert packet.header == header
    assert packet.payload == b"\x01" * 160


def test_fixed_header_layout_matches_the_rfc():
    data = rtp.pack(rtp.RtpHeader(8, 0x1234, 0x01020304, 0x0A0B0C0D, marker=True), b"xy")
    assert data == bytes([0x80, 0x88, 0x12, 0x34, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D]) + b"xy"


def test_extension_and_padding_are_skipped():
    extension = b"\xbe\xde\x00\x01" + b"\xaa\xbb\xcc\xdd"  # profile, 1 word, the word
    padding = b"\x00\x00\x03"  # three octets of padding, the last one counts them
    fixed = bytearray(rtp.pack(rtp.RtpHeader(0, 1, 2, 3), b""))
    fixed[0] |= 0x10 | 0x20
    packet = rtp.parse(bytes(fixed) + extension + b"audio" + padding)
    assert packet.payload == b"audio"


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x00",  # too short
        b"\x40" + b"\x00" * 20,  # version 1
        b"\x90" + b"\x00" * 11 + b"\x00\x00",  # extension header cut short
        b"\xa0" + b"\x00" * 11 + b"\x20",  # padding longer than the packet
        b"\xa0" + b"\x00" * 11 + b"\x00",  # padding count of zero
    ],
)
def test_malformed_packets_are_refused(data):
    with pytest.raises(rtp.RtpParseError):
        rtp.parse(data)


def test_sequence_delta_wraps():
    assert rtp.seq_delta(0, 65535) == 1
    assert rtp.seq_delta(65535, 0) == -1
    assert rtp.seq_delta(100, 90) == 10


def test_vectorised_headers_equal_scalar_packing():
    rng = np.random.default_rng(3)
    rows = 7
    pt = rng.integers(0, 128, rows).astype(np.uint8)
    marker = rng.integers(0, 2, rows).astype(bool)
    seq = rng.integers(0, 65536, rows).astype(np.uint16)
    ts = rng.integers(0, 2**32, rows, dtype=np.uint64).astype(np.uint32)
    ssrc = rng.integers(0, 2**32, rows, dtype=np.uint64).astype(np.uint32)
    out = np.zeros((rows + 3, 12 + 160), dtype=np.uint8)  # spare rows stay untouched
    rtp.write_headers(out, pt, marker, seq, ts, ssrc)
    for i in range(rows):
        header = rtp.RtpHeader(int(pt[i]), int(seq[i]), int(ts[i]), int(ssrc[i]), bool(marker[i]))
        assert out[i, :12].tobytes() == rtp.pack(header, b"")
    assert not out[rows:].any()
