"""Running `SipSignaling` against real SIP peers (SIPp, baresip, raw UDP) in tests."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jietong.telephony.ports import IncomingCall, MediaEndpoint
from jietong.telephony.sip.model import SipDirectory
from jietong.telephony.sip.signaling import SipConfig, SipSignaling

SCENARIOS = Path(__file__).parent / "sipp"
LOCAL_MEDIA = MediaEndpoint("127.0.0.1", 40000)


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Recorder:
    """A `SignalingHandler` that records everything and answers as told: ``policy``
    "answer" (ring, then answer with LOCAL_MEDIA), "hold" (leave it ringing), or an
    (status, reason) to reject."""

    policy: Any = "answer"
    signaling: SipSignaling | None = None
    events: list[tuple[str, Any]] = field(default_factory=list)
    offered: list[IncomingCall] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _note(self, kind: str, data: Any) -> None:
        self.events.append((kind, data))
        self.changed.set()

    async def call_offered(self, call: IncomingCall) -> None:
        self.offered.append(call)
        self._note("offered", call)
        assert self.signaling is not None
        if self.policy == "answer":
            await self.signaling.ring(call.call_id)
            await self.signaling.answer(call.call_id, LOCAL_MEDIA)
        elif isinstance(self.policy, tuple):
            await self.signaling.reject(call.call_id, *self.policy)

    async def call_progress(self, call_id: str, status: int) -> None:
        self._note("progress", (call_id, status))

    async def call_answered(self, call_id: str, remote_media: MediaEndpoint) -> None:
        self._note("answered", (call_id, remote_media))

    async def call_ended(self, call_id: str, cause: str, sip_status: int | None) -> None:
        self._note("ended", (call_id, cause, sip_status))

    async def dtmf(self, call_id: str, digit: str) -> None:
        self._note("dtmf", (call_id, digit))

    def of(self, kind: str) -> list[Any]:
        return [data for k, data in self.events if k == kind]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
        async def until() -> None:
            while len(self.of(kind)) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), timeout)
        return self.of(kind)


@contextlib.asynccontextmanager
async def running(
    directory: SipDirectory,
    recorder: Recorder,
    clock: Callable[[], float] = time.time,
    **config: Any,
) -> AsyncIterator[SipSignaling]:
    signaling = SipSignaling(
        directory,
        SipConfig(host="127.0.0.1", port=0, **config),
        nonce_key=b"n" * 32,
        clock=clock,
    )
    recorder.signaling = signaling
    await signaling.start(recorder)
    try:
        yield signaling
    finally:
        await signaling.stop()


@dataclass
class SippRun:
    returncode: int
    errors: str


async def sipp(
    scenario: str | None,
    port: int,
    *,
    service: str = "100",
    calls: int = 1,
    rate: float = 10,
    pause_ms: int = 200,
    extra: tuple[str, ...] = (),
    timeout_s: float = 30,
    workdir: Path,
) -> SippRun:
    """Run SIPp as a UAC against 127.0.0.1:port; returncode 0 means every call passed."""
    need("sipp")
    errors = workdir / f"sipp-{free_udp_port()}.err"
    args = [
        "sipp",
        *(("-sf", str(SCENARIOS / scenario)) if scenario else ("-sn", "uac")),
        f"127.0.0.1:{port}",
        "-i",
        "127.0.0.1",
        "-p",
        str(free_udp_port()),
        "-s",
        service,
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-d",
        str(pause_ms),
        "-nostdin",
        "-timeout",
        f"{int(timeout_s)}s",
        "-trace_err",
        "-error_file",
        str(errors),
        *extra,
    ]
    process = await asyncio.create_subprocess_exec(
        *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir
    )
    code = await asyncio.wait_for(process.wait(), timeout_s + 10)
    text = errors.read_text(errors="replace") if errors.exists() else ""
    return SippRun(code, text)


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    text: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def parse_reply(data: bytes) -> Reply:
    text = data.decode(errors="replace")
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in head[1:])]
    return Reply(int(head[0].split(" ", 2)[1]), headers, text)


class RawPhone:
    """A hand-written SIP UAC over a real UDP socket, for exact wire checks (identical
    refusals, challenge parameters). Blocking; run it in a thread from async tests."""

    def __init__(self, server_port: int, user: str) -> None:
        self.server = ("127.0.0.1", server_port)
        self.user = user
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = int(self.sock.getsockname()[1])
        self.cseq = 0

    def request(
        self,
        method: str,
        *,
        ruri_user: str | None = None,
        call_id: str | None = None,
        authorization: str | None = None,
        expires: int | None = 120,
        contact: str | None = None,
        body: str = "",
    ) -> Reply:
        import uuid

        self.cseq += 1
        host, port = self.server
        ruri = f"sip:{ruri_user}@{host}:{port}" if ruri_user else f"sip:{host}:{port}"
        to_user = ruri_user if method == "INVITE" and ruri_user else self.user
        lines = [
            f"{method} {ruri} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{uuid.uuid4().hex};rport",
            f"From: <sip:{self.user}@{host}>;tag=t{self.port}",
            f"To: <sip:{to_user}@{host}>",
            f"Call-ID: {call_id or uuid.uuid4().hex}",
            f"CSeq: {self.cseq} {method}",
            "Contact: *"
            if contact == "*"
            else f"Contact: <{contact or f'sip:{self.user}@127.0.0.1:{self.port}'}>",
            "Max-Forwards: 70",
        ]
        if expires is not None and method == "REGISTER":
            lines.append(f"Expires: {expires}")
        if authorization:
            lines.append(f"Authorization: {authorization}")
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), self.server)
        return self.final()

    def final(self) -> Reply:
        while True:
            reply = parse_reply(self.sock.recv(65535))
            if reply.status >= 200:
                return reply

    def close(self) -> None:
        self.sock.close()


def digest_header(
    user: str, password: str, challenge: str, *, method: str, uri: str, realm: str | None = None
) -> str:
    """A client's Authorization for a WWW-Authenticate value (qop=auth)."""
    from jietong.telephony.sip import digest

    fields = dict(
        (k.strip(), v.strip().strip('"'))
        for k, _, v in (p.partition("=") for p in challenge[len("Digest ") :].split(","))
    )
    realm = realm or fields["realm"]
    nonce = fields["nonce"]
    ha1 = digest.ha1(user, realm, password)
    ha2 = digest.md5_hex(f"{method}:{uri}")
    response = digest.md5_hex(f"{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}")
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee"'
    )


SDP_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 7000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
)


async def sipp_uas(
    scenario: str, port: int, *, workdir: Path, calls: int = 1, timeout_s: float = 30
) -> Any:
    """Start SIPp as a UAS on 127.0.0.1:port (a carrier or a phone); await
    `finish_sipp` for its result."""
    need("sipp")
    errors = workdir / f"sipp-uas-{port}.err"
    process = await asyncio.create_subprocess_exec(
        "sipp",
        "-sf",
        str(SCENARIOS / scenario),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        str(calls),
        "-nostdin",
        "-timeout",
        f"{int(timeout_s)}s",
        "-trace_err",
        "-error_file",
        str(errors),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
    )
    process.errors_path = errors
    await asyncio.sleep(0.3)  # let it bind
    return process


async def finish_sipp(process: Any, timeout_s: float = 40) -> SippRun:
    try:
        code = await asyncio.wait_for(process.wait(), timeout_s)
    except TimeoutError:
        process.kill()
        code = await process.wait()
    path: Path = process.errors_path
    return SippRun(code, path.read_text(errors="replace") if path.exists() else "")


class Baresip:
    """baresip as an agent phone: registers with digest, auto-answers, sends DTMF
    and hangs up on command (JSON over TCP, netstring framed: ctrl_tcp)."""

    def __init__(self, workdir: Path, *, user: str, password: str, registrar_port: int) -> None:
        need("baresip")
        self.dir = workdir / f"baresip-{user}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_udp_port()
        self.ctrl_port = free_tcp_port()
        (self.dir / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{self.sip_port}",
                    "module_path /usr/lib/baresip/modules",
                    "module g711.so",
                    "module ausine.so",
                    "module alsa.so",
                    "module_app account.so",
                    "module_app ctrl_tcp.so",
                    "audio_source alsa,null",
                    "audio_player alsa,null",  # no sound card: ALSA's null device
                    "audio_alert alsa,null",
                    f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
                    "rtp_ports 31000-31999",
                ]
            )
            + "\n"
        )
        (self.dir / "accounts").write_text(
            f"<sip:{user}@127.0.0.1:{registrar_port}>;auth_pass={password};"
            "answermode=auto;regint=60\n"
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.events: list[dict[str, Any]] = []
        self._buffer = b""
        self._reader: asyncio.StreamReader
        self._writer: asyncio.StreamWriter

    def __enter__(self) -> Baresip:
        self.process = subprocess.Popen(
            ["baresip", "-f", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    async def connect(self, timeout: float = 10) -> None:
        """Open the control connection (events are only sent to connected clients)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    "127.0.0.1", self.ctrl_port
                )
                return
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def events_until(self, wanted: str, timeout: float = 15) -> list[dict[str, Any]]:
        """Read control events until one of type `wanted` arrives."""
        import json

        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            while b":" in self._buffer:
                size_text, _, rest = self._buffer.partition(b":")
                size = int(size_text)
                if len(rest) < size + 1:
                    break
                event = json.loads(rest[:size])
                self._buffer = rest[size + 1 :]
                self.events.append(event)
                if event.get("type") == wanted:
                    return self.events
            left = deadline - asyncio.get_running_loop().time()
            chunk = await asyncio.wait_for(self._reader.read(4096), max(left, 0.01))
            if not chunk:
                raise ConnectionError("baresip closed its control socket")
            self._buffer += chunk


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
