"""Agent presence as the agent, a supervisor and the engine change it.

An agent (or a supervisor for them) asks for one of three states: available, not ready
with a reason code, or offline. The other states follow from work: the engine's
`settle_agents` moves agents to ringing, busy, wrap-up and back as offers and
interactions progress, and enforces the wrap-up limit of the agent's team.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jietong.agents import store as agent_store
from jietong.agents.model import (
    CHOSEN_STATES,
    AgentState,
    AgentTrigger,
    NotReadyReason,
    TeamRules,
    WorkFacts,
    free_slots,
    settle,
)
from jietong.agents.service import (
    Workload,
    ensure_presence,
    move_agent,
    occupancy,
    rules_of_agents,
    settle_agent,
    workloads,
)
from jietong.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor, system_actor
from jietong.interactions.model import InteractionTrigger
from jietong.interactions.service import transition_interaction
from jietong.routing import store
from jietong.routing.offers import requeue_interaction, withdraw_offer
from jietong.storage.tables_routing import AgentPresenceRow, RoutingOfferRow
from jietong.storage.uow import UnitOfWork


class AgentNotFound(NotFound):
    pass


@dataclass(frozen=True)
class PresenceView:
    user_id: str
    state: AgentState
    reason: str | None
    state_since: datetime
    logged_in_at: datetime | None
    missed_offers: int
    occupancy: float
    load: dict[str, int] = field(default_factory=dict)
    free: dict[str, int] = field(default_factory=dict)


def get_presence(uow: UnitOfWork, actor: Actor, user_id: str, *, now: datetime) -> PresenceView:
    """An agent's presence: one's own, or anyone's with 'users:read'."""
    if user_id != actor.user_id:
        require(actor, Permission.USERS_READ)
    _require_agent(uow, actor.org_id, user_id)
    row = agent_store.find_presence(uow.session, actor.org_id, user_id)
    if row is None:
        return _never_logged_in(user_id, now)
    return _views(uow, actor.org_id, [row], now)[0]


def list_presence(uow: UnitOfWork, actor: Actor, *, now: datetime) -> list[PresenceView]:
    """Every agent who ever logged in, with state, load and free slots (wallboard)."""
    require(actor, Permission.USERS_READ)
    rows = agent_store.presences(uow.session, actor.org_id)
    return _views(uow, actor.org_id, rows, now)


def set_presence(
    uow: UnitOfWork,
    actor: Actor,
    user_id: str,
    state: AgentState,
    *,
    reason: NotReadyReason | None,
    now: datetime,
) -> PresenceView:
    """Log in, become available, pause with a reason, or log out. A pending offer is
    withdrawn when the agent pauses or leaves; an agent connected to a customer cannot log
    out (Conflict). Changing someone else's state needs 'routing:supervise' (audited)."""
    if state not in CHOSEN_STATES:
        raise InvalidInput("choose available, not_ready or offline; other states follow work")
    if user_id != actor.user_id:
        require(actor, Permission.ROUTING_SUPERVISE)
    else:
        require(actor, Permission.INTERACTIONS_WRITE)
    _require_agent(uow, actor.org_id, user_id)
    presence = ensure_presence(uow, actor.org_id, user_id, now=now)
    work = workloads(uow, actor.org_id, [user_id])[user_id]
    withdrawn = None
    if state is AgentState.AVAILABLE:
        _become_available(uow, actor, presence, work, now)
    else:
        withdrawn = _step_away(uow, actor, presence, work, state, reason, now)
    if user_id != actor.user_id:
        uow.audit(
            actor,
            "agent.state_set",
            "agent",
            user_id,
            {"state": state.value, "reason": None if reason is None else reason.value},
        )
    if withdrawn is not None:
        requeue_interaction(uow, actor, withdrawn)  # commits everything
    else:
        uow.commit()
    return get_presence(uow, actor, user_id, now=now)


def _become_available(
    uow: UnitOfWork, actor: Actor, presence: AgentPresenceRow, work: Workload, now: datetime
) -> None:
    current = AgentState(presence.state)
    if current is AgentState.OFFLINE:
        move_agent(uow, actor, presence, AgentTrigger.LOGIN, now=now)
    elif current is AgentState.NOT_READY:
        move_agent(uow, actor, presence, AgentTrigger.READY, now=now)
    offered = bool(store.pending_offers(uow.session, presence.org_id, agent_id=presence.user_id))
    settle_agent(uow, actor, presence, work.facts(offered=offered), now=now)


def _step_away(
    uow: UnitOfWork,
    actor: Actor,
    presence: AgentPresenceRow,
    work: Workload,
    state: AgentState,
    reason: NotReadyReason | None,
    now: datetime,
) -> RoutingOfferRow | None:
    """Pause or log out; returns the offer withdrawn on the way, if any."""
    if state is AgentState.OFFLINE and sum(work.connected.values()) > 0:
        raise Conflict("finish or transfer the connected interactions before logging out")
    if state is AgentState.OFFLINE and presence.state == AgentState.OFFLINE.value:
        return None
    withdrawn = None
    # At most one pending offer per agent (a unique index says so).
    for offer in store.pending_offers(uow.session, presence.org_id, agent_id=presence.user_id):
        if withdraw_offer(uow, actor, offer, now=now, commit=False):
            withdrawn = offer
    if state is AgentState.NOT_READY:
        move_agent(uow, actor, presence, AgentTrigger.PAUSE, now=now, reason=reason)
        return withdrawn
    # A stale 'ringing' or 'busy' (work just ended) first settles to what work says.
    settle_agent(uow, actor, presence, work.facts(offered=False), now=now)
    move_agent(uow, actor, presence, AgentTrigger.LOGOUT, now=now)
    return withdrawn


# --- the engine's side ---------------------------------------------------------------------


def settle_agents(uow: UnitOfWork, org_id: str, *, now: datetime) -> int:
    """Close wrap-ups past their team's limit, then bring every logged-in agent's state
    in line with their work. Commits; returns the number of agents moved. Reads in
    read-only transactions and writes only what they found (see `UnitOfWork.begin_read`)."""
    uow.begin_read()
    with_work = set(agent_store.loads(uow.session, org_id))
    presences = [
        p
        for p in agent_store.presences(uow.session, org_id)
        if p.state != AgentState.OFFLINE.value or p.user_id in with_work
    ]
    ids = [p.user_id for p in presences]
    if not ids:
        uow.session.rollback()
        return 0
    rules = rules_of_agents(uow, org_id, ids)
    expired = _expired_wrap_ups(uow, org_id, rules, now)
    if expired:
        uow.session.rollback()
        _close_wrap_ups(uow, org_id, expired)
        uow.begin_read()
    work = workloads(uow, org_id, ids)
    offered = {o.agent_id for o in store.pending_offers(uow.session, org_id)}
    due = {
        p.user_id: facts
        for p in presences
        if _needs_settling(p, facts := work[p.user_id].facts(offered=p.user_id in offered))
    }
    uow.session.rollback()  # end the read; the moves below lock their rows
    if not due:
        return 0
    moved = 0
    system = system_actor(org_id)
    # One transaction for all the moves (one commit, not one per agent); the rows are
    # locked in id order, as the engine's decision locks them, so the two cannot deadlock.
    locked = agent_store.lock_presences(uow.session, org_id, due)
    for user_id in sorted(locked):
        if settle_agent(uow, system, locked[user_id], due[user_id], now=now):
            moved += 1
    uow.commit()
    return moved


def _needs_settling(presence: AgentPresenceRow, facts: WorkFacts) -> bool:
    return bool(settle(AgentState(presence.state), facts))


def _expired_wrap_ups(
    uow: UnitOfWork, org_id: str, rules: dict[str, TeamRules], now: datetime
) -> list[str]:
    """The after-contact work past its agent's team limit (interaction ids)."""
    expired = []
    for user_id, agent_rules in rules.items():
        limit = agent_rules.wrap_up_seconds
        if limit is None:
            continue
        for interaction in agent_store.wrap_ups_since(uow.session, org_id, user_id):
            ended = interaction.ended_at or interaction.updated_at
            if now - ended < timedelta(seconds=limit):
                break
            expired.append(interaction.id)
    return expired


def _close_wrap_ups(uow: UnitOfWork, org_id: str, interaction_ids: list[str]) -> None:
    """The platform closes after-contact work past its limit (one commit each)."""
    system = system_actor(org_id)
    for interaction_id in interaction_ids:
        try:
            transition_interaction(uow, system, interaction_id, InteractionTrigger.CLOSE)
        except (IllegalTransition, NotFound):
            uow.session.rollback()


def _views(
    uow: UnitOfWork, org_id: str, rows: list[AgentPresenceRow], now: datetime
) -> list[PresenceView]:
    ids = [r.user_id for r in rows]
    rules = rules_of_agents(uow, org_id, ids)
    work = workloads(uow, org_id, ids)
    return [
        PresenceView(
            user_id=r.user_id,
            state=AgentState(r.state),
            reason=r.reason,
            state_since=r.state_since,
            logged_in_at=r.logged_in_at,
            missed_offers=r.missed_offers,
            occupancy=occupancy(r, now),
            load=work[r.user_id].per_channel,
            free=_free(rules[r.user_id], work[r.user_id]) if r.state != "offline" else {},
        )
        for r in rows
    ]


def _never_logged_in(user_id: str, now: datetime) -> PresenceView:
    return PresenceView(
        user_id=user_id,
        state=AgentState.OFFLINE,
        reason=None,
        state_since=now,
        logged_in_at=None,
        missed_offers=0,
        occupancy=0.0,
    )


def _free(rules: TeamRules, work: Workload) -> dict[str, int]:
    load = work.per_channel
    return {channel: free_slots(rules, load, channel) for channel in sorted(rules.capacity)}


def _require_agent(uow: UnitOfWork, org_id: str, user_id: str) -> None:
    user = agent_store.find_user(uow.session, org_id, user_id)
    if user is None or not user.active:
        raise AgentNotFound(f"agent {user_id} not found")
