"""Running `SipSignaling` against real SIP peers (SIPp, baresip, raw UDP) in tests."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jietong.telephony.ports import IncomingCall, MediaEndpoint
from jietong.telephony.sip.model import MemoryDirectory
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
    directory: MemoryDirectory, recorder: Recorder, **config: Any
) -> AsyncIterator[SipSignaling]:
    signaling = SipSignaling(
        directory, SipConfig(host="127.0.0.1", port=0, **config), nonce_key=b"n" * 32
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
