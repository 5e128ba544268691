"""What the orchestrator needs from the parts around it (the IVR, the phone directory, the
call model) and how it reaches the database; each has a stand-in so that calls work
before the part is wired in."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, Protocol, TypeVar

from jietong.storage.blobs import BlobStore
from jietong.storage.uow import UnitOfWork
from jietong.telephony.media.client import MediaProcessLost
from jietong.telephony.orchestrator import records
from jietong.telephony.orchestrator.live import LiveCall
from jietong.telephony.ports import CallAudio, CallVariables, IncomingCall, Recorded

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class IvrResult:
    """How an IVR flow ended. ``queue_id`` for a queue outcome (None: the organisation's
    first call queue), ``number`` for transfer and callback, ``voicemail`` for a
    recorded message."""

    kind: Literal["queue", "voicemail", "callback", "transfer", "hangup"]
    queue_id: str | None = None
    number: str | None = None
    voicemail: Recorded | None = None
    variables: CallVariables = field(default_factory=CallVariables)


NodeObserver = Callable[[str, str], Awaitable[None]]


class IvrRunner(Protocol):
    async def __call__(
        self,
        call: IncomingCall,
        audio: CallAudio,
        contact: records.CallContact,
        on_node: NodeObserver,
    ) -> IvrResult:
        """Run the flow of the dialled number on the caller's audio, reporting each node
        visited to `on_node` (node, step type). Raises `CallGone` when the caller hangs
        up meanwhile."""


class PhoneDirectory(Protocol):
    """Agent phones (the SIP registrar's accounts): which phone user rings for an agent."""

    async def phone_user_of(self, org_id: str, agent_id: str) -> str | None: ...

    async def agent_of(self, org_id: str, phone_user: str) -> str | None:
        """The agent whose phone account this is (an agent dialling from their phone)."""


class CallLog(Protocol):
    """The call model and CDRs (``telephony.calls``): told what happens, in order."""

    async def call_event(self, call: LiveCall, what: str, data: dict[str, Any]) -> None: ...

    async def calls_lost(self, lost: MediaProcessLost, calls: list[LiveCall]) -> None: ...


class NoCallLog:
    """Used until a call model is wired in: calls still work, no CDR is written."""

    async def call_event(self, call: LiveCall, what: str, data: dict[str, Any]) -> None:
        return None

    async def calls_lost(self, lost: MediaProcessLost, calls: list[LiveCall]) -> None:
        return None


@dataclass(frozen=True)
class VoiceOptions:
    media_root: Path
    media_host: str = "127.0.0.1"  # the address put in our SDP (reachable by the peers)
    announce_every_s: float = 30.0  # position / estimated-wait announcements
    first_announcement_s: float = 2.0
    record_calls: bool = True
    consent_text: dict[str, str] = field(
        default_factory=lambda: {
            "zh-CN": "为保证服务质量，您的通话可能会被录音。",
            "en": "This call may be recorded for quality purposes.",
        }
    )
    language: str = "zh-CN"
    voicemail_max_s: float = 120.0
    offer_sweep_s: float = 1.0  # how often offers are read in case an event was missed
    max_attachment_bytes: int = 25 * 1024 * 1024
    node: str | None = None  # this voice process (its SIP address), stamped on its calls


@dataclass
class Database:
    """How the orchestrator reaches the domain services: a unit of work per step, run in
    a worker thread so the event loop never blocks on the database."""

    new_uow: Callable[[datetime], UnitOfWork]
    clock: Callable[[], datetime]
    region: str
    blobs: BlobStore

    async def run(
        self, fn: Callable[Concatenate[UnitOfWork, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        def work() -> R:
            with self.new_uow(self.clock()) as uow:
                return fn(uow, *args, **kwargs)

        return await asyncio.to_thread(work)


class DirectToQueue:
    """The IVR of last resort: no prompts, straight to the organisation's first call
    queue. Used when no flow is configured."""

    async def __call__(
        self,
        call: IncomingCall,
        audio: CallAudio,
        contact: records.CallContact,
        on_node: NodeObserver,
    ) -> IvrResult:
        return IvrResult("queue")
