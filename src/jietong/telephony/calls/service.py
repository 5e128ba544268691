"""Call decisions: what the orchestrator reports about a call, recorded and projected.

Every function is one transaction on the given unit of work: it locks the call, checks
the move against the leg lifecycle (IllegalTransition otherwise), appends facts to the
call's history, rewrites the call's CDR from that history, emits voice events, commits.
Time is ``uow.now``. Calls are created for the platform (the system actor): signaling
and the IVR act for no user.

The interaction is created with the call (channel "call"). Its lifecycle moves through
routing and the interactions service as for any channel; when the call ends, `end_call`
settles what routing had not: an interaction still arrived/queued/offered is abandoned,
a connected one goes to wrap-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update

from jietong.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from jietong.core.ids import new_id
from jietong.core.tenancy import system_actor
from jietong.events.voice import (
    CallAnswered,
    CallEnded,
    CallIvrFinished,
    CallLegChanged,
    CallStarted,
    CallTransferred,
)
from jietong.interactions import service as interactions
from jietong.interactions.model import Channel, Direction, InteractionState, InteractionTrigger
from jietong.interactions.schemas import InteractionCreate
from jietong.routing import store as routing_store
from jietong.storage.tables import InteractionRow
from jietong.storage.tables_voice import VoiceCallRow, VoiceCdrRow, VoiceLegEventRow, VoiceLegRow
from jietong.storage.uow import UnitOfWork
from jietong.telephony.calls import cdr as cdrs
from jietong.telephony.calls import store
from jietong.telephony.calls.model import (
    CallDirection,
    CallFact,
    EndCause,
    FactKind,
    LegKind,
    LegQuality,
    LegSnapshot,
    LegState,
    LegTrigger,
    move_leg,
)


class CallNotFound(NotFound):
    pass


class LegNotFound(NotFound):
    pass


@dataclass(frozen=True)
class CallView:
    call: VoiceCallRow
    legs: list[VoiceLegRow]

    @property
    def customer_leg(self) -> VoiceLegRow:
        return next(leg for leg in self.legs if leg.kind == LegKind.CUSTOMER)


@dataclass(frozen=True)
class CallPolicy:
    """Settings of the projection (from the organisation's voice settings)."""

    short_abandon_s: float = cdrs.DEFAULT_SHORT_ABANDON_S


DEFAULT_POLICY = CallPolicy()


def open_call(
    uow: UnitOfWork,
    org_id: str,
    *,
    direction: CallDirection,
    caller: str,
    dialled: str,
    customer_id: str | None = None,
    queue_id: str | None = None,
    trunk_id: str | None = None,
    media_leg_id: str | None = None,
    call_id: str | None = None,
    agent_user_id: str | None = None,
) -> CallView:
    """Start a call with its customer leg in 'ringing' and its interaction (channel
    "call"). Inbound: the customer is the caller; outbound: the dialled number, placed by
    ``agent_user_id`` (assigned to the interaction). ``call_id`` lets signaling keep its
    own id (32 hex digits); Conflict if a call has it already (a retried report)."""
    if call_id is not None and uow.session.get(VoiceCallRow, _valid_id(call_id)) is not None:
        raise Conflict(f"call {call_id} exists")
    interaction = interactions.create_interaction(
        uow,
        system_actor(org_id),
        InteractionCreate(
            channel=Channel.CALL.value,
            direction=Direction(direction.value),
            customer_id=customer_id,
            queue_id=queue_id,
            assigned_user_id=agent_user_id,
            external_ref=call_id,
        ),
    ).interaction  # committed: the interaction exists whatever happens to the call next
    now = uow.now
    call = VoiceCallRow(
        id=_valid_id(call_id) if call_id else new_id(), org_id=org_id,
        interaction_id=interaction.id, customer_id=customer_id, direction=direction.value,
        caller=caller, dialled=dialled, trunk_id=trunk_id, state="active", created_at=now,
    )  # fmt: skip
    uow.session.add(call)
    uow.session.flush()
    party = caller if direction is CallDirection.INBOUND else dialled
    leg = _new_leg(uow, call, LegKind.CUSTOMER, party, None, media_leg_id)
    uow.emit(
        CallStarted(
            org_id=org_id, call_id=call.id, interaction_id=call.interaction_id,
            direction=call.direction, caller=caller, dialled=dialled, customer_id=customer_id,
        )
    )  # fmt: skip
    # A new call's history is known without reading it back (the set-up path is hot).
    opened = [CallFact(now, FactKind.OPENED, leg.id, data={"kind": LegKind.CUSTOMER.value})]
    _project(uow, call, DEFAULT_POLICY, known=([leg], opened, interaction.team_id))
    uow.commit()
    return CallView(call, [leg])


def add_leg(
    uow: UnitOfWork,
    org_id: str,
    call_id: str,
    *,
    kind: LegKind,
    party: str,
    user_id: str | None = None,
    media_leg_id: str | None = None,
) -> VoiceLegRow:
    """A new party for the call (an agent's phone ringing, a transfer target), ringing."""
    call = _active_call(uow, org_id, call_id)
    if kind is LegKind.CUSTOMER:
        raise InvalidInput("a call has one customer leg")
    leg = _new_leg(uow, call, kind, party, user_id, media_leg_id)
    _finish(uow, call)
    return leg


def leg_event(
    uow: UnitOfWork,
    org_id: str,
    call_id: str,
    leg_id: str,
    trigger: LegTrigger,
    *,
    data: dict[str, Any] | None = None,
    policy: CallPolicy = DEFAULT_POLICY,
) -> VoiceLegRow:
    """Move one leg (answer, bridge, unbridge, hold, resume, transfer, transfer_failed,
    end). Ending the customer leg ends the call (`end_call`); bridging another party
    bridges the customer too when they were waiting (answered or transferring)."""
    if trigger is LegTrigger.END:
        cause = str((data or {}).get("cause") or EndCause.FAILED.value)
        if cause not in {c.value for c in EndCause}:
            raise InvalidInput(f"unknown end cause {cause!r}")
        return end_leg(uow, org_id, call_id, leg_id, EndCause(cause), policy=policy)
    call = _active_call(uow, org_id, call_id)
    legs = _legs(uow, call)
    leg = _move(uow, call, _find(legs, leg_id), trigger, data)
    customer = next(row for row in legs if row.kind == LegKind.CUSTOMER)
    if trigger is LegTrigger.BRIDGE and leg is not customer:
        # Another party joined the customer (a transfer target answered, a conference):
        # the customer is bridged too, so their talk time counts from here.
        _join_customer(uow, call, customer, leg)
    elif trigger is LegTrigger.ANSWER and leg is customer:
        # An outbound call (a callback) answered by the customer an agent already waits
        # on: they are bridged to that agent at once.
        waiting = next((row for row in legs if row.state == LegState.BRIDGED), None)
        if waiting is not None:
            _join_customer(uow, call, customer, waiting)
    _finish(uow, call, policy)
    return leg


def ivr_entered(uow: UnitOfWork, org_id: str, call_id: str) -> None:
    _call_fact(uow, org_id, call_id, FactKind.IVR_ENTERED, {})


def ivr_node(uow: UnitOfWork, org_id: str, call_id: str, node: str, step: str) -> None:
    """The IVR reached ``node`` (a ``step`` step): the CDR's path and abandon point."""
    _call_fact(uow, org_id, call_id, FactKind.IVR_NODE, {"node": node, "step": step})


def ivr_left(
    uow: UnitOfWork,
    org_id: str,
    call_id: str,
    outcome: str,
    *,
    target: str | None = None,
    variables: dict[str, str] | None = None,
) -> None:
    """The IVR finished with ``outcome`` (queue, voicemail, callback, transfer, hangup,
    abandoned); its variables go onto the CDR."""
    call = _active_call(uow, org_id, call_id, allow_ended=True)
    data: dict[str, Any] = {"outcome": outcome, "target": target, "variables": variables or {}}
    _append(uow, call, CallFact(uow.now, FactKind.IVR_LEFT, data=data))
    uow.emit(
        CallIvrFinished(
            org_id=org_id, call_id=call.id, interaction_id=call.interaction_id,
            outcome=outcome, target=target,
        )
    )  # fmt: skip
    _finish(uow, call)


def queue_entered(uow: UnitOfWork, org_id: str, call_id: str, queue_id: str) -> None:
    _call_fact(uow, org_id, call_id, FactKind.QUEUE_ENTERED, {"queue_id": queue_id})


def offered(uow: UnitOfWork, org_id: str, call_id: str, agent_user_id: str) -> None:
    _call_fact(uow, org_id, call_id, FactKind.OFFERED, {"agent_user_id": agent_user_id})


def offer_ended(
    uow: UnitOfWork, org_id: str, call_id: str, agent_user_id: str, result: str
) -> None:
    """An offer ended without an answer (declined, no_answer, withdrawn)."""
    data = {"agent_user_id": agent_user_id, "result": result}
    _call_fact(uow, org_id, call_id, FactKind.OFFER_ENDED, data)


def answered_by_agent(
    uow: UnitOfWork, org_id: str, call_id: str, *, agent_user_id: str, agent_leg_id: str
) -> CallView:
    """The agent's leg answered: it is bridged, and so is the customer if they were
    waiting (see `_join_customer`)."""
    call = _active_call(uow, org_id, call_id)
    legs = _legs(uow, call)
    agent = _find(legs, agent_leg_id)
    if agent.kind != LegKind.AGENT or agent.user_id != agent_user_id:
        raise InvalidInput(f"leg {agent_leg_id} is not {agent_user_id}'s agent leg")
    if agent.state == LegState.RINGING:
        _move(uow, call, agent, LegTrigger.ANSWER, None)
    _move(uow, call, agent, LegTrigger.BRIDGE, None)
    customer = next(leg for leg in legs if leg.kind == LegKind.CUSTOMER)
    _join_customer(uow, call, customer, agent)
    data = {"agent_user_id": agent_user_id, "leg_id": agent.id}
    _append(uow, call, CallFact(uow.now, FactKind.AGENT_ANSWERED, data=data))
    uow.emit(
        CallAnswered(
            org_id=org_id, call_id=call.id, interaction_id=call.interaction_id,
            agent_id=agent_user_id, leg_id=agent.id,
        )
    )  # fmt: skip
    _finish(uow, call)
    return CallView(call, legs)


def hold(uow: UnitOfWork, org_id: str, call_id: str) -> VoiceLegRow:
    """Put the customer on hold."""
    return _customer_move(uow, org_id, call_id, LegTrigger.HOLD)


def resume(uow: UnitOfWork, org_id: str, call_id: str) -> VoiceLegRow:
    return _customer_move(uow, org_id, call_id, LegTrigger.RESUME)


def transfer(
    uow: UnitOfWork, org_id: str, call_id: str, *, target: str, mode: str = "blind"
) -> VoiceLegRow:
    """A transfer of the customer to ``target`` (an agent, a queue, a number) started;
    the orchestrator reports its end with ``bridge`` or ``transfer_failed``."""
    call = _active_call(uow, org_id, call_id)
    customer = _customer(uow, call)
    leg = _move(uow, call, customer, LegTrigger.TRANSFER, {"target": target, "mode": mode})
    _append(uow, call, CallFact(uow.now, FactKind.TRANSFER, data={"target": target, "mode": mode}))
    uow.emit(
        CallTransferred(
            org_id=org_id, call_id=call.id, interaction_id=call.interaction_id,
            target=target, mode=mode,
        )
    )  # fmt: skip
    _finish(uow, call)
    return leg


def end_leg(
    uow: UnitOfWork,
    org_id: str,
    call_id: str,
    leg_id: str,
    cause: EndCause,
    *,
    policy: CallPolicy = DEFAULT_POLICY,
) -> VoiceLegRow:
    """One party left. The customer leaving ends the call; an agent leaving while the
    customer stays (a transfer, the agent hanging up in a conference) unbridges them."""
    call = _active_call(uow, org_id, call_id)
    legs = _legs(uow, call)
    leg = _find(legs, leg_id)
    if leg.kind == LegKind.CUSTOMER:
        _end_all(uow, call, legs, cause, policy)
        return leg
    _move(uow, call, leg, LegTrigger.END, {"cause": cause.value})
    customer = next(row for row in legs if row.kind == LegKind.CUSTOMER)
    others = [row for row in legs if row.id not in (leg.id, customer.id)]
    if customer.state in (LegState.BRIDGED, LegState.HELD) and all(
        row.state == LegState.ENDED for row in others
    ):
        _move(uow, call, customer, LegTrigger.UNBRIDGE, {"left": leg.id})
    _finish(uow, call, policy)
    return leg


def end_call(
    uow: UnitOfWork,
    org_id: str,
    call_id: str,
    cause: EndCause,
    *,
    disposition: str | None = None,
    policy: CallPolicy = DEFAULT_POLICY,
) -> VoiceCdrRow:
    """End every leg still up with ``cause``; returns the final CDR."""
    call = _active_call(uow, org_id, call_id)
    if disposition:
        _append(
            uow, call, CallFact(uow.now, FactKind.DISPOSITION, data={"disposition": disposition})
        )
    return _end_all(uow, call, _legs(uow, call), cause, policy)


def set_disposition(
    uow: UnitOfWork,
    org_id: str,
    call_id: str,
    disposition: str,
    *,
    policy: CallPolicy = DEFAULT_POLICY,
) -> VoiceCdrRow:
    """Record the disposition (wrap-up code) — also after the call ended."""
    call = _active_call(uow, org_id, call_id, allow_ended=True)
    _append(uow, call, CallFact(uow.now, FactKind.DISPOSITION, data={"disposition": disposition}))
    return _finish(uow, call, policy)


def record_quality(
    uow: UnitOfWork, org_id: str, call_id: str, quality: dict[str, LegQuality]
) -> int:
    """Store end-of-leg quality on the legs whose media leg id ``quality`` names (also
    after the call ended: it is measured as the media is released). Returns the number
    of legs updated; it is no part of the CDR's projection."""
    call = _active_call(uow, org_id, call_id, allow_ended=True)
    updated = 0
    for leg in _legs(uow, call):
        figures = quality.get(leg.media_leg_id) if leg.media_leg_id else None
        if figures is None:
            continue
        leg.jitter_ms, leg.loss_in, leg.loss_out = (
            figures.jitter_ms,
            figures.loss_in,
            figures.loss_out,
        )
        leg.rtt_ms, leg.mos = figures.rtt_ms, figures.mos
        updated += 1
    uow.commit()
    return updated


def close_calls_lost(
    uow: UnitOfWork,
    call_ids: list[str],
    media_leg_ids: list[str],
    *,
    policy: CallPolicy = DEFAULT_POLICY,
) -> list[str]:
    """End, with cause ``media_lost``, every active call a dead media process carried:
    those named, and those owning one of the media legs named (`MediaProcessLost.legs`
    gives both). Any organisation: a media process serves several. Returns the call ids
    closed; calls already ended are left alone, so repeating this is harmless."""
    calls = store.calls_with_media_legs(uow.session, call_ids, media_leg_ids)
    for call in calls:
        legs = _legs(uow, call)
        _end_all(uow, call, legs, EndCause.MEDIA_LOST, policy, commit=False)
    uow.commit()
    for call in calls:
        _settle_interaction(uow, call)
    return [call.id for call in calls]


def get_call(uow: UnitOfWork, org_id: str, call_id: str) -> CallView:
    call = store.find_call(uow.session, org_id, call_id)
    if call is None:
        raise CallNotFound(f"call {call_id} not found")
    return CallView(call, _legs(uow, call))


def call_history(uow: UnitOfWork, org_id: str, call_id: str) -> list[VoiceLegEventRow]:
    """The call's recorded facts, oldest first."""
    call = get_call(uow, org_id, call_id).call
    return store.events_of(uow.session, call.id)


# -- internals ---------------------------------------------------------------------------


def _valid_id(value: str) -> str:
    if len(value) != 32 or any(ch not in "0123456789abcdef" for ch in value):
        raise InvalidInput("a call id is 32 lowercase hex digits")
    return value


def _active_call(
    uow: UnitOfWork, org_id: str, call_id: str, *, allow_ended: bool = False
) -> VoiceCallRow:
    call = store.find_call(uow.session, org_id, call_id, for_update=True)
    if call is None:
        raise CallNotFound(f"call {call_id} not found")
    uow.session.info.pop(_LEGS_KEY + call.id, None)  # read afresh under the lock
    if call.state == "ended" and not allow_ended:
        raise IllegalTransition(f"call {call_id} has ended")
    return call


_LEGS_KEY = "jietong.voice.legs:"


def _legs(uow: UnitOfWork, call: VoiceCallRow) -> list[VoiceLegRow]:
    """The call's legs, read once per step (the step holds the call's lock; the CDR
    projection at its end reuses them instead of reading them again)."""
    key = _LEGS_KEY + call.id
    cached: list[VoiceLegRow] | None = uow.session.info.get(key)
    if cached is None:
        cached = uow.session.info[key] = store.legs_of(uow.session, call.id)
    return cached


def _new_leg(
    uow: UnitOfWork,
    call: VoiceCallRow,
    kind: LegKind,
    party: str,
    user_id: str | None,
    media_leg_id: str | None,
) -> VoiceLegRow:
    now = uow.now
    leg = VoiceLegRow(
        id=new_id(), org_id=call.org_id, call_id=call.id, kind=kind.value, party=party,
        user_id=user_id, media_leg_id=media_leg_id, state=LegState.RINGING.value,
        created_at=now, last_at=now,
    )  # fmt: skip
    uow.session.add(leg)
    cached = uow.session.info.get(_LEGS_KEY + call.id)
    if cached is not None:
        cached.append(leg)
    _append(uow, call, CallFact(now, FactKind.OPENED, leg.id, data={"kind": kind.value}))
    return leg


def _find(legs: list[VoiceLegRow], leg_id: str) -> VoiceLegRow:
    for leg in legs:
        if leg.id == leg_id:
            return leg
    raise LegNotFound(f"leg {leg_id} not found")


def _join_customer(
    uow: UnitOfWork, call: VoiceCallRow, customer: VoiceLegRow, other: VoiceLegRow
) -> None:
    """Bridge the customer to ``other`` if they are waiting for someone (answered, or
    mid-transfer). Already bridged (a second agent, a conference), held (a consultation)
    or still ringing (a callback the agent answered first): their state stays."""
    if customer.state in (LegState.ANSWERED, LegState.TRANSFERRING):
        _move(uow, call, customer, LegTrigger.BRIDGE, {"with": other.id})


def _customer(uow: UnitOfWork, call: VoiceCallRow) -> VoiceLegRow:
    return next(leg for leg in _legs(uow, call) if leg.kind == LegKind.CUSTOMER)


def _customer_move(uow: UnitOfWork, org_id: str, call_id: str, trigger: LegTrigger) -> VoiceLegRow:
    call = _active_call(uow, org_id, call_id)
    leg = _move(uow, call, _customer(uow, call), trigger, None)
    _finish(uow, call)
    return leg


def _move(
    uow: UnitOfWork,
    call: VoiceCallRow,
    leg: VoiceLegRow,
    trigger: str,
    data: dict[str, Any] | None,
) -> VoiceLegRow:
    snapshot = LegSnapshot(leg.id, LegKind(leg.kind), LegState(leg.state), leg.last_at)
    after, fact = move_leg(snapshot, trigger, uow.now, data)
    leg.state, leg.last_at = after.state.value, after.last_at
    if after.state is LegState.ENDED:
        leg.ended_at = after.last_at
        leg.end_cause = str((data or {}).get("cause") or EndCause.FAILED.value)
    _append(uow, call, fact)
    uow.emit(
        CallLegChanged(
            org_id=call.org_id, call_id=call.id, interaction_id=call.interaction_id,
            leg_id=leg.id, leg_kind=leg.kind, from_state=snapshot.state.value,
            trigger=str(trigger), to_state=after.state.value, user_id=leg.user_id,
        )
    )  # fmt: skip
    return leg


def _end_all(
    uow: UnitOfWork,
    call: VoiceCallRow,
    legs: list[VoiceLegRow],
    cause: EndCause,
    policy: CallPolicy,
    *,
    commit: bool = True,
) -> VoiceCdrRow:
    # The customer leg ends last, so the CDR's end is the moment the whole call ended.
    ordered = sorted(legs, key=lambda leg: leg.kind == LegKind.CUSTOMER)
    for leg in ordered:
        if leg.state != LegState.ENDED:
            _move(uow, call, leg, LegTrigger.END, {"cause": cause.value})
    call.state, call.ended_at = "ended", uow.now
    cdr = _project(uow, call, policy)
    uow.emit(
        CallEnded(
            org_id=call.org_id, call_id=call.id, interaction_id=call.interaction_id,
            cause=cause.value, disposition=cdr.disposition, abandoned=cdr.abandoned,
            abandon_point=cdr.abandon_point,
        )
    )  # fmt: skip
    if commit:
        uow.commit()
        _settle_interaction(uow, call)
    return cdr


def _settle_interaction(uow: UnitOfWork, call: VoiceCallRow) -> None:
    """Move the interaction to where the ended call leaves it, if routing has not."""
    row = uow.session.get(InteractionRow, call.interaction_id)
    if row is None:
        return
    uow.session.refresh(row)
    state = InteractionState(row.state)
    if state is not InteractionState.CONNECTED and _lives_on(uow, row):
        return  # a voicemail or a callback the caller left: work that outlives the call
    if state in (InteractionState.ARRIVED, InteractionState.QUEUED, InteractionState.OFFERED):
        trigger = InteractionTrigger.ABANDON
    elif state is InteractionState.CONNECTED:
        trigger = InteractionTrigger.END
    else:
        return
    try:
        interactions.transition_interaction(uow, system_actor(call.org_id), row.id, trigger.value)
    except (IllegalTransition, NotFound):
        # Routing or the orchestrator moved it meanwhile: theirs is the later word, and
        # the call itself is already recorded as ended.
        uow.session.rollback()


def _lives_on(uow: UnitOfWork, row: InteractionRow) -> bool:
    entry = routing_store.find_entry_of(uow.session, row.org_id, row.id)
    return entry is not None and entry.kind in ("callback", "voicemail")


# Facts no CDR figure depends on (the IVR path is read from the history itself).
_NOT_IN_CDR = frozenset({FactKind.IVR_NODE})


def _call_fact(
    uow: UnitOfWork, org_id: str, call_id: str, kind: FactKind, data: dict[str, Any]
) -> None:
    call = _active_call(uow, org_id, call_id)
    _append(uow, call, CallFact(uow.now, kind, data=data))
    if kind in _NOT_IN_CDR:
        uow.commit()  # the CDR would come out the same: skip the projection's reads
        return
    _finish(uow, call)


def _append(uow: UnitOfWork, call: VoiceCallRow, fact: CallFact) -> None:
    uow.session.add(
        VoiceLegEventRow(
            org_id=call.org_id, call_id=call.id, leg_id=fact.leg_id, kind=fact.kind.value,
            from_state=fact.from_state.value if fact.from_state else None,
            trigger=fact.trigger, to_state=fact.to_state.value if fact.to_state else None,
            data=fact.data, at=fact.at,
        )
    )  # fmt: skip


def _finish(
    uow: UnitOfWork, call: VoiceCallRow, policy: CallPolicy = DEFAULT_POLICY
) -> VoiceCdrRow:
    cdr = _project(uow, call, policy)
    uow.commit()
    return cdr


def _project(
    uow: UnitOfWork,
    call: VoiceCallRow,
    policy: CallPolicy,
    *,
    known: tuple[list[VoiceLegRow], list[CallFact], str | None] | None = None,
) -> VoiceCdrRow:
    """Rewrite the call's CDR row from its whole history (in this transaction).
    ``known``: a new call's legs, history and team, given instead of read back."""
    if known is None:
        uow.session.flush()
        legs = _legs(uow, call)
        facts = [_fact(row) for row in store.events_of(uow.session, call.id)]
        interaction = uow.session.get(InteractionRow, call.interaction_id)
        team_id = interaction.team_id if interaction else None
    else:
        legs, facts, team_id = known
    infos = [cdrs.LegInfo(leg.id, LegKind(leg.kind), leg.party, leg.user_id) for leg in legs]
    record = cdrs.project(call.created_at, infos, facts, short_abandon_s=policy.short_abandon_s)
    row = VoiceCdrRow(call_id=call.id)
    _fill(row, call, record, facts, team_id, uow.now)
    values = {c.key: getattr(row, c.key) for c in VoiceCdrRow.__table__.columns}
    if known is None:
        # Written without reading the old row first (one statement, not two); rows
        # already in the session are brought up to date by the ORM.
        updated = uow.session.execute(
            update(VoiceCdrRow).where(VoiceCdrRow.call_id == call.id).values(**values)
        )
        if getattr(updated, "rowcount", 0) == 1:
            return row  # a detached copy: what was written
    uow.session.add(row)
    return row


_COPIED = (
    "answered_at", "ivr_entered_at", "ivr_left_at", "ivr_s", "ivr_outcome", "queue_id",
    "queue_entered_at", "offers", "first_offered_at", "agent_answered_at", "agent_user_id",
    "queue_wait_s", "holds", "hold_s", "transfers", "transferred_to", "talk_s", "ended_at",
    "end_cause", "disposition", "abandoned", "abandon_point", "short_abandon",
    "abandoned_after_s",
)  # fmt: skip


def _fill(
    row: VoiceCdrRow,
    call: VoiceCallRow,
    record: cdrs.Cdr,
    facts: list[CallFact],
    team_id: str | None,
    now: datetime,
) -> None:
    row.org_id, row.interaction_id, row.customer_id = (
        call.org_id,
        call.interaction_id,
        call.customer_id,
    )
    row.team_id, row.direction, row.caller, row.dialled = (
        team_id,
        call.direction,
        call.caller,
        call.dialled,
    )
    row.arrived_at = record.arrived_at
    for name in _COPIED:
        setattr(row, name, getattr(record, name))
    row.legs = [leg.as_json() for leg in record.legs]
    variables: dict[str, Any] = {}
    for fact in facts:
        if fact.kind is FactKind.IVR_LEFT and isinstance(fact.data.get("variables"), dict):
            variables.update(fact.data["variables"])
    row.variables = variables
    row.updated_at = now


def _fact(row: VoiceLegEventRow) -> CallFact:
    return CallFact(
        row.at, FactKind(row.kind), row.leg_id,
        LegState(row.from_state) if row.from_state else None, row.trigger,
        LegState(row.to_state) if row.to_state else None, dict(row.data or {}),
    )  # fmt: skip
