"""The routing engine's cycle: everything the engine does, as short transactions.

One cycle for one organisation, in this order:

1. expire offers whose ring time is over (back to the queue, miss counted);
2. sync entries and offers with the interactions (arrivals, answers, hang-ups, requeues
   made through other paths, and anything left by a crash);
3. settle agents (wrap-up limits, ringing/busy/wrap-up/available from their work);
4. timers: overflow steps and maximum waits that came due;
5. decide: `policies.match`'s decision over a fresh snapshot (computed by the equivalent
   incremental `routing.matcher.Matcher`), then one offer per assignment, all committed
   together.

The cycle keeps no state between runs: the database holds the queues, so any process can
run it after a restart, and running it twice concurrently is wasteful but safe (each offer
is a conditional update guarded by unique indexes). The runtime
(`jietong.app.routing_runtime`) runs it after every relevant event and on a tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from jietong.agents import store as agent_store
from jietong.agents.service import rules_of_agents
from jietong.routing import store
from jietong.routing.configuration import settings_of_org
from jietong.routing.entries import apply_timers, sync_entries
from jietong.routing.matcher import Matcher
from jietong.routing.model import DEFAULT_SETTINGS, QueueSettings, epoch_seconds
from jietong.routing.offers import expire_offer, offer_entry
from jietong.routing.policies import AgentPolicy, Assignment
from jietong.routing.presence import settle_agents
from jietong.routing.snapshot import RoutingState, build_state
from jietong.storage.uow import UnitOfWork

log = logging.getLogger(__name__)

NewUow = Callable[[datetime], UnitOfWork]
"""Opens a unit of work whose clock reads the given instant."""


@dataclass(frozen=True)
class CycleReport:
    expired: int = 0
    synced: int = 0
    settled: int = 0
    timers: int = 0
    offered: int = 0

    def __add__(self, other: CycleReport) -> CycleReport:
        return CycleReport(
            self.expired + other.expired,
            self.synced + other.synced,
            self.settled + other.settled,
            self.timers + other.timers,
            self.offered + other.offered,
        )


def run_cycle(new_uow: NewUow, org_id: str, *, now: datetime) -> CycleReport:
    """One full engine cycle for one organisation at ``now``."""
    with new_uow(now) as uow:
        # Every phase reads in a read-only transaction and writes only what it found
        # (UnitOfWork.begin_read): on SQLite a cycle that finds nothing never takes the
        # write lock that intake's commits need.
        uow.begin_read()
        settings = settings_of_org(uow, org_id)
        uow.session.rollback()
        expired = expire_due_offers(uow, org_id, now=now)
        synced = sync_entries(uow, org_id, settings, now=now)
        settled = settle_agents(uow, org_id, now=now)
        timers = apply_timers(uow, org_id, settings, now=now)
        offered = decide(uow, org_id, settings, now=now)
    return CycleReport(expired, synced, settled, timers, offered)


def run_all(new_uow: NewUow, *, now: datetime) -> CycleReport:
    """A cycle for every organisation with something to do; one failing organisation
    does not stop the others."""
    with new_uow(now) as uow:
        uow.begin_read()
        orgs = store.orgs_with_work(uow.session)
    total = CycleReport()
    for org_id in orgs:
        try:
            total = total + run_cycle(new_uow, org_id, now=now)
        except Exception:
            log.exception("routing cycle failed for organisation %s", org_id)
    return total


def expire_due_offers(uow: UnitOfWork, org_id: str, *, now: datetime) -> int:
    """Expire every pending offer whose deadline passed; returns how many."""
    uow.begin_read()
    due = [(o.id, o.agent_id) for o in store.due_offers(uow.session, org_id, now)]
    if not due:
        uow.session.rollback()
        return 0
    rules = rules_of_agents(uow, org_id, {agent_id for _, agent_id in due})
    uow.session.rollback()
    return sum(
        expire_offer(uow, offer_id, org_id, rules[agent_id], now=now) for offer_id, agent_id in due
    )


def decide(
    uow: UnitOfWork, org_id: str, settings: Mapping[str, QueueSettings], *, now: datetime
) -> int:
    """Match waiting work to routable agents and make the offers; returns how many."""
    uow.begin_read()
    state = build_state(uow, org_id, settings, now=now)
    uow.session.rollback()  # end the read before writing (SQLite holds one writer)
    # The incremental matcher decides exactly as `policies.match` (a property test holds
    # them equal) at a fraction of the cost on large snapshots.
    assignments = Matcher.from_snapshot(state.snapshot).decide(epoch_seconds(now))
    if not assignments:
        return 0
    # One transaction for the whole decision (one commit, not one per offer), each offer
    # in its own savepoint so a refused one does not undo the others. Locks follow one
    # global order — every agent's presence by id, then entries by id — so two engines
    # deciding at once cannot deadlock on each other's batch.
    agent_store.lock_presences(uow.session, org_id, {a.agent_id for a in assignments})
    made = 0
    for assignment in sorted(assignments, key=lambda a: a.item_id):
        if _offer(uow, org_id, state, assignment, now):
            made += 1
    _move_cursors(uow, org_id, state, assignments, now)
    uow.commit()
    return made


def _offer(
    uow: UnitOfWork, org_id: str, state: RoutingState, assignment: Assignment, now: datetime
) -> bool:
    entry = state.entries[assignment.item_id]
    ring = state.settings.get(entry.queue_id, DEFAULT_SETTINGS).ring_timeout_seconds
    offer = offer_entry(
        uow,
        org_id,
        assignment.item_id,
        assignment.agent_id,
        ring_seconds=ring,
        now=now,
        commit=False,
    )
    return offer is not None


def _move_cursors(
    uow: UnitOfWork,
    org_id: str,
    state: RoutingState,
    assignments: list[Assignment],
    now: datetime,
) -> None:
    """Round-robin queues remember the agent they assigned last."""
    last: dict[str, str] = {}
    for assignment in assignments:
        queue_id = state.entries[assignment.item_id].queue_id
        queue = state.queues.get(queue_id)
        if queue is not None and queue.policy == AgentPolicy.ROUND_ROBIN.value:
            last[queue_id] = assignment.agent_id
    if not last:
        return
    for queue_id, agent_id in last.items():
        store.set_cursor(uow.session, org_id, queue_id, agent_id, now)
