"""Queue status, position in queue and estimated wait, for the wallboard, the web chat
widget, the IVR and the API. Reads only; the estimate itself is `routing.ewt`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jietong.agents import store as agent_store
from jietong.agents.model import AgentState
from jietong.agents.service import rules_of_agents
from jietong.core.errors import NotFound
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.events.routing import QueueStatsChanged
from jietong.interactions.model import reach_of
from jietong.interactions.service import require_interaction
from jietong.routing import store
from jietong.routing.configuration import QueueNotFound, settings_of_org
from jietong.routing.ewt import RateTracker, WaitEstimate, estimate, staffing_rate
from jietong.routing.hours import calendar_for, next_opening
from jietong.routing.model import (
    DEFAULT_SETTINGS,
    EntryState,
    QueueSettings,
    epoch_seconds,
)
from jietong.routing.policies import AgentView, WorkItem, eligible, qualified, work_key
from jietong.routing.snapshot import AGING_SECONDS_PER_LEVEL, agent_views, work_item
from jietong.storage.tables import QueueRow
from jietong.storage.tables_routing import RoutingEntryRow
from jietong.storage.uow import UnitOfWork

WINDOW = timedelta(hours=3)
"""History read for the rates (three time constants of `ewt.DEFAULT_TAU_SECONDS`)."""


class NotQueued(NotFound):
    pass


@dataclass(frozen=True)
class QueueStatus:
    queue_id: str
    name: str
    waiting: int
    offered: int
    callbacks: int
    oldest_enqueued_at: datetime | None
    longest_wait_seconds: float
    agents: dict[str, int] = field(default_factory=dict)
    open: bool = True
    ewt_seconds: float | None = None


@dataclass(frozen=True)
class Position:
    interaction_id: str
    queue_id: str
    state: str
    kind: str
    position: int
    ahead: int
    enqueued_at: datetime
    ewt_seconds: float | None
    expected_wait_seconds: float | None


def list_queue_status(uow: UnitOfWork, actor: Actor, *, now: datetime) -> list[QueueStatus]:
    """Every queue's live figures (waiting, longest wait, agents by state, EWT)."""
    require(actor, Permission.INTERACTIONS_READ)
    return _statuses(uow, actor.org_id, now, None)


def get_queue_status(uow: UnitOfWork, actor: Actor, queue_id: str, *, now: datetime) -> QueueStatus:
    require(actor, Permission.INTERACTIONS_READ)
    if store.find_queue(uow.session, actor.org_id, queue_id) is None:
        raise QueueNotFound(f"queue {queue_id} not found")
    return _statuses(uow, actor.org_id, now, queue_id)[0]


def get_position(uow: UnitOfWork, actor: Actor, interaction_id: str, *, now: datetime) -> Position:
    """Where a waiting interaction stands in its queue and how long it should still wait.
    NotQueued (404) when it is not waiting in any queue."""
    require(actor, Permission.INTERACTIONS_READ)
    row = require_interaction(uow, actor, interaction_id)
    entry = store.find_entry_of(uow.session, actor.org_id, row.id)
    if entry is None or entry.state not in (EntryState.WAITING.value, EntryState.OFFERED.value):
        raise NotQueued(f"interaction {interaction_id} is not waiting in a queue")
    settings = settings_of_org(uow, actor.org_id)
    queue = store.find_queue(uow.session, actor.org_id, entry.queue_id)
    active = store.entries(uow.session, actor.org_id, queue_id=entry.queue_id)
    ordered = _in_service_order(active, queue, settings, now)
    ahead = 0 if entry.state == EntryState.OFFERED.value else ordered.index(entry.id)
    offered = entry.state == EntryState.OFFERED.value
    waits = (
        None
        if offered
        else QueueEstimator(uow, actor.org_id, settings, now).wait(
            entry.queue_id, ahead, entry=entry
        )
    )
    return Position(
        interaction_id=row.id,
        queue_id=entry.queue_id,
        state=entry.state,
        kind=entry.kind,
        position=ahead + 1,
        ahead=ahead,
        enqueued_at=entry.enqueued_at,
        ewt_seconds=0.0 if offered else None if waits is None else waits.median,
        expected_wait_seconds=0.0 if offered else None if waits is None else waits.mean,
    )


def list_entries(
    uow: UnitOfWork, actor: Actor, queue_id: str, *, now: datetime
) -> list[RoutingEntryRow]:
    """The queue's active entries in service order (offered first), those the actor may
    see (supervisors: all)."""
    require(actor, Permission.INTERACTIONS_READ)
    queue = store.find_queue(uow.session, actor.org_id, queue_id)
    if queue is None:
        raise QueueNotFound(f"queue {queue_id} not found")
    active = store.entries(uow.session, actor.org_id, queue_id=queue_id)
    reach = reach_of(actor)
    if reach is not None:
        seen = store.interactions_within(
            uow.session, actor.org_id, [e.interaction_id for e in active], reach
        )
        active = [e for e in active if e.interaction_id in seen]
    order = _in_service_order(active, queue, settings_of_org(uow, actor.org_id), now)
    by_id = {e.id: e for e in active}
    return [by_id[i] for i in order]


def _in_service_order(
    active: list[RoutingEntryRow],
    queue: QueueRow | None,
    settings: Mapping[str, QueueSettings],
    now: datetime,
) -> list[str]:
    """Active entries' ids, offered first, then waiting ones in policy order."""
    offered = [e.id for e in active if e.state == EntryState.OFFERED.value]
    waiting = [
        work_item(e, queue, settings, {}, now)
        for e in active
        if e.state == EntryState.WAITING.value
    ]
    waiting.sort(key=lambda item: work_key(item, AGING_SECONDS_PER_LEVEL))
    return offered + [item.item_id for item in waiting]


READY = frozenset({"available", "ringing", "busy", "wrap_up"})
"""Agent states in which an agent counts in the staffing of the queues they serve."""


class QueueEstimator:
    """EWT of the queues of one organisation at one instant, from the database: the
    queue's waiting spells and the staffing's history over `WINDOW` are replayed into a
    `RateTracker`, exactly as the benchmark feeds it from its simulation."""

    def __init__(
        self, uow: UnitOfWork, org_id: str, settings: Mapping[str, QueueSettings], now: datetime
    ) -> None:
        self._uow = uow
        self._org_id = org_id
        self._settings = settings
        self._now = now
        self._queues = store.queues(uow.session, org_id)
        self._routable = agent_views(uow, org_id, now=now)
        self._agents = agent_store.presences(uow.session, org_id)
        ids = [p.user_id for p in self._agents]
        self._skills = agent_store.skills(uow.session, org_id, ids)
        self._rules = rules_of_agents(uow, org_id, ids)
        self._moves = store.agent_moves(uow.session, org_id, now - WINDOW)

    def wait(
        self, queue_id: str, ahead: int, *, entry: RoutingEntryRow | None = None
    ) -> WaitEstimate | None:
        """The wait of the contact ``ahead`` places from the head of the queue."""
        queue = self._queues.get(queue_id)
        if queue is None:
            return None
        channel = entry.channel if entry is not None else (queue.channels or ["call"])[0]
        probe = WorkItem("", queue_id, channel, _required(queue))
        handle = self._handle_seconds(queue_id)
        slots = self._slot_weights(probe)
        tracker = self._tracker(queue_id)
        for at, staffed in self._staffing(slots):
            tracker.set_nominal(at, staffing_rate(staffed, handle) or 0.0)
        free = any(eligible(agent, probe) for agent in self._routable)
        found = estimate(
            ahead,
            tracker.rates(epoch_seconds(self._now)),
            staffing=staffing_rate(self._staffed_now(slots), handle),
            free_agent=free,
        )
        if found is None:
            return None
        delay = self._delay(queue_id, entry)
        return WaitEstimate(found.median + delay, found.mean + delay)

    def _tracker(self, queue_id: str) -> RateTracker:
        since = self._now - WINDOW
        finished = store.finished_entries(self._uow.session, self._org_id, [queue_id], since)
        active = store.entries(self._uow.session, self._org_id, queue_id=queue_id)
        return replay(finished + active, start=epoch_seconds(since))

    def _slot_weights(self, probe: WorkItem) -> dict[str, float]:
        """Per agent able to take the work, the slots they have for its channel."""
        weights = {}
        for p in self._agents:
            uid = p.user_id
            view = AgentView(uid, self._skills[uid], 0.0, self._rules[uid].capacity)
            slots = self._rules[uid].capacity.get(probe.channel, 0)
            if slots > 0 and qualified(view, probe):
                weights[uid] = float(slots)
        return weights

    def _staffed_now(self, weights: dict[str, float]) -> float:
        return sum(
            w for p in self._agents if p.state in READY for w in [weights.get(p.user_id, 0.0)]
        )

    def _staffing(self, weights: dict[str, float]) -> list[tuple[float, float]]:
        """(time, staffed slots) at the window's start and after every change of state of
        a qualified agent within it."""
        state = {p.user_id: p.state for p in self._agents}
        first_seen: set[str] = set()
        for move in self._moves:  # the state each agent had when the window opened
            if move.entity_id not in first_seen:
                first_seen.add(move.entity_id)
                state[move.entity_id] = move.from_state
        staffed = sum(w for uid, w in weights.items() if state.get(uid) in READY)
        steps = [(epoch_seconds(self._now - WINDOW), staffed)]
        for move in self._moves:
            weight = weights.get(move.entity_id, 0.0)
            if weight:
                staffed += weight * ((move.to_state in READY) - (move.from_state in READY))
                steps.append((epoch_seconds(move.at), staffed))
        return steps

    def _handle_seconds(self, queue_id: str) -> float | None:
        times = store.handle_seconds(
            self._uow.session, self._org_id, [queue_id], self._now - timedelta(hours=8)
        )[queue_id]
        return sum(times) / len(times) if times else None

    def _delay(self, queue_id: str, entry: RoutingEntryRow | None) -> float:
        """Time before the queue may offer at all: closed hours, a scheduled callback."""
        delay = 0.0
        hours = self._settings.get(queue_id, DEFAULT_SETTINGS).hours
        if hours is not None:
            calendar = calendar_for(hours, range(self._now.year - 1, self._now.year + 2))
            opening = next_opening(hours, calendar, self._now)
            if opening is not None:
                delay = max((opening - self._now).total_seconds(), 0.0)
        if entry is not None and entry.available_at is not None:
            delay = max(delay, (entry.available_at - self._now).total_seconds())
        return delay


def replay(entries: Iterable[RoutingEntryRow], *, start: float) -> RateTracker:
    """A rate tracker fed with the entries' waiting spells in time order."""
    events: list[tuple[float, int, str]] = []
    for e in entries:
        events.append((epoch_seconds(e.queue_entered_at), 0, "start"))
        if e.state == EntryState.SERVED.value and e.served_at is not None:
            events.append((epoch_seconds(e.served_at), 1, "served"))
        elif e.state == EntryState.REMOVED.value and e.ended_at is not None:
            events.append((epoch_seconds(e.ended_at), 1, "abandoned"))
    events.sort()
    tracker = RateTracker(start=min([start, *(t for t, _, _ in events)]))
    for t, _, what in events:
        if what == "start":
            tracker.started_waiting(t)
        elif what == "served":
            tracker.served(t)
        else:
            tracker.abandoned(t)
    return tracker


def _median(found: WaitEstimate | None) -> float | None:
    return None if found is None else found.median


def _required(queue: QueueRow) -> dict[str, int]:
    return {k: int(v) for k, v in (queue.required_skills or {}).items()}


def _statuses(uow: UnitOfWork, org_id: str, now: datetime, only: str | None) -> list[QueueStatus]:
    queues = store.queues(uow.session, org_id)
    settings = settings_of_org(uow, org_id)
    active = store.entries(uow.session, org_id)
    by_queue: dict[str, list[RoutingEntryRow]] = {}
    for e in active:
        by_queue.setdefault(e.queue_id, []).append(e)
    states = _agent_states(uow, org_id)
    estimator = QueueEstimator(uow, org_id, settings, now)
    result = []
    for queue in sorted(queues.values(), key=lambda q: q.name):
        if only is not None and queue.id != only:
            continue
        entries = by_queue.get(queue.id, [])
        waiting = [e for e in entries if e.state == EntryState.WAITING.value]
        oldest = min((e.enqueued_at for e in entries), default=None)
        hours = settings.get(queue.id, DEFAULT_SETTINGS).hours
        is_open = True
        if hours is not None:
            calendar = calendar_for(hours, range(now.year - 1, now.year + 2))
            is_open = next_opening(hours, calendar, now) == now
        result.append(
            QueueStatus(
                queue_id=queue.id,
                name=queue.name,
                waiting=len(waiting),
                offered=len(entries) - len(waiting),
                callbacks=sum(1 for e in entries if e.kind != "live"),
                oldest_enqueued_at=oldest,
                longest_wait_seconds=0.0 if oldest is None else (now - oldest).total_seconds(),
                agents=_qualified_states(uow, org_id, queue, states),
                open=is_open,
                ewt_seconds=_median(estimator.wait(queue.id, len(entries))),
            )
        )
    return result


def _agent_states(uow: UnitOfWork, org_id: str) -> dict[str, str]:
    return {
        p.user_id: p.state
        for p in agent_store.presences(uow.session, org_id)
        if p.state != AgentState.OFFLINE.value
    }


def _qualified_states(
    uow: UnitOfWork, org_id: str, queue: QueueRow, states: dict[str, str]
) -> dict[str, int]:
    """Logged-in agents who hold the queue's skills, counted by state."""
    skills = agent_store.skills(uow.session, org_id, list(states))
    probe = WorkItem("", queue.id, "", _required(queue))
    counts: Counter[str] = Counter(
        state
        for uid, state in states.items()
        if qualified(AgentView(uid, skills[uid], 0.0, {}), probe)
    )
    return dict(sorted(counts.items()))


def queue_stats_events(uow: UnitOfWork, org_id: str) -> list[QueueStatsChanged]:
    """The wallboard figures of every queue, as events (the runtime emits changed ones)."""
    queues = store.queues(uow.session, org_id)
    figures = store.queue_figures(uow.session, org_id)
    states = _agent_states(uow, org_id)
    events = []
    for queue in queues.values():
        waiting, active, oldest = figures.get(queue.id, (0, 0, None))
        events.append(
            QueueStatsChanged(
                org_id=org_id,
                queue_id=queue.id,
                waiting=waiting,
                offered=active - waiting,
                oldest_enqueued_at=None if oldest is None else oldest.isoformat(),
                agents=_qualified_states(uow, org_id, queue, states),
            )
        )
    return events
