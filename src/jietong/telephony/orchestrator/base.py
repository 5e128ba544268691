"""What the orchestrator's parts (`VoiceService` and its mixins) share: the state every
part reads and the few steps one part takes on behalf of another."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from jietong.telephony.media.client import MediaClient
from jietong.telephony.orchestrator.audio import PromptCache, PromptWaiters
from jietong.telephony.orchestrator.contracts import (
    CallLog,
    Database,
    IvrRunner,
    PhoneDirectory,
    VoiceOptions,
)
from jietong.telephony.orchestrator.live import CallTable, Leg, LiveCall
from jietong.telephony.ports import CallAudio, CallSignaling, Codec, MediaEndpoint

CALL = "call"


class OrchestratorBase:
    signaling: CallSignaling
    db: Database
    options: VoiceOptions
    phones: PhoneDirectory
    ivr: IvrRunner
    call_log: CallLog
    calls: CallTable
    prompts: PromptCache
    waiters: PromptWaiters

    async def finish(self, live: LiveCall, cause: str, *, hang_up_caller: bool) -> None:
        raise NotImplementedError

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        raise NotImplementedError

    def _pick_media(self) -> MediaClient | None:
        raise NotImplementedError

    def _local(self, port: int, codec: Codec) -> MediaEndpoint:
        pt = 0 if codec == "PCMU" else 8
        # Our offers propose rtcp-mux (RFC 5761); the leg has its RTP+1 pair for an
        # answer without it and switches to mux in set_remote for one with it.
        return MediaEndpoint(self.options.media_host, port, ((codec, pt),), 101, rtcp_mux=True)

    async def _connect(self, live: LiveCall, leg: Leg) -> None:
        raise NotImplementedError

    async def _wait_in_queue(self, live: LiveCall, audio: CallAudio, language: str) -> None:
        raise NotImplementedError

    async def _other_gone(self, live: LiveCall, leg: Leg) -> None:
        raise NotImplementedError

    async def _customer_answered(self, live: LiveCall) -> None:
        raise NotImplementedError

    async def add_external(self, live: LiveCall, number: str, *, timeout_s: float = 30) -> Leg:
        raise NotImplementedError
