"""The discrete-event engine: one replication of a `Scenario`.

Event model. The future event list is a binary heap of tuples ``(time, kind, a, b)``:
agent LOGIN/LOGOUT at shift edges, service END (``a`` = agent, ``b`` = queue) and
ABANDON timers (``a`` = contact). Arrivals do not go through the heap: they come from a
sorted per-interval batch (`arrivals`) and are merged with the heap by time, which saves a
push and a pop per contact. An abandonment timer is not removed when its contact is
answered; it fires later and finds nothing to do (lazy cancellation is cheaper than
deleting from a heap).

Routing. Every decision comes from `jietong.routing.policies`, the code the live routing
engine runs. Waiting contacts sit in one heap per queue keyed by `policies.key_of_work`
(the fields of `policies.work_key`, without building a `WorkItem` per contact). Idle agents
of a queue whose policy has a stable rank (longest idle, best proficiency) sit in a heap
keyed by `policies.stable_rank`, entries being invalidated by a per-agent version number;
for the other policies the engine asks `policies.choose_agent` among the free agents.
Rather than calling `policies.match` on a full snapshot after every event, the engine
keeps the invariant that *no waiting contact has an eligible agent with a free slot*; then
only the contact or agent touched by an event can produce an assignment, and the result is
what `match` would decide. The test suite checks this assignment by assignment against
`reference.simulate_with_match`, which does call `match` on full snapshots.

The horizon ends after the last interval; no contact arrives after it, and agents whose
shift ends at or after it stay until all waiting contacts are served or have abandoned
(drain), so every contact of the horizon gets an outcome.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from jietong.routing.policies import (
    AgentView,
    WorkItem,
    choose_agent,
    key_of_work,
    rank_is_stable,
    stable_rank,
)
from jietong.wfm.simulation.arrivals import interval_batch, queue_streams
from jietong.wfm.simulation.model import Scenario
from jietong.wfm.simulation.results import ReplicationResult, TraceEntry

# Event kinds, in the order simultaneous events are handled.
LOGIN, END, ABANDON, LOGOUT = 0, 1, 2, 3


def as_seed(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


def qualified_queues(scenario: Scenario) -> list[list[int]]:
    """For each agent, the queues whose every required skill it has at the minimum level."""
    return [
        [
            q
            for q, queue in enumerate(scenario.queues)
            if all(agent.skills.get(s, 0) >= lvl for s, lvl in queue.skills.items())
        ]
        for agent in scenario.agents
    ]


def shift_events(scenario: Scenario) -> list[tuple[float, int, int, int]]:
    """LOGIN/LOGOUT events of every agent, shifts clipped to the horizon."""
    events = []
    for a, agent in enumerate(scenario.agents):
        for start, end in agent.shifts:
            if start < scenario.horizon:
                events.append((start, LOGIN, a, 0))
                events.append((min(end, scenario.horizon), LOGOUT, a, 0))
    heapq.heapify(events)
    return events


def occupancy(
    busy_time: float, busy_since: float, loaded: bool, logged: float, now: float
) -> float:
    """Share of logged-in time spent busy, up to ``now`` (0 before any logged time)."""
    busy = busy_time + (now - busy_since if loaded else 0.0)
    return busy / logged if logged > 0 else 0.0


def simulate(
    scenario: Scenario, seed: int | np.random.SeedSequence = 0, *, record_trace: bool = False
) -> ReplicationResult:
    """Run one replication; same scenario and seed give the same result."""
    return _Engine(scenario, as_seed(seed), record_trace).run()


class _Engine:
    def __init__(self, scenario: Scenario, seed: np.random.SeedSequence, trace: bool) -> None:
        self.sc = scenario
        self.streams = queue_streams(scenario, seed)
        self.record_trace = trace
        nq, ni = len(scenario.queues), scenario.n_intervals
        self.nq = nq
        self.offered = [0] * (nq * ni)
        self.answered = [0] * (nq * ni)
        self.in_target = [0] * (nq * ni)
        self.immediate = [0] * (nq * ni)
        self.abandoned = [0] * (nq * ni)
        self.cb_offered = [0] * (nq * ni)
        self.callbacks = [0] * (nq * ni)
        self.cb_answered = [0] * (nq * ni)
        self.wait_answered = [0.0] * (nq * ni)
        self.wait_abandoned = [0.0] * (nq * ni)
        self.cb_delay = [0.0] * (nq * ni)
        self.queue_area = [0.0] * ni
        self.queue_max = [0] * ni
        self.busy_area = [0.0] * ni
        self.staffed_area = [0.0] * ni

    def run(self) -> ReplicationResult:
        sc = self.sc
        nq, n_int, width = self.nq, sc.n_intervals, sc.interval_seconds
        horizon, target, aging = sc.horizon, sc.service_target_seconds, sc.aging_seconds_per_level
        agents = sc.agents
        n_agents = len(agents)
        heappush, heappop, inf = heapq.heappush, heapq.heappop, math.inf

        # Agent state, one list per attribute (indexable without attribute lookups).
        a_ids = [a.agent_id for a in agents]
        a_index = {ident: k for k, ident in enumerate(a_ids)}
        a_skills = [a.skills for a in agents]
        a_conc = [a.concurrency for a in agents]
        a_queues = qualified_queues(sc)
        a_cap = [
            {sc.queues[q].channel: a.concurrency for q in qs}
            for a, qs in zip(agents, a_queues, strict=True)
        ]
        # Per-channel loads are only tracked for agents serving several channels; for the
        # others the load on their one channel is the total load.
        a_multi = [len(cap) > 1 for cap in a_cap]
        a_channel = [next(iter(cap), "") for cap in a_cap]
        a_chload = [dict.fromkeys(cap, 0) for cap in a_cap]
        a_load = [0] * n_agents
        a_on = [False] * n_agents
        a_leaving = [False] * n_agents
        a_idle = [0.0] * n_agents
        a_handled = [0] * n_agents
        a_ver = [0] * n_agents
        a_busy_since = [0.0] * n_agents
        a_busy_time = [0.0] * n_agents
        a_login = [0.0] * n_agents
        a_logged = [0.0] * n_agents

        # Queue state.
        queues = sc.queues
        q_ids = [q.queue_id for q in queues]
        q_channel = [q.channel for q in queues]
        q_skills = [q.skills for q in queues]
        q_policy = [q.policy for q in queues]
        q_stable = [rank_is_stable(q.policy) for q in queues]
        q_template = [WorkItem("", q.queue_id, q.channel, q.skills) for q in queues]
        q_callback = [q.callback for q in queues]
        q_mean_handle = [q.handle_time.mean for q in queues]
        q_idle: list[list[tuple[tuple[float, float, str], int, int]]] = [[] for _ in queues]
        q_free: list[set[int]] = [set() for _ in queues]
        q_wait: list[list[tuple[tuple[float, float, str], int]]] = [[] for _ in queues]
        q_wcount = [0] * nq
        q_staffed = [0] * nq
        q_cursor: list[str | None] = [None] * nq
        # Compact a queue's idle heap when stale entries outnumber its agents 4 to 1.
        q_compact = [4 * sum(q in qs for qs in a_queues) + 32 for q in range(nq)]
        # Per agent, the queues that track free agents in a set (unstable ranks).
        a_pooled = [[q for q in qs if not q_stable[q]] for qs in a_queues]

        waiting: dict[int, tuple[int, float, float, int, bool]] = {}
        events = shift_events(sc)
        n_shift_events = len(events)
        trace: list[TraceEntry] | None = [] if self.record_trace else None
        offered, answered, in_target = self.offered, self.answered, self.in_target
        immediate, abandoned, callbacks = self.immediate, self.abandoned, self.callbacks
        cb_offered, cb_answered = self.cb_offered, self.cb_answered
        wait_answered, wait_abandoned, cb_delay = (
            self.wait_answered,
            self.wait_abandoned,
            self.cb_delay,
        )

        busy = staffed = qlen = qmax = 0
        timers = 0  # abandonment timers set (each is one event, fired or not)

        # Time integrals of the queue length, busy and logged-in agents, per interval. A
        # change of +-1 at time t adds +-(edge - t) to the current interval's integral (edge
        # = the interval's end), and an interval starts at value x width: no per-event work.
        cur, bound, edge = 0, width, width
        area_q = area_busy = area_staffed = 0.0

        def view(a: int, now: float) -> AgentView:
            loaded = a_load[a] > 0
            occ = occupancy(
                a_busy_time[a],
                a_busy_since[a],
                loaded,
                a_logged[a] + (now - a_login[a] if a_on[a] else 0.0),
                now,
            )
            load = a_chload[a] if a_multi[a] else {a_channel[a]: a_load[a]}
            return AgentView(
                a_ids[a],
                a_skills[a],
                a_idle[a],
                a_cap[a],
                load,
                a_conc[a],
                a_handled[a],
                occ,
            )

        def make_available(a: int, now: float) -> None:
            """Offer agent ``a`` (which has a free slot) to the idle pools of its queues."""
            ver, ident, skills, idle = a_ver[a], a_ids[a], a_skills[a], a_idle[a]
            for q in a_queues[a]:
                if not q_stable[q]:
                    q_free[q].add(a)
                    continue
                pool = q_idle[q]
                rank = stable_rank(q_policy[q], ident, skills, idle, q_template[q])
                heappush(pool, (rank, ver, a))
                if len(pool) > q_compact[q]:
                    pool[:] = [e for e in pool if a_ver[e[2]] == e[1]]
                    heapq.heapify(pool)

        def start(a: int, q: int, cid: int, handle: float, now: float) -> None:
            """Agent ``a`` takes contact ``cid`` of queue ``q`` at ``now``."""
            nonlocal busy, area_busy
            load = a_load[a] + 1
            a_load[a] = load
            if a_multi[a]:
                a_chload[a][q_channel[q]] += 1
            if load == 1:
                busy += 1
                area_busy += edge - now
                a_busy_since[a] = now
            a_idle[a] = now
            a_ver[a] += 1
            q_cursor[q] = a_ids[a]
            if load < a_conc[a]:
                make_available(a, now)
            else:
                for qq in a_pooled[a]:
                    q_free[qq].discard(a)
            heappush(events, (now + handle, END, a, q))
            if trace is not None:
                trace.append((cid, a_ids[a], now))

        def pull(a: int, now: float) -> bool:
            """Give agent ``a`` the first waiting contact it qualifies for, if any."""
            nonlocal qlen, area_q
            best_q, best_key = -1, None
            for q in a_queues[a]:
                heap = q_wait[q]
                while heap and heap[0][1] not in waiting:
                    heappop(heap)  # abandoned earlier
                if heap and (best_key is None or heap[0][0] < best_key):
                    best_q, best_key = q, heap[0][0]
            if best_q < 0:
                return False
            cid = heappop(q_wait[best_q])[1]
            q, arrived, handle, idx, is_callback = waiting.pop(cid)
            q_wcount[q] -= 1
            qlen -= 1
            area_q -= edge - now
            wait = now - arrived
            offer = q_callback[q]
            if is_callback and offer is not None:
                cb_answered[idx] += 1
                cb_delay[idx] += wait
                handle += offer.dial_seconds
            else:
                answered[idx] += 1
                wait_answered[idx] += wait
                if wait <= target:
                    in_target[idx] += 1
            start(a, q, cid, handle, now)
            return True

        # Arrival stream.
        batch_interval = -1
        times: list[float] = []
        k = 0
        arr_t = inf
        cid = 0
        b_queue: list[int] = []
        b_handle: list[float] = []
        b_pat: list[float] = []
        b_prio: list[int] = []
        b_cb: list[float] = []

        def next_batch() -> None:
            nonlocal batch_interval, times, k, arr_t, b_queue, b_handle, b_pat, b_prio, b_cb
            while batch_interval + 1 < n_int:
                batch_interval += 1
                batch = interval_batch(sc, self.streams, batch_interval)
                if batch.times:
                    times, b_queue, b_handle, b_pat, b_prio, b_cb = batch
                    k, arr_t = 0, batch.times[0]
                    return
            arr_t = inf

        next_batch()

        while True:
            if events and events[0][0] <= arr_t:
                t, kind, a, q = heappop(events)
                from_heap = True
            elif arr_t < inf:
                t = arr_t
                from_heap = False
            else:
                break
            while t >= bound:
                self.queue_area[cur] = area_q
                self.busy_area[cur] = area_busy
                self.staffed_area[cur] = area_staffed
                self.queue_max[cur] = qmax
                cur += 1
                if cur < n_int:
                    bound = edge = (cur + 1) * width
                else:  # past the horizon: keep counting, record nothing
                    bound, edge = inf, horizon
                area_q, area_busy, area_staffed = qlen * width, busy * width, staffed * width
                qmax = qlen

            if not from_heap:
                # --- arrival ---------------------------------------------------------
                q = b_queue[k]
                handle = b_handle[k]
                idx = batch_interval * nq + q
                offered[idx] += 1
                cid += 1
                a = -1
                if q_stable[q]:
                    pool = q_idle[q]
                    while pool:
                        entry = pool[0]
                        if a_ver[entry[2]] == entry[1]:
                            a = entry[2]
                            break
                        heappop(pool)
                elif q_free[q]:
                    item = WorkItem(str(cid), q_ids[q], q_channel[q], q_skills[q], b_prio[k], t)
                    views = [view(b, t) for b in q_free[q]]
                    chosen = choose_agent(q_policy[q], item, views, q_cursor[q])
                    a = -1 if chosen is None else a_index[chosen]
                if a >= 0:
                    answered[idx] += 1
                    immediate[idx] += 1
                    in_target[idx] += 1
                    start(a, q, cid, handle, t)
                else:
                    is_callback = False
                    offer = q_callback[q]
                    if offer is not None:
                        staff_q = q_staffed[q]
                        ewt = (q_wcount[q] + 1) * q_mean_handle[q] / staff_q if staff_q else inf
                        if ewt > offer.threshold_seconds:
                            cb_offered[idx] += 1
                            if b_cb[k] < offer.accept_probability:
                                is_callback = True
                                callbacks[idx] += 1
                    key = key_of_work(b_prio[k], t, str(cid), aging)
                    heappush(q_wait[q], (key, cid))
                    waiting[cid] = (q, t, handle, idx, is_callback)
                    q_wcount[q] += 1
                    qlen += 1
                    area_q += edge - t
                    if qlen > qmax:
                        qmax = qlen
                    patience = b_pat[k]
                    if not is_callback and patience < inf:
                        heappush(events, (t + patience, ABANDON, cid, 0))
                        timers += 1
                k += 1
                if k < len(times):
                    arr_t = times[k]
                else:
                    next_batch()
                continue

            if kind == END:
                load = a_load[a] - 1
                a_load[a] = load
                if a_multi[a]:
                    a_chload[a][q_channel[q]] -= 1
                a_handled[a] += 1
                a_idle[a] = t
                a_ver[a] += 1
                if load == 0:
                    busy -= 1
                    area_busy -= edge - t
                    a_busy_time[a] += t - a_busy_since[a]
                if a_leaving[a]:
                    if load == 0:
                        a_leaving[a] = a_on[a] = False
                        staffed -= 1
                        area_staffed -= edge - t
                        a_logged[a] += t - a_login[a]
                elif not pull(a, t):
                    make_available(a, t)
            elif kind == ABANDON:
                record = waiting.pop(a, None)
                if record is not None:
                    q, arrived, _, idx, _ = record
                    abandoned[idx] += 1
                    wait_abandoned[idx] += t - arrived
                    q_wcount[q] -= 1
                    qlen -= 1
                    area_q -= edge - t
                    heap = q_wait[q]
                    if len(heap) > 2 * q_wcount[q] + 64:  # drop abandoned entries now and then
                        heap[:] = [e for e in heap if e[1] in waiting]
                        heapq.heapify(heap)
            elif kind == LOGIN:
                if a_leaving[a]:
                    a_leaving[a] = False  # back before finishing the last shift's contact
                else:
                    a_on[a] = True
                    staffed += 1
                    area_staffed += edge - t
                    a_login[a] = t
                a_ver[a] += 1
                for qq in a_queues[a]:
                    q_staffed[qq] += 1
                while a_load[a] < a_conc[a] and pull(a, t):
                    pass
                if a_load[a] < a_conc[a]:
                    make_available(a, t)
            elif t < horizon:  # LOGOUT; at the horizon agents stay to drain the queue
                a_ver[a] += 1
                for qq in a_queues[a]:
                    q_staffed[qq] -= 1
                    q_free[qq].discard(a)
                if a_load[a] == 0:
                    a_on[a] = False
                    staffed -= 1
                    area_staffed -= edge - t
                    a_logged[a] += t - a_login[a]
                else:
                    a_leaving[a] = True

        # Close the integrals of the intervals the run did not reach.
        while cur < n_int:
            self.queue_area[cur] = area_q
            self.busy_area[cur] = area_busy
            self.staffed_area[cur] = area_staffed
            self.queue_max[cur] = qmax
            cur += 1
            area_q, area_busy, area_staffed = qlen * width, busy * width, staffed * width
            qmax = qlen

        return ReplicationResult(
            queue_ids=tuple(q_ids),
            interval_seconds=width,
            n_intervals=n_int,
            target_seconds=target,
            offered=offered,
            answered=answered,
            answered_in_target=in_target,
            answered_immediately=immediate,
            abandoned=abandoned,
            callbacks_offered=cb_offered,
            callbacks=callbacks,
            callbacks_answered=cb_answered,
            wait_answered=wait_answered,
            wait_abandoned=wait_abandoned,
            callback_delay=cb_delay,
            queue_area=self.queue_area,
            queue_max=self.queue_max,
            busy_area=self.busy_area,
            staffed_area=self.staffed_area,
            unserved=len(waiting),
            events=cid + sum(answered) + sum(cb_answered) + timers + n_shift_events,
            trace=None if trace is None else tuple(trace),
        )
