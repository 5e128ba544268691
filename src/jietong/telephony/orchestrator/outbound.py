"""Calls an agent places from their own phone: the phone's INVITE (digest-authenticated
by signaling) names a number; the number is called through the trunk, the phone keeps
ringing until the customer answers, then both are answered and bridged (and recorded).
The interaction is outbound, assigned to the agent, matched to the customer owning the
number; it is connected ('dial') when the customer answers."""

from __future__ import annotations

import logging

from jietong.core.ids import new_id
from jietong.telephony.orchestrator import records
from jietong.telephony.orchestrator.base import OrchestratorBase
from jietong.telephony.orchestrator.live import Leg, LegRole, LiveCall, Phase
from jietong.telephony.ports import Codec, IncomingCall, MediaEndpoint, Target

log = logging.getLogger(__name__)


class OutboundMixin(OrchestratorBase):
    async def _from_phone(self, call: IncomingCall, codec: tuple[Codec, int]) -> None:
        """An agent's phone dialled `call.dialled`."""
        assert call.phone_user is not None
        media = self._pick_media()
        agent_id = await self.phones.agent_of(call.org_id, call.phone_user)
        number = records.normalise_caller(call.dialled, self.db.region)
        if media is None or agent_id is None or number is None:
            status, reason = (503, "no media") if media is None else (404, "not a number")
            await self.signaling.reject(call.call_id, status, reason)
            return
        key = new_id()
        customer = Leg(new_id(), f"{key}-c", LegRole.CALLER, codec=codec[0])
        live = LiveCall(key, call.org_id, customer, media, outbound=True, callback_to=number)
        agent = Leg(call.call_id, f"{key}-a", LegRole.AGENT, codec=codec[0], user_id=agent_id)
        agent.accepted = agent.answered = True  # the agent is on the line already
        live.agent, live.phase, live.dialled = agent, Phase.RINGING, number
        self.calls.add(live)
        self.calls.add_leg(live, agent)
        try:
            await self.signaling.ring(call.call_id)
            live.contact = await self.db.run(
                records.open_outbound, call.org_id, agent_id=agent_id, number=number,
                phone=call.phone_user, region=self.db.region, media_leg_id=customer.leg_id,
                node=self.options.node,
            )  # fmt: skip
            self.calls.set_interaction(live)
            # A desk phone's late offer: its address comes with the ACK (call_answered).
            phone_rtp = (
                None if call.late_offer else (call.remote_media.host, call.remote_media.port)
            )
            info = await media.create_leg(
                agent.leg_id, codec=codec[0], payload_type=codec[1], call_id=key,
                remote=phone_rtp,
                dtmf_payload_type=call.remote_media.telephone_event_pt,
                rtcp_mux=call.remote_media.rtcp_mux,
                remote_rtcp_port=call.remote_media.rtcp_port,
            )  # fmt: skip
            live.pending_answer = MediaEndpoint(
                self.options.media_host, info.local_port, (codec,),
                call.remote_media.telephone_event_pt, rtcp_mux=call.remote_media.rtcp_mux,
            )  # fmt: skip
            leg = await media.create_leg(customer.leg_id, codec=customer.codec, call_id=key)
            await self.signaling.originate(
                call.org_id, Target("number", number), call.phone_user,
                self._local(leg.local_port, customer.codec), timeout_s=60,
                call_id=customer.call_id,
            )  # fmt: skip
        except Exception:
            # Releases the agent's phone too (its INVITE is answered 487).
            log.exception("outbound call from %s failed", call.phone_user)
            await self.finish(live, "failed", hang_up_caller=False)

    async def _customer_answered(self, live: LiveCall) -> None:
        """The number answered an agent's call: answer the agent's phone, mark the
        interaction connected, bridge."""
        agent = live.agent
        if agent is None or live.pending_answer is None:
            return
        await self.signaling.answer(agent.call_id, live.pending_answer)
        live.pending_answer = None
        await self.call_log.call_event(live, "answered", {})  # the customer's leg, on the CDR
        if live.interaction_id is not None and agent.user_id is not None:
            await self.db.run(records.dialled, live.org_id, live.interaction_id, agent.user_id)
        await self._connect(live, agent)
