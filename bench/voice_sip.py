"""SIP call set-ups per second: SIPp's built-in UAC scenario (INVITE -> 100/180 -> 200 with
SDP -> ACK -> BYE -> 200, no pause) against `SipSignaling` answering every call at once
(a trivial handler: ring, answer), and, as the reference in the same run, against a
minimal raw-socket UAS written in Python (stateless: 100 + 200 with a fixed SDP to each
INVITE, 200 to each BYE; no transactions, retransmissions, dialogs or threads).

Both servers run in a child process of their own (one Python process, like the server),
so their CPU is measured from /proc; SIPp runs in another. Per offered rate (calls/s) for
`--seconds`: calls completed, failed, the achieved rate (completed calls / wall time of
the SIPp run), server CPU % of one core. `ok` marks a step where every call succeeded and
the achieved rate is >= 95 % of the offered one (the offered rate was sustained). The
last line reports, per server, the highest achieved rate of a step without a failed call,
its CPU, and sippy's rate over the raw UAS's. While the raw UAS keeps up with every
offered rate, its figure is the highest rate offered (SIPp's pace), not its ceiling:

    RESULT voice_sip setups_per_s=... cpu_pct=... raw_setups_per_s=... ratio=...

bench/voice.py runs the same steps (``run_rate``) while a media process carries its
conversations, for the issue's combined ``RESULT voice`` line.

SIPp is ``$JIETONG_TEST_SIPP`` if set, else ``sipp`` on PATH (Debian: sip-tester).

Usage: .venv/bin/python bench/voice_sip.py [--rates 50,100,150,200,300] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the servers (child processes) ------------------------------------------------------


def serve_sippy(port: int) -> None:
    """The first line of stdin is empty, or a media process's control address and secret:
    then every call gets a leg on that media process before it is answered (the answer's
    SDP names the leg), and loses it when it ends, as the orchestrator does."""
    sys.path.insert(0, str(ROOT / "src"))
    from jietong.telephony.media.client import MediaClient, MediaError
    from jietong.telephony.ports import IncomingCall, MediaEndpoint
    from jietong.telephony.sip.model import MemoryDirectory, Trunk
    from jietong.telephony.sip.signaling import SipConfig, SipSignaling

    media = sys.stdin.readline().split()
    local = MediaEndpoint("127.0.0.1", 40000)

    class Answer:
        signaling: SipSignaling
        client: MediaClient | None = None

        def __init__(self) -> None:
            self.legs = {"created": 0, "destroyed": 0, "errors": 0}

        async def call_offered(self, call: IncomingCall) -> None:
            endpoint = local
            if self.client is not None:
                remote = call.remote_media
                try:
                    leg = await self.client.create_leg(
                        call.call_id, remote=(remote.host, remote.port), call_id=call.call_id
                    )
                except MediaError:
                    self.legs["errors"] += 1
                    await self.signaling.reject(call.call_id, 503, "no media")
                    return
                self.legs["created"] += 1
                endpoint = MediaEndpoint(leg.local_host, leg.local_port)
            await self.signaling.ring(call.call_id)
            await self.signaling.answer(call.call_id, endpoint)

        async def call_progress(self, call_id: str, status: int) -> None: ...
        async def call_answered(self, call_id: str, remote_media: MediaEndpoint) -> None: ...

        async def call_ended(self, call_id: str, cause: str, sip_status: int | None) -> None:
            if self.client is not None:
                try:
                    await self.client.destroy_leg(call_id)
                    self.legs["destroyed"] += 1
                except MediaError:
                    self.legs["errors"] += 1

        async def dtmf(self, call_id: str, digit: str) -> None: ...

    async def main() -> None:
        trunk = Trunk("t", "o", "load", "127.0.0.1", allowed_sources=("127.0.0.0/8",))
        signaling = SipSignaling(
            MemoryDirectory(trunks=[trunk]), SipConfig(port=port), nonce_key=os.urandom(32)
        )
        handler = Answer()
        handler.signaling = signaling
        if media:
            handler.client = await MediaClient.connect(media[0], media[1], name="bench-sip")
        await signaling.start(handler)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await signaling.stop()
        if handler.client is not None:
            await handler.client.close()
        print(json.dumps(handler.legs), flush=True)  # the driver's account of the legs

    asyncio.run(main())


def serve_raw(port: int) -> None:
    """The reference: answers by string surgery on the request, nothing more."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", port))
    print("ready", flush=True)
    tag = 0
    while True:
        data, address = sock.recvfrom(65535)
        text = data.decode(errors="replace")
        method = text.split(" ", 1)[0]
        if method == "ACK" or text.startswith("SIP/2.0"):
            continue
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        keep = [
            h
            for h in head[1:]
            if h.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")
        ]
        tag += 1
        keep = [
            h + f";tag=r{tag}" if h.lower().startswith("to:") and "tag=" not in h else h
            for h in keep
        ]
        base = "\r\n".join(keep)
        empty = "Content-Length: 0\r\n\r\n"
        if method == "INVITE":
            sock.sendto(f"SIP/2.0 100 Trying\r\n{base}\r\n{empty}".encode(), address)
            contact = f"Contact: <sip:raw@127.0.0.1:{port}>"
            body = f"Content-Type: application/sdp\r\nContent-Length: {len(SDP)}\r\n\r\n{SDP}"
            sock.sendto(f"SIP/2.0 200 OK\r\n{base}\r\n{contact}\r\n{body}".encode(), address)
        else:
            sock.sendto(f"SIP/2.0 200 OK\r\n{base}\r\n{empty}".encode(), address)


# -- the driver ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat: with other
    sessions on the box, whether it was saturated during a window says why a rate fell."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


def machine_busy_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Busy % of ONE core (so 200 is a saturated 2-core box), like the per-process figures."""
    total = after[1] - before[1]
    return 100.0 * (os.cpu_count() or 1) * (after[0] - before[0]) / total if total else 0.0


def start_server(
    kind: str, port: int, media: tuple[str, str] | None = None
) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    if kind == "sippy":  # its first line: the media process to make legs on, if any
        server.stdin.write(" ".join(media or ()) + "\n")
        server.stdin.flush()
    if server.stdout.readline().strip() != "ready":
        raise RuntimeError(f"{kind} server did not start")
    return server


def stop_server(server: subprocess.Popen[str]) -> str:
    """Stop it; what it printed after "ready"."""
    assert server.stdin is not None and server.stdout is not None
    server.stdin.close()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    return server.stdout.read()


def sipp_binary() -> str | None:
    return os.environ.get("JIETONG_TEST_SIPP") or shutil.which("sipp")


def run_rate(
    kind: str, rate: int, seconds: float, workdir: Path, watch: Mapping[str, int] | None = None,
    media: tuple[str, str] | None = None,
) -> dict[str, float]:  # fmt: skip
    """One step: SIPp offers ``rate`` calls/s for ``seconds`` to a fresh server. Also
    returns the wall-clock bounds of the SIPp run (``start``, ``end``), SIPp's own CPU,
    and the CPU % over that run of each process in ``watch`` (name -> pid). With ``media``
    (control address, secret) each call gets a leg on that media process (sippy only)."""
    port = free_port()
    server = start_server(kind, port, media)
    calls = int(rate * seconds)
    stat = workdir / f"{kind}-{rate}.csv"
    sipp = sipp_binary() or "sipp"
    watch = dict(watch or {})
    try:
        watched0 = {name: cpu_seconds(pid) for name, pid in watch.items()}
        machine0 = machine_jiffies()
        # SIPp is this process's only child reaped in between: its CPU is the delta.
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu0, t0, wall0 = cpu_seconds(server.pid), time.monotonic(), time.time()
        done = subprocess.run(
            [sipp, "-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", str(free_port()),
             "-r", str(rate), "-m", str(calls), "-d", "0", "-nostdin",
             "-timeout", f"{int(seconds * 3 + 20)}s",
             "-trace_stat", "-stf", str(stat), "-fd", "1", "-max_recv_loops", "10000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir, check=False,
        )  # fmt: skip
        elapsed, wall1 = time.monotonic() - t0, time.time()
        cpu = cpu_seconds(server.pid) - cpu0
        watched = {name: cpu_seconds(pid) - watched0[name] for name, pid in watch.items()}
        machine = machine_busy_pct(machine0, machine_jiffies())
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        said = stop_server(server)
    ok, failed = final_counts(stat)
    legs = json.loads(said.strip().splitlines()[-1]) if media and said.strip() else {}
    sipp_cpu = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
    return {
        "rate": rate,
        "ok": ok,
        "failed": failed,
        "achieved": ok / elapsed,
        "cpu_pct": 100.0 * cpu / elapsed,
        "sipp_cpu_pct": 100.0 * sipp_cpu / elapsed,
        "machine_cpu_pct": machine,
        "sipp_rc": done.returncode,
        "start": wall0,
        "end": wall1,
        **{f"{name}_cpu_pct": 100.0 * used / elapsed for name, used in watched.items()},
        **{f"legs_{k}": v for k, v in legs.items()},
    }


def final_counts(path: Path) -> tuple[int, int]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    header = lines[0].split(";")
    last = lines[-1].split(";")
    column = {name: i for i, name in enumerate(header)}
    return int(last[column["SuccessfulCall(C)"]]), int(last[column["FailedCall(C)"]])


def passed(step: dict[str, float]) -> bool:
    return step["failed"] == 0 and step["ok"] > 0 and step["achieved"] >= 0.95 * step["rate"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=("sippy", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rates", default="50,100,150,200,300")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.serve == "sippy":
        serve_sippy(args.port)
        return
    if args.serve == "raw":
        serve_raw(args.port)
        return
    if sipp_binary() is None:
        sys.exit("sipp (Debian package sip-tester) is required")
    print(f"cpus={os.cpu_count()} window={args.seconds}s load={os.getloadavg()[0]:.1f}")
    print(f"{'server':>6} {'rate':>5} {'ok':>6} {'failed':>6} {'achieved':>9} {'cpu%':>6} ok")
    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rate in (int(r) for r in args.rates.split(",")):
            for kind in ("sippy", "raw"):
                step = run_rate(kind, rate, args.seconds, Path(tmp))
                good = passed(step)
                print(
                    f"{kind:>6} {rate:>5} {step['ok']:>6.0f} {step['failed']:>6.0f} "
                    f"{step['achieved']:>9.1f} {step['cpu_pct']:>6.1f} {'yes' if good else 'no'}",
                    flush=True,
                )
                if step["failed"] == 0 and step["achieved"] > best.get(kind, {}).get("achieved", 0):
                    best[kind] = step
    sippy = best.get("sippy", {"achieved": 0.0, "cpu_pct": 0.0})
    raw = best.get("raw", {"achieved": 0.0})
    ratio = sippy["achieved"] / raw["achieved"] if raw["achieved"] else 0.0
    print(f"load={os.getloadavg()[0]:.1f}")
    print(
        f"RESULT voice_sip setups_per_s={sippy['achieved']:.1f} cpu_pct={sippy['cpu_pct']:.1f} "
        f"raw_setups_per_s={raw['achieved']:.1f} ratio={ratio:.2f}"
    )


if __name__ == "__main__":
    main()
