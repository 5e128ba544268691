"""Agent presence: moves along the state machine, recorded and announced; capacity views.

These functions change rows and emit events but do not commit: the routing services that
call them own the transaction (a presence change often goes with an offer change, and
both must commit together).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from jietong.agents import store
from jietong.agents.model import (
    AGENT_LIFECYCLE,
    DEFAULT_RULES,
    WORKING,
    AgentState,
    AgentTrigger,
    NotReadyReason,
    TeamRules,
    WorkFacts,
    combine_rules,
    settle,
)
from jietong.core.statemachine import Transition
from jietong.core.tenancy import Actor
from jietong.events.routing import AgentStateChanged
from jietong.interactions.service import record_transition
from jietong.storage.tables_routing import AgentPresenceRow
from jietong.storage.uow import UnitOfWork

ENTITY_TYPE = "agent"
_RELEASING = frozenset({AgentTrigger.RELEASE, AgentTrigger.WRAP_DONE, AgentTrigger.WRAP_TIMEOUT})


@dataclass(frozen=True)
class Workload:
    """An agent's open interactions per channel, split by interaction state."""

    offered: dict[str, int] = field(default_factory=dict)
    connected: dict[str, int] = field(default_factory=dict)
    wrapping: dict[str, int] = field(default_factory=dict)

    @property
    def per_channel(self) -> dict[str, int]:
        """Every open interaction per channel: the load capacity is measured against."""
        total: dict[str, int] = {}
        for part in (self.offered, self.connected, self.wrapping):
            for channel, count in part.items():
                total[channel] = total.get(channel, 0) + count
        return total

    def facts(self, *, offered: bool) -> WorkFacts:
        return WorkFacts(
            connected=sum(self.connected.values()),
            wrapping=sum(self.wrapping.values()),
            offered=offered,
        )


def workloads(
    uow: UnitOfWork, org_id: str, user_ids: Collection[str] | None = None
) -> dict[str, Workload]:
    """Open work of the given agents (all agents with open work if None)."""
    raw = store.loads(uow.session, org_id, user_ids)
    ids = raw.keys() if user_ids is None else user_ids
    return {
        uid: Workload(
            offered=raw.get(uid, {}).get("offered", {}),
            connected=raw.get(uid, {}).get("connected", {}),
            wrapping=raw.get(uid, {}).get("wrap_up", {}),
        )
        for uid in ids
    }


def ensure_presence(
    uow: UnitOfWork, org_id: str, user_id: str, *, now: datetime
) -> AgentPresenceRow:
    """The agent's presence row, locked; created (offline) on first use."""
    row = store.find_presence(uow.session, org_id, user_id, for_update=True)
    if row is not None:
        return row
    row = AgentPresenceRow(
        user_id=user_id,
        org_id=org_id,
        state=AgentState.OFFLINE.value,
        reason=None,
        state_since=now,
        idle_since=now,
        logged_in_at=None,
        busy_seconds=0.0,
        missed_offers=0,
    )
    uow.session.add(row)
    uow.session.flush()
    return row


def move_agent(
    uow: UnitOfWork,
    actor: Actor,
    presence: AgentPresenceRow,
    trigger: str,
    *,
    now: datetime,
    reason: NotReadyReason | None = None,
) -> Transition[AgentState]:
    """Fire ``trigger`` (IllegalTransition if the machine forbids it), keep the occupancy
    clocks, record the move and announce it."""
    move = AGENT_LIFECYCLE.fire(AgentState(presence.state), trigger)
    if move.from_state in WORKING:
        presence.busy_seconds += max((now - presence.state_since).total_seconds(), 0.0)
    if move.from_state is AgentState.OFFLINE and move.to_state is not AgentState.OFFLINE:
        presence.logged_in_at = now
        presence.busy_seconds = 0.0
        presence.idle_since = now
        presence.missed_offers = 0
    if move.to_state is AgentState.OFFLINE:
        presence.logged_in_at = None
    if move.to_state is AgentState.NOT_READY:
        presence.reason = (reason or NotReadyReason.OTHER).value
    else:
        presence.reason = None
    if move.to_state is AgentState.AVAILABLE and move.from_state is AgentState.NOT_READY:
        presence.missed_offers = 0
    presence.state = move.to_state.value
    presence.state_since = now
    record_transition(uow, actor, ENTITY_TYPE, presence.user_id, move)
    uow.emit(
        AgentStateChanged(
            org_id=presence.org_id,
            agent_id=presence.user_id,
            from_state=move.from_state.value,
            trigger=move.trigger,
            to_state=move.to_state.value,
            reason=presence.reason,
        )
    )
    return move


def settle_agent(
    uow: UnitOfWork,
    actor: Actor,
    presence: AgentPresenceRow,
    facts: WorkFacts,
    *,
    now: datetime,
) -> list[Transition[AgentState]]:
    """Bring the agent's state in line with their work (see `agents.model.settle`)."""
    moves = []
    for trigger in settle(AgentState(presence.state), facts):
        moves.append(move_agent(uow, actor, presence, trigger, now=now))
    if any(m.trigger in _RELEASING for m in moves):
        presence.idle_since = now  # work finished: the longest-idle clock restarts
    return moves


def occupancy(presence: AgentPresenceRow, now: datetime) -> float:
    """Share of logged-in time spent working (ringing, busy, wrap-up), in [0, 1]."""
    if presence.logged_in_at is None:
        return 0.0
    logged = (now - presence.logged_in_at).total_seconds()
    busy = presence.busy_seconds
    if AgentState(presence.state) in WORKING:
        busy += (now - presence.state_since).total_seconds()
    return min(max(busy / logged, 0.0), 1.0) if logged > 0 else 0.0


def rules_of_agents(
    uow: UnitOfWork, org_id: str, user_ids: Collection[str]
) -> dict[str, TeamRules]:
    """Each agent's capacity rules: their teams' rules combined (defaults without any)."""
    by_team = {
        team_id: parsed
        for team_id, raw in store.team_rules(uow.session, org_id).items()
        if (parsed := parse_rules(raw)) is not None
    }
    memberships = store.teams(uow.session, org_id, user_ids)
    return {
        uid: combine_rules([by_team[t] for t in memberships[uid] if t in by_team])
        for uid in user_ids
    }


def parse_rules(raw: dict[str, object]) -> TeamRules | None:
    """Stored rules, or None if they no longer validate (then defaults apply)."""
    try:
        return TeamRules.model_validate(raw)
    except ValidationError:
        return None


__all__ = [
    "DEFAULT_RULES",
    "Workload",
    "ensure_presence",
    "move_agent",
    "occupancy",
    "parse_rules",
    "rules_of_agents",
    "settle_agent",
    "workloads",
]
