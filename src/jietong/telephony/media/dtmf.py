"""RFC 4733 telephone-event DTMF: payload codec and a per-leg detector.

A key press is one *event*, identified by the RTP timestamp of its first packet. The sender
repeats the event every packet interval with a growing duration, sets the E bit on the last
report and (for robustness) sends that final report three times. Events longer than the
16-bit duration field are split into segments: a new timestamp, marker bit clear, same
event code (RFC 4733 section 2.5.1.3).

The detector reports each digit exactly once, when it ends:
- the first packet carrying the E bit ends it; repeated end packets are ignored;
- if every end packet is lost, the next event (marker bit, or another code) ends it, or
  ``stale_after`` ticks without a report do (see ``flush``);
- a new timestamp with the marker clear and the same code continues the open event.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import Final

DIGITS: Final = "0123456789*#ABCD"
_EVENT = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One 4-byte telephone-event block."""

    event: int
    end: bool
    volume: int
    duration: int  # in RTP timestamp units (1/8000 s for DTMF at 8 kHz)


@dataclass(frozen=True, slots=True)
class DetectedDigit:
    """A finished key press: the digit and how long it was held, in timestamp units."""

    digit: str
    duration: int
    timestamp: int


def pack_event(event: TelephoneEvent) -> bytes:
    """Serialise one block (the R bit is always zero)."""
    second = (0x80 if event.end else 0) | (event.volume & 0x3F)
    return _EVENT.pack(event.event & 0xFF, second, event.duration & 0xFFFF)


def parse_events(payload: bytes) -> list[TelephoneEvent]:
    """Parse the 4-byte blocks of a payload; trailing bytes that do not make a block are ignored."""
    blocks = []
    for offset in range(0, len(payload) - 3, 4):
        code, second, duration = _EVENT.unpack_from(payload, offset)
        blocks.append(TelephoneEvent(code, bool(second & 0x80), second & 0x3F, duration))
    return blocks


class DtmfDetector:
    """Turns one leg's telephone-event packets into digits. Not thread-safe; one per leg."""

    def __init__(self, stale_after: int = 50) -> None:
        self._stale_after = stale_after  # ticks with no report before an open event ends
        self._open_ts: int | None = None
        self._open_code = -1
        self._base = 0  # duration of earlier segments of a long event
        self._duration = 0
        self._last_tick = 0
        self._finished: deque[int] = deque(maxlen=8)  # timestamps already reported

    def on_packet(
        self, timestamp: int, marker: bool, payload: bytes, tick: int
    ) -> list[DetectedDigit]:
        """Feed one telephone-event packet; returns the digits it finished (usually 0 or 1)."""
        blocks = parse_events(payload)
        if not blocks:
            return []
        done: list[DetectedDigit] = []
        # Earlier blocks in a packet report events that already ended (RFC 4733 2.5.1.5);
        # only one that ends the open event matters here.
        for block in blocks[:-1]:
            if block.end and block.event == self._open_code and self._open_ts is not None:
                self._duration = self._base + block.duration
                done.extend(self._close())
        done.extend(self._on_block(timestamp, marker, blocks[-1], tick))
        return done

    def flush(self, tick: int) -> list[DetectedDigit]:
        """End an open event whose end packets never came (call about once a second)."""
        if self._open_ts is not None and tick - self._last_tick >= self._stale_after:
            return self._close()
        return []

    def _on_block(
        self, timestamp: int, marker: bool, block: TelephoneEvent, tick: int
    ) -> list[DetectedDigit]:
        if timestamp in self._finished:
            return []  # a retransmitted end report, or a late packet of a finished event
        done: list[DetectedDigit] = []
        if self._open_ts is not None and timestamp != self._open_ts:
            if not marker and block.event == self._open_code:
                self._base = self._duration  # next segment of a long event
                self._open_ts = timestamp
            else:
                done.extend(self._close())  # its end packets were lost
        if self._open_ts is None:
            self._open_ts, self._open_code, self._base = timestamp, block.event, 0
        self._duration = self._base + block.duration
        self._last_tick = tick
        if block.end:
            done.extend(self._close())
        return done

    def _close(self) -> list[DetectedDigit]:
        timestamp, code = self._open_ts, self._open_code
        self._open_ts, self._open_code = None, -1
        if timestamp is None:
            return []
        self._finished.append(timestamp)
        if code >= len(DIGITS):
            return []  # not a DTMF digit (fax/modem tones of RFC 4734): nothing to report
        return [DetectedDigit(DIGITS[code], self._duration, timestamp)]


def digit_packets(
    digit: str, *, duration: int = 800, interval: int = 160, volume: int = 10
) -> list[tuple[bool, bytes]]:
    """The (marker, payload) sequence a sender emits for one key press, ends repeated 3x.

    Used by tests and the load generator; all packets share the event's first timestamp.
    """
    code = DIGITS.index(digit.upper())
    packets = []
    for elapsed in range(interval, duration, interval):
        event = TelephoneEvent(code, False, volume, elapsed)
        packets.append((elapsed == interval, pack_event(event)))
    final = pack_event(TelephoneEvent(code, True, volume, duration))
    packets.extend([(not packets, final), (False, final), (False, final)])
    return packets


class DtmfSender:
    """Digits waiting to be sent on one leg, as one step per 20 ms tick: the (marker,
    payload) of a telephone-event packet, or None for a gap tick in which audio flows.
    The engine stamps every packet of one event with the RTP timestamp the leg had when
    the event's first packet went out (``event_timestamp``), keeps the audio stream's
    sequence numbers and SSRC, and sends no audio while an event plays (RFC 4733 2.5.1)."""

    def __init__(self) -> None:
        self._steps: deque[tuple[bool, bytes] | None] = deque()
        self.event_timestamp = 0

    def add(self, digits: str, *, duration: int, gap_ticks: int, interval: int = 160) -> int:
        """Queue digits (validated by the caller); returns the ticks still to play."""
        for digit in digits:
            if self._steps:
                self._steps.extend([None] * gap_ticks)
            packets = digit_packets(digit, duration=duration, interval=interval)
            # The first packet of each event starts it, whatever digit_packets marked.
            self._steps.append((True, packets[0][1]))
            self._steps.extend((False, payload) for _, payload in packets[1:])
        return len(self._steps)

    def next_step(self, timestamp: int) -> tuple[bool, int, bytes] | None:
        """This tick's event packet as (marker, event timestamp, payload), or None (send
        audio). ``timestamp`` is the leg's RTP timestamp for this tick."""
        step = self._steps.popleft() if self._steps else None
        if step is None:
            return None
        first, payload = step
        if first:
            self.event_timestamp = timestamp
        return first, self.event_timestamp, payload

    def __len__(self) -> int:
        return len(self._steps)
