"""The media engine: RTP legs, bridges, prompts, hold, recording and DTMF, in 20 ms ticks.

One thread does everything. Each tick it
1. reads every readable leg socket itself (epoll polled with timeout 0, repeated while
   sockets stay readable, at most ``READ_ROUNDS`` datagrams per leg per tick), so no
   callback runs per packet;
2. plays one frame per leg out of its jitter buffer into a (legs x 160) code matrix;
3. decodes, mixes (N-way, minus own), adds prompts and music on hold, encodes, and
   writes RTP headers for all legs with numpy (``mixer``, ``rtp.write_headers``);
4. sends one datagram per leg (a telephone-event instead of audio while a digit we
   send plays), then the RTCP reports that fall due this tick (about every 5 s per leg,
   randomised so legs spread over ticks).
Commands arrive between ticks from the control server and only change state.
"""

from __future__ import annotations

import logging
import secrets
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jietong.telephony.media import control as c
from jietong.telephony.media import g711, mixer, rtcp, rtp
from jietong.telephony.media.dtmf import DIGITS, DtmfSender
from jietong.telephony.media.legs import (
    PACKET,
    RECORD_CHUNK_TICKS,
    Bridge,
    Leg,
    LegArrays,
    Recording,
    RecordingArrays,
)
from jietong.telephony.media.prompts import (
    FRAME,
    PromptBank,
    PromptError,
    default_music_on_hold,
    player_frames,
    read_wav,
)
from jietong.telephony.media.recorder import RecordingOpened, RecordingWriter
from jietong.telephony.media.rtcp import jitter_step
from jietong.telephony.media.sockets import TIMESPEC, NoPorts, PortPairs, arrival_s

log = logging.getLogger(__name__)

TICK_S = 0.020
TICKS_PER_S = 50
READ_ROUNDS = 4  # datagrams read per leg per tick at most: a flood cannot starve others
MAX_JITTER_FRAMES = 5  # deeper than this (100 ms) and the oldest frame is dropped
DEFAULT_MUSIC = "moh:default"

Emit = Callable[[int, Any], None]


class EngineError(Exception):
    """A command the engine refuses; ``code`` goes back to the controller."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Where legs bind and which files commands may touch."""

    media_root: Path
    bind_host: str = "127.0.0.1"
    rtp_ports: tuple[int, int] | None = None  # inclusive; None: ephemeral ports
    rtp_timeout_s: float = 30.0


def _peer_address(host: str, port: int) -> tuple[str, int]:
    """An IPv4 literal and port, normalised as ``recvfrom`` reports them (names are
    refused: a DNS lookup here would stall every call's audio)."""
    try:
        if not 0 < port < 65536:
            raise ValueError("port out of range")
        infos = socket.getaddrinfo(
            host, port, socket.AF_INET, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST
        )
    except (OSError, ValueError) as exc:
        raise EngineError("bad_address", f"{host}:{port}: {exc}") from exc
    return str(infos[0][4][0]), int(infos[0][4][1])


class Engine:
    """All media state of one process. Not thread-safe: the server calls it from one thread."""

    def __init__(self, config: EngineConfig, emit: Emit) -> None:
        self.config = config
        self._root = config.media_root.resolve()
        self._emit = emit
        self.arrays = LegArrays()
        self.recs = RecordingArrays()
        self.legs: dict[str, Leg] = {}
        self.bridges: dict[str, Bridge] = {}
        self._rows: list[Leg] = []
        self._bridge_rows: list[Bridge] = []
        self._rec_rows: list[Recording] = []
        self._by_fd: dict[int, Leg] = {}
        self._rtcp_by_fd: dict[int, Leg] = {}
        self._rtcp_due: dict[int, list[Leg]] = {}  # tick -> legs whose report is due
        self._dtmf_out: dict[Leg, DtmfSender] = {}
        self._tick_wall = time.time()
        self._poll = select.epoll()
        self._topology: mixer.Topology | None = None
        self._whispers: dict[Leg, Leg] = {}  # whispering leg -> the one leg that hears it
        self.prompts = PromptBank()
        self.prompts.add(DEFAULT_MUSIC, default_music_on_hold())
        self._writer = RecordingWriter()
        self._stop_waiters: dict[str, list[Callable[[dict[str, Any]], None]]] = {}
        self._open_waiters: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._closing: dict[str, Recording] = {}  # stopped, file not yet closed
        self._bridge_sums: mixer.Int32Frames = np.zeros((0, FRAME), dtype=np.int32)
        self._next_recording = 0
        self._chunk_pos = 0
        self._ports = PortPairs(config.bind_host, config.rtp_ports)
        self.tick_count = 0
        self.late_ticks = 0
        self._tick_ms = np.zeros(2048)

    # -- legs ---------------------------------------------------------------------------

    def create_leg(self, cmd: c.CreateLeg, owner: int) -> dict[str, Any]:
        if cmd.leg_id in self.legs:
            raise EngineError("leg_exists", f"leg {cmd.leg_id} exists")
        codec = g711.CODEC_NAMES.get(cmd.codec.upper())
        if codec is None:
            raise EngineError("bad_codec", f"unsupported codec {cmd.codec}")
        audio_pt = (
            g711.STATIC_PAYLOAD_TYPES[codec] if cmd.payload_type is None else cmd.payload_type
        )
        if not 0 <= audio_pt <= 127 or audio_pt == cmd.dtmf_payload_type:
            raise EngineError("bad_payload_type", "payload types must differ and be 0..127")
        remote = None
        if cmd.remote_host is not None and cmd.remote_port is not None:
            remote = _peer_address(cmd.remote_host, cmd.remote_port)  # refuse before binding
            if cmd.remote_rtcp_port is not None:
                _peer_address(cmd.remote_host, cmd.remote_rtcp_port)
        try:
            sock, port, rtcp_sock = self._ports.bind(pair=not cmd.rtcp_mux)
        except NoPorts as exc:
            raise EngineError("no_ports", str(exc)) from exc
        timeout_s = self.config.rtp_timeout_s if cmd.rtp_timeout_s is None else cmd.rtp_timeout_s
        row = len(self._rows)
        leg = Leg(
            cmd.leg_id, row, sock, port, codec, audio_pt, cmd.dtmf_payload_type, owner,
            cmd.call_id, round(timeout_s * TICKS_PER_S), last_rx_tick=self.tick_count,
            rtcp_sock=rtcp_sock, rtcp_mux=cmd.rtcp_mux,
        )  # fmt: skip
        self.arrays.ensure(row + 1)
        a = self.arrays
        ssrc = secrets.randbits(32)
        a.codec[row], a.tx_pt[row], a.ssrc[row] = codec, audio_pt, ssrc
        a.seq[row], a.ts[row] = secrets.randbits(16), secrets.randbits(32)  # RFC 3550 5.1
        a.marker[row], a.sending[row], a.bridge[row] = True, False, -1
        a.muted[row] = a.held[row] = a.p_on[row] = a.received[row] = False
        self._rows.append(leg)
        self.legs[leg.leg_id] = leg
        self._by_fd[sock.fileno()] = leg
        self._poll.register(sock.fileno(), select.EPOLLIN)
        if rtcp_sock is not None:
            self._rtcp_by_fd[rtcp_sock.fileno()] = leg
            self._poll.register(rtcp_sock.fileno(), select.EPOLLIN)
        self._schedule_report(leg, first=True)
        self._topology = None
        if remote is not None:
            self.set_remote(c.SetRemote(leg.leg_id, *remote, rtcp_port=cmd.remote_rtcp_port))
        return {"leg_id": leg.leg_id, "local_host": self.config.bind_host,
                "local_port": port, "ssrc": ssrc,
                "rtcp_port": port if rtcp_sock is None else port + 1}  # fmt: skip

    def set_remote(self, cmd: c.SetRemote) -> dict[str, Any]:
        leg = self._leg(cmd.leg_id)
        remote = _peer_address(cmd.host, cmd.port)
        # The answer took our offer of mux: switched below, once nothing can refuse.
        mux = leg.rtcp_mux or cmd.rtcp_mux
        if mux:
            rtcp_remote: tuple[str, int] | None = remote
        elif cmd.rtcp_port is not None:
            rtcp_remote = _peer_address(cmd.host, cmd.rtcp_port)
        else:  # RFC 3550 11: the next port up, if there is one
            rtcp_remote = _peer_address(cmd.host, cmd.port + 1) if cmd.port < 65535 else None
        if cmd.update_dtmf:
            pt = cmd.dtmf_payload_type
            if pt is not None and (not 0 <= pt <= 127 or pt == leg.audio_pt):
                raise EngineError("bad_payload_type", "payload types must differ and be 0..127")
            leg.dtmf_pt = pt
        if mux and not leg.rtcp_mux:
            self._close_rtcp(leg)
            leg.rtcp_mux = True
        leg.remote, leg.rtcp_remote = remote, rtcp_remote
        leg.expected_seq, leg.last_rx_tick, leg.timed_out = None, self.tick_count, False
        self.arrays.sending[leg.row] = True
        return {}

    def send_dtmf(self, cmd: c.SendDtmf) -> dict[str, Any]:
        leg = self._leg(cmd.leg_id)
        if leg.dtmf_pt is None:
            raise EngineError("no_telephone_event", f"leg {leg.leg_id} has no telephone-event")
        digits = cmd.digits.upper()
        if not digits or len(digits) > 64 or any(d not in DIGITS for d in digits):
            raise EngineError("bad_digits", "digits are 0-9, *, #, A-D (1 to 64 of them)")
        if not 40 <= cmd.duration_ms <= 5000 or not 0 <= cmd.gap_ms <= 2000:
            raise EngineError("bad_duration", "duration 40-5000 ms, gap 0-2000 ms")
        sender = self._dtmf_out.setdefault(leg, DtmfSender())
        duration = round(cmd.duration_ms / 20) * FRAME  # whole packets of 20 ms
        ticks = sender.add(digits, duration=duration, gap_ticks=round(cmd.gap_ms / 20))
        return {"duration_ms": ticks * 20}

    def destroy_leg(self, cmd: c.DestroyLeg) -> dict[str, Any]:
        leg = self._leg(cmd.leg_id)
        stats = leg.stats()
        self._drop_leg(leg)
        return {"stats": stats}

    def _drop_leg(self, leg: Leg) -> None:
        if leg.bridge is not None:
            self._leave(leg)
        self._send_report(leg, time.time(), bye=True)
        self._dtmf_out.pop(leg, None)
        self._close_rtcp(leg)
        fd = leg.sock.fileno()
        self._poll.unregister(fd)
        del self._by_fd[fd]
        leg.sock.close()
        del self.legs[leg.leg_id]
        last = len(self._rows) - 1
        if leg.row != last:
            moved = self._rows[last]
            self.arrays.move(last, leg.row)
            moved.row = leg.row
            self._rows[leg.row] = moved
        self._rows.pop()
        self._topology = None

    # -- RTCP -------------------------------------------------------------------------

    def _schedule_report(self, leg: Leg, *, first: bool = False) -> None:
        leg.rtcp_due = self.tick_count + rtcp.report_interval_ticks(TICKS_PER_S, first=first)
        self._rtcp_due.setdefault(leg.rtcp_due, []).append(leg)

    def _send_reports(self) -> None:
        """The reports due this tick; each leg's next one is scheduled as it goes."""
        due = self._rtcp_due.pop(self.tick_count, None)
        if due is None:
            return
        for leg in due:
            if self.legs.get(leg.leg_id) is leg and leg.rtcp_due == self.tick_count:
                self._send_report(leg, self._tick_wall)
                self._schedule_report(leg)

    def _send_report(self, leg: Leg, now: float, *, bye: bool = False) -> None:
        if leg.remote is None or leg.rtcp_remote is None:
            return
        a, counters = self.arrays, leg.counters
        audio_packets = counters.tx_packets - counters.tx_dtmf_packets
        octets = audio_packets * FRAME + counters.tx_dtmf_packets * 4
        # The SR's RTP time is that of this tick's packet (the array already moved on).
        sent = rtcp.SentCounts(counters.tx_packets, octets, int(a.ts[leg.row]) - FRAME)
        data = leg.rtcp.report(now, int(a.ssrc[leg.row]), sent, leg.reception(), bye=bye)
        sock = leg.rtcp_sock or leg.sock
        try:
            sock.sendto(data, leg.rtcp_remote)
            leg.rtcp.tx_packets += 1
        except OSError:
            counters.tx_errors += 1

    def _read_rtcp(self, leg: Leg) -> None:
        assert leg.rtcp_sock is not None
        try:
            data, anc, _flags, source = leg.rtcp_sock.recvmsg(2048, 64)
        except OSError:  # EAGAIN, or ICMP port unreachable from a peer without RTCP
            return
        self._on_rtcp(leg, data, source, anc)

    def _on_rtcp(self, leg: Leg, data: bytes, source: Any, anc: list[Any]) -> None:
        if source != leg.rtcp_remote:
            leg.rtcp.rx_dropped += 1  # only the negotiated peer reports on this leg
            return
        arrival = arrival_s(anc, self._tick_wall)
        leg.rtcp.receive(data, arrival, int(self.arrays.ssrc[leg.row]))

    def _close_rtcp(self, leg: Leg) -> None:
        if leg.rtcp_sock is not None:
            rtcp_fd = leg.rtcp_sock.fileno()
            self._poll.unregister(rtcp_fd)
            del self._rtcp_by_fd[rtcp_fd]
            leg.rtcp_sock.close()
            leg.rtcp_sock = None

    def _leg(self, leg_id: str) -> Leg:
        leg = self.legs.get(leg_id)
        if leg is None:
            raise EngineError("unknown_leg", f"no leg {leg_id}")
        return leg

    # -- bridges ------------------------------------------------------------------------

    def create_bridge(self, cmd: c.CreateBridge, owner: int) -> dict[str, Any]:
        if cmd.bridge_id in self.bridges:
            raise EngineError("bridge_exists", f"bridge {cmd.bridge_id} exists")
        legs = [self._leg(leg_id) for leg_id in cmd.legs]
        bridge = Bridge(cmd.bridge_id, len(self._bridge_rows), owner)
        self._bridge_rows.append(bridge)
        self.bridges[bridge.bridge_id] = bridge
        self._topology = None
        for leg in legs:
            self._join(bridge, leg)
        return {}

    def join_bridge(self, cmd: c.JoinBridge) -> dict[str, Any]:
        self._join(self._bridge(cmd.bridge_id), self._leg(cmd.leg_id))
        return {}

    def leave_bridge(self, cmd: c.LeaveBridge) -> dict[str, Any]:
        leg = self._leg(cmd.leg_id)
        if leg.bridge is not None:
            self._leave(leg)
        return {}

    def destroy_bridge(self, cmd: c.DestroyBridge) -> dict[str, Any]:
        self._drop_bridge(self._bridge(cmd.bridge_id))
        return {}

    def _join(self, bridge: Bridge, leg: Leg) -> None:
        if leg.bridge is bridge:
            return
        if leg.bridge is not None:
            self._leave(leg)
        leg.bridge = bridge
        bridge.legs.append(leg)
        self.arrays.bridge[leg.row] = bridge.row
        self._topology = None

    def _leave(self, leg: Leg) -> None:
        assert leg.bridge is not None
        # A whisper lives inside one bridge: it ends when either side leaves.
        self._whispers.pop(leg, None)
        for source in [s for s, target in self._whispers.items() if target is leg]:
            del self._whispers[source]
        leg.bridge.legs.remove(leg)
        leg.bridge = None
        self.arrays.bridge[leg.row] = -1
        self._topology = None

    def _drop_bridge(self, bridge: Bridge) -> None:
        if bridge.recording is not None:
            self._stop_recording(bridge.recording)
        for leg in list(bridge.legs):
            self._leave(leg)
        del self.bridges[bridge.bridge_id]
        last = len(self._bridge_rows) - 1
        if bridge.row != last:
            moved = self._bridge_rows[last]
            moved.row = bridge.row
            self._bridge_rows[bridge.row] = moved
            for leg in moved.legs:
                self.arrays.bridge[leg.row] = moved.row
            if moved.recording is not None:
                self.recs.bridge[moved.recording.row] = moved.row
        self._bridge_rows.pop()
        self._topology = None

    def _bridge(self, bridge_id: str) -> Bridge:
        bridge = self.bridges.get(bridge_id)
        if bridge is None:
            raise EngineError("unknown_bridge", f"no bridge {bridge_id}")
        return bridge

    # -- prompts, hold, mute ------------------------------------------------------------

    def load_prompt(self, cmd: c.LoadPrompt) -> dict[str, Any]:
        try:
            info = self.prompts.add(cmd.prompt_id, read_wav(self._resolve(cmd.path)))
        except PromptError as exc:
            raise EngineError("bad_prompt", str(exc)) from exc
        return {"prompt_id": info.prompt_id, "duration_ms": info.duration_ms}

    def play(self, cmd: c.Play) -> dict[str, Any]:
        leg = self._leg(cmd.leg_id)
        info = self.prompts.get(cmd.prompt_id)
        if info is None:
            raise EngineError("unknown_prompt", f"no prompt {cmd.prompt_id}")
        a, row = self.arrays, leg.row
        a.p_on[row], a.p_loop[row] = True, cmd.loop
        a.p_start[row], a.p_len[row], a.p_pos[row] = info.start, info.length, 0
        leg.prompt_id = cmd.prompt_id
        return {"duration_ms": info.duration_ms}

    def stop_play(self, cmd: c.StopPlay) -> dict[str, Any]:
        leg = self._leg(cmd.leg_id)
        self.arrays.p_on[leg.row] = False
        leg.prompt_id = None
        return {}

    def set_hold(self, cmd: c.SetHold) -> dict[str, Any]:
        leg = self._leg(cmd.leg_id)
        a, row = self.arrays, leg.row
        if cmd.held:
            info = self.prompts.get(cmd.music or DEFAULT_MUSIC)
            if info is None:
                raise EngineError("unknown_prompt", f"no prompt {cmd.music}")
            a.m_start[row], a.m_len[row], a.m_pos[row] = info.start, info.length, 0
        a.held[row] = cmd.held
        return {}

    def set_mute(self, cmd: c.SetMute) -> dict[str, Any]:
        self.arrays.muted[self._leg(cmd.leg_id).row] = cmd.muted
        return {}

    def set_whisper(self, cmd: c.SetWhisper) -> dict[str, Any]:
        leg = self._leg(cmd.leg_id)
        if cmd.to_leg_id is None:
            self._whispers.pop(leg, None)
            return {}
        target = self._leg(cmd.to_leg_id)
        if target is leg or leg.bridge is None or target.bridge is not leg.bridge:
            raise EngineError("not_bridged", "a leg whispers to another leg of its bridge")
        self._whispers[leg] = target
        return {}

    def _resolve(self, path: str) -> Path:
        """Commands name files relative to the media root and may not leave it."""
        resolved = (self._root / path).resolve()
        if self._root not in resolved.parents:
            raise EngineError("bad_path", f"{path} is outside the media root")
        return resolved

    # -- recording ----------------------------------------------------------------------

    def record_start(
        self, cmd: c.RecordStart, owner: int, reply: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any] | None:
        """With ``reply``, answers once the file exists with a valid header (so a crash
        right after the controller hears "started" still leaves a playable file) and
        returns None; without, returns at once."""
        bridge = self._bridge(cmd.bridge_id)
        if bridge.recording is not None:
            raise EngineError("already_recording", f"bridge {bridge.bridge_id} is recording")
        path = self._resolve(cmd.path)
        self._next_recording += 1
        row = len(self._rec_rows)
        rec = Recording(f"{bridge.bridge_id}#{self._next_recording}", bridge.bridge_id, path,
                        row, owner, self._chunk_pos)  # fmt: skip
        self.recs.ensure(row + 1)
        self.recs.bridge[row], self.recs.paused[row] = bridge.row, False
        self._rec_rows.append(rec)
        bridge.recording = rec
        self._writer.open(rec.recording_id, path)
        if reply is None:
            return {"path": str(path)}
        self._open_waiters[rec.recording_id] = reply
        return None

    def record_pause(self, cmd: c.RecordPause | c.RecordResume) -> dict[str, Any]:
        rec = self._bridge(cmd.bridge_id).recording
        if rec is None:
            raise EngineError("not_recording", f"bridge {cmd.bridge_id} is not recording")
        rec.paused = isinstance(cmd, c.RecordPause)
        self.recs.paused[rec.row] = rec.paused
        return {}

    def record_stop(self, cmd: c.RecordStop, reply: Callable[[dict[str, Any]], None]) -> None:
        """Stops now; ``reply`` is called once the writer has closed the file."""
        rec = self._bridge(cmd.bridge_id).recording
        if rec is None:
            raise EngineError("not_recording", f"bridge {cmd.bridge_id} is not recording")
        self._stop_waiters.setdefault(rec.recording_id, []).append(reply)
        self._stop_recording(rec)

    def _stop_recording(self, rec: Recording) -> None:
        self._flush_recording(rec)
        self._writer.close(rec.recording_id)
        self._closing[rec.recording_id] = rec
        self.bridges[rec.bridge_id].recording = None
        last = len(self._rec_rows) - 1
        if rec.row != last:
            moved = self._rec_rows[last]
            self.recs.move(last, rec.row)
            moved.row = rec.row
            self._rec_rows[rec.row] = moved
        self._rec_rows.pop()

    def _flush_recording(self, rec: Recording) -> None:
        audio = self.recs.chunk[rec.row, rec.first_frame * FRAME : self._chunk_pos * FRAME]
        if len(audio):
            self._writer.write(rec.recording_id, audio.astype("<i2").tobytes())
        rec.first_frame = self._chunk_pos

    def _collect_recordings(self) -> None:
        for done in self._writer.completed():
            if isinstance(done, RecordingOpened):
                # A failed open is reported when the recording finishes, as before.
                opened = self._open_waiters.pop(done.recording_id, None)
                if opened is not None:
                    opened({"path": str(done.path)})
                continue
            rec = self._closing.pop(done.recording_id)
            event = c.RecordingFinished(rec.bridge_id, str(done.path), done.frames, done.error)
            self._emit(rec.owner, event)
            for reply in self._stop_waiters.pop(done.recording_id, []):
                reply({"path": str(done.path), "frames": done.frames, "error": done.error})

    # -- owners, stats, shutdown --------------------------------------------------------

    def close_owner(self, owner: int) -> list[str]:
        """A controller went away: drop its bridges (finishing recordings) and legs."""
        for bridge in [b for b in self._bridge_rows if b.owner == owner]:
            self._drop_bridge(bridge)
        dropped = [leg for leg in self._rows if leg.owner == owner]
        for leg in dropped:
            self._drop_leg(leg)
        return [leg.leg_id for leg in dropped]

    @property
    def wake_fd(self) -> int:
        """Readable when the recording writer finished something (see ``on_wake``)."""
        return self._writer.wake_fd

    def on_wake(self) -> None:
        """Between ticks: answer what the writer finished now, not at the next tick."""
        self._writer.drain_wakeups()
        self._collect_recordings()

    def get_stats(self, cmd: c.GetStats) -> dict[str, Any]:
        legs = [self._leg(cmd.leg_id)] if cmd.leg_id else list(self._rows)
        return {"engine": self.engine_stats(), "legs": [leg.stats() for leg in legs]}

    def engine_stats(self) -> c.EngineStats:
        window = self._tick_ms[: min(self.tick_count, len(self._tick_ms))]
        p50, p99, top = np.percentile(window, [50, 99, 100]) if len(window) else (0, 0, 0)
        return c.EngineStats(
            len(self._rows), len(self._bridge_rows), len(self._rec_rows), self.tick_count,
            self.late_ticks, round(float(p50), 3), round(float(p99), 3), round(float(top), 3),
        )  # fmt: skip

    def shutdown(self) -> None:
        for bridge in list(self._bridge_rows):
            self._drop_bridge(bridge)
        for leg in list(self._rows):
            self._drop_leg(leg)
        self._writer.shutdown()
        self._collect_recordings()
        self._poll.close()

    # -- the tick -----------------------------------------------------------------------

    def tick(self) -> None:
        started = time.perf_counter()
        self._tick_wall = time.time()
        self.tick_count += 1
        self._receive()
        rows = len(self._rows)
        if rows:
            self._play_out(rows)
            self._mix_and_send(rows)
        self._send_reports()
        self._advance_recordings()
        if self.tick_count % TICKS_PER_S == 0:
            self._housekeeping()
        self._collect_recordings()
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        self._tick_ms[self.tick_count % len(self._tick_ms)] = elapsed_ms

    def _receive(self) -> None:
        poll, by_fd, on_datagram = self._poll.poll, self._by_fd, self._on_datagram
        rtcp_by_fd = self._rtcp_by_fd
        for _ in range(READ_ROUNDS):
            # Default maxevents is 1023: not enough for legs plus their RTCP sockets.
            ready = poll(0, len(by_fd) + len(rtcp_by_fd) + 1)
            if not ready:
                return
            for fd, _mask in ready:
                leg = by_fd.get(fd)
                if leg is None:
                    rtcp_leg = rtcp_by_fd.get(fd)
                    if rtcp_leg is not None:
                        self._read_rtcp(rtcp_leg)
                    continue
                try:
                    data, anc, _flags, source = leg.sock.recvmsg(2048, 64)
                except OSError:  # EAGAIN, or an ICMP error reported on the socket
                    continue
                on_datagram(leg, data, source, anc)

    def _on_datagram(self, leg: Leg, data: bytes, source: Any, anc: list[Any]) -> None:
        counters = leg.counters
        if source != leg.remote:
            counters.rx_wrong_source += 1  # RTP is accepted only from the negotiated peer
            return
        if leg.rtcp_mux and rtcp.is_rtcp(data):  # RFC 5761 4: RTCP types 200-204 here
            self._on_rtcp(leg, data, source, anc)
            return
        try:
            start, end = rtp.payload_bounds(data)
        except rtp.RtpParseError:
            counters.rx_invalid += 1
            return
        payload_type = data[1] & 0x7F
        is_audio = payload_type == leg.audio_pt
        if (not is_audio and payload_type != leg.dtmf_pt) or (is_audio and end - start != FRAME):
            counters.rx_invalid += 1
            return
        if not leg.accept_sequence(data):
            return
        counters.rx_packets += 1
        counters.rx_bytes += len(data)
        gap = self.tick_count - leg.last_rx_tick
        if gap > counters.max_gap_ticks:
            counters.max_gap_ticks = gap
        leg.last_rx_tick, leg.timed_out = self.tick_count, False
        timestamp = int.from_bytes(data[4:8], "big")
        if is_audio:
            # Interarrival jitter (RFC 3550 A.8) from the kernel's receive time: the tick
            # reads in batches, so its own clock would quantise arrivals to 20 ms.
            try:
                seconds, nanoseconds = TIMESPEC.unpack_from(anc[0][2])
                transit = seconds * 8000 + nanoseconds // 125_000 - timestamp
            except (IndexError, struct.error):  # no timestamp from the kernel
                transit = int(self._tick_wall * 8000) - timestamp
            if leg.transit is not None:
                leg.jitter16 = jitter_step(leg.jitter16, transit - leg.transit)
            leg.transit = transit
            leg.jitter.append(data[start:end])
            if len(leg.jitter) > MAX_JITTER_FRAMES:
                leg.jitter.popleft()
                counters.overflow_drops += 1
            return
        counters.rx_dtmf_packets += 1
        marker = bool(data[1] & 0x80)
        for digit in leg.dtmf.on_packet(timestamp, marker, data[start:end], self.tick_count):
            event = c.DtmfReceived(leg.leg_id, digit.digit, digit.duration // 8, leg.call_id)
            self._emit(leg.owner, event)

    def _play_out(self, rows: int) -> None:
        """One frame per leg from its jitter buffer into ``inbuf``."""
        received, view = self.arrays.received, self.arrays.inbuf_view
        received[:rows] = False
        for leg in self._rows:
            jitter = leg.jitter
            if not jitter:
                if not leg.priming:
                    leg.priming = True
                    leg.counters.underruns += 1
                continue
            if leg.priming:
                if len(jitter) < 2:
                    continue
                leg.priming = False
            row = leg.row
            view[row * FRAME : (row + 1) * FRAME] = jitter.popleft()
            received[row] = True

    def _mix_and_send(self, rows: int) -> None:
        a = self.arrays
        topology = self._topology
        if topology is None or (topology.legs, topology.bridges) != (rows, len(self._bridge_rows)):
            topology = self._topology = mixer.Topology(a.bridge[:rows], len(self._bridge_rows))
        frames = mixer.decode_received(a.inbuf[:rows], a.codec[:rows], a.received[:rows])
        bridged, held = a.bridge[:rows] >= 0, a.held[:rows]
        talks = bridged & ~held & ~a.muted[:rows]
        whispers = self._whispers
        if whispers:
            sources = np.fromiter((leg.row for leg in whispers), np.int64, len(whispers))
            targets = np.fromiter((leg.row for leg in whispers.values()), np.int64, len(whispers))
            speaking = talks[sources] & ~held[targets]  # a held agent hears music only
            talks[sources] = False  # the bridge (and its recording) does not hear a whisper
        heard, sums = mixer.mix_minus(topology, frames, talks, bridged & ~held)
        if whispers:
            # Only the target hears it (one target per whisperer; np.add.at for two
            # whisperers coaching the same agent).
            np.add.at(heard, targets[speaking], frames[sources[speaking]])
        self._add_players(heard, rows)
        self._bridge_sums = sums
        a.out[:rows, rtp.HEADER_SIZE :] = mixer.encode(heard, a.codec[:rows])
        rtp.write_headers(a.out, a.tx_pt[:rows], a.marker[:rows], a.seq[:rows], a.ts[:rows],
                          a.ssrc[:rows])  # fmt: skip
        events = self._send_events() if self._dtmf_out else ()
        view = a.out_view
        for leg in self._rows:
            if leg.remote is None or leg.event_now:
                continue
            row = leg.row
            try:
                leg.sock.sendto(view[row * PACKET : (row + 1) * PACKET], leg.remote)
                leg.counters.tx_packets += 1
            except OSError:  # full socket buffer or unreachable: the frame is lost
                leg.counters.tx_errors += 1
        for leg in events:
            leg.event_now = False
        sending = a.sending[:rows]
        a.seq[:rows] += sending
        a.ts[:rows] += sending.astype(np.uint32) * FRAME
        a.marker[:rows] &= ~sending

    def _send_events(self) -> list[Leg]:
        """This tick's telephone-event packets, sent in place of the legs' audio: the
        audio stream's SSRC and next sequence number, the event's first timestamp."""
        a, sent, finished = self.arrays, [], []
        for leg, sender in self._dtmf_out.items():
            row = leg.row
            step = sender.next_step(int(a.ts[row]))
            if not sender or leg.dtmf_pt is None:
                finished.append(leg)
            if step is None or leg.dtmf_pt is None or leg.remote is None:
                continue
            marker, timestamp, payload = step
            header = rtp.RtpHeader(leg.dtmf_pt, int(a.seq[row]), timestamp, int(a.ssrc[row]),
                                   marker)  # fmt: skip
            leg.event_now = True
            sent.append(leg)
            try:
                leg.sock.sendto(rtp.pack(header, payload), leg.remote)
                leg.counters.tx_packets += 1
                leg.counters.tx_dtmf_packets += 1
            except OSError:
                leg.counters.tx_errors += 1
        for leg in finished:
            del self._dtmf_out[leg]
        return sent

    def _add_players(self, heard: mixer.Int32Frames, rows: int) -> None:
        a, bank = self.arrays, self.prompts.samples
        playing = np.flatnonzero(a.p_on[:rows])
        if len(playing):
            start, length, loop = a.p_start[playing], a.p_len[playing], a.p_loop[playing]
            heard[playing] += player_frames(bank, start, length, a.p_pos[playing], loop)
            position = a.p_pos[playing] + FRAME
            a.p_pos[playing] = np.where(loop, position % length, position)
            for row in playing[~loop & (position >= length)]:
                self._prompt_finished(self._rows[row])
        held = np.flatnonzero(a.held[:rows])
        if len(held):
            start, length = a.m_start[held], a.m_len[held]
            forever = np.ones(len(held), dtype=np.bool_)
            heard[held] += player_frames(bank, start, length, a.m_pos[held], forever)
            a.m_pos[held] = (a.m_pos[held] + FRAME) % length

    def _prompt_finished(self, leg: Leg) -> None:
        self.arrays.p_on[leg.row] = False
        prompt_id, leg.prompt_id = leg.prompt_id or "", None
        self._emit(leg.owner, c.PromptFinished(leg.leg_id, prompt_id, leg.call_id))

    def _advance_recordings(self) -> None:
        count = len(self._rec_rows)
        if count:
            r, frame = self.recs, slice(self._chunk_pos * FRAME, (self._chunk_pos + 1) * FRAME)
            if len(self._rows):
                audio = mixer.clip16(self._bridge_sums[r.bridge[:count]])
                audio[r.paused[:count]] = 0  # paused: silence keeps the timeline
                r.chunk[:count, frame] = audio
            else:
                r.chunk[:count, frame] = 0
        self._chunk_pos += 1
        if self._chunk_pos == RECORD_CHUNK_TICKS:
            for rec in self._rec_rows:
                self._flush_recording(rec)
            self._chunk_pos = 0
            for rec in self._rec_rows:
                rec.first_frame = 0

    def _housekeeping(self) -> None:
        """Once a second: RTP timeouts, DTMF events whose end never came."""
        tick = self.tick_count
        for leg in self._rows:
            for digit in leg.dtmf.flush(tick):
                event = c.DtmfReceived(leg.leg_id, digit.digit, digit.duration // 8, leg.call_id)
                self._emit(leg.owner, event)
            silent = tick - leg.last_rx_tick
            if (
                leg.remote
                and leg.timeout_ticks
                and not leg.timed_out
                and silent >= leg.timeout_ticks
            ):
                leg.timed_out = True
                event2 = c.LegTimedOut(leg.leg_id, silent / TICKS_PER_S, leg.call_id)
                self._emit(leg.owner, event2)
