"""Media engine capacity: N bridged, recorded conversations measured on the wire.

Each conversation has two legs (caller, agent), PCMU at 50 packets/s each way; one caller
in four also hears a looping prompt (the IVR-prompt calls); every bridge is recorded;
every caller presses one DTMF key (RFC 4733) during the first measured window. The RTP
peers run in a SEPARATE load generator process (``--generator``), so their CPU is not
charged to the engine. The generator timestamps every received packet in the kernel
(SO_TIMESTAMPNS), so packet rates and gaps are what the wire carried, not when the
generator got around to reading. It streams until told to stop and then measures the
wall-clock windows it is given, so a caller (bench/voice.py) can measure several
phases of one load.

Per step N: per-stream packet rate (min over the 2N streams the engine sends), p99 of
all inter-packet gaps, engine CPU % of one core (utime+stime from /proc over the window),
DTMF digits detected, recordings with audio (RMS). Goal: every stream >= 49 packets/s
and p99 gap < 40 ms, all digits, all recordings with audio. The last line reports the
largest N that met it:

    RESULT voice_media conversations=... rtp_pps_min=... gap_p99_ms=... cpu_pct=...

The issue's combined ``RESULT voice`` line (with the SIP set-up rate measured while this
load runs) comes from bench/voice.py, which drives this module's ``Load``.

Usage: .venv/bin/python bench/voice_media.py [--steps 50,100,200,250,300] [--seconds 10]
       [--nice -10]  (default; needs CAP_SYS_NICE, else runs at default priority and says so)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jietong.telephony.media import control as c
from jietong.telephony.media import dtmf, g711, prompts, rtp
from jietong.telephony.media.client import MediaClient
from jietong.telephony.media.main import raise_file_limit, raise_priority
from jietong.telephony.media.process import MediaProcess, MediaProcessSpec

SO_TIMESTAMPNS = 35  # Linux; socket module does not export it
TICK = 0.02
DIGITS = "0123456789*#"
RTP_SIZE = 172  # 12-byte header + 160 PCMU samples: what the engine sends every 20 ms


# -- load generator (separate process) ---------------------------------------------------


def generator() -> None:
    """Reads {"engine_ports": [...], "dtmf_ticks": [...], "nice"} on stdin, answers with
    its ports, waits for "go", streams until a line {"windows": [[t0, t1], ...]} (wall
    clock) arrives, then prints the measurements of each window."""
    raise_file_limit()
    config = json.loads(sys.stdin.readline())
    if config["nice"]:
        raise_priority(config["nice"])  # the instrument must not fall behind either
    ports = config["engine_ports"]
    streams = len(ports)
    socks = []
    for _ in range(streams):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # ride out a slow read
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        socks.append(s)
    print(json.dumps({"ports": [s.getsockname()[1] for s in socks]}), flush=True)
    sys.stdin.readline()  # "go"
    result = _generate(socks, ports, config)
    print(json.dumps(result), flush=True)


def _voices() -> np.ndarray:
    """50 frames (1 s) of a caller voice and an agent voice, PCMU encoded: (2, 50, 160)."""
    out = np.zeros((2, 50, 160), dtype=np.uint8)
    for role, freqs in enumerate(((440.0, 523.0), (660.0, 784.0))):
        pcm = prompts.tone(freqs, 1.0, level=0.3)
        encoded = np.frombuffer(g711.encode_samples(pcm, g711.PCMU), dtype=np.uint8)
        out[role] = encoded.reshape(50, 160)
    return out


def _generate(socks: list[socket.socket], ports: list[int], config: dict) -> dict:
    streams = len(socks)
    dtmf_ticks: dict[int, list[int]] = {}
    for conversation, tick in enumerate(config["dtmf_ticks"]):
        dtmf_ticks.setdefault(int(tick), []).append(conversation)
    voices = _voices()
    role = np.arange(streams) % 2  # even streams are callers, odd are agents
    out = np.zeros((streams, RTP_SIZE), dtype=np.uint8)
    seq = np.random.default_rng(1).integers(0, 65536, streams).astype(np.uint16)
    ts = np.zeros(streams, dtype=np.uint32)
    ssrc = np.arange(1, streams + 1, dtype=np.uint32)
    pt = np.zeros(streams, dtype=np.uint8)
    marker = np.zeros(streams, dtype=bool)
    view = out.reshape(-1).data.cast("B")
    targets = [("127.0.0.1", p) for p in ports]
    fd_index = {s.fileno(): i for i, s in enumerate(socks)}
    poll = select.epoll()
    for s in socks:
        poll.register(s.fileno(), select.EPOLLIN)
    control = sys.stdin.fileno()
    poll.register(control, select.EPOLLIN)  # the stop line ends the run
    # Doubles, not Python floats: a long run at 500 streams is millions of arrivals.
    arrivals: list[array[float]] = [array("d") for _ in range(streams)]
    counts = {"rtp": 0, "other": 0, "rtcp": 0}
    pending: dict[int, list[tuple[bool, bytes]]] = {}
    dtmf_ts: dict[int, int] = {}
    start = time.monotonic()
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    stopped = False
    tick = 0
    while not stopped:
        for conversation in dtmf_ticks.get(tick, ()):
            stream = 2 * conversation  # the caller
            pending[stream] = dtmf.digit_packets(DIGITS[conversation % len(DIGITS)])
            dtmf_ts[stream] = int(ts[stream])
        frame = tick % 50
        out[:, 12:] = voices[role, frame]
        rtp.write_headers(out, pt, marker, seq, ts, ssrc)
        for i in range(streams):
            if i in pending:
                mark, payload = pending[i].pop(0)
                header = rtp.RtpHeader(101, int(seq[i]), dtmf_ts[i], int(ssrc[i]), mark)
                socks[i].sendto(rtp.pack(header, payload), targets[i])
                if not pending[i]:
                    del pending[i]
            else:
                socks[i].sendto(view[i * RTP_SIZE : (i + 1) * RTP_SIZE], targets[i])
        seq += 1
        ts += 160
        tick += 1
        deadline = start + tick * TICK
        while True:
            remaining = deadline - time.monotonic()
            ready = poll.poll(max(0.0, remaining), streams + 2)
            _read_ready(ready, fd_index, socks, arrivals, counts)
            if any(fd == control for fd, _ in ready):
                stopped = True  # level-triggered: it stays ready until read, below
                break
            if remaining <= 0 and not ready:
                break
    # Whatever is still queued was stamped by the kernel on arrival: count it too, so a
    # generator that fell behind measures late rather than wrongly.
    while ready := [r for r in poll.poll(0, streams + 2) if r[0] != control]:
        _read_ready(ready, fd_index, socks, arrivals, counts)
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    elapsed = time.monotonic() - start
    windows = json.loads(sys.stdin.readline())["windows"]
    cpu = (cpu_end.ru_utime + cpu_end.ru_stime) - (cpu_start.ru_utime + cpu_start.ru_stime)
    return {
        "windows": [_measure(arrivals, (t0, t1)) for t0, t1 in windows],
        "packets_rtp": counts["rtp"],
        "packets_other": counts["other"],
        "packets_rtcp": counts["rtcp"],
        "generator_cpu_pct": 100.0 * cpu / elapsed,
    }


def _read_ready(ready, fd_index, socks, arrivals, counts) -> None:
    """One datagram from each ready socket; the kernel receive time of an RTP voice
    packet goes to ``arrivals``. Anything else (RTCP, say) is counted, not timed: it is
    not part of the 50 packets/s stream. (The engine sends RTCP to the peer's RTP port + 1,
    which may be another stream's socket here: such packets must not count as voice.)"""
    for fd, _ in ready:
        i = fd_index.get(fd)
        if i is None:
            continue
        try:
            data, anc, _flags, _addr = socks[i].recvmsg(2048, 64)
        except BlockingIOError:
            continue
        if len(data) != RTP_SIZE or data[0] >> 6 != 2:
            counts["other"] += 1
            # RTCP packet types are 200-204 in the second byte (RFC 3550).
            counts["rtcp"] += len(data) > 1 and 200 <= data[1] <= 204
            continue
        counts["rtp"] += 1
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", value[:16])
                arrivals[i].append(sec + nsec * 1e-9)


def _measure(arrivals: list[array[float]], window: tuple[float, float]) -> dict:
    t0, t1 = window
    rates, gaps, max_gap = [], [], 0.0
    for times in arrivals:
        a = np.frombuffer(times, dtype=np.float64)
        inside = a[(a >= t0) & (a < t1)]
        rates.append(len(inside) / (t1 - t0))
        if len(inside) > 1:
            d = np.diff(inside)
            gaps.append(d)
            max_gap = max(max_gap, float(d.max()))
    all_gaps = np.concatenate(gaps) if gaps else np.zeros(1)
    return {
        "pps_min": float(min(rates)),
        "pps_mean": float(np.mean(rates)),
        "gap_p99_ms": float(np.percentile(all_gaps, 99) * 1000),
        "gap_p999_ms": float(np.percentile(all_gaps, 99.9) * 1000),
        "gap_max_ms": max_gap * 1000,
    }


# -- controller (this process) ---------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def niceness(pid: int) -> int:
    """The niceness the process actually runs at (field 19 of /proc/PID/stat)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values[:8]) - values[3] - values[4], sum(values[:8])  # idle, iowait


def write_prompt(path: Path) -> None:
    pcm = prompts.tone((350.0, 440.0), 3.0, level=0.2)  # a dial-tone-like loop
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(pcm.astype("<i2").tobytes())


@dataclass(frozen=True)
class Window:
    """One measured span: wall-clock bounds (the generator's timestamps are wall clock)
    and CPU % of one core of the processes watched over it."""

    start: float
    end: float
    cpu_pct: dict[str, float]


class Load:
    """N bridged, recorded conversations on one media process, one caller in four hearing
    a looping prompt, their peers streaming from a generator process."""

    def __init__(self, client: MediaClient, process: MediaProcess, conversations: int,
                 gen: subprocess.Popen[str]) -> None:  # fmt: skip
        self.client = client
        self.process = process
        self.conversations = conversations
        self.gen = gen

    @classmethod
    async def start(cls, client: MediaClient, process: MediaProcess, conversations: int, *,
                    dtmf_at: float, dtmf_span: float, nice: int) -> Load:  # fmt: skip
        """Every caller presses its key between ``dtmf_at`` and ``dtmf_at + dtmf_span``
        seconds after ``go``."""
        await client.load_prompt("loop", "prompt.wav")
        legs = []
        for n in range(conversations):
            for role in ("caller", "agent"):
                legs.append(await client.create_leg(f"{role}-{n}", call_id=f"call-{n}"))
        span_ticks = max(int(dtmf_span * 50) - 100, 1)
        dtmf_ticks = [int(dtmf_at * 50) + 25 + (n * 37) % span_ticks for n in range(conversations)]
        gen = subprocess.Popen(
            [sys.executable, __file__, "--generator"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        assert gen.stdin is not None and gen.stdout is not None
        config = {"engine_ports": [leg.local_port for leg in legs], "dtmf_ticks": dtmf_ticks,
                  "nice": nice}  # fmt: skip
        gen.stdin.write(json.dumps(config) + "\n")
        gen.stdin.flush()
        ports = json.loads(gen.stdout.readline())["ports"]
        for leg, port in zip(legs, ports, strict=True):
            await client.set_remote(leg.leg_id, "127.0.0.1", port)
        for n in range(conversations):
            await client.create_bridge(f"call-{n}", [f"caller-{n}", f"agent-{n}"])
            await client.record_start(f"call-{n}", f"rec/call-{n}.wav")
            if n % 4 == 0:
                await client.play(f"caller-{n}", "loop", loop=True)
        return cls(client, process, conversations, gen)

    def go(self) -> None:
        assert self.gen.stdin is not None
        self.gen.stdin.write("go\n")
        self.gen.stdin.flush()

    def watched(self) -> dict[str, int]:
        return {"media": self.process.pid, "generator": self.gen.pid}

    async def window(self, seconds: float) -> Window:
        """Measure the next ``seconds`` with nothing else added (``machine``: all CPUs'
        busy time, % of one core)."""
        pids = self.watched()
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        machine0 = machine_jiffies()
        t0, m0 = time.time(), time.monotonic()
        await asyncio.sleep(seconds)
        t1, m1 = time.time(), time.monotonic()
        cpu = {k: 100.0 * (cpu_seconds(p) - cpu0[k]) / (m1 - m0) for k, p in pids.items()}
        machine1 = machine_jiffies()
        cpu["machine"] = (
            100.0
            * (os.cpu_count() or 1)
            * (machine1[0] - machine0[0])
            / max(machine1[1] - machine0[1], 1)
        )
        return Window(t0, t1, cpu)

    async def finish(self, windows: list[Window]) -> dict[str, Any]:
        """Stop the generator; the wire figures of each window, the generator's totals and
        the checks (digits detected, recordings with audio, engine tick figures)."""
        assert self.gen.stdin is not None and self.gen.stdout is not None
        spans = [[w.start, w.end] for w in windows]
        self.gen.stdin.write(json.dumps({"windows": spans}) + "\n")
        self.gen.stdin.flush()
        wire = json.loads(await asyncio.to_thread(self.gen.stdout.readline))
        self.gen.wait()
        engine, leg_stats = await self.client.get_stats()
        return {
            **wire,
            "dtmf_ok": await self._digits_ok(leg_stats),
            "recordings_ok": await self._recordings_ok(),
            "tick_p99_ms": engine.tick_p99_ms,
            "late_ticks": engine.late_ticks,
        }

    async def _digits_ok(self, leg_stats: tuple[c.LegStats, ...]) -> int:
        digits: dict[str, list[str]] = {}
        while True:
            try:
                event = await self.client.next_event(timeout=0.05)
            except TimeoutError:
                break
            if isinstance(event, c.DtmfReceived):
                digits.setdefault(event.leg_id, []).append(event.digit)
        expected = {f"caller-{n}": [DIGITS[n % len(DIGITS)]] for n in range(self.conversations)}
        missed = [k for k, v in expected.items() if digits.get(k) != v]
        if missed:  # say why: did the telephone-events arrive at all?
            by_leg = {s.leg_id: s for s in leg_stats}
            seen = [(k, digits.get(k), by_leg[k].rx_dtmf_packets) for k in missed[:5]]
            print(f"  dtmf missed on {len(missed)} legs, e.g. (leg, digits, dtmf packets): {seen}")
        return sum(digits.get(k) == v for k, v in expected.items())

    async def _recordings_ok(self) -> int:
        with_audio = 0
        for n in range(self.conversations):
            finished = await self.client.record_stop(f"call-{n}")
            with wave.open(finished.path, "rb") as wav:
                audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
            level = np.sqrt(np.mean(audio.astype(float) ** 2)) if len(audio) else 0.0
            with_audio += bool(level > 500)
        return with_audio


async def start_media(nice: int) -> tuple[MediaProcess, MediaClient, Path]:
    """A media process started as production starts one (``MediaProcess.start``), with a
    prompt to loop in its media root."""
    root = Path(tempfile.mkdtemp(prefix="jt-media-bench-"))
    write_prompt(root / "prompt.wav")
    process = MediaProcess.start(MediaProcessSpec(root, name="bench", rtp_timeout_s=60, nice=nice))
    client = await MediaClient.connect(process.address, process.secret, name="bench")
    return process, client, root


async def run_step(conversations: int, seconds: float, warmup: float, nice: int) -> dict:
    process, client, root = await start_media(nice)
    try:
        load = await Load.start(client, process, conversations, dtmf_at=warmup,
                                dtmf_span=seconds, nice=nice)  # fmt: skip
        load_before = os.getloadavg()
        load.go()
        await asyncio.sleep(warmup)
        window = await load.window(seconds)
        result = await load.finish([window])
    finally:
        await client.close()
        process.terminate()
        shutil.rmtree(root, ignore_errors=True)  # recordings: ~16 kB/s each, checked above
    return {
        "conversations": conversations,
        **result["windows"][0],
        "cpu_pct": window.cpu_pct["media"],
        "generator_cpu_pct": window.cpu_pct["generator"],
        **{k: result[k] for k in ("dtmf_ok", "recordings_ok", "tick_p99_ms", "late_ticks")},
        "load_before": load_before[0],
        "load_after": os.getloadavg()[0],
    }


def media_ok(figures: dict) -> bool:
    """The issue's wire goal for one window."""
    return figures["pps_min"] >= 49.0 and figures["gap_p99_ms"] < 40.0


def passed(step: dict) -> bool:
    n = step["conversations"]
    return media_ok(step) and step["dtmf_ok"] == n and step["recordings_ok"] == n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps", default="50,100,200,250,300")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    # The recommended deployment renices the media process (docs/adr/0008); --nice 0
    # measures it at default priority.
    parser.add_argument("--nice", type=int, default=-10, help="media process niceness")
    args = parser.parse_args()
    if args.generator:
        generator()
        return
    raise_file_limit()
    print(f"cpus={os.cpu_count()} window={args.seconds}s warmup={args.warmup}s nice={args.nice}")
    header = ("conv", "pps_min", "pps_mean", "gap_p99", "gap_p999", "gap_max", "cpu%", "gen_cpu%",
              "tick_p99", "late", "dtmf", "recs", "load", "ok")  # fmt: skip
    widths = (5, 8, 8, 8, 8, 8, 6, 8, 8, 5, 5, 5, 9, 3)
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    best = None
    for n in (int(s) for s in args.steps.split(",")):
        step = asyncio.run(run_step(n, args.seconds, args.warmup, args.nice))
        ok = passed(step)
        print(
            f"{n:>5} {step['pps_min']:8.2f} {step['pps_mean']:8.2f} {step['gap_p99_ms']:8.1f} "
            f"{step['gap_p999_ms']:8.1f} {step['gap_max_ms']:8.1f} {step['cpu_pct']:6.1f} "
            f"{step['generator_cpu_pct']:8.1f} {step['tick_p99_ms']:8.2f} {step['late_ticks']:5d} "
            f"{step['dtmf_ok']:5d} {step['recordings_ok']:5d} "
            f"{step['load_before']:4.1f}/{step['load_after']:4.1f} {'yes' if ok else 'no':>3}",
            flush=True,
        )
        if ok:
            best = step
    final = best or {"conversations": 0, "pps_min": 0.0, "gap_p99_ms": 0.0, "cpu_pct": 0.0}
    print(
        f"RESULT voice_media conversations={final['conversations']} "
        f"rtp_pps_min={final['pps_min']:.2f} gap_p99_ms={final['gap_p99_ms']:.1f} "
        f"cpu_pct={final['cpu_pct']:.1f}"
    )


if __name__ == "__main__":
    main()
