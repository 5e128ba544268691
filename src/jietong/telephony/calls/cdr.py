"""Call detail records: a pure projection of a call's history.

`project` reads the facts of one call (oldest first) and returns its CDR and one record
per leg. Nothing else feeds a CDR, so it can be recomputed at any time (the service does
after every change) and KPIs computed from CDRs agree with the history they came from.

Definitions (also in docs/subsystems/voice-calls-ivr.md):

- *IVR time*: the spans between ``ivr_entered`` and ``ivr_left`` (or the call's end).
- *queue wait*: from the first ``queue_entered`` to the first agent answer after it (or
  the end).
- *talk time*: the customer leg's time in ``bridged`` (held spans excluded).
- *hold time*: the customer leg's time in ``held``.
- *abandoned*: the customer hung up before any agent answered and the IVR had not
  finished with an outcome of its own (voicemail, callback, transfer, hang-up). The
  *abandon point* is where they were: ``ivr``, ``queue`` (queued or being offered) or
  ``ringing`` (before we answered). A *short abandon* is one within
  ``short_abandon_s`` of reaching that point (queue entry; arrival otherwise);
  ``abandoned_after_s`` keeps that time, so a report may apply another threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from jietong.telephony.calls.model import (
    CUSTOMER_CAUSES,
    CallFact,
    FactKind,
    LegKind,
    LegState,
)

DEFAULT_SHORT_ABANDON_S = 5.0
# IVR outcomes after which the caller hanging up is the expected end, not an abandon.
_FINISHING_OUTCOMES = frozenset({"voicemail", "callback", "transfer", "hangup"})


@dataclass(frozen=True, slots=True)
class LegInfo:
    leg_id: str
    kind: LegKind
    party: str  # a number, a SIP URI or a phone user
    user_id: str | None = None  # the agent, for agent legs


@dataclass(frozen=True, slots=True)
class LegRecord:
    leg_id: str
    kind: str
    party: str
    user_id: str | None
    created_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    end_cause: str | None
    state: str
    talk_s: float
    hold_s: float

    def as_json(self) -> dict[str, Any]:
        return {
            "leg_id": self.leg_id,
            "kind": self.kind,
            "party": self.party,
            "user_id": self.user_id,
            "created_at": _iso(self.created_at),
            "answered_at": _iso(self.answered_at),
            "ended_at": _iso(self.ended_at),
            "end_cause": self.end_cause,
            "state": self.state,
            "talk_s": self.talk_s,
            "hold_s": self.hold_s,
        }


@dataclass(frozen=True, slots=True)
class Cdr:
    arrived_at: datetime
    answered_at: datetime | None  # the customer leg answered (by us inbound, by them outbound)
    ivr_entered_at: datetime | None
    ivr_left_at: datetime | None
    ivr_s: float
    ivr_outcome: str | None
    queue_id: str | None
    queue_entered_at: datetime | None
    offers: int
    first_offered_at: datetime | None
    agent_answered_at: datetime | None
    agent_user_id: str | None
    queue_wait_s: float | None
    holds: int
    hold_s: float
    transfers: int
    transferred_to: str | None
    talk_s: float
    ended_at: datetime | None
    end_cause: str | None
    disposition: str | None
    abandoned: bool
    abandon_point: str | None
    short_abandon: bool
    abandoned_after_s: float | None
    legs: tuple[LegRecord, ...] = field(default=())


@dataclass(slots=True)
class _Leg:
    info: LegInfo
    state: LegState = LegState.RINGING
    since: datetime | None = None
    created_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    end_cause: str | None = None
    talk_s: float = 0.0
    hold_s: float = 0.0
    holds: int = 0

    def move(self, to: LegState, at: datetime, cause: str | None) -> None:
        if self.since is not None:
            spent = (at - self.since).total_seconds()
            if self.state is LegState.BRIDGED:
                self.talk_s += spent
            elif self.state is LegState.HELD:
                self.hold_s += spent
        if to is LegState.HELD and self.state is not LegState.HELD:
            self.holds += 1
        if to is LegState.ANSWERED and self.answered_at is None:
            self.answered_at = at
        if to is LegState.ENDED:
            self.ended_at, self.end_cause = at, cause
        self.state, self.since = to, at

    def record(self) -> LegRecord:
        i = self.info
        return LegRecord(
            i.leg_id, i.kind.value, i.party, i.user_id, self.created_at, self.answered_at,
            self.ended_at, self.end_cause, self.state.value, round(self.talk_s, 3),
            round(self.hold_s, 3),
        )  # fmt: skip


@dataclass(slots=True)
class _Call:
    ivr_entered_at: datetime | None = None
    ivr_left_at: datetime | None = None
    ivr_since: datetime | None = None
    ivr_s: float = 0.0
    ivr_outcome: str | None = None
    queue_id: str | None = None
    queue_entered_at: datetime | None = None
    offers: int = 0
    first_offered_at: datetime | None = None
    agent_answered_at: datetime | None = None
    answered_from_queue_at: datetime | None = None  # the first answer after queue entry
    agent_user_id: str | None = None
    transfers: int = 0
    transferred_to: str | None = None
    disposition: str | None = None

    def apply(self, fact: CallFact) -> None:
        k, d, at = fact.kind, fact.data, fact.at
        if k is FactKind.IVR_ENTERED:
            self.ivr_entered_at = self.ivr_entered_at or at
            self.ivr_since = self.ivr_since or at
        elif k is FactKind.IVR_LEFT:
            self._leave_ivr(at)
            self.ivr_outcome = _str(d.get("outcome"))
        elif k is FactKind.QUEUE_ENTERED:
            self.queue_entered_at = self.queue_entered_at or at
            self.queue_id = _str(d.get("queue_id")) or self.queue_id
        elif k is FactKind.OFFERED:
            self.offers += 1
            self.first_offered_at = self.first_offered_at or at
        elif k is FactKind.AGENT_ANSWERED:
            self.agent_answered_at = self.agent_answered_at or at
            if self.queue_entered_at is not None:
                self.answered_from_queue_at = self.answered_from_queue_at or at
            self.agent_user_id = _str(d.get("agent_user_id")) or self.agent_user_id
        elif k is FactKind.TRANSFER:
            self.transfers += 1
            self.transferred_to = _str(d.get("target"))
        elif k is FactKind.DISPOSITION:
            self.disposition = _str(d.get("disposition"))

    def _leave_ivr(self, at: datetime) -> None:
        if self.ivr_since is not None:
            self.ivr_s += (at - self.ivr_since).total_seconds()
            self.ivr_since = None
            self.ivr_left_at = at


def project(
    arrived_at: datetime,
    legs: list[LegInfo],
    facts: list[CallFact],
    *,
    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S,
) -> Cdr:
    """The CDR of a call that arrived at ``arrived_at`` with these legs and this history
    (oldest first). The first customer leg is the caller; a call with none (an agent's
    internal call) is measured on its first leg."""
    by_id = {info.leg_id: _Leg(info) for info in legs}
    caller = _caller(legs, by_id)
    call = _Call()
    for fact in facts:
        leg = by_id.get(fact.leg_id) if fact.leg_id else None
        if fact.kind is FactKind.OPENED and leg is not None:
            leg.created_at, leg.since = fact.at, fact.at
        elif fact.kind is FactKind.STATE and leg is not None and fact.to_state is not None:
            leg.move(fact.to_state, fact.at, _str(fact.data.get("cause")))
        if caller is not None and caller.ended_at is not None and fact.at > caller.ended_at:
            # Reported after the caller left (the IVR's outcome, a disposition): counts
            # as of the end, so no span outlasts the call.
            fact = replace(fact, at=caller.ended_at)
        call.apply(fact)
    ended_at = caller.ended_at if caller is not None else None
    if ended_at is not None:
        call._leave_ivr(ended_at)  # still in the IVR when the call ended
    return _cdr(arrived_at, call, caller, by_id, ended_at, short_abandon_s)


def _cdr(
    arrived_at: datetime,
    call: _Call,
    caller: _Leg | None,
    legs: dict[str, _Leg],
    ended_at: datetime | None,
    short_abandon_s: float,
) -> Cdr:
    cause = caller.end_cause if caller is not None else None
    point = _abandon_point(call, caller, cause)
    reference = call.queue_entered_at if point == "queue" else arrived_at
    after = None
    if point is not None and ended_at is not None and reference is not None:
        after = round((ended_at - reference).total_seconds(), 3)
    wait_until = call.answered_from_queue_at or ended_at
    wait = None
    if call.queue_entered_at is not None and wait_until is not None:
        wait = round((wait_until - call.queue_entered_at).total_seconds(), 3)
    return Cdr(
        arrived_at=arrived_at,
        answered_at=caller.answered_at if caller else None,
        ivr_entered_at=call.ivr_entered_at,
        ivr_left_at=call.ivr_left_at,
        ivr_s=round(call.ivr_s, 3),
        ivr_outcome=call.ivr_outcome,
        queue_id=call.queue_id,
        queue_entered_at=call.queue_entered_at,
        offers=call.offers,
        first_offered_at=call.first_offered_at,
        agent_answered_at=call.agent_answered_at,
        agent_user_id=call.agent_user_id,
        queue_wait_s=wait,
        holds=caller.holds if caller else 0,
        hold_s=round(caller.hold_s, 3) if caller else 0.0,
        transfers=call.transfers,
        transferred_to=call.transferred_to,
        talk_s=round(caller.talk_s, 3) if caller else 0.0,
        ended_at=ended_at,
        end_cause=cause,
        disposition=call.disposition,
        abandoned=point is not None,
        abandon_point=point,
        short_abandon=after is not None and after < short_abandon_s,
        abandoned_after_s=after,
        legs=tuple(leg.record() for leg in legs.values()),
    )


def _abandon_point(call: _Call, caller: _Leg | None, cause: str | None) -> str | None:
    if caller is None or caller.ended_at is None or cause not in CUSTOMER_CAUSES:
        return None
    if call.agent_answered_at is not None or call.ivr_outcome in _FINISHING_OUTCOMES:
        return None
    if caller.answered_at is None:
        return "ringing"
    if call.queue_entered_at is not None:
        return "queue"
    if call.ivr_entered_at is not None:
        return "ivr"
    return None  # answered, never in IVR or queue (an outbound call): not an abandon


def _caller(legs: list[LegInfo], by_id: dict[str, _Leg]) -> _Leg | None:
    for info in legs:
        if info.kind is LegKind.CUSTOMER:
            return by_id[info.leg_id]
    return by_id[legs[0].leg_id] if legs else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
