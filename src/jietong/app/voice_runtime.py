"""Running voice inside the server: media processes, SIP signaling and the orchestrator.

Started by the ASGI lifespan when ``voice_enabled`` (the demo turns it on). It

* spawns ``voice_media_processes`` media processes (each the unit of capacity and of
  failure) and connects to them with a heartbeat;
* starts SIP signaling on ``sip_host:sip_port`` and the orchestrator, which takes
  routing's offers from the bus;
* watches every media process: one that dies (crash, kill -9, hang) has its calls ended
  by the orchestrator with correct CDRs, and a fresh process takes its place for new
  calls; the web app and calls on the other processes are not touched;
* closes, before taking a call, the calls a crashed predecessor left open (cause
  ``media_lost``, disposition ``lost``, ended at its last heartbeat), and beats;
* sweeps recordings past their retention (the queue's policy, else the site's) once a
  day (audited).

All of it lives in one `VoiceRuntime` object kept on the application state, never in
module globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from jietong.storage.uow import UnitOfWork
from jietong.telephony.ivr.prompts import PromptLibrary
from jietong.telephony.ivr.service import materialise_prompt
from jietong.telephony.media.client import MediaClient
from jietong.telephony.media.process import MediaProcess, MediaProcessSpec, MediaStartError
from jietong.telephony.orchestrator import recovery
from jietong.telephony.orchestrator.cdr_log import CdrLog
from jietong.telephony.orchestrator.control import CallControl
from jietong.telephony.orchestrator.flows import FlowIvr
from jietong.telephony.policy import service as recording_policies
from jietong.telephony.ports import CallSignaling
from jietong.telephony.recording import media_root, recorded_interactions, sweep_retention
from jietong.telephony.service import Database, VoiceOptions, VoiceService

if TYPE_CHECKING:
    from jietong.app.platform import Platform

log = logging.getLogger(__name__)

SignalingFactory = Callable[["Platform"], CallSignaling]


@dataclass(frozen=True)
class VoiceRuntimeOptions:
    media_processes: int = 1
    heartbeat_s: float = 2.0
    restart_delay_s: float = 1.0
    sweep_every_s: float = 24 * 3600.0
    heartbeat_every_s: float = 5.0  # bounds the end time of calls left open by a crash
    media_nice: int = 0
    always_open: bool = False  # the demo flow's hours: every day, all day


class PhonesOfSip:
    """`PhoneDirectory` over SIP's accounts: the phone user registered for an agent."""

    def __init__(self, directory: object) -> None:
        self._directory = directory

    async def phone_user_of(self, org_id: str, agent_id: str) -> str | None:
        account = await self._directory.phone_for_user(org_id, agent_id)  # type: ignore[attr-defined]
        if account is None or not account.enabled:
            return None
        return str(account.username)

    async def agent_of(self, org_id: str, phone_user: str) -> str | None:
        account = await self._directory.phone(phone_user)  # type: ignore[attr-defined]
        if account is None or not account.enabled or account.org_id != org_id:
            return None
        return None if account.user_id is None else str(account.user_id)


def sip_signaling(platform: Platform) -> CallSignaling:
    """SIP on the configured address, with the database's phone accounts and trunks."""
    from jietong.telephony.sip.signaling import SipConfig, SipSignaling
    from jietong.telephony.sip.store import SqlSipDirectory

    s = platform.settings
    config = SipConfig(
        host=s.sip_host, port=s.sip_port, public_host=s.sip_public_host, realm=s.sip_realm
    )
    return SipSignaling(SqlSipDirectory(platform.sessions), config, nonce_key=s.secret())


class VoiceRuntime:
    """The voice side of one server process."""

    def __init__(
        self,
        platform: Platform,
        *,
        signaling: SignalingFactory = sip_signaling,
        options: VoiceRuntimeOptions | None = None,
    ) -> None:
        self.platform = platform
        settings = platform.settings
        self.options = options or VoiceRuntimeOptions(
            media_processes=settings.voice_media_processes,
            media_nice=settings.voice_media_nice,
            always_open=settings.voice_demo_always_open,
        )
        self.media_root = media_root(settings.data_dir)
        self._signaling_factory = signaling
        self.service: VoiceService | None = None
        self.control: CallControl | None = None
        self.processes: list[MediaProcess] = []
        self.clients: list[MediaClient] = []
        self.restarts = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._stopping = False
        # This voice process, as its calls are stamped: its SIP address (stable across a
        # restart; unique among the processes behind one Kamailio).
        self.node = f"{settings.sip_public_host or settings.sip_host}:{settings.sip_port}"
        self.recovered: list[recovery.ClosedCall] = []

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.platform.settings
        self.media_root.mkdir(parents=True, exist_ok=True)
        db = Database(
            new_uow=self._new_uow,
            clock=self.platform.clock,
            region=settings.default_region,
            blobs=self.platform.blobs,
        )
        signaling = self._signaling_factory(self.platform)
        directory = getattr(signaling, "directory", None)
        media_host = settings.sip_public_host or settings.sip_host
        self.service = VoiceService(
            signaling=signaling,
            db=db,
            options=VoiceOptions(
                media_root=self.media_root,
                media_host=media_host,
                record_calls=settings.voice_record_calls,
                max_attachment_bytes=settings.max_attachment_bytes,
                language=settings.default_locale if settings.default_locale == "en" else "zh-CN",
                node=self.node,
            ),
            phones=PhonesOfSip(directory),
            ivr=FlowIvr(
                db,
                PromptLibrary(self.media_root / "prompts", uploaded=self._uploaded_prompt),
                self.media_root / "voicemail",
                now=self.platform.clock,
                always_open=self.options.always_open,
            ),
            call_log=CdrLog(db),
            uploaded_prompt=self._uploaded_prompt,
        )
        self.control = CallControl(self.service)
        # Before a call is taken: what a dead predecessor left open is closed.
        self.recovered = await asyncio.to_thread(
            recovery.close_left_open, self._new_uow, self.node, self.platform.clock()
        )
        if self.recovered:
            log.warning(
                "voice: closed %d call(s) left open by a previous process", len(self.recovered)
            )
        await self._beat(starting=True)
        self._tasks.append(asyncio.create_task(self._beat_forever()))
        for index in range(self.options.media_processes):
            await self._start_media(index)
        await self.service.start()
        self._unsubscribe = self.platform.bus.subscribe(self.service.on_envelope)
        self._tasks.append(asyncio.create_task(self._sweep_forever()))
        log.info(
            "voice: SIP on %s:%s, %d media process(es)",
            settings.sip_host,
            getattr(signaling, "port", settings.sip_port),
            len(self.clients),
        )

    async def _uploaded_prompt(self, org_id: str, name: str, language: str) -> Path | None:
        """An organisation's uploaded prompt as a file the media engine can load."""
        cache = self.media_root / "prompts"
        blobs = self.platform.blobs

        def work() -> Path | None:
            with self.platform.read_uow() as uow:
                return materialise_prompt(uow, blobs, org_id, name, language, cache)

        return await asyncio.to_thread(work)

    async def stop(self) -> None:
        self._stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.service is not None:
            await self.service.stop()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for client in self.clients:
            await client.close()
        for process in self.processes:
            await asyncio.to_thread(process.terminate, 5)

    # -- media processes ------------------------------------------------------------

    async def _start_media(self, index: int) -> None:
        settings = self.platform.settings
        spec = MediaProcessSpec(
            self.media_root,
            name=f"media-{index}",
            bind_host=settings.sip_public_host or settings.sip_host,
            nice=self.options.media_nice,
        )
        process = await asyncio.to_thread(MediaProcess.start, spec)
        client = await MediaClient.connect(
            process.address, process.secret, name=spec.name, heartbeat_s=self.options.heartbeat_s
        )
        self.processes.append(process)
        self.clients.append(client)
        assert self.service is not None
        self.service.add_media(client)
        self._tasks.append(asyncio.create_task(self._watch(index, process, client)))

    async def _watch(self, index: int, process: MediaProcess, client: MediaClient) -> None:
        """When a media process is lost, reap it and start another in its place (the
        orchestrator has ended its calls already)."""
        lost = await client.wait_lost()
        if self._stopping:
            return
        log.error("voice: media process %s lost (%s); restarting", lost.engine, lost.reason)
        with contextlib.suppress(ValueError):
            self.clients.remove(client)
        with contextlib.suppress(ValueError):
            self.processes.remove(process)
        await client.close()
        await asyncio.to_thread(process.kill)
        delay = self.options.restart_delay_s
        while not self._stopping:
            await asyncio.sleep(delay)
            try:
                await self._start_media(index)
                self.restarts += 1
                return
            except (MediaStartError, OSError) as exc:
                log.error("voice: media process %d did not restart: %s", index, exc)
                delay = min(delay * 2, 60.0)

    # -- heartbeat --------------------------------------------------------------------

    async def _beat(self, *, starting: bool = False) -> None:
        def work() -> None:
            with self._new_uow(self.platform.clock()) as uow:
                recovery.beat(uow, self.node, starting=starting)

        await asyncio.to_thread(work)

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.heartbeat_every_s)
            try:
                await self._beat()
            except Exception:
                log.exception("voice: heartbeat failed")

    # -- retention ------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.sweep_once)
            except Exception:
                log.exception("voice: recording retention sweep failed")
            await asyncio.sleep(self.options.sweep_every_s)

    def sweep_once(self) -> int:
        """Delete recordings past their retention in every organisation (the days of the
        interaction's queue's policy, else the site's); returns how many were deleted."""
        days = self.platform.settings.voice_recording_retention_days
        root = self.media_root / "recordings"
        if not root.is_dir():
            return 0
        deleted = 0
        for org_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            org_id = org_dir.name
            with self._new_uow(self.platform.clock()) as uow:
                days_of = recording_policies.retention_days_of(
                    uow, org_id, recorded_interactions(self.media_root, org_id), days
                )
                result = sweep_retention(
                    uow, org_id, self.media_root, keep_days=days, now=uow.now, days_of=days_of
                )
            deleted += result.deleted
        return deleted

    def _new_uow(self, now: datetime) -> UnitOfWork:
        return UnitOfWork(
            self.platform.sessions, now, after_commit=self.platform.events_pending.set
        )


async def start_voice(platform: Platform, state: object) -> VoiceRuntime | None:
    """Start voice when the settings ask for it and publish the runtime and its call
    control on the application state (`state`); None when voice is off."""
    if not platform.settings.voice_enabled:
        return None
    runtime = VoiceRuntime(platform)
    await runtime.start()
    state.voice = runtime  # type: ignore[attr-defined]
    state.voice_control = runtime.control  # type: ignore[attr-defined]
    return runtime


async def stop_voice(runtime: VoiceRuntime | None) -> None:
    if runtime is not None:
        await runtime.stop()
