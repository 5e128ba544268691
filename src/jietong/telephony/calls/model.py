"""The call model: legs, their lifecycle, and the facts recorded about a call. Pure.

A call is one customer contact by voice; a leg is one party's connection to it (the
customer's, an agent's phone, an external number it was transferred to). Each leg moves
along `LEG_LIFECYCLE`; every move and every call-level fact (IVR entered, node visited,
queue entered, offered, answered by an agent, transfer, disposition) is a `CallFact`
appended to the call's history. The CDR (`jietong.telephony.calls.cdr`) is computed from
that history alone, so it can always be rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from jietong.core.statemachine import StateMachine, Transition


class LegState(StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    HELD = "held"
    BRIDGED = "bridged"
    TRANSFERRING = "transferring"
    ENDED = "ended"


class LegTrigger(StrEnum):
    ANSWER = "answer"  # the party picked up (or we answered an inbound call)
    BRIDGE = "bridge"  # joined to another party (agent answered, transfer completed)
    UNBRIDGE = "unbridge"  # the other party left; this one stays (back to IVR/queue)
    HOLD = "hold"
    RESUME = "resume"
    TRANSFER = "transfer"  # a transfer of this leg started
    TRANSFER_FAILED = "transfer_failed"  # the target did not answer: back where it was
    END = "end"


class LegKind(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    EXTERNAL = "external"  # a number outside the center (transfer target, conference)


class CallDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


L = LegState
T = LegTrigger

_MOVES: dict[tuple[LegState, str], LegState] = {
    (L.RINGING, T.ANSWER): L.ANSWERED,
    (L.ANSWERED, T.BRIDGE): L.BRIDGED,
    (L.BRIDGED, T.UNBRIDGE): L.ANSWERED,
    (L.BRIDGED, T.HOLD): L.HELD,
    (L.HELD, T.RESUME): L.BRIDGED,
    (L.HELD, T.UNBRIDGE): L.ANSWERED,
    (L.ANSWERED, T.TRANSFER): L.TRANSFERRING,  # blind transfer out of the IVR
    (L.BRIDGED, T.TRANSFER): L.TRANSFERRING,
    (L.HELD, T.TRANSFER): L.TRANSFERRING,  # attended: consult while the caller holds
    (L.TRANSFERRING, T.BRIDGE): L.BRIDGED,
    (L.TRANSFERRING, T.TRANSFER_FAILED): L.ANSWERED,
}
# Any party can hang up (or be hung up on) in any state but the last.
_MOVES |= {(state, T.END): L.ENDED for state in L if state is not L.ENDED}

LEG_LIFECYCLE = StateMachine("call leg", _MOVES)


class FactKind(StrEnum):
    """What a history entry records. `STATE` entries are leg transitions; the others are
    call-level milestones the CDR needs."""

    OPENED = "opened"  # a leg was created (the call's first one: arrival)
    STATE = "state"
    IVR_ENTERED = "ivr_entered"
    IVR_NODE = "ivr_node"  # data: node, step
    IVR_LEFT = "ivr_left"  # data: outcome
    QUEUE_ENTERED = "queue_entered"  # data: queue_id
    OFFERED = "offered"  # data: agent_user_id
    OFFER_ENDED = "offer_ended"  # data: agent_user_id, result (declined, no_answer…)
    AGENT_ANSWERED = "agent_answered"  # data: agent_user_id
    TRANSFER = "transfer"  # data: target, mode
    DISPOSITION = "disposition"  # data: disposition


class EndCause(StrEnum):
    CUSTOMER_HANGUP = "customer_hangup"
    AGENT_HANGUP = "agent_hangup"
    SYSTEM_HANGUP = "system_hangup"  # the IVR or the orchestrator ended it on purpose
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    TRANSFERRED = "transferred"  # our side left after a completed transfer
    MEDIA_LOST = "media_lost"  # the media process died under it
    RTP_TIMEOUT = "rtp_timeout"
    FAILED = "failed"


# A call abandoned is one the customer gave up on: only their own hang-up counts.
CUSTOMER_CAUSES = frozenset({EndCause.CUSTOMER_HANGUP})


@dataclass(frozen=True, slots=True)
class CallFact:
    """One entry of a call's append-only history."""

    at: datetime
    kind: FactKind
    leg_id: str | None = None
    from_state: LegState | None = None
    trigger: str | None = None
    to_state: LegState | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LegQuality:
    """How a leg sounded, as the media engine measured it (RTP and RTCP) when the leg
    closed. Losses are fractions (0..1) over the whole leg: ``loss_in`` of what we
    received, ``loss_out`` of what we sent as the peer reported it. None: not measured
    (no RTP received, or no report from the peer)."""

    jitter_ms: float | None = None
    loss_in: float | None = None
    loss_out: float | None = None
    rtt_ms: float | None = None
    mos: float | None = None


@dataclass(frozen=True, slots=True)
class LegSnapshot:
    """A leg as the service loads it: its state and when it last moved."""

    leg_id: str
    kind: LegKind
    state: LegState
    last_at: datetime


def move_leg(
    leg: LegSnapshot, trigger: str, now: datetime, data: dict[str, Any] | None = None
) -> tuple[LegSnapshot, CallFact]:
    """Fire ``trigger`` on ``leg`` at ``now``: the leg after the move and the fact to
    append. Raises IllegalTransition for a move the lifecycle forbids (nothing leaves
    'ended'). The fact's time never precedes the leg's previous one: reports reach us from
    several processes, and the order we accepted them in is the order that happened."""
    move: Transition[LegState] = LEG_LIFECYCLE.fire(leg.state, trigger)
    at = max(now, leg.last_at)
    fact = CallFact(
        at, FactKind.STATE, leg.leg_id, move.from_state, move.trigger, move.to_state, data or {}
    )
    return LegSnapshot(leg.leg_id, leg.kind, move.to_state, at), fact
