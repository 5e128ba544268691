"""Pure routing policies: a snapshot of agents and waiting work in, assignments out.

This module is the single source of routing decisions. The live routing engine and the
WFM simulator (`jietong.wfm.simulation`) both call it, so a what-if simulation routes
exactly as production does. Nothing here does I/O, reads a clock or keeps state between
calls: time is a plain number (seconds on any fixed epoch) passed in by the caller.

Two questions are answered here:

* **Which waiting item goes first?** Items are ordered by *effective priority*
  ``priority + age / aging_seconds_per_level`` (higher first), ties by arrival time, then
  by ``item_id``. Every item ages at the same rate, so the order of two items never
  depends on ``now``: item A precedes item B iff
  ``A.arrived_at - A.priority * s < B.arrived_at - B.priority * s`` (``s`` = seconds per
  level). `work_key` returns that time-invariant key, which lets a caller keep waiting
  items in a heap instead of re-sorting on every event. Aging guarantees that a
  low-priority item is never starved: after ``Δp * s`` seconds it outranks any newer item
  that is ``Δp`` levels more important. With aging disabled (``None``) the order is strict
  priority, then first come first served.
* **Which agent takes an item?** Among *eligible* agents (every required skill at or above
  its minimum level, and a free slot on the item's channel) the one with the lowest
  `agent_rank` under the queue's `AgentPolicy` wins.

`match` combines both: it walks the waiting items in order and gives each the best eligible
agent that still has room, never exceeding any agent's capacity.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NamedTuple

DEFAULT_AGING_SECONDS_PER_LEVEL = 60.0
"""One priority level is worth one minute of waiting unless configured otherwise."""

Rank = tuple[float, float, str]
"""An agent's rank for an item under a policy; the lowest rank is chosen."""

WorkKey = tuple[float, float, str]
"""A waiting item's time-invariant ordering key; the lowest key is served first."""


class AgentPolicy(StrEnum):
    """How to pick one agent among several eligible ones."""

    LONGEST_IDLE = "longest_idle"
    """The agent whose `idle_since` is earliest (the default; spreads work fairly)."""
    BEST_PROFICIENCY = "best_proficiency"
    """Highest summed level on the item's required skills, then longest idle."""
    ROUND_ROBIN = "round_robin"
    """The next agent id after the queue's cursor (the last agent it assigned), cyclically."""
    LEAST_OCCUPIED = "least_occupied"
    """Lowest occupancy (busy share of logged-in time), then longest idle."""


@dataclass(frozen=True, slots=True)
class AgentView:
    """What routing needs to know about one logged-in, routable agent.

    ``capacity`` is the maximum number of concurrent items per channel (a channel the agent
    does not serve is absent or 0); ``load`` the items currently handled per channel;
    ``max_total`` an optional cap across all channels. ``idle_since`` is the time of the
    agent's last assignment or release, the clock for longest-idle routing. ``occupancy``
    is a fraction in [0, 1] computed by the caller. ``excludes`` holds blending rules:
    while the agent has load on a key channel, the listed channels get no new item (a
    call excludes new chats, for example).
    """

    agent_id: str
    skills: Mapping[str, int]
    idle_since: float
    capacity: Mapping[str, int]
    load: Mapping[str, int] = field(default_factory=dict)
    max_total: int | None = None
    handled: int = 0
    occupancy: float = 0.0
    excludes: Mapping[str, Collection[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One waiting contact. ``required_skills`` maps skill to minimum level (1..10).
    ``excluded_agents`` may not take it (they just declined it or let it ring out)."""

    item_id: str
    queue_id: str
    channel: str
    required_skills: Mapping[str, int]
    priority: int = 0
    arrived_at: float = 0.0
    excluded_agents: Collection[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The routing state at one instant.

    ``policies`` picks the agent policy per queue (``default_policy`` otherwise);
    ``rr_cursors`` holds, per queue, the agent id that queue assigned last (for round
    robin). Agent ids and item ids must be unique.
    """

    agents: Sequence[AgentView]
    items: Sequence[WorkItem]
    policies: Mapping[str, AgentPolicy] = field(default_factory=dict)
    default_policy: AgentPolicy = AgentPolicy.LONGEST_IDLE
    aging_seconds_per_level: float | None = DEFAULT_AGING_SECONDS_PER_LEVEL
    rr_cursors: Mapping[str, str] = field(default_factory=dict)


class Assignment(NamedTuple):
    item_id: str
    agent_id: str


def qualified(agent: AgentView, item: WorkItem) -> bool:
    """True if the agent has every skill the item requires at or above its minimum level."""
    skills = agent.skills
    # An explicit loop: measurably faster than all(<generator>) on this hot path.
    for skill, minimum in item.required_skills.items():  # noqa: SIM110
        if skills.get(skill, 0) < minimum:
            return False
    return True


def free_capacity(agent: AgentView, channel: str) -> int:
    """Slots the agent has free for one more item on ``channel`` (never negative), after
    blending: none while load on another channel excludes this one."""
    if agent.excludes:
        for busy, count in agent.load.items():
            if count > 0 and channel in agent.excludes.get(busy, ()):
                return 0
    free = agent.capacity.get(channel, 0) - agent.load.get(channel, 0)
    if agent.max_total is not None:
        free = min(free, agent.max_total - sum(agent.load.values()))
    return max(free, 0)


def eligible(agent: AgentView, item: WorkItem) -> bool:
    """True if the agent may take the item right now: qualified, with a free slot, and
    not excluded from it."""
    if item.excluded_agents and agent.agent_id in item.excluded_agents:
        return False
    return free_capacity(agent, item.channel) > 0 and qualified(agent, item)


def proficiency(agent: AgentView, item: WorkItem) -> int:
    """The agent's summed level over the item's required skills."""
    return _level_sum(agent.skills, item)


def _level_sum(skills: Mapping[str, int], item: WorkItem) -> int:
    return sum(skills.get(skill, 0) for skill in item.required_skills)


def agent_rank(
    policy: AgentPolicy, agent: AgentView, item: WorkItem, cursor: str | None = None
) -> Rank:
    """The agent's rank for the item under ``policy``; lower is better, ids break ties.

    ``cursor`` is only used by round robin: agents whose id sorts after it come first, in
    id order, then the wrap-around.
    """
    if policy is AgentPolicy.LONGEST_IDLE or policy is AgentPolicy.BEST_PROFICIENCY:
        return stable_rank(policy, agent.agent_id, agent.skills, agent.idle_since, item)
    if policy is AgentPolicy.LEAST_OCCUPIED:
        return (agent.occupancy, agent.idle_since, agent.agent_id)
    after_cursor = cursor is None or agent.agent_id > cursor
    return (0.0 if after_cursor else 1.0, 0.0, agent.agent_id)


def stable_rank(
    policy: AgentPolicy,
    agent_id: str,
    skills: Mapping[str, int],
    idle_since: float,
    item: WorkItem,
) -> Rank:
    """`agent_rank` for a policy where `rank_is_stable`, from the only inputs it reads.

    Lets a caller that tracks agents in its own structures (the simulator) rank an agent
    without building an `AgentView`; ``agent_rank`` itself delegates here.
    """
    if policy is AgentPolicy.LONGEST_IDLE:
        return (idle_since, 0.0, agent_id)
    if policy is AgentPolicy.BEST_PROFICIENCY:
        return (-float(_level_sum(skills, item)), idle_since, agent_id)
    raise ValueError(f"the rank of policy {policy} is not stable")


def rank_is_stable(policy: AgentPolicy) -> bool:
    """True if an agent's rank for a queue cannot change while the agent stays untouched.

    Longest-idle and best-proficiency ranks depend only on the agent's skills, id and
    `idle_since`, which change only on assignment or release; a caller may then keep idle
    agents in a heap keyed by `agent_rank`. Round robin (moving cursor) and least occupied
    (occupancy drifts with time) must be ranked afresh at each decision. For stable
    policies `stable_rank` computes the rank from the agent's id, skills and idle clock.
    """
    return policy in (AgentPolicy.LONGEST_IDLE, AgentPolicy.BEST_PROFICIENCY)


def choose_agent(
    policy: AgentPolicy,
    item: WorkItem,
    agents: Iterable[AgentView],
    cursor: str | None = None,
) -> str | None:
    """The id of the best eligible agent for the item, or None if nobody is eligible."""
    best: Rank | None = None
    best_id: str | None = None
    for agent in agents:
        if not eligible(agent, item):
            continue
        rank = agent_rank(policy, agent, item, cursor)
        if best is None or rank < best:
            best, best_id = rank, agent.agent_id
    return best_id


def effective_priority(item: WorkItem, now: float, aging_seconds_per_level: float | None) -> float:
    """``priority + age / aging_seconds_per_level`` (plain priority if aging is off)."""
    if aging_seconds_per_level is None:
        return float(item.priority)
    return item.priority + (now - item.arrived_at) / aging_seconds_per_level


def work_key(item: WorkItem, aging_seconds_per_level: float | None) -> WorkKey:
    """The item's ordering key; sorting ascending gives service order at any instant.

    With aging the first component is the *virtual arrival time*
    ``arrived_at - priority * aging_seconds_per_level``: an item of priority p is treated as
    if it had arrived p aging steps earlier.
    """
    return key_of_work(item.priority, item.arrived_at, item.item_id, aging_seconds_per_level)


def key_of_work(
    priority: int, arrived_at: float, item_id: str, aging_seconds_per_level: float | None
) -> WorkKey:
    """`work_key` from the three fields it reads, for callers without a `WorkItem` at hand."""
    if aging_seconds_per_level is None:
        return (-float(priority), arrived_at, item_id)
    return (arrived_at - priority * aging_seconds_per_level, arrived_at, item_id)


def order_work(items: Iterable[WorkItem], aging_seconds_per_level: float | None) -> list[WorkItem]:
    """Waiting items in service order (highest effective priority first)."""
    return sorted(items, key=lambda item: work_key(item, aging_seconds_per_level))


def _after_assignment(agent: AgentView, item: WorkItem, now: float) -> AgentView:
    """The agent as seen right after taking the item: one more load, idle clock reset.

    Resetting `idle_since` on assignment makes the next item in the same `match` prefer a
    different agent, which spreads concurrent (chat) work across agents.
    """
    load = dict(agent.load)
    load[item.channel] = load.get(item.channel, 0) + 1
    return replace(agent, load=load, idle_since=now, handled=agent.handled + 1)


def _has_room(agent: AgentView) -> bool:
    total = sum(agent.load.values())
    if agent.max_total is not None and total >= agent.max_total:
        return False
    return any(cap > agent.load.get(ch, 0) for ch, cap in agent.capacity.items())


def match(snapshot: Snapshot, now: float) -> list[Assignment]:
    """Assign as many waiting items as possible, in service order.

    Contract: items are visited in `order_work` order and each takes the best eligible
    agent (per its queue's policy) given the assignments already made in this call. Hence
    (1) no agent exceeds its capacity, (2) no item is assigned twice, (3) when it returns,
    no unassigned item has an eligible agent with a free slot, and (4) a waiting item is
    never passed over in favour of a later item for an agent it could have used.
    The caller applies the assignments and, for round robin, sets each queue's cursor to
    the agent of that queue's last assignment in the returned list.
    """
    available: dict[str, AgentView] = {a.agent_id: a for a in snapshot.agents if _has_room(a)}
    if not available or not snapshot.items:
        return []
    cursors = dict(snapshot.rr_cursors)
    result: list[Assignment] = []
    for item in _in_order(snapshot.items, snapshot.aging_seconds_per_level):
        policy = snapshot.policies.get(item.queue_id, snapshot.default_policy)
        agent_id = choose_agent(policy, item, available.values(), cursors.get(item.queue_id))
        if agent_id is None:
            continue
        result.append(Assignment(item.item_id, agent_id))
        cursors[item.queue_id] = agent_id
        updated = _after_assignment(available[agent_id], item, now)
        if _has_room(updated):
            available[agent_id] = updated
        else:
            del available[agent_id]
            if not available:
                break
    return result


def _in_order(items: Sequence[WorkItem], aging: float | None) -> Iterable[WorkItem]:
    """Items lazily in service order: `match` usually stops long before the end."""
    keyed = [(work_key(item, aging), index) for index, item in enumerate(items)]
    heapq.heapify(keyed)
    while keyed:
        _, index = heapq.heappop(keyed)
        yield items[index]
