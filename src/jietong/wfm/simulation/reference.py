"""A slow, obviously-faithful engine that calls `policies.match` after every event.

It exists to check the fast engine: for the same scenario and seed both must make exactly
the same assignments at the same times. It builds the full routing snapshot (every routable
agent, every waiting contact) on each event, exactly as the live routing engine would, so
it is only usable on small scenarios.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from jietong.routing.policies import AgentView, Snapshot, WorkItem, match
from jietong.wfm.simulation.arrivals import ArrivalBatch, interval_batch, queue_streams
from jietong.wfm.simulation.engine import (
    ABANDON,
    END,
    LOGIN,
    as_seed,
    occupancy,
    qualified_queues,
    shift_events,
)
from jietong.wfm.simulation.model import Scenario
from jietong.wfm.simulation.results import TraceEntry


@dataclass(frozen=True)
class ReferenceOutcome:
    trace: tuple[TraceEntry, ...]
    abandoned: int
    callbacks: int
    unserved: int


@dataclass
class _Agent:
    index: int
    on: bool = False
    leaving: bool = False
    load: int = 0
    idle_since: float = 0.0
    handled: int = 0
    busy_since: float = 0.0
    busy_time: float = 0.0
    login: float = 0.0
    logged: float = 0.0


def simulate_with_match(
    scenario: Scenario, seed: int | np.random.SeedSequence = 0
) -> ReferenceOutcome:
    """Run one replication routing through `policies.match` on full snapshots."""
    return _Reference(scenario, as_seed(seed)).run()


class _Reference:
    def __init__(self, scenario: Scenario, seed: np.random.SeedSequence) -> None:
        self.sc = scenario
        self.streams = queue_streams(scenario, seed)
        self.agent_queues = qualified_queues(scenario)
        self.agents = [_Agent(k) for k in range(len(scenario.agents))]
        self.chload = [{scenario.queues[q].channel: 0 for q in qs} for qs in self.agent_queues]
        self.waiting: dict[str, tuple[WorkItem, int, float, bool]] = {}
        self.events = shift_events(scenario)
        self.trace: list[TraceEntry] = []
        self.cursors: dict[str, str] = {}
        self.staffed = [0] * len(scenario.queues)
        self.abandoned = 0
        self.callbacks = 0

    def run(self) -> ReferenceOutcome:
        sc = self.sc
        cid = 0
        for interval in range(sc.n_intervals):
            batch = interval_batch(sc, self.streams, interval)
            for k, t in enumerate(batch.times):
                self._events_until(t, inclusive=True)
                cid += 1
                self._arrival(cid, t, batch, k)
        self._events_until(math.inf, inclusive=True)
        return ReferenceOutcome(
            tuple(self.trace), self.abandoned, self.callbacks, unserved=len(self.waiting)
        )

    def _events_until(self, t: float, *, inclusive: bool) -> None:
        while self.events and self.events[0][0] <= t:
            now, kind, a, q = heapq.heappop(self.events)
            if kind == END:
                self._end(now, a, q)
            elif kind == ABANDON:
                record = self.waiting.pop(str(a), None)
                if record is not None:
                    self.abandoned += 1
            elif kind == LOGIN:
                self._login(now, a)
            else:
                self._logout(now, a)
            self._route(now)

    def _arrival(self, cid: int, t: float, batch: ArrivalBatch, k: int) -> None:
        _, queues, handles, patiences, priorities, draws = batch
        q = queues[k]
        queue = self.sc.queues[q]
        item = WorkItem(str(cid), queue.queue_id, queue.channel, queue.skills, priorities[k], t)
        ahead = sum(1 for rec in self.waiting.values() if rec[1] == q)
        self.waiting[item.item_id] = (item, q, handles[k], False)
        self._route(t)
        if item.item_id not in self.waiting:
            return
        offer = queue.callback
        if offer is not None:
            staff = self.staffed[q]
            ewt = (ahead + 1) * queue.handle_time.mean / staff if staff else math.inf
            if ewt > offer.threshold_seconds and draws[k] < offer.accept_probability:
                self.callbacks += 1
                self.waiting[item.item_id] = (item, q, handles[k], True)
                return
        if patiences[k] < math.inf:
            heapq.heappush(self.events, (t + patiences[k], ABANDON, cid, 0))

    def _view(self, agent: _Agent, now: float) -> AgentView:
        spec = self.sc.agents[agent.index]
        logged = agent.logged + (now - agent.login if agent.on else 0.0)
        occ = occupancy(agent.busy_time, agent.busy_since, agent.load > 0, logged, now)
        caps = dict.fromkeys(self.chload[agent.index], spec.concurrency)
        return AgentView(
            spec.agent_id,
            spec.skills,
            agent.idle_since,
            caps,
            dict(self.chload[agent.index]),
            spec.concurrency,
            agent.handled,
            occ,
        )

    def _route(self, now: float) -> None:
        snapshot = Snapshot(
            agents=[self._view(a, now) for a in self.agents if a.on and not a.leaving],
            items=[rec[0] for rec in self.waiting.values()],
            policies={q.queue_id: q.policy for q in self.sc.queues},
            aging_seconds_per_level=self.sc.aging_seconds_per_level,
            rr_cursors=dict(self.cursors),
        )
        index = {spec.agent_id: k for k, spec in enumerate(self.sc.agents)}
        for item_id, agent_id in match(snapshot, now):
            item, q, handle, is_callback = self.waiting.pop(item_id)
            offer = self.sc.queues[q].callback
            if is_callback and offer is not None:
                handle += offer.dial_seconds
            agent = self.agents[index[agent_id]]
            agent.load += 1
            self.chload[agent.index][item.channel] += 1
            if agent.load == 1:
                agent.busy_since = now
            agent.idle_since = now
            self.cursors[item.queue_id] = agent_id
            heapq.heappush(self.events, (now + handle, END, agent.index, q))
            self.trace.append((int(item_id), agent_id, now))

    def _end(self, now: float, a: int, q: int) -> None:
        agent = self.agents[a]
        agent.load -= 1
        self.chload[a][self.sc.queues[q].channel] -= 1
        agent.handled += 1
        agent.idle_since = now
        if agent.load == 0:
            agent.busy_time += now - agent.busy_since
            if agent.leaving:
                agent.leaving = agent.on = False
                agent.logged += now - agent.login

    def _login(self, now: float, a: int) -> None:
        agent = self.agents[a]
        if agent.leaving:
            agent.leaving = False
        else:
            agent.on, agent.login = True, now
        for q in self.agent_queues[a]:
            self.staffed[q] += 1

    def _logout(self, now: float, a: int) -> None:
        if now >= self.sc.horizon:
            return
        agent = self.agents[a]
        for q in self.agent_queues[a]:
            self.staffed[q] -= 1
        if agent.load == 0:
            agent.on = False
            agent.logged += now - agent.login
        else:
            agent.leaving = True
