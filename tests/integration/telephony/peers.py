"""Synthetic RTP phones for media-process tests: real UDP on loopback, paced at 20 ms."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

import numpy as np

from jietong.telephony.media import dtmf, g711, prompts, rtp


@dataclass
class RtpPeer:
    """Sends a tone as PCMU (or telephone-events when asked) and keeps what it receives."""

    freq: float
    ssrc: int
    sock: socket.socket = field(init=False)
    target: tuple[str, int] | None = None
    received: list[bytes] = field(default_factory=list)
    seq: int = 0
    timestamp: int = 0
    _pending_dtmf: list[tuple[bool, bytes]] = field(default_factory=list)
    _dtmf_ts: int = 0

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self._tone = prompts.tone((self.freq,), 1.0, level=0.3)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()
        return host, port

    def press(self, digit: str) -> None:
        """Send this key as RFC 4733 events instead of audio over the next ticks."""
        self._pending_dtmf = dtmf.digit_packets(digit)
        self._dtmf_ts = self.timestamp

    def send_one(self) -> None:
        assert self.target is not None
        if self._pending_dtmf:
            marker, payload = self._pending_dtmf.pop(0)
            header = rtp.RtpHeader(101, self.seq, self._dtmf_ts, self.ssrc, marker)
        else:
            offset = (self.seq * 160) % (len(self._tone) - 160)
            payload = g711.encode_samples(self._tone[offset : offset + 160], g711.PCMU)
            header = rtp.RtpHeader(0, self.seq, self.timestamp, self.ssrc)
        self.sock.sendto(rtp.pack(header, payload), self.target)
        self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp += 160

    def drain(self) -> None:
        while True:
            try:
                self.received.append(self.sock.recv(2048))
            except BlockingIOError:
                return

    def heard(self, last: int | None = None) -> np.ndarray:
        packets = [rtp.parse(p) for p in self.received[-last if last else 0 :]]
        audio = b"".join(p.payload for p in packets if p.header.payload_type == 0)
        return g711.decode_bytes(audio, g711.PCMU).astype(np.float64)

    def close(self) -> None:
        self.sock.close()


async def run_peers(peers: list[RtpPeer], seconds: float, *, actions=None) -> None:
    """Pace every peer at 50 packets/s for ``seconds``; ``actions[tick]()`` runs at a tick."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    ticks = int(seconds * 50)
    for tick in range(ticks):
        if actions and tick in actions:
            await actions[tick]()
        for peer in peers:
            if peer.target is not None:
                peer.send_one()
            peer.drain()
        await asyncio.sleep(max(0.0, start + (tick + 1) * 0.02 - loop.time()))
    for peer in peers:
        peer.drain()


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * 8000 / len(samples))


def band_level(samples: np.ndarray, hz: float) -> float:
    """Relative spectral magnitude near ``hz`` (for 'this tone is absent' checks)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    near = np.abs(freqs - hz) < 20
    return float(spectrum[near].max() / (spectrum.max() + 1e-9))


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0
