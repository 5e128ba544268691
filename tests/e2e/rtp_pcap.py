"""RTP captures for SIPp's play_pcap_audio, made here rather than taken from SIPp's
examples: those carry 30 ms A-law frames (the media engine takes 20 ms ones) and a key
press whose replay repeats the same sequence numbers and timestamp (a second press of
the same pcap is a duplicate, rightly ignored). Each file made here continues one RTP
stream (one SSRC, rising sequence numbers and timestamps), as a real phone sends it."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jietong.telephony.media import dtmf, g711, rtp

SSRC = 0x4A54_0001
PT_PCMA = 8
PT_EVENT = 101


@dataclass
class RtpStream:
    seq: int = 1000
    timestamp: int = 160_000

    def _packet(
        self, pt: int, payload: bytes, *, marker: bool = False, ts: int | None = None
    ) -> bytes:
        header = rtp.RtpHeader(
            pt,
            self.seq & 0xFFFF,
            (ts if ts is not None else self.timestamp) & 0xFFFFFFFF,
            SSRC,
            marker,
        )
        self.seq += 1
        return rtp.pack(header, payload)

    def key(self, digit: str) -> list[bytes]:
        """One key press as RFC 4733 events (all at the event's start timestamp)."""
        start = self.timestamp
        packets = [
            self._packet(PT_EVENT, payload, marker=marker, ts=start)
            for marker, payload in dtmf.digit_packets(digit)
        ]
        self.timestamp += 160 * len(packets) + 1600  # time passes; the next press is new
        return packets

    def speech(self, seconds: float) -> list[bytes]:
        """Speech-like audio (two tones, syllable-rate amplitude changes) in 20 ms A-law."""
        n = int(seconds * 50)
        t = np.arange(n * 160) / 8000
        envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.0 * t)
        signal = envelope * (
            0.30 * np.sin(2 * np.pi * 320 * t) + 0.15 * np.sin(2 * np.pi * 910 * t)
        )
        pcm = (signal * 32767).astype(np.int16)
        packets = []
        for i in range(n):
            frame = g711.encode_samples(pcm[i * 160 : (i + 1) * 160], g711.PCMA)
            packets.append(self._packet(PT_PCMA, frame))
            self.timestamp += 160
        return packets


def write_pcap(path: Path, packets: list[bytes], *, interval_s: float = 0.02) -> Path:
    """An Ethernet/IPv4/UDP capture of `packets`, one every `interval_s` (SIPp rewrites
    the addresses and ports and keeps the timing)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, payload in enumerate(packets):
        udp = struct.pack(">HHHH", 6000, 6000, 8 + len(payload), 0) + payload
        ip = struct.pack(
            ">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
            bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]),
        ) + udp  # fmt: skip
        frame = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip
        at = i * interval_s
        out.append(struct.pack("<IIII", int(at), int((at % 1) * 1e6), len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))
    return path
