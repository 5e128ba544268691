"""RTP (RFC 3550) headers: a scalar parser for received packets and a vectorised builder.

Receiving stays per packet (one ``recvfrom`` each), so the parser is a short function over
``bytes`` that returns plain integers. Sending is per tick: the 12-byte headers of every
leg are written into one ``(legs, 12 + payload)`` matrix with numpy, then each row goes
out with one ``sendto``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

RTP_VERSION: Final = 2
HEADER_SIZE: Final = 12
_FIXED = struct.Struct("!BBHII")


class RtpParseError(ValueError):
    """The datagram is not a well-formed RTP packet."""


@dataclass(frozen=True, slots=True)
class RtpHeader:
    """The fields of an RTP fixed header (RFC 3550 section 5.1) Jietong cares about."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool = False
    csrcs: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """A parsed packet: header plus payload (padding and header extension removed)."""

    header: RtpHeader
    payload: bytes


def pack(header: RtpHeader, payload: bytes) -> bytes:
    """Serialise one packet (no padding, no extension)."""
    if len(header.csrcs) > 15:
        raise ValueError("at most 15 CSRCs")
    first = (RTP_VERSION << 6) | len(header.csrcs)
    second = (0x80 if header.marker else 0) | (header.payload_type & 0x7F)
    fixed = _FIXED.pack(
        first, second, header.sequence & 0xFFFF, header.timestamp & 0xFFFFFFFF, header.ssrc
    )
    csrcs = b"".join(c.to_bytes(4, "big") for c in header.csrcs)
    return fixed + csrcs + payload


def payload_bounds(data: bytes) -> tuple[int, int]:
    """Return ``(start, end)`` of the payload in ``data``, skipping CSRCs, extension, padding.

    Raises RtpParseError for anything that is not version 2 or whose lengths do not fit.
    """
    size = len(data)
    if size < HEADER_SIZE:
        raise RtpParseError("shorter than an RTP header")
    first = data[0]
    if first >> 6 != RTP_VERSION:
        raise RtpParseError("not RTP version 2")
    start = HEADER_SIZE + 4 * (first & 0x0F)
    if first & 0x10:  # header extension: 16-bit profile id, 16-bit length in 32-bit words
        if size < start + 4:
            raise RtpParseError("truncated header extension")
        start += 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
    end = size
    if first & 0x20:  # padding: the last octet counts the padding octets, itself included
        end -= data[-1]
    if end < start or (first & 0x20 and data[-1] == 0):
        raise RtpParseError("lengths do not fit")
    return start, end


def parse(data: bytes) -> RtpPacket:
    """Parse a datagram into header and payload; raises RtpParseError."""
    start, end = payload_bounds(data)
    first, second, seq, ts, ssrc = _FIXED.unpack_from(data)
    csrcs = tuple(int.from_bytes(data[12 + 4 * i : 16 + 4 * i], "big") for i in range(first & 0x0F))
    header = RtpHeader(second & 0x7F, seq, ts, ssrc, bool(second & 0x80), csrcs)
    return RtpPacket(header, bytes(data[start:end]))


def seq_delta(new: int, old: int) -> int:
    """Signed distance from ``old`` to ``new`` in 16-bit sequence space (-32768..32767)."""
    return ((new - old + 0x8000) & 0xFFFF) - 0x8000


def write_headers(
    out: npt.NDArray[np.uint8],
    payload_type: npt.NDArray[np.uint8],
    marker: npt.NDArray[np.bool_],
    sequence: npt.NDArray[np.uint16],
    timestamp: npt.NDArray[np.uint32],
    ssrc: npt.NDArray[np.uint32],
) -> None:
    """Write fixed headers for ``len(sequence)`` rows into ``out[:, :12]`` (vectorised).

    ``out`` is a (rows, 12 + payload) uint8 matrix; big-endian fields are written through
    byte views of ``>u2``/``>u4`` copies, so no Python loop runs per leg.
    """
    rows = len(sequence)
    out[:rows, 0] = RTP_VERSION << 6
    out[:rows, 1] = (payload_type & 0x7F) | (marker.astype(np.uint8) << 7)
    out[:rows, 2:4] = sequence.astype(">u2").view(np.uint8).reshape(rows, 2)
    out[:rows, 4:8] = timestamp.astype(">u4").view(np.uint8).reshape(rows, 4)
    out[:rows, 8:12] = ssrc.astype(">u4").view(np.uint8).reshape(rows, 4)
