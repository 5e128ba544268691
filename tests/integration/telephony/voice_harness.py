"""A contact center with a real media process (or two), a real database, routing run by
hand, and the orchestrator between them. Signaling is `RecordingSignaling`: our own
double of the `CallSignaling` port that records what the orchestrator asked of it and
lets a test play the phones' side (answer, hang up) while RTP flows for real."""

from __future__ import annotations

import asyncio
import contextlib
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import numpy as np
from sqlalchemy import select

from jietong.core.tenancy import system_actor
from jietong.identity import service as identity_service
from jietong.identity.contact_points import ContactKind
from jietong.identity.schemas import ContactPointIn, CustomerCreate
from jietong.storage.tables_voice import VoiceCdrRow
from jietong.telephony.media.client import MediaClient
from jietong.telephony.media.process import MediaProcess, MediaProcessSpec
from jietong.telephony.orchestrator.cdr_log import CdrLog
from jietong.telephony.orchestrator.live import LiveCall
from jietong.telephony.orchestrator.records import CallContact
from jietong.telephony.ports import (
    IncomingCall,
    MediaEndpoint,
    SignalingHandler,
    SipPeer,
    Target,
)
from jietong.telephony.service import Database, IvrRunner, VoiceOptions, VoiceService
from tests.integration.routing.world import World

from .peers import RtpPeer

T = TypeVar("T")


@dataclass
class Originated:
    call_id: str
    target: Target
    caller_id: str
    local: MediaEndpoint
    timeout_s: float


@dataclass
class RecordingSignaling:
    handler: SignalingHandler | None = None
    answered: dict[str, MediaEndpoint] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    rung: list[str] = field(default_factory=list)
    originated: list[Originated] = field(default_factory=list)
    hangups: list[str] = field(default_factory=list)

    async def start(self, handler: SignalingHandler) -> None:
        self.handler = handler

    async def stop(self) -> None:
        self.handler = None

    async def ring(self, call_id: str) -> None:
        self.rung.append(call_id)

    async def answer(self, call_id: str, local_media: MediaEndpoint) -> None:
        self.answered[call_id] = local_media

    async def reject(self, call_id: str, status: int, reason: str) -> None:
        self.rejected[call_id] = status

    async def originate(
        self,
        org_id: str,
        target: Target,
        caller_id: str,
        local_media: MediaEndpoint,
        *,
        timeout_s: float,
        call_id: str | None = None,
    ) -> str:
        assert call_id is not None
        self.originated.append(Originated(call_id, target, caller_id, local_media, timeout_s))
        return call_id

    async def hangup(self, call_id: str) -> None:
        self.hangups.append(call_id)

    async def update_media(self, call_id: str, local_media: MediaEndpoint) -> None:
        return None


@dataclass
class Phones:
    by_agent: dict[str, str] = field(default_factory=dict)

    async def phone_user_of(self, org_id: str, agent_id: str) -> str | None:
        return self.by_agent.get(agent_id)

    async def agent_of(self, org_id: str, phone_user: str) -> str | None:
        return next((a for a, p in self.by_agent.items() if p == phone_user), None)


class Pacer:
    """Keeps every peer sending at 50 packets/s in the background until stopped."""

    def __init__(self) -> None:
        self.peers: list[RtpPeer] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start, tick = loop.time(), 0
        while True:
            for peer in list(self.peers):
                if peer.target is not None:
                    peer.send_one()
                peer.drain()
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * 0.02 - loop.time()))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for peer in self.peers:
            peer.close()


@dataclass
class VoiceWorld:
    world: World
    media_root: Path
    signaling: RecordingSignaling
    phones: Phones
    service: VoiceService
    processes: list[MediaProcess]
    clients: list[MediaClient]
    pacer: Pacer
    contacts: dict[str, CallContact] = field(default_factory=dict)

    @property
    def org_id(self) -> str:
        return self.world.org_id

    async def __aenter__(self) -> VoiceWorld:
        """`async with await start_voice_world(...) as voice:` stops it however the block
        ends."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await stop_voice_world(self)

    async def route(self) -> None:
        """One routing cycle, then publish what it committed (as the server would)."""
        await asyncio.to_thread(self.world.cycle)
        await asyncio.to_thread(self.world.platform.relay.relay_all)

    async def route_until(self, probe: Callable[[], T | None], timeout: float = 15.0) -> T:
        """Routing cycles, as the server's tick runs them, until `probe` holds."""
        deadline = time.monotonic() + timeout
        while True:
            await self.route()
            try:
                return await wait_for(probe, timeout=0.5)
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    async def publish(self) -> None:
        await asyncio.to_thread(self.world.platform.relay.relay_all)

    async def call_in(
        self, call_id: str, number: str, *, name: str | None = None, dialled: str = "4000"
    ) -> RtpPeer:
        """A caller rings in; returns their RTP peer, aimed at our answer."""
        peer = RtpPeer(440.0, abs(hash(call_id)) % 100000 + 1)
        self.pacer.peers.append(peer)
        await self.service.call_offered(
            IncomingCall(
                call_id=call_id,
                sip_call_id=f"sip-{call_id}",
                org_id=self.org_id,
                caller=SipPeer(f"sip:{number}@203.0.113.9", name, number, ("127.0.0.1", 5099)),
                dialled=dialled,
                remote_media=MediaEndpoint(*peer.address),
            )
        )
        answer = await wait_for(lambda: self.signaling.answered.get(call_id))
        peer.target = (answer.host, answer.port)
        live = self.live(call_id)
        assert live is not None and live.contact is not None
        self.contacts[call_id] = live.contact
        return peer

    async def desk_dials(
        self, phone_user: str, number: str, remote_media: MediaEndpoint, *, call_id: str = "p1"
    ) -> None:
        """An agent's desk phone (registered as `phone_user`) sends its INVITE to `number`."""
        await self.service.call_offered(
            IncomingCall(
                call_id=call_id, sip_call_id=f"sip-{call_id}", org_id=self.org_id,
                caller=SipPeer(f"sip:{phone_user}@x", None, phone_user, ("127.0.0.1", 5062)),
                dialled=number, remote_media=remote_media, phone_user=phone_user,
            )
        )  # fmt: skip

    async def phone_answers(self, originated: Originated, freq: float = 1000.0) -> RtpPeer:
        peer = RtpPeer(freq, abs(hash(originated.call_id)) % 100000 + 1)
        peer.target = (originated.local.host, originated.local.port)
        self.pacer.peers.append(peer)
        await self.service.call_answered(originated.call_id, MediaEndpoint(*peer.address))
        return peer

    def live(self, call_id: str) -> LiveCall | None:
        return self.service.calls.by_key(call_id)

    def cdr(self, call_id: str) -> VoiceCdrRow:
        live_contact = self.contacts[call_id]
        with self.world.uow() as uow:
            row = uow.session.scalar(
                select(VoiceCdrRow).where(VoiceCdrRow.call_id == live_contact.cdr_call_id)
            )
            assert row is not None
            return row

    def add_customer(self, name: str, phone: str) -> str:
        with self.world.uow() as uow:
            view = identity_service.create_customer(
                uow,
                system_actor(self.org_id),
                CustomerCreate(
                    display_name=name,
                    contact_points=[ContactPointIn(kind=ContactKind.PHONE, value=phone)],
                ),
                default_region="CN",
            )
        return view.customer.id


async def start_voice_world(
    world: World,
    media_root: Path,
    *,
    media_processes: int = 1,
    ivr: Callable[[Database], IvrRunner] | None = None,
    options: dict[str, object] | None = None,
) -> VoiceWorld:
    processes, clients = [], []
    for n in range(media_processes):
        process = await asyncio.to_thread(
            MediaProcess.start, MediaProcessSpec(media_root, name=f"media-{n}")
        )
        processes.append(process)
        clients.append(
            await MediaClient.connect(process.address, process.secret, name=process.name)
        )
    signaling = RecordingSignaling()
    phones = Phones()
    database = Database(
        new_uow=lambda now: world.uow(now),
        clock=lambda: world.now,
        region="CN",
        blobs=world.platform.blobs,
    )
    service = VoiceService(
        signaling=signaling,
        db=database,
        options=VoiceOptions(media_root=media_root, **options or {}),  # type: ignore[arg-type]
        phones=phones,
        ivr=ivr(database) if ivr is not None else None,
        call_log=CdrLog(database),
    )
    for client in clients:
        service.add_media(client)
    await service.start()
    world.platform.bus.subscribe(service.on_envelope)
    pacer = Pacer()
    pacer.start()
    return VoiceWorld(world, media_root, signaling, phones, service, processes, clients, pacer)


async def stop_voice_world(voice: VoiceWorld) -> None:
    await voice.service.stop()
    await voice.pacer.stop()
    for client in voice.clients:
        await client.close()
    for process in voice.processes:
        await asyncio.to_thread(process.terminate, 5)


async def wait_for(
    probe: Callable[[], T | None],
    timeout: float = 10.0,
    *,
    state: Callable[[], str] | None = None,
) -> T:
    """Poll until `probe` returns something truthy (the orchestrator works in tasks).
    On a timeout the error carries `state()`: what a rare failure saw, for the CI log."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            seen = f": {state()}" if state is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {probe}{seen}")
        await asyncio.sleep(0.02)


async def wait_db(probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Like `wait_for`, for probes that read the database (run in a thread)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(probe)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {probe}")
        await asyncio.sleep(0.05)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
