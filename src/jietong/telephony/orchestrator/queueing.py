"""Waiting for an agent, and the IVR outcomes that do not wait: music on hold with
position and estimated-wait announcements, "press 1 to be called back and keep your
place", voicemail, a callback asked for in the IVR."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from jietong.telephony.orchestrator import records
from jietong.telephony.orchestrator.base import OrchestratorBase
from jietong.telephony.orchestrator.contracts import IvrResult
from jietong.telephony.orchestrator.live import LiveCall, Phase
from jietong.telephony.ports import CallAudio, CallGone

log = logging.getLogger(__name__)


class QueueingMixin(OrchestratorBase):
    async def _queue(
        self, live: LiveCall, audio: CallAudio, queue_id: str | None, language: str
    ) -> None:
        assert live.interaction_id is not None
        target = queue_id or await self.db.run(records.default_call_queue, live.org_id)
        queued = target is not None and await self.db.run(
            records.queue_call, live.org_id, live.interaction_id, target
        )
        if not queued:
            await self.finish(live, "no_queue", hang_up_caller=True)
            return
        live.queue_id = target
        live.phase = Phase.QUEUED
        await self.call_log.call_event(live, "queued", {"queue_id": target})
        await audio.music(on=True)
        await self._wait_in_queue(live, audio, language)

    async def _wait_in_queue(self, live: LiveCall, audio: CallAudio, language: str) -> None:
        """Music on hold until an agent is connected; now and then the caller's position
        and estimated wait, with the offer to be called back (1)."""
        wait = self.options.first_announcement_s
        while not live.connected.is_set() and not live.gone.is_set():
            digit = await _next_digit_or_connected(live, wait)
            wait = self.options.announce_every_s
            if live.connected.is_set() or live.gone.is_set():
                return
            if digit == "1":
                if await self._keep_place(live, audio, language):
                    return
                continue
            if digit is None and live.phase is Phase.QUEUED:
                await self._announce(live, audio, language)

    async def _announce(self, live: LiveCall, audio: CallAudio, language: str) -> None:
        assert live.interaction_id is not None
        try:
            where = await self.db.run(
                records.position_of, live.org_id, live.interaction_id, self.db.clock()
            )
        except Exception:  # no longer waiting (offered, answered) or a hiccup: say nothing
            return
        path = await self.prompts.speak(announcement(where, language), language)
        if path is None or live.phase is not Phase.QUEUED:
            return
        await audio.music(on=False)
        try:
            digit = await audio.play(path, interruptible=True)
        finally:
            if not live.connected.is_set() and not live.gone.is_set():
                await audio.music(on=True)
        if digit is not None:
            live.digits.put_nowait(digit)

    async def _keep_place(self, live: LiveCall, audio: CallAudio, language: str) -> bool:
        """Press 1: a callback keeping the caller's place; they hear it confirmed and the
        call ends. False if they can no longer be turned into a callback."""
        assert live.interaction_id is not None and live.contact is not None
        ok = await self.db.run(
            records.request_callback,
            live.org_id,
            live.interaction_id,
            live.contact.caller_e164,
            self.db.clock(),
        )
        if not ok:
            return False
        live.phase = Phase.ENDED  # the interaction lives on as a callback: not abandoned
        await self.call_log.call_event(live, "callback_requested", {})
        text = {
            "zh-CN": "好的，轮到您时我们会给您回电。再见。",
            "en": "Thank you. We will call you back when it is your turn. Goodbye.",
        }
        path = await self.prompts.speak(text.get(language, text["en"]), language)
        if path is not None:
            with contextlib.suppress(CallGone):
                await audio.music(on=False)
                await audio.play(path, interruptible=False)
        await self.finish(live, "callback_requested", hang_up_caller=True)
        return True

    async def _voicemail(self, live: LiveCall, result: IvrResult) -> None:
        assert result.voicemail is not None and live.interaction_id is not None
        data = await asyncio.to_thread(result.voicemail.path.read_bytes)
        target = result.queue_id or await self.db.run(records.default_call_queue, live.org_id)
        await self.db.run(
            records.leave_voicemail,
            live.org_id,
            live.interaction_id,
            blobs=self.db.blobs,
            wav=data,
            seconds=result.voicemail.seconds,
            queue_id=target,
            max_bytes=self.options.max_attachment_bytes,
        )
        live.phase = Phase.ENDED
        await self.call_log.call_event(live, "voicemail", {"seconds": result.voicemail.seconds})
        await self.finish(live, "voicemail", hang_up_caller=True)

    async def _callback_from_ivr(self, live: LiveCall, result: IvrResult) -> None:
        """A callback asked for in the IVR: queued as a callback entry right away."""
        assert live.interaction_id is not None and live.contact is not None
        target = result.queue_id or await self.db.run(records.default_call_queue, live.org_id)
        if target is None or not await self.db.run(
            records.queue_call, live.org_id, live.interaction_id, target
        ):
            await self.finish(live, "no_queue", hang_up_caller=True)
            return
        number = result.number or live.contact.caller_e164
        for _ in range(20):  # routing gives the entry on its next cycle
            if await self.db.run(
                records.request_callback, live.org_id, live.interaction_id, number, self.db.clock()
            ):
                break
            await asyncio.sleep(0.25)
        live.phase = Phase.ENDED
        await self.finish(live, "callback_requested", hang_up_caller=True)

    async def _transfer_to_number(self, live: LiveCall, number: str) -> None:
        await self.add_external(live, number)


async def _next_digit_or_connected(live: LiveCall, timeout: float) -> str | None:
    getter = asyncio.ensure_future(live.digits.get())
    connected = asyncio.ensure_future(live.connected.wait())
    done, _ = await asyncio.wait(
        {getter, connected}, timeout=timeout, return_when="FIRST_COMPLETED"
    )
    connected.cancel()
    if getter in done:
        return getter.result()
    getter.cancel()
    return None


def announcement(where: records.QueuePosition, language: str) -> str:
    """What a waiting caller is told: their place and, when known, the wait in whole
    minutes (at least one), and the callback option."""
    minutes = None if where.wait_seconds is None else max(1, round(where.wait_seconds / 60))
    if language == "zh-CN":
        text = f"您前面还有{where.ahead}位。"
        if minutes is not None:
            text += f"预计等待{minutes}分钟。"
        return text + "如需回电并保留您的位置，请按1。"
    text = f"You are number {where.position} in the queue."
    if minutes is not None:
        unit = "minute" if minutes == 1 else "minutes"
        text += f" Your estimated wait is {minutes} {unit}."
    return text + " To be called back and keep your place, press 1."
