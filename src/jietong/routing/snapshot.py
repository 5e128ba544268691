"""From rows to the pure routing snapshot (`routing.policies.Snapshot`) and back.

The snapshot is what `policies.match` decides on; the WFM simulator builds the same
structures from its own state, so a what-if simulation routes exactly as production.

* Agents: logged in and routable (available, or busy with a free slot), active, and
  without a pending offer. ``capacity`` and ``excludes`` come from their teams' rules;
  ``load`` counts every open interaction (offered, connected, wrap-up). ``max_total`` is
  capped at one more than the current load, so one decision gives an agent at most one
  offer (an agent answers one offer at a time).
* Items: waiting entries whose queue is open and whose callback time (if scheduled) has
  come, with the overflow stage's skill levels and priority, and without the agents who
  declined or missed them in the last `REOFFER_COOLDOWN`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from jietong.agents import store as agent_store
from jietong.agents.model import ROUTABLE, TeamRules
from jietong.agents.service import Workload, occupancy, rules_of_agents, workloads
from jietong.routing import store
from jietong.routing.hours import calendar_for, is_open
from jietong.routing.model import (
    DEFAULT_SETTINGS,
    EntryState,
    QueueSettings,
    effective_requirements,
    epoch_seconds,
    priority_boost,
)
from jietong.routing.policies import (
    DEFAULT_AGING_SECONDS_PER_LEVEL,
    AgentPolicy,
    AgentView,
    Snapshot,
    WorkItem,
    free_capacity,
)
from jietong.storage.tables import QueueRow
from jietong.storage.tables_routing import AgentPresenceRow, RoutingEntryRow
from jietong.storage.uow import UnitOfWork

REOFFER_COOLDOWN = timedelta(seconds=60)
"""How long an agent who declined or missed an interaction is passed over for it."""
AGING_SECONDS_PER_LEVEL = DEFAULT_AGING_SECONDS_PER_LEVEL


@dataclass(frozen=True)
class RoutingState:
    """A snapshot plus the rows its items and agents stand for."""

    snapshot: Snapshot
    entries: dict[str, RoutingEntryRow]
    queues: dict[str, QueueRow]
    settings: Mapping[str, QueueSettings]


def build_state(
    uow: UnitOfWork, org_id: str, settings: Mapping[str, QueueSettings], *, now: datetime
) -> RoutingState:
    """Read the organisation's routing state (agents, waiting work) as of ``now``.
    While no agent has room for one more item on any channel, nothing can be offered:
    the waiting work (nor its refusals and cursors) is not read at all (with hundreds
    waiting and everyone busy, reading them every cycle was most of the engine's cost)."""
    queues = store.queues(uow.session, org_id)
    agents = agent_views(uow, org_id, now=now)
    anyone_free = any(free_capacity(a, channel) > 0 for a in agents for channel in a.capacity)
    waiting: list[RoutingEntryRow] = []
    items: list[WorkItem] = []
    cursors: dict[str, str] = {}
    if anyone_free:
        waiting = [
            e
            for e in store.entries(uow.session, org_id, states=(EntryState.WAITING.value,))
            if routable_now(e, settings, now)
        ]
        refusals = store.recent_refusals(uow.session, org_id, now - REOFFER_COOLDOWN)
        items = [work_item(e, queues.get(e.queue_id), settings, refusals, now) for e in waiting]
        cursors = {
            q: row.rr_cursor
            for q, row in store.queue_settings(uow.session, org_id).items()
            if row.rr_cursor is not None
        }
    snapshot = Snapshot(
        agents=agents,
        items=items,
        policies={q.id: AgentPolicy(q.policy) for q in queues.values()},
        aging_seconds_per_level=AGING_SECONDS_PER_LEVEL,
        rr_cursors=cursors,
    )
    return RoutingState(snapshot, {e.id: e for e in waiting}, queues, settings)


def agent_views(uow: UnitOfWork, org_id: str, *, now: datetime) -> list[AgentView]:
    """The agents who could take an offer now, as the policies see them."""
    offered = {o.agent_id for o in store.pending_offers(uow.session, org_id)}
    rows = [
        p
        for p in agent_store.presences(uow.session, org_id, states={s.value for s in ROUTABLE})
        if p.user_id not in offered
    ]
    if not rows:
        return []
    users = agent_store.users(uow.session, org_id, [r.user_id for r in rows])
    rows = [r for r in rows if r.user_id in users and users[r.user_id].active]
    ids = [r.user_id for r in rows]
    skills = agent_store.skills(uow.session, org_id, ids)
    rules = rules_of_agents(uow, org_id, ids)
    work = workloads(uow, org_id, ids)
    return [view_of(r, skills[r.user_id], rules[r.user_id], work[r.user_id], now) for r in rows]


def view_of(
    presence: AgentPresenceRow,
    skills: dict[str, int],
    rules: TeamRules,
    work: Workload,
    now: datetime,
) -> AgentView:
    load = work.per_channel
    one_more = sum(load.values()) + 1
    cap = one_more if rules.max_total is None else min(rules.max_total, one_more)
    return AgentView(
        agent_id=presence.user_id,
        skills=skills,
        idle_since=epoch_seconds(presence.idle_since),
        capacity=rules.capacity,
        load=load,
        max_total=cap,
        occupancy=occupancy(presence, now),
        excludes=rules.excludes,
    )


def routable_now(
    entry: RoutingEntryRow, settings: Mapping[str, QueueSettings], now: datetime
) -> bool:
    """Whether a waiting entry may be offered now: callback time reached, queue open."""
    if entry.available_at is not None and entry.available_at > now:
        return False
    hours = settings.get(entry.queue_id, DEFAULT_SETTINGS).hours
    if hours is None:
        return True
    return is_open(hours, calendar_for(hours, range(now.year - 1, now.year + 2)), now)


def work_item(
    entry: RoutingEntryRow,
    queue: QueueRow | None,
    settings: Mapping[str, QueueSettings],
    refusals: Mapping[str, set[str]],
    now: datetime,
) -> WorkItem:
    """The entry as the policies see it, after its overflow steps."""
    steps = settings.get(entry.queue_id, DEFAULT_SETTINGS).overflow
    required = {} if queue is None else {k: int(v) for k, v in queue.required_skills.items()}
    return WorkItem(
        item_id=entry.id,
        queue_id=entry.queue_id,
        channel=entry.channel,
        required_skills=effective_requirements(required, steps, entry.overflow_stage),
        priority=entry.priority + priority_boost(steps, entry.overflow_stage),
        arrived_at=epoch_seconds(arrival_for_order(entry)),
        excluded_agents=frozenset(refusals.get(entry.id, ())),
    )


def arrival_for_order(entry: RoutingEntryRow) -> datetime:
    """The time an entry is ordered by: its original arrival, or for a callback
    scheduled later, the time the customer chose."""
    if entry.available_at is not None and entry.available_at > entry.enqueued_at:
        return entry.available_at
    return entry.enqueued_at
