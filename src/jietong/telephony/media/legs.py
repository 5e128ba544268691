"""Engine state: legs, bridges and recordings, plus the struct-of-arrays the tick works on.

Python objects hold what is touched per packet or per command (socket, jitter buffer,
DTMF detector, counters). Everything touched per tick for *all* legs lives in numpy
arrays indexed by the leg's ``row``; rows 0..n-1 are exactly the live legs (a destroyed
leg's row is filled by the last one), so each tick works on ``array[:n]`` with no masks
for holes.
"""

from __future__ import annotations

import socket
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jietong.telephony.media.control import LegStats
from jietong.telephony.media.dtmf import DtmfDetector
from jietong.telephony.media.prompts import FRAME
from jietong.telephony.media.rtcp import CLOCK_RATE, Reception, RtcpSession, mos_estimate
from jietong.telephony.media.rtp import HEADER_SIZE, seq_delta

PACKET = HEADER_SIZE + FRAME
RECORD_CHUNK_TICKS = 50  # recordings go to the writer thread once a second


@dataclass(slots=True)
class Counters:
    rx_packets: int = 0
    rx_bytes: int = 0
    rx_lost: int = 0
    rx_reordered: int = 0
    rx_duplicates: int = 0
    rx_wrong_source: int = 0
    rx_invalid: int = 0
    rx_dtmf_packets: int = 0
    tx_packets: int = 0
    tx_dtmf_packets: int = 0
    tx_errors: int = 0
    underruns: int = 0
    overflow_drops: int = 0
    max_gap_ticks: int = 0


@dataclass(eq=False, slots=True)
class Leg:
    leg_id: str
    row: int
    sock: socket.socket
    local_port: int
    codec: int
    audio_pt: int
    dtmf_pt: int | None
    owner: int
    call_id: str | None
    timeout_ticks: int
    remote: tuple[str, int] | None = None
    jitter: deque[bytes] = field(default_factory=deque)
    priming: bool = True  # wait for two frames before playing out (absorbs tick phase)
    expected_seq: int | None = None
    peer_ssrc: bytes = b""
    # Where the peer's stream (re)started: epoch, first sequence number, and the counters
    # then (accepted, skipped, late + duplicate) -- RTCP's loss figures count from here.
    rx_base: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    transit: int | None = None  # arrival - RTP timestamp of the last audio packet (A.8)
    jitter16: int = 0  # interarrival jitter times 16, RTP units
    dtmf: DtmfDetector = field(default_factory=DtmfDetector)
    counters: Counters = field(default_factory=Counters)
    bridge: Bridge | None = None
    last_rx_tick: int = 0
    timed_out: bool = False
    prompt_id: str | None = None
    # RTCP: its own socket on local_port + 1, or None when multiplexed on the RTP socket.
    rtcp_sock: socket.socket | None = None
    rtcp_mux: bool = False
    rtcp_remote: tuple[str, int] | None = None
    rtcp: RtcpSession = field(default_factory=RtcpSession)
    rtcp_due: int = 0  # the tick of our next report
    event_now: bool = False  # a telephone-event replaces this tick's audio packet

    def accept_sequence(self, data: bytes) -> bool:
        """Count loss, drop late and duplicate packets. Audio and telephone-events share
        the stream's sequence space; a new SSRC (the peer restarted) starts afresh."""
        seq = (data[2] << 8) | data[3]
        ssrc = data[8:12]
        if self.expected_seq is None or ssrc != self.peer_ssrc:
            self.peer_ssrc = ssrc
            self._restart(seq)
            return True
        delta = seq_delta(seq, self.expected_seq)
        if delta < -100 or delta > 3000:  # not loss or lateness but a restarted sender
            self._restart(seq)
            return True
        if delta < 0:
            if delta == -1:
                self.counters.rx_duplicates += 1
            else:
                self.counters.rx_reordered += 1  # too late to play: its slot has passed
            return False
        self.counters.rx_lost += delta
        self.expected_seq = (seq + 1) & 0xFFFF
        return True

    def _restart(self, seq: int) -> None:
        c = self.counters
        self.expected_seq = (seq + 1) & 0xFFFF
        late = c.rx_reordered + c.rx_duplicates
        self.rx_base = (self.rx_base[0] + 1, seq, c.rx_packets, c.rx_lost, late)
        self.transit, self.jitter16 = None, 0

    def reception(self) -> Reception | None:
        """The peer's stream for RTCP (None before its first packet)."""
        if not self.peer_ssrc:
            return None
        epoch, first_seq, packets, lost, late = self.rx_base
        c = self.counters
        accepted = c.rx_packets - packets
        expected = accepted + c.rx_lost - lost
        received = accepted + c.rx_reordered + c.rx_duplicates - late
        ssrc = int.from_bytes(self.peer_ssrc, "big")
        return Reception(ssrc, epoch, first_seq + expected - 1, expected, received,
                         self.jitter16 >> 4)  # fmt: skip

    def stats(self) -> LegStats:
        c, r = self.counters, self.rtcp
        per_ms = CLOCK_RATE / 1000
        return LegStats(
            self.leg_id, c.rx_packets, c.rx_bytes, c.rx_lost, c.rx_reordered,
            c.rx_duplicates, c.rx_wrong_source, c.rx_invalid, c.rx_dtmf_packets,
            c.tx_packets, c.tx_errors, c.underruns, c.overflow_drops, c.max_gap_ticks * 20,
            jitter_ms=round((self.jitter16 >> 4) / per_ms, 3),
            fraction_lost=round(r.fraction_lost / 256, 4),
            peer_jitter_ms=None if r.peer_jitter is None else round(r.peer_jitter / per_ms, 3),
            peer_fraction_lost=(
                None if r.peer_fraction_lost is None else round(r.peer_fraction_lost / 256, 4)
            ),
            peer_cumulative_lost=r.peer_cumulative_lost,
            rtt_ms=None if r.rtt_s is None else round(r.rtt_s * 1000, 3),
            mos=None if r.rtt_s is None else mos_estimate(
                r.rtt_s, r.fraction_lost / 256, (r.peer_fraction_lost or 0) / 256
            ),
            rtcp_rx=r.rx_packets, rtcp_tx=r.tx_packets, rtcp_rx_dropped=r.rx_dropped,
            tx_dtmf_packets=c.tx_dtmf_packets,
        )  # fmt: skip


@dataclass(eq=False, slots=True)
class Recording:
    recording_id: str
    bridge_id: str
    path: Path
    row: int
    owner: int
    first_frame: int  # position in the current one-second chunk where this file starts
    paused: bool = False


@dataclass(eq=False, slots=True)
class Bridge:
    bridge_id: str
    row: int
    owner: int
    legs: list[Leg] = field(default_factory=list)
    recording: Recording | None = None


_LEG_FIELDS: dict[str, Any] = {
    "codec": np.uint8, "tx_pt": np.uint8, "ssrc": np.uint32, "seq": np.uint16,
    "ts": np.uint32, "marker": np.bool_, "sending": np.bool_, "bridge": np.int32,
    "muted": np.bool_, "held": np.bool_, "received": np.bool_,
    "p_on": np.bool_, "p_start": np.int64, "p_len": np.int64, "p_pos": np.int64,
    "p_loop": np.bool_, "m_start": np.int64, "m_len": np.int64, "m_pos": np.int64,
}  # fmt: skip


class LegArrays:
    """Per-leg tick state, one row per live leg; grows by doubling."""

    codec: npt.NDArray[np.uint8]
    tx_pt: npt.NDArray[np.uint8]
    ssrc: npt.NDArray[np.uint32]
    seq: npt.NDArray[np.uint16]
    ts: npt.NDArray[np.uint32]
    marker: npt.NDArray[np.bool_]
    sending: npt.NDArray[np.bool_]
    bridge: npt.NDArray[np.int32]
    muted: npt.NDArray[np.bool_]
    held: npt.NDArray[np.bool_]
    received: npt.NDArray[np.bool_]
    p_on: npt.NDArray[np.bool_]  # a prompt is playing
    p_start: npt.NDArray[np.int64]
    p_len: npt.NDArray[np.int64]
    p_pos: npt.NDArray[np.int64]
    p_loop: npt.NDArray[np.bool_]
    m_start: npt.NDArray[np.int64]  # music on hold, played while held
    m_len: npt.NDArray[np.int64]
    m_pos: npt.NDArray[np.int64]
    inbuf: npt.NDArray[np.uint8]  # this tick's received payload per leg
    out: npt.NDArray[np.uint8]  # this tick's outgoing packet per leg

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = 0
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        old = self.capacity
        for name, dtype in _LEG_FIELDS.items():
            grown = np.zeros(capacity, dtype=dtype)
            if old:
                grown[:old] = getattr(self, name)
            setattr(self, name, grown)
        for name, width in (("inbuf", FRAME), ("out", PACKET)):
            grown2 = np.zeros((capacity, width), dtype=np.uint8)
            if old:
                grown2[:old] = getattr(self, name)
            setattr(self, name, grown2)
        self.capacity = capacity
        # Flat byte views: the receive and send loops slice these without numpy overhead.
        self.inbuf_view = self.inbuf.reshape(-1).data.cast("B")
        self.out_view = self.out.reshape(-1).data.cast("B")

    def ensure(self, rows: int) -> None:
        if rows > self.capacity:
            self._allocate(max(rows, 2 * self.capacity))

    def move(self, src: int, dst: int) -> None:
        for name in (*_LEG_FIELDS, "inbuf", "out"):
            array = getattr(self, name)
            array[dst] = array[src]


class RecordingArrays:
    """Per-recording tick state: the bridge row it records and one second of audio."""

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self.bridge = np.zeros(capacity, dtype=np.int32)
        self.paused = np.zeros(capacity, dtype=np.bool_)
        self.chunk = np.zeros((capacity, RECORD_CHUNK_TICKS * FRAME), dtype=np.int16)

    def ensure(self, rows: int) -> None:
        if rows <= self.capacity:
            return
        capacity = max(rows, 2 * self.capacity)
        for name in ("bridge", "paused", "chunk"):
            old = getattr(self, name)
            grown = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            grown[: self.capacity] = old
            setattr(self, name, grown)
        self.capacity = capacity

    def move(self, src: int, dst: int) -> None:
        for name in ("bridge", "paused", "chunk"):
            array = getattr(self, name)
            array[dst] = array[src]
