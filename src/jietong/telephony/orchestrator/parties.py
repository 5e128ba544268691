"""Legs beyond the caller and the agent: a number rung for a transfer or a conference, a
supervisor's phone, the agent leaving a call that goes on; transfers back to routing;
callbacks (the agent's phone first, then the customer)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from jietong.core.ids import new_id
from jietong.telephony.media.client import MediaError
from jietong.telephony.orchestrator import records
from jietong.telephony.orchestrator.audio import LegAudio
from jietong.telephony.orchestrator.base import OrchestratorBase
from jietong.telephony.orchestrator.live import Leg, LegRole, LiveCall, Mode, Phase
from jietong.telephony.ports import Target

log = logging.getLogger(__name__)


class PartiesMixin(OrchestratorBase):
    async def add_external(self, live: LiveCall, number: str, *, timeout_s: float = 30) -> Leg:
        """Ring a number through the trunk; answered, it joins the call's bridge (a blind
        transfer removes the agent afterwards, a conference keeps everyone)."""
        leg = Leg(new_id(), f"{live.key}-x{new_id()[-6:]}", LegRole.EXTERNAL, live.caller.codec)
        live.others.append(leg)
        self.calls.add_leg(live, leg)
        info = await live.media.create_leg(leg.leg_id, codec=leg.codec, call_id=live.key)
        await self.call_log.call_event(live, "external_dialled", {"leg": leg, "number": number})
        caller_id = (live.contact.caller_e164 if live.contact else None) or "anonymous"
        await self.signaling.originate(
            live.org_id,
            Target("number", number),
            caller_id,
            self._local(info.local_port, leg.codec),
            timeout_s=timeout_s,
            call_id=leg.call_id,
        )
        return leg

    async def _external_answered(self, live: LiveCall, leg: Leg) -> None:
        await live.media.set_hold(live.caller.leg_id, False)
        if live.bridge_id is None:
            live.connections += 1
            live.bridge_id = f"{live.key}-b{live.connections}"
            await live.media.create_bridge(live.bridge_id, (live.caller.leg_id, leg.leg_id))
            live.phase = Phase.BRIDGED
            live.connected.set()
        else:
            await live.media.join_bridge(live.bridge_id, leg.leg_id)
        await self.call_log.call_event(live, "external_joined", {"leg": leg})

    async def _supervisor_answered(self, live: LiveCall, leg: Leg) -> None:
        if live.bridge_id is None:
            await self._other_gone(live, leg)
            return
        await live.media.join_bridge(live.bridge_id, leg.leg_id)
        await supervise_with(live, leg)
        await self.call_log.call_event(live, "supervisor_joined", {"mode": str(leg.mode)})

    async def _other_gone(self, live: LiveCall, leg: Leg) -> None:
        if leg in live.others:
            live.others.remove(leg)
        self.calls.drop_leg(leg)
        with contextlib.suppress(MediaError):
            await live.media.destroy_leg(leg.leg_id)
        alone = live.agent is None and not live.others
        if leg.role is LegRole.EXTERNAL and alone and live.phase is Phase.BRIDGED:
            # The last party the caller was talking to left.
            await self.finish(live, "transfer_target_hangup", hang_up_caller=True)

    async def add_supervisor(self, live: LiveCall, user_id: str, phone: str, mode: Mode) -> Leg:
        """Ring the supervisor's phone; answered, it joins the bridge (muted to listen)."""
        leg = Leg(new_id(), f"{live.key}-s{new_id()[-6:]}", LegRole.SUPERVISOR, live.caller.codec)
        leg.user_id, leg.mode = user_id, mode
        live.others.append(leg)
        self.calls.add_leg(live, leg)
        info = await live.media.create_leg(leg.leg_id, codec=leg.codec, call_id=live.key)
        await self.signaling.originate(
            live.org_id,
            Target("phone", phone),
            "supervise",
            self._local(info.local_port, leg.codec),
            timeout_s=30,
            call_id=leg.call_id,
        )
        return leg

    async def drop_agent(self, live: LiveCall) -> None:
        """The agent leaves a call that goes on without them (transferred to a number):
        their phone is released and their interaction goes to wrap-up."""
        leg = live.agent
        if leg is None:
            return
        await self.call_log.call_event(live, "agent_left", {"leg": leg})
        live.agent = None
        self.calls.drop_leg(leg)
        with contextlib.suppress(Exception):
            await self.signaling.hangup(leg.call_id)
        with contextlib.suppress(MediaError):
            await live.media.destroy_leg(leg.leg_id)
        if live.interaction_id is not None:
            await self.db.run(records.end_call, live.org_id, live.interaction_id)

    async def drop_other(self, live: LiveCall, leg: Leg) -> None:
        await self._other_gone(live, leg)

    async def _back_to_queue(self, live: LiveCall) -> None:
        """The interaction was transferred to a queue or an agent through routing: the
        agent's phone is released, the caller waits with music for the next offer."""
        async with live.moving:
            agent = live.agent
            live.agent = None
            live.phase = Phase.QUEUED
            live.connected.clear()
            media = live.media
            if agent is not None:
                self.calls.drop_leg(agent)
                with contextlib.suppress(Exception):
                    await self.signaling.hangup(agent.call_id)
            with contextlib.suppress(MediaError):
                if live.bridge_id is not None:
                    if live.recording_path is not None:
                        await media.record_stop(live.bridge_id)
                        live.recording_path = None
                    await media.destroy_bridge(live.bridge_id)
                    live.bridge_id = None
                if agent is not None:
                    await media.destroy_leg(agent.leg_id)
                await media.set_hold(live.caller.leg_id, True)
        await self.call_log.call_event(live, "requeued", {"leg": agent})
        audio = LegAudio(live, self.prompts, self.waiters)
        language = live.language or self.options.language
        live.task = self._spawn(self._wait_in_queue(live, audio, language))

    async def _callback(self, payload: dict[str, Any]) -> None:
        """An agent accepted a callback of channel "call": their phone rings first; when
        they answer, the customer is called through the trunk; answered, both are
        bridged (and recorded)."""
        org_id, agent_id = str(payload["org_id"]), str(payload["agent_id"])
        to, interaction_id = payload.get("to"), str(payload["interaction_id"])
        media = self._pick_media()
        phone = await self.phones.phone_user_of(org_id, agent_id)
        if media is None or phone is None or not to:
            log.warning(
                "callback %s cannot be placed (media, phone or number missing)", interaction_id
            )
            return
        key = new_id()
        caller = Leg(new_id(), f"{key}-c", LegRole.CALLER)
        live = LiveCall(key, org_id, caller, media, outbound=True, callback_to=str(to))
        live.contact = records.CallContact(interaction_id, None, str(to), None, False)
        live.phase = Phase.RINGING
        agent = Leg(new_id(), f"{key}-a", LegRole.AGENT, user_id=agent_id, accepted=True)
        live.agent = agent
        self.calls.add(live)
        self.calls.add_leg(live, agent)
        self.calls.set_interaction(live)
        try:
            info = await media.create_leg(agent.leg_id, codec=agent.codec, call_id=key)
            await self.signaling.originate(
                org_id, Target("phone", phone), str(to), self._local(info.local_port, "PCMU"),
                timeout_s=30, call_id=agent.call_id,
            )  # fmt: skip
        except Exception:
            log.exception("callback %s: ringing the agent failed", interaction_id)
            await self.finish(live, "callback_failed", hang_up_caller=False)

    async def _dial_customer(self, live: LiveCall) -> None:
        assert live.callback_to is not None
        try:
            info = await live.media.create_leg(
                live.caller.leg_id, codec=live.caller.codec, call_id=live.key
            )
            await self.signaling.originate(
                live.org_id,
                Target("number", live.callback_to),
                "callback",
                self._local(info.local_port, live.caller.codec),
                timeout_s=45,
                call_id=live.caller.call_id,
            )
        except Exception:
            log.exception("callback %s: dialling the customer failed", live.key)
            await self.finish(live, "callback_failed", hang_up_caller=False)


async def supervise_with(live: LiveCall, leg: Leg) -> None:
    """Apply a supervisor leg's mode in the bridge. Listen: nobody hears the supervisor
    (muted); barge: everybody does; whisper: the agent alone (without a connected agent,
    a whisper is a listen)."""
    agent = live.agent if leg.mode is Mode.WHISPER else None
    await live.media.set_whisper(leg.leg_id, None if agent is None else agent.leg_id)
    heard_by_bridge = leg.mode is Mode.BARGE
    await live.media.set_mute(leg.leg_id, not heard_by_bridge and agent is None)
