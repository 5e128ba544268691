"""One answered call's audio as the IVR and the queue use it (`CallAudio` over the media
engine), and the prompts the orchestrator speaks itself.

The orchestrator owns the media client's event stream (one reader per connection), so
the events of a leg reach its `LegAudio` through `PromptWaiters` and the call's digit
queue, never by a second reader of the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jietong.telephony.media.client import MediaClient, MediaError
from jietong.telephony.media.prompts import RATE
from jietong.telephony.orchestrator.live import LiveCall
from jietong.telephony.ports import CallGone, Recorded

ESPEAK_VOICES = {"zh-CN": "cmn", "en": "en"}


@dataclass
class PromptWaiters:
    """Futures waiting for a leg's `prompt_finished` event."""

    _waiting: dict[str, asyncio.Future[None]] = field(default_factory=dict)

    def expect(self, leg_id: str) -> asyncio.Future[None]:
        old = self._waiting.pop(leg_id, None)
        if old is not None and not old.done():
            old.cancel()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[leg_id] = future
        return future

    def finished(self, leg_id: str) -> None:
        future = self._waiting.pop(leg_id, None)
        if future is not None and not future.done():
            future.set_result(None)


@dataclass
class PromptCache:
    """Prompt WAV files under the media root, loaded once per media process. Text is
    spoken with espeak-ng (Mandarin or English) into a file named by a hash of (voice,
    text), so the same sentence is generated once."""

    media_root: Path
    _loaded: dict[tuple[int, str], str] = field(default_factory=dict)

    async def load(self, media: MediaClient, path: Path) -> str:
        """The engine's prompt id for a WAV file under the media root."""
        relative = path.resolve().relative_to(self.media_root.resolve()).as_posix()
        key = (id(media), relative)
        if key not in self._loaded:
            prompt_id = "p:" + hashlib.sha256(relative.encode()).hexdigest()[:16]
            await media.load_prompt(prompt_id, relative)
            self._loaded[key] = prompt_id
        return self._loaded[key]

    def forget(self, media: MediaClient) -> None:
        for key in [k for k in self._loaded if k[0] == id(media)]:
            del self._loaded[key]

    async def speak(self, text: str, language: str) -> Path | None:
        """A WAV of `text` in `language` (zh-CN or en), or None when espeak-ng is not
        installed (the caller then hears no announcement, never an error)."""
        voice = ESPEAK_VOICES.get(language, ESPEAK_VOICES["en"])
        digest = hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()[:24]
        path = self.media_root / "prompts" / "tts" / f"{digest}.wav"
        if path.exists():
            return path
        binary = shutil.which("espeak-ng")
        if binary is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        process = await asyncio.create_subprocess_exec(
            binary, "-v", voice, "-s", "150", "-w", str(partial), text,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if await process.wait() != 0 or not partial.exists():
            return None
        partial.replace(path)  # whole files only: a concurrent reader never sees half
        return path


class LegAudio:
    """`CallAudio` for the caller's leg of a live call."""

    def __init__(self, call: LiveCall, prompts: PromptCache, waiters: PromptWaiters) -> None:
        self._call = call
        self._prompts = prompts
        self._waiters = waiters

    @property
    def leg_id(self) -> str:
        return self._call.caller.leg_id

    async def play(self, prompt: Path, *, interruptible: bool = True) -> str | None:
        self._check()
        media = self._call.media
        try:
            prompt_id = await self._prompts.load(media, prompt)
            done = self._waiters.expect(self.leg_id)
            await media.play(self.leg_id, prompt_id)
        except MediaError as exc:
            raise CallGone(str(exc)) from exc
        waits: list[asyncio.Future[Any]] = [done, self._gone()]
        digit_task: asyncio.Future[str] | None = None
        if interruptible:
            digit_task = asyncio.ensure_future(self._call.digits.get())
            waits.append(digit_task)
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in waits:
                if future is not digit_task and not future.done():
                    future.cancel()
        self._check()
        if digit_task is None:
            return None
        if digit_task.done():
            with contextlib.suppress(MediaError):
                await media.stop_play(self.leg_id)
            return digit_task.result()
        digit_task.cancel()
        return None

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
        timeout = first_digit_timeout_s if not digits else inter_digit_timeout_s
        while len(digits) < max_digits:
            self._check()
            digit = await self._next_digit(timeout)
            if digit is None:
                break
            if terminator is not None and digit == terminator:
                break
            digits += digit
            timeout = inter_digit_timeout_s
        return digits

    async def record(self, path: Path, *, max_seconds: float, beep: bool = True) -> Recorded:
        """Record the caller alone: a one-leg bridge is recorded (the engine records
        bridges), ended by '#', hang-up or the limit."""
        self._check()
        media = self._call.media
        bridge_id = f"{self._call.key}-vm"
        relative = path.resolve().relative_to(self._prompts.media_root.resolve()).as_posix()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await media.create_bridge(bridge_id, (self.leg_id,))
            await media.record_start(bridge_id, relative)
            digit: str | None = ""
            deadline = started + max_seconds
            while digit != "#" and not self._call.gone.is_set():
                left = deadline - loop.time()
                if left <= 0:
                    break
                digit = await self._next_digit(left)
                if digit is None:
                    break
            finished = await media.record_stop(bridge_id)
            await media.destroy_bridge(bridge_id)
        except MediaError as exc:
            raise CallGone(str(exc)) from exc
        # `frames` are WAV frames: one per 8 kHz sample.
        return Recorded(self._prompts.media_root / finished.path, finished.frames / RATE)

    async def music(self, *, on: bool) -> None:
        self._check()
        try:
            await self._call.media.set_hold(self.leg_id, on)
        except MediaError as exc:
            raise CallGone(str(exc)) from exc

    async def _next_digit(self, timeout: float) -> str | None:
        getter: asyncio.Future[str] = asyncio.ensure_future(self._call.digits.get())
        gone = self._gone()
        done, _ = await asyncio.wait(
            {getter, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        gone.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        return None

    def _gone(self) -> asyncio.Future[Any]:
        return asyncio.ensure_future(self._call.gone.wait())

    def _check(self) -> None:
        if self._call.gone.is_set():
            raise CallGone(self._call.end_cause or "hung up")
