"""In-call control from the desktop and the API: hold, mute, DTMF, hang-up, transfer to a
number (blind or attended), three-way conference, supervisor listen and barge, recording
pause/resume.

Who may do what: the agent connected to the call controls it; supervisors (and admins)
may control any call they can see and are the only ones who may listen in or barge. An
interaction the actor cannot see is reported as not found. Every control is audited
against the interaction (who, what, when) before it is carried out.

Transfers to a queue or an agent go through routing like any other channel's (the
desk's transfer): the orchestrator sees the interaction move ('transfer') and puts the
caller back on hold for the next offer.
"""

from __future__ import annotations

import contextlib
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jietong.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from jietong.core.ids import new_id
from jietong.core.permissions import Permission, has_permission, require
from jietong.core.tenancy import Actor
from jietong.interactions.service import require_interaction
from jietong.storage.uow import UnitOfWork
from jietong.telephony.media.client import MediaError
from jietong.telephony.orchestrator.live import LegRole, LiveCall, Mode, Phase
from jietong.telephony.orchestrator.parties import supervise_with

if TYPE_CHECKING:
    from jietong.telephony.service import VoiceService

DTMF_HZ = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}  # fmt: skip


class NoLiveCall(NotFound):
    title = "No call in progress"


@dataclass(frozen=True)
class CallView:
    """A live call as the desk and the API show it."""

    interaction_id: str
    phase: str
    agent_id: str | None
    held: bool
    muted: bool
    recording: bool
    recording_paused: bool
    parties: int
    supervisors: list[str]


def view_of(call: LiveCall) -> CallView:
    assert call.interaction_id is not None
    supervisors = [leg.user_id or "" for leg in call.others if leg.role is LegRole.SUPERVISOR]
    return CallView(
        interaction_id=call.interaction_id,
        phase=call.phase.value,
        agent_id=None if call.agent is None else call.agent.user_id,
        held=call.caller.held,
        muted=call.agent is not None and call.agent.muted,
        recording=call.recording_path is not None,
        recording_paused=call.recording_paused,
        parties=sum(1 for leg in call.legs() if leg.answered),
        supervisors=supervisors,
    )


def authorise(
    uow: UnitOfWork,
    actor: Actor,
    interaction_id: str,
    *,
    agent_id: str | None,
    action: str,
    data: dict[str, Any],
    supervisor_only: bool = False,
) -> None:
    """Check that the actor may `action` the call of this interaction, and audit it.
    NotFound when they cannot see the interaction; PermissionDenied when it is not
    their call (or, for `supervisor_only` actions, they do not supervise)."""
    require(actor, Permission.INTERACTIONS_WRITE)
    require_interaction(uow, actor, interaction_id)
    supervises = has_permission(actor, Permission.ROUTING_SUPERVISE)
    if supervisor_only and not supervises:
        raise PermissionDenied("only supervisors may do that")
    if not supervises and (agent_id is None or agent_id != actor.user_id):
        raise PermissionDenied("only the agent on the call may control it")
    uow.audit(actor, f"call.{action}", "interaction", interaction_id, data)
    uow.commit()


def may_see(uow: UnitOfWork, actor: Actor, interaction_id: str) -> bool:
    require(actor, Permission.INTERACTIONS_READ)
    try:
        require_interaction(uow, actor, interaction_id)
    except NotFound:
        return False
    return True


class CallControl:
    """The control operations, over one orchestrator."""

    def __init__(self, service: VoiceService) -> None:
        self.service = service

    async def _call(
        self,
        actor: Actor,
        interaction_id: str,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        supervisor_only: bool = False,
    ) -> LiveCall:
        call = self.service.calls.by_interaction(interaction_id)
        agent_id = None if call is None or call.agent is None else call.agent.user_id
        await self.service.db.run(
            authorise,
            actor,
            interaction_id,
            agent_id=agent_id,
            action=action,
            data=data or {},
            supervisor_only=supervisor_only,
        )
        if call is None or call.gone.is_set() or call.org_id != actor.org_id:
            raise NoLiveCall(f"no call in progress on interaction {interaction_id}")
        return call

    async def get(self, actor: Actor, interaction_id: str) -> CallView:
        call = self.service.calls.by_interaction(interaction_id)
        visible = await self.service.db.run(may_see, actor, interaction_id)
        if not visible or call is None or call.org_id != actor.org_id:
            raise NoLiveCall(f"no call in progress on interaction {interaction_id}")
        return view_of(call)

    async def list(self, actor: Actor) -> list[CallView]:
        """Live calls the actor may see: supervisors all of their organisation's, agents
        the calls they are on."""
        mine = [
            c
            for c in self.service.calls.all()
            if c.org_id == actor.org_id and c.interaction_id is not None
        ]
        if not actor.sees_whole_organisation:
            mine = [c for c in mine if c.agent is not None and c.agent.user_id == actor.user_id]
        return [view_of(c) for c in mine]

    async def hold(self, actor: Actor, interaction_id: str, on: bool) -> CallView:
        """The caller hears music (and is not heard) while held."""
        call = await self._call(actor, interaction_id, "hold" if on else "resume")
        self._require_bridged(call)
        await self._media(call.media.set_hold(call.caller.leg_id, on))
        call.caller.held = on
        await self.service.call_log.call_event(call, "held" if on else "resumed", {})
        return view_of(call)

    async def mute(self, actor: Actor, interaction_id: str, on: bool) -> CallView:
        """The agent is not heard; they still hear the call."""
        call = await self._call(actor, interaction_id, "mute" if on else "unmute")
        self._require_bridged(call)
        assert call.agent is not None
        await self._media(call.media.set_mute(call.agent.leg_id, on))
        call.agent.muted = on
        return view_of(call)

    async def dtmf(self, actor: Actor, interaction_id: str, digits: str) -> CallView:
        """Send digits to the parties other than the agent (an external IVR after a
        transfer, a conference bridge's PIN): as RFC 4733 telephone-events to a leg that
        negotiated them (a codec cannot blur them), as tones in band to one that did not."""
        if not digits or any(d not in DTMF_HZ for d in digits) or len(digits) > 32:
            raise InvalidInput("digits are 0-9, *, #, A-D (at most 32)")
        call = await self._call(actor, interaction_id, "dtmf", {"count": len(digits)})
        self._require_bridged(call)
        prompt_id: str | None = None
        for leg in call.legs():
            if leg is call.agent or leg.role is LegRole.SUPERVISOR or not leg.answered:
                continue
            try:
                await call.media.send_dtmf(leg.leg_id, digits)
                continue
            except MediaError as exc:
                if exc.code != "no_telephone_event":
                    raise Conflict(f"the call's media refused: {exc.code}") from exc
            if prompt_id is None:
                path = dtmf_wav(self.service.options.media_root, digits)
                prompt_id = await self.service.prompts.load(call.media, path)
            await self._media(call.media.play(leg.leg_id, prompt_id))
        return view_of(call)

    async def hangup(self, actor: Actor, interaction_id: str) -> None:
        call = await self._call(actor, interaction_id, "hangup")
        await self.service.finish(call, "agent_hangup", hang_up_caller=True)

    async def recording(self, actor: Actor, interaction_id: str, paused: bool) -> CallView:
        """Pause (say, while a card number is read out) or resume the recording; the
        paused span is stored as silence."""
        call = await self._call(
            actor, interaction_id, "recording_" + ("pause" if paused else "resume")
        )
        if call.bridge_id is None or call.recording_path is None:
            raise Conflict("this call is not being recorded")
        if paused:
            await self._media(call.media.record_pause(call.bridge_id))
        else:
            await self._media(call.media.record_resume(call.bridge_id))
        call.recording_paused = paused
        await self.service.call_log.call_event(
            call, "recording_paused" if paused else "recording_resumed", {}
        )
        return view_of(call)

    async def transfer_to_number(
        self, actor: Actor, interaction_id: str, number: str, *, attended: bool
    ) -> CallView:
        """Blind: the number is rung and the agent leaves at once (the caller hears music
        until it answers). Attended: the caller is held while the agent talks to the
        number; `complete_transfer` then leaves them together, `cancel_transfer` drops it."""
        target = self._number(number)
        call = await self._call(
            actor, interaction_id, "transfer", {"to": target, "attended": attended}
        )
        self._require_bridged(call)
        if attended:
            await self._media(call.media.set_hold(call.caller.leg_id, True))
            call.caller.held = True
        await self.service.add_external(call, target)
        await self.service.call_log.call_event(call, "transfer_started", {"attended": attended})
        if not attended:
            await self.service.drop_agent(call)
            await self._media(call.media.set_hold(call.caller.leg_id, True))
            call.caller.held = True
        return view_of(call)

    async def complete_transfer(self, actor: Actor, interaction_id: str) -> CallView:
        call = await self._call(actor, interaction_id, "transfer_complete")
        if not any(leg.role is LegRole.EXTERNAL and leg.answered for leg in call.others):
            raise Conflict("the transfer target has not answered")
        await self._media(call.media.set_hold(call.caller.leg_id, False))
        call.caller.held = False
        await self.service.drop_agent(call)
        await self.service.call_log.call_event(call, "transferred", {})
        return view_of(call)

    async def cancel_transfer(self, actor: Actor, interaction_id: str) -> CallView:
        call = await self._call(actor, interaction_id, "transfer_cancel")
        for leg in [leg for leg in call.others if leg.role is LegRole.EXTERNAL]:
            with contextlib.suppress(Exception):
                await self.service.signaling.hangup(leg.call_id)
            await self.service.drop_other(call, leg)
        await self._media(call.media.set_hold(call.caller.leg_id, False))
        call.caller.held = False
        return view_of(call)

    async def conference(self, actor: Actor, interaction_id: str, number: str) -> CallView:
        """Three-way: the number joins the bridge when it answers; everyone hears everyone."""
        target = self._number(number)
        call = await self._call(actor, interaction_id, "conference", {"to": target})
        self._require_bridged(call)
        await self.service.add_external(call, target)
        return view_of(call)

    async def supervise(self, actor: Actor, interaction_id: str, mode: Mode) -> CallView:
        """Ring the supervisor's own phone; answered, it joins the call: listening
        (muted), whispering (heard by the agent alone) or barging in (heard by all).
        A supervisor already on the call changes mode at once."""
        call = await self._call(
            actor, interaction_id, "supervise", {"mode": mode.value}, supervisor_only=True
        )
        self._require_bridged(call)
        existing = [leg for leg in call.others if leg.user_id == actor.user_id]
        if existing and existing[0].answered:
            leg = existing[0]
            leg.mode = mode
            await self._media(supervise_with(call, leg))
            return view_of(call)
        phone = await self.service.phones.phone_user_of(actor.org_id, actor.user_id)
        if phone is None:
            raise Conflict("you have no phone to listen with")
        await self.service.add_supervisor(call, actor.user_id, phone, mode)
        return view_of(call)

    def _require_bridged(self, call: LiveCall) -> None:
        if call.phase is not Phase.BRIDGED:
            raise Conflict(f"the call is {call.phase.value}, not connected")

    def _number(self, number: str) -> str:
        from jietong.telephony.orchestrator.records import normalise_caller

        found = normalise_caller(number, self.service.db.region)
        if found is None:
            raise InvalidInput("not a phone number")
        return found

    async def _media(self, pending: Any) -> None:
        try:
            await pending
        except MediaError as exc:
            raise Conflict(f"the call's media refused: {exc.code}") from exc


def dtmf_wav(media_root: Path, digits: str) -> Path:
    """Dual tones of `digits` (100 ms each, 60 ms apart) as a WAV under the media root."""
    safe = digits.replace("*", "s").replace("#", "h")
    path = media_root / "prompts" / "dtmf" / f"{safe}.wav"
    if path.exists():
        return path
    rate, parts = 8000, []
    t = np.arange(int(rate * 0.1)) / rate
    for digit in digits:
        low, high = DTMF_HZ[digit]
        parts.append(0.25 * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)))
        parts.append(np.zeros(int(rate * 0.06)))
    samples = (np.concatenate(parts) * 32767 * 0.5).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{new_id()[-6:]}.part")
    with wave.open(str(partial), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    partial.replace(path)
    return path
