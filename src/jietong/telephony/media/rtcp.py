"""RTCP (RFC 3550 section 6, audio/video profile RFC 3551): packets, receiver statistics,
and the per-leg session that reports and listens.

Three layers, each usable alone:

- **Packets.** ``build_compound`` / ``parse_compound`` for SR, RR, SDES (CNAME), BYE;
  other types (APP, feedback, XR) are skipped whole. Parsing follows the validity checks
  of RFC 3550 A.2 and raises ``RtcpParseError`` for anything else, so the caller counts a
  drop instead of crashing its tick.
- **Reception statistics** of the peer's RTP stream (``Reception``): extended highest
  sequence number, cumulative and fraction lost (A.3) from the counters the engine's
  receive path keeps anyway, and interarrival jitter (A.8, ``jitter_step``) from the
  kernel's receive time of each packet.
- **The session** (``RtcpSession``): one per leg. It builds our compound report (SR when
  we have sent RTP since the last report, RR otherwise; one report block on the peer's
  stream; SDES CNAME; BYE at the end), and takes the peer's SR/RR in: the NTP time of
  its last SR (for our LSR/DLSR), its view of our stream (fraction lost, cumulative
  lost, jitter) and the round-trip time (6.4.1).

Timestamps: NTP times are 64-bit fixed point seconds since 1900; "middle 32 bits" are
the 16.16 fixed point form LSR, DLSR and round-trip times use.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from typing import Final

RTCP_VERSION: Final = 2
SR: Final = 200
RR: Final = 201
SDES: Final = 202
BYE: Final = 203
APP: Final = 204
CNAME: Final = 1
CLOCK_RATE: Final = 8000  # G.711 and telephone-event (RFC 3551 4.5.14, RFC 4733)
NTP_UNIX_OFFSET: Final = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
REPORT_INTERVAL_S: Final = 5.0  # RFC 3550 6.2: the minimum, fine for two-party audio

_HEADER = struct.Struct("!BBH")
_SENDER = struct.Struct("!IIIIII")  # SSRC, NTP msw, NTP lsw, RTP ts, packets, octets
_BLOCK = struct.Struct("!IIIIII")  # SSRC, fraction<<24|lost, ext seq, jitter, LSR, DLSR
_SSRC = struct.Struct("!I")


class RtcpParseError(ValueError):
    """The datagram is not a valid compound RTCP packet."""


# -- packets ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """What a receiver says about one source (RFC 3550 6.4.1)."""

    ssrc: int
    fraction_lost: int  # 0..255: lost / expected since the previous report, times 256
    cumulative_lost: int  # signed 24-bit: duplicates can make it negative
    highest_seq: int  # extended: cycles << 16 | highest sequence number
    jitter: int  # interarrival jitter in RTP timestamp units
    lsr: int  # middle 32 bits of the NTP time of the source's last SR; 0: none yet
    dlsr: int  # delay since that SR, 1/65536 s


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp: int  # 64-bit NTP time the report was sent
    rtp_timestamp: int  # the same instant on the RTP clock
    packets: int
    octets: int  # payload octets only
    blocks: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    blocks: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES: only CNAME is kept; other items are parsed over and dropped."""

    chunks: tuple[tuple[int, str], ...]  # (SSRC, CNAME)


@dataclass(frozen=True, slots=True)
class Goodbye:
    ssrcs: tuple[int, ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OtherPacket:
    """A packet type we do not use (APP, RTPFB, PSFB, XR ...), kept by type only."""

    packet_type: int


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye | OtherPacket


def _header(count: int, packet_type: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise ValueError("an RTCP packet is a whole number of 32-bit words")
    return _HEADER.pack((RTCP_VERSION << 6) | count, packet_type, len(body) // 4) + body


def _pack_blocks(blocks: tuple[ReportBlock, ...]) -> bytes:
    if len(blocks) > 31:
        raise ValueError("at most 31 report blocks")
    return b"".join(
        _BLOCK.pack(
            b.ssrc,
            (b.fraction_lost & 0xFF) << 24 | (b.cumulative_lost & 0xFFFFFF),
            b.highest_seq & 0xFFFFFFFF,
            b.jitter & 0xFFFFFFFF,
            b.lsr & 0xFFFFFFFF,
            b.dlsr & 0xFFFFFFFF,
        )
        for b in blocks
    )


def _pack_text(text: str) -> bytes:
    raw = text.encode()[:255]
    return bytes([len(raw)]) + raw


def pack(packet: RtcpPacket) -> bytes:
    """Serialise one packet (no padding)."""
    match packet:
        case SenderReport():
            ntp = packet.ntp & 0xFFFFFFFFFFFFFFFF
            sender = _SENDER.pack(
                packet.ssrc, ntp >> 32, ntp & 0xFFFFFFFF, packet.rtp_timestamp & 0xFFFFFFFF,
                packet.packets & 0xFFFFFFFF, packet.octets & 0xFFFFFFFF,
            )  # fmt: skip
            return _header(len(packet.blocks), SR, sender + _pack_blocks(packet.blocks))
        case ReceiverReport():
            body = _SSRC.pack(packet.ssrc) + _pack_blocks(packet.blocks)
            return _header(len(packet.blocks), RR, body)
        case SourceDescription():
            if len(packet.chunks) > 31:
                raise ValueError("at most 31 SDES chunks")
            chunks = b""
            for ssrc, cname in packet.chunks:
                chunk = _SSRC.pack(ssrc) + bytes([CNAME]) + _pack_text(cname) + b"\0"
                chunks += chunk + b"\0" * (-len(chunk) % 4)  # null items pad to a word
            return _header(len(packet.chunks), SDES, chunks)
        case Goodbye():
            if len(packet.ssrcs) > 31:
                raise ValueError("at most 31 sources")
            body = b"".join(_SSRC.pack(s) for s in packet.ssrcs)
            if packet.reason:
                reason = _pack_text(packet.reason)
                body += reason + b"\0" * (-len(reason) % 4)
            return _header(len(packet.ssrcs), BYE, body)
        case OtherPacket():
            raise ValueError("only SR, RR, SDES and BYE are built")


def build_compound(packets: list[RtcpPacket]) -> bytes:
    """A compound packet: must start with an SR or RR (RFC 3550 6.1)."""
    if not packets or not isinstance(packets[0], SenderReport | ReceiverReport):
        raise ValueError("a compound RTCP packet starts with an SR or RR")
    return b"".join(pack(p) for p in packets)


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 section 4: on a multiplexed port, a second octet of 192..223 is RTCP."""
    return len(data) > 1 and 192 <= data[1] <= 223


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Parse a compound packet with the checks of RFC 3550 A.2 (version 2 everywhere,
    first packet SR or RR without padding, lengths adding up exactly, padding only in
    the last packet). Raises RtcpParseError."""
    size = len(data)
    if size < 8 or data[1] not in (SR, RR) or data[0] & 0x20:
        raise RtcpParseError("not a compound packet starting with an SR or RR")
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < size:
        if size - offset < 4:
            raise RtcpParseError("truncated header")
        first, packet_type, words = _HEADER.unpack_from(data, offset)
        end = offset + 4 + 4 * words
        if first >> 6 != RTCP_VERSION or end > size:
            raise RtcpParseError("bad version or length")
        body_end = end
        if first & 0x20:
            if end != size or data[end - 1] == 0 or data[end - 1] > 4 * words:
                raise RtcpParseError("bad padding")
            body_end = end - data[end - 1]
        packets.append(_parse_one(first & 0x1F, packet_type, data[offset + 4 : body_end]))
        offset = end
    return packets


def _parse_one(count: int, packet_type: int, body: bytes) -> RtcpPacket:
    if packet_type == SR:
        if len(body) < _SENDER.size + 24 * count:
            raise RtcpParseError("SR shorter than its report blocks")
        ssrc, msw, lsw, rtp_ts, packets, octets = _SENDER.unpack_from(body)
        blocks = _parse_blocks(body, _SENDER.size, count)
        return SenderReport(ssrc, msw << 32 | lsw, rtp_ts, packets, octets, blocks)
    if packet_type == RR:
        if len(body) < 4 + 24 * count:
            raise RtcpParseError("RR shorter than its report blocks")
        return ReceiverReport(_SSRC.unpack_from(body)[0], _parse_blocks(body, 4, count))
    if packet_type == SDES:
        return SourceDescription(_parse_sdes(body, count))
    if packet_type == BYE:
        return _parse_bye(body, count)
    return OtherPacket(packet_type)


def _parse_blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for i in range(count):
        ssrc, lost, seq, jitter, lsr, dlsr = _BLOCK.unpack_from(body, offset + 24 * i)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        blocks.append(ReportBlock(ssrc, lost >> 24, cumulative, seq, jitter, lsr, dlsr))
    return tuple(blocks)


def _parse_sdes(body: bytes, count: int) -> tuple[tuple[int, str], ...]:
    chunks = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(body):
            raise RtcpParseError("truncated SDES chunk")
        ssrc = _SSRC.unpack_from(body, offset)[0]
        offset += 4
        cname = ""
        while True:
            if offset >= len(body):
                raise RtcpParseError("SDES chunk without its end")
            item = body[offset]
            if item == 0:  # end of the list; then padding to the next word
                offset += 4 - offset % 4
                break
            if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                raise RtcpParseError("truncated SDES item")
            text = body[offset + 2 : offset + 2 + body[offset + 1]]
            if item == CNAME:
                cname = text.decode("utf-8", "replace")
            offset += 2 + body[offset + 1]
        chunks.append((ssrc, cname))
    return tuple(chunks)


def _parse_bye(body: bytes, count: int) -> Goodbye:
    if len(body) < 4 * count:
        raise RtcpParseError("BYE shorter than its sources")
    ssrcs = tuple(_SSRC.unpack_from(body, 4 * i)[0] for i in range(count))
    rest = body[4 * count :]
    reason = ""
    if rest:
        if 1 + rest[0] > len(rest):
            raise RtcpParseError("truncated BYE reason")
        reason = rest[1 : 1 + rest[0]].decode("utf-8", "replace")
    return Goodbye(ssrcs, reason)


# -- time -------------------------------------------------------------------------------


def ntp_time(unix_s: float) -> int:
    """64-bit NTP timestamp of a Unix time."""
    return int((unix_s + NTP_UNIX_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits (16.16 seconds), as LSR and round-trip times use."""
    return (ntp >> 16) & 0xFFFFFFFF


def round_trip_s(arrival_ntp: int, lsr: int, dlsr: int) -> float | None:
    """RFC 3550 6.4.1: RTT = A - LSR - DLSR, with A the arrival time of the report block.
    None when the peer has not had an SR from us (LSR 0) or the result is not positive
    (clocks of the two SR stamps disagree: nothing to report)."""
    if lsr == 0:
        return None
    rtt = (ntp_middle(arrival_ntp) - lsr - dlsr) & 0xFFFFFFFF
    if rtt >= 0x80000000:
        return None
    return rtt / 65536.0


# -- reception statistics ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reception:
    """The peer's stream as the receive path counted it since the stream (re)started.

    The engine does not run RFC 3550 A.1 a second time per packet: its play-out path
    already counts, per leg, packets accepted, sequence numbers skipped (lost), and
    late or duplicate packets, and restarts on a new SSRC or a jump (A.1 waits for two
    packets in a row before believing a jump; the play-out path believes the first).
    From those: expected = accepted + skipped (A.3's extended max - base + 1) and
    received = accepted + late + duplicates (A.3 counts every packet that arrived).
    """

    ssrc: int
    epoch: int  # grows at every restart, so interval figures start afresh
    highest_seq: int  # extended: base sequence number + expected - 1
    expected: int
    received: int
    jitter: int  # RTP timestamp units

    @property
    def cumulative_lost(self) -> int:
        """Signed 24-bit: duplicates can make it negative (A.3)."""
        return max(-0x800000, min(0x7FFFFF, self.expected - self.received))


def jitter_step(jitter16: int, transit_delta: int) -> int:
    """One step of RFC 3550 A.8 in its integer form (jitter kept times 16).
    ``transit_delta`` is D(i-1, i) = (R_i - R_j) - (S_i - S_j) in RTP units; RTP
    timestamps wrap at 2**32, so it is taken in that ring."""
    d = ((transit_delta + 0x80000000) & 0xFFFFFFFF) - 0x80000000
    return jitter16 + abs(d) - ((jitter16 + 8) >> 4)


def fraction_lost(expected_interval: int, received_interval: int) -> int:
    """A.3: the fraction of the interval's packets lost, times 256 (0 when none or
    when duplicates outnumber the losses)."""
    lost_interval = expected_interval - received_interval
    if expected_interval <= 0 or lost_interval <= 0:
        return 0
    return min(255, (lost_interval << 8) // expected_interval)


# -- the session of one leg -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SentCounts:
    """What we sent on the leg, for the sender info of an SR."""

    packets: int
    octets: int
    rtp_timestamp: int  # of the packet sent at ``now``


class RtcpSession:
    """One leg's RTCP: what we report and what the peer reported. Not thread-safe."""

    __slots__ = (
        "cname",
        "epoch",
        "expected_prior",
        "fraction_lost",
        "last_sr",
        "last_sr_at",
        "peer_bye",
        "peer_cname",
        "peer_cumulative_lost",
        "peer_fraction_lost",
        "peer_jitter",
        "received_prior",
        "rtt_s",
        "rx_dropped",
        "rx_packets",
        "sent_packets_at_report",
        "tx_packets",
    )  # fmt: skip

    def __init__(self, cname: str | None = None) -> None:
        self.epoch = -1  # of the reception the interval figures belong to
        self.expected_prior = self.received_prior = 0
        # RFC 7022: a random CNAME per session, so reports do not identify the host.
        self.cname = cname or secrets.token_urlsafe(12)
        self.fraction_lost = 0  # ours about the peer's stream, as of our last report
        self.last_sr = 0  # middle 32 bits of the NTP time in the peer's last SR
        self.last_sr_at = 0.0  # when it arrived (Unix seconds)
        self.peer_fraction_lost: int | None = None  # the peer's view of our stream
        self.peer_cumulative_lost: int | None = None
        self.peer_jitter: int | None = None
        self.rtt_s: float | None = None
        self.rx_packets = self.tx_packets = self.rx_dropped = 0
        self.sent_packets_at_report = 0
        self.peer_cname = ""
        self.peer_bye = False

    def report(
        self,
        now: float,
        our_ssrc: int,
        sent: SentCounts,
        reception: Reception | None,
        *,
        bye: bool = False,
    ) -> bytes:
        """Our compound packet: SR if we sent RTP since the last report (RFC 3550 6.4),
        else RR; a report block on the peer's stream once we have heard it; CNAME; BYE."""
        blocks: tuple[ReportBlock, ...] = ()
        if reception is not None:
            if reception.epoch != self.epoch:  # a new stream: its first interval
                self.epoch, self.expected_prior, self.received_prior = reception.epoch, 0, 0
            self.fraction_lost = fraction_lost(
                reception.expected - self.expected_prior, reception.received - self.received_prior
            )
            self.expected_prior, self.received_prior = reception.expected, reception.received
            dlsr = round((now - self.last_sr_at) * 65536) if self.last_sr else 0
            block = ReportBlock(
                reception.ssrc, self.fraction_lost, reception.cumulative_lost,
                reception.highest_seq, reception.jitter, self.last_sr, max(0, dlsr),
            )  # fmt: skip
            blocks = (block,)
        first: RtcpPacket
        if sent.packets > self.sent_packets_at_report:
            first = SenderReport(
                our_ssrc, ntp_time(now), sent.rtp_timestamp, sent.packets, sent.octets, blocks
            )
        else:
            first = ReceiverReport(our_ssrc, blocks)
        self.sent_packets_at_report = sent.packets
        packets: list[RtcpPacket] = [first, SourceDescription(((our_ssrc, self.cname),))]
        if bye:
            packets.append(Goodbye((our_ssrc,)))
        return build_compound(packets)

    def receive(self, data: bytes, arrival: float, our_ssrc: int) -> bool:
        """Take one compound packet from the peer (already checked to come from the
        negotiated address). A malformed one is counted in ``rx_dropped``; False then."""
        try:
            packets = parse_compound(data)
        except RtcpParseError:
            self.rx_dropped += 1
            return False
        self.rx_packets += 1
        for packet in packets:
            if isinstance(packet, SenderReport):
                self.last_sr, self.last_sr_at = ntp_middle(packet.ntp), arrival
            if isinstance(packet, SenderReport | ReceiverReport):
                for block in packet.blocks:
                    if block.ssrc == our_ssrc:
                        self._peer_block(block, arrival)
            elif isinstance(packet, SourceDescription) and packet.chunks:
                self.peer_cname = packet.chunks[0][1]
            elif isinstance(packet, Goodbye):
                self.peer_bye = True
        return True

    def _peer_block(self, block: ReportBlock, arrival: float) -> None:
        self.peer_fraction_lost = block.fraction_lost
        self.peer_cumulative_lost = block.cumulative_lost
        self.peer_jitter = block.jitter
        rtt = round_trip_s(ntp_time(arrival), block.lsr, block.dlsr)
        if rtt is not None:
            self.rtt_s = rtt


def report_interval_ticks(ticks_per_s: int, *, first: bool = False) -> int:
    """RFC 3550 6.2/6.3.1: the interval times a random factor in [0.5, 1.5] so reports of
    many legs (and of peers started together) do not line up; the first report comes
    after half the minimum interval (6.2)."""
    base = REPORT_INTERVAL_S * ticks_per_s * (0.5 if first else 1.0)
    factor = 0.5 + secrets.randbelow(1001) / 1000.0
    return max(1, round(base * factor))


# -- a call-quality estimate ------------------------------------------------------------

# The E-model (ITU-T G.107) reduced to delay and random loss, with every other input at
# its default (R0 - Is = 93.2), as Cole and Rosenbluth did for VoIP monitoring. G.711
# has no equipment impairment (Ie = 0); the loss robustness is G.113 Appendix I's for
# G.711 *without* concealment (Bpl = 4.3), because the engine plays silence for a lost
# frame. Our own delay beyond the network's: 20 ms packetisation plus the 40 ms the
# jitter buffer holds before play-out.
_R_DEFAULT: Final = 93.2
_BPL_G711_NO_PLC: Final = 4.3
LOCAL_DELAY_MS: Final = 60.0


def r_factor(one_way_ms: float, loss: float) -> float:
    """Transmission rating R (0..100) from mouth-to-ear delay and the fraction lost."""
    delay_impairment = 0.024 * one_way_ms
    if one_way_ms > 177.3:
        delay_impairment += 0.11 * (one_way_ms - 177.3)
    loss_pct = 100.0 * max(0.0, min(1.0, loss))
    loss_impairment = 95.0 * loss_pct / (loss_pct + _BPL_G711_NO_PLC)
    return max(0.0, min(100.0, _R_DEFAULT - delay_impairment - loss_impairment))


def mos(r: float) -> float:
    """G.107 Annex B: the mean opinion score (1..4.5) an R value predicts. The cubic
    dips just under 1 for R below ~6.5; held at 1 there, so worse never scores better."""
    if r >= 100:
        return 4.5
    return max(1.0, 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r))


def mos_estimate(rtt_s: float, loss_in: float, loss_out: float) -> float:
    """One figure for a leg: the worse direction's loss, half the round trip plus our
    own delay. An estimate for trends and alarms, not a listening test."""
    return round(mos(r_factor(rtt_s * 500.0 + LOCAL_DELAY_MS, max(loss_in, loss_out))), 2)
