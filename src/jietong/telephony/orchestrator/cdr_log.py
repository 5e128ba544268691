"""The call model and its CDRs (``telephony.calls``) fed from what the orchestrator
does: each orchestrator event becomes one call-service step (a leg event or a call
fact), in the order the call lived it. A failure to write the CDR is logged and never
stops the call itself."""

from __future__ import annotations

import logging
from typing import Any

from jietong.core.errors import IllegalTransition, NotFound
from jietong.telephony.calls import service as calls
from jietong.telephony.calls.model import EndCause, LegKind, LegQuality, LegTrigger
from jietong.telephony.media import rtcp
from jietong.telephony.media.client import MediaProcessLost
from jietong.telephony.media.control import LegStats
from jietong.telephony.orchestrator.contracts import Database
from jietong.telephony.orchestrator.live import Leg, LiveCall

log = logging.getLogger(__name__)

# Why a call ended, as the orchestrator says it, to the call model's causes.
END_CAUSES = {
    "remote_bye": EndCause.CUSTOMER_HANGUP,
    "cancelled": EndCause.CUSTOMER_HANGUP,
    "agent_hangup": EndCause.AGENT_HANGUP,
    "ended_on_desk": EndCause.AGENT_HANGUP,
    "transfer_target_hangup": EndCause.CUSTOMER_HANGUP,
    "media_lost": EndCause.MEDIA_LOST,
    "rtp_timeout": EndCause.RTP_TIMEOUT,
    "no_answer": EndCause.NO_ANSWER,
    "rejected": EndCause.REJECTED,
    "timeout": EndCause.FAILED,
}
SYSTEM_CAUSES = frozenset(
    {"ivr_hangup", "callback_requested", "voicemail", "no_queue", "shutdown", "callback_failed"}
)


def end_cause(cause: str) -> EndCause:
    if cause in SYSTEM_CAUSES:
        return EndCause.SYSTEM_HANGUP
    return END_CAUSES.get(cause, EndCause.FAILED)


class CdrLog:
    """`CallLog` over the call service."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def call_event(self, call: LiveCall, what: str, data: dict[str, Any]) -> None:
        contact = call.contact
        if contact is None or contact.cdr_call_id is None:
            return
        step = _STEPS.get(what)
        if step is None:
            return
        try:
            await step(self, call, contact.cdr_call_id, data)
        except (NotFound, IllegalTransition):
            # The call was closed already (its media process died and `calls_lost`
            # ended it): nothing more to record.
            log.debug("CDR step %r of ended call %s skipped", what, contact.cdr_call_id)
        except Exception:
            log.exception("CDR step %r of call %s failed", what, contact.cdr_call_id)

    async def calls_lost(self, lost: MediaProcessLost, live_calls: list[LiveCall]) -> None:
        call_ids = [
            c.contact.cdr_call_id
            for c in live_calls
            if c.contact is not None and c.contact.cdr_call_id is not None
        ]
        legs = [leg.leg_id for leg in lost.legs]
        try:
            await self.db.run(calls.close_calls_lost, call_ids, legs)
        except Exception:
            log.exception("closing the CDRs of media process %s failed", lost.engine)

    # -- steps ------------------------------------------------------------------------

    async def _answered(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        assert call.contact is not None and call.contact.cdr_customer_leg is not None
        leg = call.contact.cdr_customer_leg
        await self.db.run(calls.leg_event, call.org_id, cdr, leg, LegTrigger.ANSWER)

    async def _ivr_entered(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        await self.db.run(calls.ivr_entered, call.org_id, cdr)

    async def _ivr_node(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        await self.db.run(calls.ivr_node, call.org_id, cdr, str(data["node"]), str(data["step"]))

    async def _ivr_left(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        variables = {str(k): str(v) for k, v in dict(data.get("variables") or {}).items()}
        await self.db.run(
            calls.ivr_left,
            call.org_id,
            cdr,
            str(data["outcome"]),
            target=data.get("target"),
            variables=variables,
        )

    async def _queued(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        await self.db.run(calls.queue_entered, call.org_id, cdr, str(data["queue_id"]))

    async def _offered(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        leg: Leg = data["leg"]
        agent = str(data["agent_id"])
        row = await self.db.run(
            calls.add_leg,
            call.org_id,
            cdr,
            kind=LegKind.AGENT,
            party=str(data.get("phone") or agent),
            user_id=agent,
            media_leg_id=leg.leg_id,
        )
        leg.cdr_leg = row.id
        await self.db.run(calls.offered, call.org_id, cdr, agent)

    async def _offer_ended(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        leg: Leg = data["leg"]
        cause = str(data.get("cause"))
        if leg.user_id is not None:
            await self.db.run(calls.offer_ended, call.org_id, cdr, leg.user_id, cause)
        if leg.cdr_leg is not None:
            ended = EndCause.REJECTED if cause == "rejected" else EndCause.NO_ANSWER
            await self.db.run(calls.end_leg, call.org_id, cdr, leg.cdr_leg, ended)

    async def _agent_answered(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        leg: Leg = data["leg"]
        if leg.cdr_leg is None or leg.user_id is None:
            return
        await self.db.run(
            calls.answered_by_agent,
            call.org_id,
            cdr,
            agent_user_id=leg.user_id,
            agent_leg_id=leg.cdr_leg,
        )

    async def _held(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        await self.db.run(calls.hold, call.org_id, cdr)

    async def _resumed(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        await self.db.run(calls.resume, call.org_id, cdr)

    async def _external_dialled(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        leg: Leg = data["leg"]
        row = await self.db.run(
            calls.add_leg,
            call.org_id,
            cdr,
            kind=LegKind.EXTERNAL,
            party=str(data["number"]),
            media_leg_id=leg.leg_id,
        )
        leg.cdr_leg = row.id

    async def _external_joined(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        leg: Leg = data["leg"]
        if leg.cdr_leg is not None:
            await self.db.run(calls.leg_event, call.org_id, cdr, leg.cdr_leg, LegTrigger.ANSWER)
            await self.db.run(calls.leg_event, call.org_id, cdr, leg.cdr_leg, LegTrigger.BRIDGE)

    async def _transfer_started(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        mode = "attended" if data.get("attended") else "blind"
        target = str(data.get("to") or "number")
        await self.db.run(calls.transfer, call.org_id, cdr, target=target, mode=mode)

    async def _requeued(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        leg: Leg | None = data.get("leg")
        if leg is not None and leg.cdr_leg is not None:
            await self.db.run(calls.end_leg, call.org_id, cdr, leg.cdr_leg, EndCause.TRANSFERRED)

    async def _agent_left(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        leg: Leg | None = data.get("leg")
        if leg is not None and leg.cdr_leg is not None:
            await self.db.run(calls.end_leg, call.org_id, cdr, leg.cdr_leg, EndCause.TRANSFERRED)

    async def _ended(self, call: LiveCall, cdr: str, data: dict[str, Any]) -> None:
        cause = end_cause(str(data.get("cause")))
        await self.db.run(calls.end_call, call.org_id, cdr, cause)
        quality = {leg: leg_quality(s) for leg, s in call.media.final_stats(call.key).items()}
        if quality:
            try:  # after the CDR: a failure here must not keep the call open
                await self.db.run(calls.record_quality, call.org_id, cdr, quality)
            except Exception:
                log.exception("call %s: leg quality not stored", call.key)


def leg_quality(stats: LegStats) -> LegQuality:
    """The media engine's final figures of a leg, as the call record keeps them: losses
    over the whole leg (not RTCP's last interval), the MOS estimate from those."""
    loss_in = loss_out = None
    expected = stats.rx_packets + stats.rx_lost
    if expected:  # a packet skipped, then arriving late, was not lost after all
        loss_in = round(max(0, stats.rx_lost - stats.rx_reordered) / expected, 4)
    if stats.peer_cumulative_lost is not None and stats.tx_packets:
        loss_out = round(max(0, stats.peer_cumulative_lost) / stats.tx_packets, 4)
    mos = None
    if stats.rtt_ms is not None:
        mos = rtcp.mos_estimate(stats.rtt_ms / 1000, loss_in or 0.0, loss_out or 0.0)
    return LegQuality(
        jitter_ms=stats.jitter_ms if stats.rx_packets else None,
        loss_in=loss_in,
        loss_out=loss_out,
        rtt_ms=stats.rtt_ms,
        mos=mos,
    )


_STEPS = {
    "answered": CdrLog._answered,
    "ivr_entered": CdrLog._ivr_entered,
    "ivr_node": CdrLog._ivr_node,
    "ivr_left": CdrLog._ivr_left,
    "queued": CdrLog._queued,
    "offered": CdrLog._offered,
    "offer_ended": CdrLog._offer_ended,
    "agent_answered": CdrLog._agent_answered,
    "held": CdrLog._held,
    "resumed": CdrLog._resumed,
    "external_dialled": CdrLog._external_dialled,
    "external_joined": CdrLog._external_joined,
    "transfer_started": CdrLog._transfer_started,
    "requeued": CdrLog._requeued,
    "agent_left": CdrLog._agent_left,
    "ended": CdrLog._ended,
}
