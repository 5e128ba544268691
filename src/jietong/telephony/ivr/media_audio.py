"""`CallAudio` over the media engine: one leg of one `MediaClient`.

A media client has one event stream for all its legs, so `LegEvents` sorts it: the
orchestrator feeds it every client event (``dispatch``, or ``pump`` to read the client
itself) and each `MediaCallAudio` reads its own leg's DTMF and prompt-finished events.
A leg is *gone* — every pending and later call raises `CallGone` — when the orchestrator
says so (``gone``: signaling reported the hang-up), when the engine reports the leg's RTP
silent (``leg_timeout``), or when the media process is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import wave
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from jietong.telephony.media import control as c
from jietong.telephony.media import prompts as media_prompts
from jietong.telephony.media.client import ClientEvent, MediaClient, MediaError, MediaProcessLost
from jietong.telephony.ports import CallGone, Recorded

log = logging.getLogger(__name__)
_BEEP_NAME = "ivr-beep-1k.wav"
T = TypeVar("T")


@dataclass
class _Inbox:
    queue: asyncio.Queue[c.Event] = field(default_factory=asyncio.Queue)
    gone: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class LegEvents:
    """Per-leg event queues for one media client (see the module docstring)."""

    def __init__(self) -> None:
        self._inboxes: dict[str, _Inbox] = {}
        self.lost: MediaProcessLost | None = None

    def register(self, leg_id: str) -> None:
        self._inboxes.setdefault(leg_id, _Inbox())
        if self.lost is not None:
            self.gone(leg_id, "media process lost")

    def unregister(self, leg_id: str) -> None:
        self._inboxes.pop(leg_id, None)

    def dispatch(self, event: ClientEvent) -> None:
        if isinstance(event, MediaProcessLost):
            self.lost = event
            for known in list(self._inboxes):
                self.gone(known, f"media process lost: {event.reason}")
            return
        about = getattr(event, "leg_id", None)
        inbox = self._inboxes.get(about) if isinstance(about, str) else None
        if inbox is None:
            return
        if isinstance(event, c.LegTimedOut):
            self.gone(event.leg_id, f"no RTP for {event.silent_s:.0f} s")
            return
        inbox.queue.put_nowait(event)

    def push_front(self, leg_id: str, events: list[c.Event]) -> None:
        """Put ``events`` back ahead of the leg's queued ones (in their order)."""
        inbox = self._inboxes.get(leg_id)
        if inbox is None or not events:
            return
        rest = [inbox.queue.get_nowait() for _ in range(inbox.queue.qsize())]
        for event in [*events, *rest]:
            inbox.queue.put_nowait(event)

    def gone(self, leg_id: str, reason: str) -> None:
        """The caller on ``leg_id`` is gone: wake every step waiting on it."""
        inbox = self._inboxes.get(leg_id)
        if inbox is not None and inbox.gone is None:
            inbox.gone = reason
            inbox.wake.set()

    async def pump(self, client: MediaClient) -> None:
        """Dispatch all of ``client``'s events until it is lost (run as a task)."""
        async for event in client.events():
            self.dispatch(event)

    async def next(self, leg_id: str, timeout: float | None) -> c.Event | None:
        """The leg's next event, None on timeout; CallGone once the leg is gone."""
        inbox = self._inboxes[leg_id]
        if inbox.gone is not None:
            raise CallGone(inbox.gone)
        if not inbox.queue.empty():
            return inbox.queue.get_nowait()
        getter = asyncio.ensure_future(inbox.queue.get())
        waker = asyncio.ensure_future(inbox.wake.wait())
        try:
            await asyncio.wait({getter, waker}, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            waker.cancel()
            if not getter.done():
                getter.cancel()
        # Looked at now, not in wait()'s result: the getter may have completed after wait
        # returned and before this task resumed, and its event must not be lost.
        got = getter.result() if getter.done() and not getter.cancelled() else None
        if inbox.gone is not None:
            if got is not None:
                self.push_front(leg_id, [got])  # keep it for whoever asks next
            raise CallGone(inbox.gone)
        return got


@dataclass
class PromptCache:
    """Which files this media client has loaded, and under which prompt id (one client's
    engine keeps them for its life; loading once per file, not once per call)."""

    media_root: Path
    loaded: dict[str, str] = field(default_factory=dict)  # relative path + stamp -> id
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.media_root.resolve()))
        except ValueError:
            raise MediaError("bad_path", f"{path} is outside the media root") from None

    async def prompt_id(self, client: MediaClient, path: Path) -> str:
        rel = self.relative(path)
        stat = path.stat()
        key = f"{rel}:{stat.st_mtime_ns}:{stat.st_size}"
        async with self.lock:
            if key not in self.loaded:
                prompt_id = "p-" + hashlib.sha256(key.encode()).hexdigest()[:24]
                await client.load_prompt(prompt_id, rel)
                self.loaded[key] = prompt_id
            return self.loaded[key]

    def beep(self) -> Path:
        """A 1 kHz, 300 ms tone before recording (written once)."""
        path = self.media_root / "ivr" / _BEEP_NAME
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            samples = media_prompts.tone((1000.0,), 0.3, level=0.3)
            tmp = path.with_suffix(".tmp")
            with wave.open(str(tmp), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(media_prompts.RATE)
                out.writeframes(np.asarray(samples, dtype="<i2").tobytes())
            tmp.replace(path)
        return path


class MediaCallAudio:
    """CallAudio for the caller on ``leg_id`` (a leg this client created)."""

    def __init__(
        self, client: MediaClient, leg_id: str, events: LegEvents, prompts: PromptCache
    ) -> None:
        self.client, self.leg_id = client, leg_id
        self._events, self._prompts = events, prompts
        self._music = False
        events.register(leg_id)

    async def play(self, prompt: Path, *, interruptible: bool = True) -> str | None:
        try:
            prompt_id = await self._guard(self._prompts.prompt_id(self.client, prompt))
        except (MediaError, OSError) as exc:
            # A prompt the engine cannot load (not a WAV, missing, outside the root) is
            # skipped: silence for that step is better than dropping the caller.
            log.warning("prompt %s not played: %s", prompt, exc)
            return None
        await self._guard(self.client.play(self.leg_id, prompt_id))
        typed: list[c.Event] = []
        try:
            while True:
                event = await self._events.next(self.leg_id, None)
                if isinstance(event, c.PromptFinished) and event.prompt_id == prompt_id:
                    return None
                if isinstance(event, c.DtmfReceived) and interruptible:
                    await self._guard(self.client.stop_play(self.leg_id))
                    return event.digit
                if isinstance(event, c.DtmfReceived):
                    typed.append(event)
        finally:
            # Keys typed ahead during a prompt that may not be cut short are kept for
            # the next step, as a caller who knows the menu expects.
            self._events.push_front(self.leg_id, typed)

    async def collect(
        self,
        *,
        max_digits: int,
        first_digit_timeout_s: float,
        inter_digit_timeout_s: float,
        terminator: str | None = "#",
        already: str = "",
    ) -> str:
        digits = already
        if terminator and digits.endswith(terminator):
            return digits[: -len(terminator)]
        timeout = inter_digit_timeout_s if digits else first_digit_timeout_s
        while len(digits) < max_digits:
            deadline = time.monotonic() + timeout
            event = None
            while event is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return digits
                candidate = await self._events.next(self.leg_id, remaining)
                if candidate is None:
                    return digits
                if isinstance(candidate, c.DtmfReceived):
                    event = candidate
            if terminator and event.digit == terminator:
                return digits
            digits += event.digit
            timeout = inter_digit_timeout_s
        return digits

    async def record(self, path: Path, *, max_seconds: float, beep: bool = True) -> Recorded:
        """Record the caller alone: a one-leg bridge's mix is what the leg says."""
        if beep:
            await self.play(self._prompts.beep(), interruptible=False)
        rel = self._prompts.relative(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        bridge = f"vm-{self.leg_id}"
        await self._guard(self.client.create_bridge(bridge, (self.leg_id,)))
        try:
            await self._guard(self.client.record_start(bridge, rel))
            started = time.monotonic()
            with contextlib.suppress(CallGone):
                await self._until_hash(max_seconds)
            finished = await self._stop_recording(bridge)
        finally:
            with contextlib.suppress(MediaError):
                await self.client.destroy_bridge(bridge)
        # frames are WAV frames: one 8 kHz sample each.
        seconds = finished.frames / media_prompts.RATE if finished else 0.0
        return Recorded(path, seconds or time.monotonic() - started)

    async def _until_hash(self, max_seconds: float) -> None:
        deadline = time.monotonic() + max_seconds
        while (remaining := deadline - time.monotonic()) > 0:
            event = await self._events.next(self.leg_id, remaining)
            if isinstance(event, c.DtmfReceived) and event.digit == "#":
                return

    async def _stop_recording(self, bridge: str) -> c.RecordingFinished | None:
        try:
            return await self.client.record_stop(bridge)
        except MediaError:
            return None  # the file holds what was written (valid WAV up to the last second)

    async def music(self, *, on: bool) -> None:
        if on != self._music:
            await self._guard(self.client.set_hold(self.leg_id, on))
            self._music = on

    def close(self) -> None:
        self._events.unregister(self.leg_id)

    async def _guard(self, pending: Awaitable[T]) -> T:
        """Await a media command; a lost engine or a vanished leg is the caller gone."""
        try:
            return await pending
        except MediaError as exc:
            if exc.code in ("engine_lost", "unknown_leg", "closed"):
                raise CallGone(str(exc)) from exc
            raise
