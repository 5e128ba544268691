"""Incremental matching: exactly the decisions of `policies.match`, without rescanning.

`policies.match` states the routing decision over a whole snapshot; it visits every
waiting item and scans every agent, which is fine for a few hundred agents and slow for
ten thousand. `Matcher` keeps the same state indexed and, after changes, returns what
`match` would return on the current snapshot, applying the assignments to its agents as
`match` does (load + 1, idle clock reset). A property test drives both with random
changes and compares them decision by decision.

Why it can be incremental. Between two calls `match`'s contract (3) holds: no waiting
item has an eligible agent. Items fall into *classes* (same queue, channel, required
skills, excluded agents) whose members are eligible for exactly the same agents, and
capacity only shrinks while `match` runs. So only classes touched since the last call
(a new item, an agent with new room) can produce an assignment, and within a class once
the head (earliest `work_key`) finds no agent, no later item will. `decide` keeps a
frontier of the touched classes' heads in `work_key` order and gives each head the best
eligible agent of its class: for the stable policies (longest idle, best proficiency) the
top of a heap keyed by `policies.stable_rank`, otherwise `policies.choose_agent` over the
class's agents with room. Both are the choices `match` makes.

Two fast paths cover steady state: an agent who frees a slot pulls the earliest head
among its classes (nobody else can be eligible there), and an item joining a class that
already has waiting items needs no decision at all.

Why it is cheap (profiled with cProfile and callgrind on `bench/routing.py`): agents are
kept as mutable records, so a release or an assignment changes two fields instead of
building a frozen `AgentView` (views are built only when asked for, or for the policies
whose rank moves with time); every class always knows its head — its earliest work key,
which already ends with the item id — or holds `_EMPTY`, which sorts after every key, so
the pull loop is one comparison per class; and agents without blending or a total cap
(`plain`) get their free slots by one subtraction.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from jietong.routing.policies import (
    DEFAULT_AGING_SECONDS_PER_LEVEL,
    AgentPolicy,
    AgentView,
    Assignment,
    Rank,
    Snapshot,
    WorkItem,
    WorkKey,
    choose_agent,
    key_of_work,
    rank_is_stable,
    stable_rank,
)

ClassKey = tuple[str, str, tuple[tuple[str, int], ...], frozenset[str]]

_EMPTY: WorkKey = (math.inf, math.inf, "")
"""The head of a class without waiting items: after every real work key."""


@dataclass(slots=True)
class _Agent:
    """An agent as the matcher tracks it: `AgentView`'s fields, mutable, plus whether
    its free slots are plain capacity minus load (no blending, no total cap)."""

    agent_id: str
    skills: Mapping[str, int]
    idle_since: float
    capacity: dict[str, int]
    load: dict[str, int]
    max_total: int | None
    handled: int
    occupancy: float
    excludes: Mapping[str, Collection[str]]
    plain: bool
    version: int = 0  # bumped on every change: older entries in rank heaps are stale
    single: tuple[str, int] | None = None  # plain, one channel with slots: (channel, slots)
    by_channel: dict[str, list[_Class]] = field(default_factory=dict)  # its classes

    @classmethod
    def of(cls, view: AgentView) -> _Agent:
        plain = view.max_total is None and not view.excludes
        record = cls(
            view.agent_id,
            view.skills,
            view.idle_since,
            dict(view.capacity),
            dict(view.load),
            view.max_total,
            view.handled,
            view.occupancy,
            view.excludes,
            plain,
        )
        served = [(ch, cap) for ch, cap in record.capacity.items() if cap > 0]
        if plain and len(served) == 1:
            record.single = served[0]
        return record

    def view(self) -> AgentView:
        return AgentView(
            self.agent_id,
            self.skills,
            self.idle_since,
            dict(self.capacity),
            dict(self.load),
            self.max_total,
            self.handled,
            self.occupancy,
            self.excludes,
        )

    def free(self, channel: str) -> int:
        """`policies.free_capacity` of this agent's view."""
        load = self.load
        if self.excludes:
            for busy, count in load.items():
                if count > 0 and channel in self.excludes.get(busy, ()):
                    return 0
        free = self.capacity.get(channel, 0) - load.get(channel, 0)
        if self.max_total is not None:
            free = min(free, self.max_total - sum(load.values()))
        return free if free > 0 else 0

    def room(self) -> list[str]:
        """The channels on which the agent has a free slot."""
        if self.plain:
            load = self.load
            return [ch for ch, cap in self.capacity.items() if cap > load.get(ch, 0)]
        return [ch for ch in self.capacity if self.free(ch) > 0]

    def qualifies(self, required: Iterable[tuple[str, int]]) -> bool:
        skills = self.skills
        for skill, minimum in required:  # noqa: SIM110 (a loop: cheaper than all())
            if skills.get(skill, 0) < minimum:
                return False
        return True


@dataclass(slots=True)
class _Class:
    """Waiting items that are eligible for exactly the same agents."""

    key: ClassKey
    template: WorkItem
    policy: AgentPolicy
    stable: bool
    channel: str
    queue_id: str
    members: set[str] = field(default_factory=set)  # qualified, not excluded
    items: list[WorkKey] = field(default_factory=list)  # heap; the key ends with the id
    waiting: int = 0
    head: WorkKey = _EMPTY  # the earliest waiting item's key (always up to date)
    first: float = math.inf  # head[0], compared before the whole key
    ranked: list[tuple[Rank, int, str]] = field(default_factory=list)  # heap (stable)
    free: set[str] = field(default_factory=set)  # members with room (unstable)


class Matcher:
    """The routing state, indexed; `decide` returns `policies.match`'s assignments."""

    def __init__(
        self,
        *,
        policies: Mapping[str, AgentPolicy] | None = None,
        default_policy: AgentPolicy = AgentPolicy.LONGEST_IDLE,
        aging_seconds_per_level: float | None = DEFAULT_AGING_SECONDS_PER_LEVEL,
        rr_cursors: Mapping[str, str] | None = None,
    ) -> None:
        self._policies = dict(policies or {})
        self._default_policy = default_policy
        self._aging = aging_seconds_per_level
        self.cursors: dict[str, str] = dict(rr_cursors or {})
        self._agents: dict[str, _Agent] = {}
        self._retired: dict[str, int] = {}  # versions of removed agents, if they return
        self._agent_classes: dict[str, list[_Class]] = {}
        self._agents_by_skill: dict[str, set[str]] = {}
        self._items: dict[str, tuple[WorkItem, _Class, WorkKey]] = {}
        self._classes: dict[ClassKey, _Class] = {}
        self._classes_by_skill: dict[str, list[_Class]] = {}
        self._open_classes: list[_Class] = []  # classes without required skills
        self._by_queue: dict[
            tuple[str, str], list[tuple[Mapping[str, int], Collection[str], _Class]]
        ] = {}
        self._dirty_agents: set[str] = set()
        self._dirty_classes: dict[ClassKey, _Class] = {}

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> Matcher:
        matcher = cls(
            policies=snapshot.policies,
            default_policy=snapshot.default_policy,
            aging_seconds_per_level=snapshot.aging_seconds_per_level,
            rr_cursors=snapshot.rr_cursors,
        )
        for agent in snapshot.agents:
            matcher.put_agent(agent)
        for item in snapshot.items:
            matcher.put_item(item)
        return matcher

    # --- reading ---------------------------------------------------------------------

    def agent(self, agent_id: str) -> AgentView:
        return self._agents[agent_id].view()

    @property
    def agents(self) -> list[AgentView]:
        return [record.view() for record in self._agents.values()]

    @property
    def items(self) -> list[WorkItem]:
        return [item for item, _, _ in self._items.values()]

    def snapshot(self) -> Snapshot:
        """The current state as a `policies.Snapshot` (what `match` would be given)."""
        return Snapshot(
            agents=self.agents,
            items=self.items,
            policies=dict(self._policies),
            default_policy=self._default_policy,
            aging_seconds_per_level=self._aging,
            rr_cursors=dict(self.cursors),
        )

    # --- changes ---------------------------------------------------------------------

    def put_agent(self, view: AgentView) -> None:
        """Add an agent or replace what is known of it (load, skills, idle clock...)."""
        before = self._agents.get(view.agent_id)
        record = self._agents[view.agent_id] = _Agent.of(view)
        if before is None:
            record.version = self._retired.pop(view.agent_id, 0) + 1
        else:
            record.version = before.version + 1
            record.by_channel = before.by_channel
        if before is None or (before.skills is not view.skills and before.skills != view.skills):
            self._index_agent(view.agent_id, before)
        self._dirty_agents.add(view.agent_id)

    def release(self, agent_id: str, channel: str, now: float) -> None:
        """The agent finished one contact on ``channel``: one slot back, idle from now
        (`put_agent` with that view, without building it)."""
        record = self._agents[agent_id]
        load = record.load
        left = load.get(channel, 0) - 1
        load[channel] = left if left > 0 else 0
        record.idle_since = now
        record.version += 1
        self._dirty_agents.add(agent_id)

    def remove_agent(self, agent_id: str) -> None:
        record = self._agents.pop(agent_id, None)
        if record is None:
            return
        self._retired[agent_id] = record.version  # a returning agent continues from here
        for klass in self._agent_classes.pop(agent_id, []):
            klass.members.discard(agent_id)
            klass.free.discard(agent_id)
        for skill in record.skills:
            self._agents_by_skill.get(skill, set()).discard(agent_id)
        self._dirty_agents.discard(agent_id)

    def put_item(self, item: WorkItem) -> None:
        """Add a waiting item (an item already present is replaced)."""
        if item.item_id in self._items:
            self.remove_item(item.item_id)
        klass = self._class_of(item)
        key = key_of_work(item.priority, item.arrived_at, item.item_id, self._aging)
        self._items[item.item_id] = (item, klass, key)
        heapq.heappush(klass.items, key)
        klass.waiting += 1
        if key < klass.head:
            klass.head, klass.first = key, key[0]
        if klass.waiting == 1:
            # Behind other waiting items of its class it cannot be assigned (they could
            # not be); alone, it may find an agent.
            self._dirty_classes[klass.key] = klass

    def remove_item(self, item_id: str) -> None:
        found = self._items.pop(item_id, None)
        if found is not None:
            klass = found[1]
            klass.waiting -= 1
            if klass.head == found[2]:
                self._refresh_head(klass)

    # --- deciding ----------------------------------------------------------------------

    def decide(self, now: float) -> list[Assignment]:
        """`policies.match(self.snapshot(), now)`, applied to the agents' loads."""
        if not self._dirty_classes:
            dirty = self._dirty_agents
            if not dirty:
                return []
            if len(dirty) == 1:
                record = self._agents.get(dirty.pop())
                if record is not None and record.single is not None:
                    return self._pull_single(record, record.single, now, [])
                return [] if record is None else self._pull(record.agent_id, now)
        touched: dict[ClassKey, _Class] = dict(self._dirty_classes)
        for agent_id in sorted(self._dirty_agents):
            for klass in self._offer_agent(agent_id):
                touched[klass.key] = klass
        self._dirty_agents.clear()
        self._dirty_classes.clear()
        # Work keys are unique (they end with the item id), so the class never compares.
        frontier = [(k.head, order, k) for order, k in enumerate(touched.values())]
        frontier = [entry for entry in frontier if entry[0] is not _EMPTY]
        heapq.heapify(frontier)
        result: list[Assignment] = []
        while frontier:
            _, order, klass = heapq.heappop(frontier)
            if klass.head is _EMPTY:
                continue
            chosen = self._best_agent(klass, self._items[klass.head[2]][0])
            if chosen is None:
                continue  # no agent for the head: none for the rest of the class
            self._assign(klass, self._agents[chosen], now, result)
            self._offer_agent(chosen)
            if klass.head is not _EMPTY:
                heapq.heappush(frontier, (klass.head, order, klass))
        return result

    def _pull(self, agent_id: str, now: float) -> list[Assignment]:
        """One agent gained room, nothing else changed: it takes the earliest heads among
        its classes while it has room (nobody else is eligible for them). The hot path of
        a busy center, hence written out: no list of channels, and a class is passed over
        on the first component of its head's key unless that ties."""
        result: list[Assignment] = []
        record = self._agents.get(agent_id)
        if record is None:
            return result
        load = record.load
        if record.single is not None:
            return self._pull_single(record, record.single, now, result)
        by_channel = record.by_channel
        while True:
            roomy = False
            best = _EMPTY
            first = _EMPTY[0]
            best_class: _Class | None = None
            for channel, cap in record.capacity.items():
                if cap <= load.get(channel, 0) or not (record.plain or record.free(channel)):
                    continue
                roomy = True
                for klass in by_channel.get(channel, ()):
                    f = klass.first
                    # Mostly one float comparison: few classes beat the running minimum.
                    if f <= first and (f < first or klass.head < best):
                        best, first, best_class = klass.head, f, klass
            if not roomy:
                return result  # full: nothing to offer it anywhere
            if best_class is None:
                break
            self._assign(best_class, record, now, result)
        self._offer_agent(agent_id)
        return result

    def _pull_single(
        self, record: _Agent, single: tuple[str, int], now: float, result: list[Assignment]
    ) -> list[Assignment]:
        """`_pull` for the usual agent: one channel, no blending or total cap."""
        channel, slots = single
        load = record.load
        classes = record.by_channel.get(channel, ())
        while load.get(channel, 0) < slots:
            best = _EMPTY
            first = _EMPTY[0]
            best_class: _Class | None = None
            for klass in classes:
                f = klass.first
                if f <= first and (f < first or klass.head < best):
                    best, first, best_class = klass.head, f, klass
            if best_class is None:
                self._offer_agent(record.agent_id)
                return result
            self._assign(best_class, record, now, result)
        return result  # full: nothing to offer it anywhere

    def _assign(self, klass: _Class, record: _Agent, now: float, result: list[Assignment]) -> None:
        """Give the class's head to the agent, as `policies.match` does (one more load,
        idle clock reset)."""
        heap = klass.items
        items = self._items
        item_id = heapq.heappop(heap)[2]  # the head: the top of the heap is always valid
        del items[item_id]
        klass.waiting -= 1
        # The next head, in the common case (the top entry is current) without a call.
        if heap and (found := items.get(heap[0][2])) is not None and found[2] is heap[0]:
            klass.head = heap[0]
            klass.first = klass.head[0]
        else:
            self._refresh_head(klass)
        agent_id = record.agent_id
        # tuple.__new__: a NamedTuple's own constructor is Python code, a hot-path cost.
        result.append(tuple.__new__(Assignment, (item_id, agent_id)))
        self.cursors[klass.queue_id] = agent_id
        load = record.load
        load[klass.channel] = load.get(klass.channel, 0) + 1
        record.idle_since = now
        record.handled += 1
        record.version += 1

    def _refresh_head(self, klass: _Class) -> None:
        """Drop entries of removed or replaced items from the top of the class's heap
        and record its head."""
        heap = klass.items
        items = self._items
        while heap:
            key = heap[0]
            found = items.get(key[2])
            if found is not None and found[1] is klass and found[2] == key:
                klass.head, klass.first = key, key[0]
                return
            heapq.heappop(heap)
        klass.head, klass.first = _EMPTY, _EMPTY[0]

    def _best_agent(self, klass: _Class, item: WorkItem) -> str | None:
        channel = klass.channel
        agents = self._agents
        if not klass.stable:
            views = [agents[a].view() for a in klass.free if agents[a].free(channel) > 0]
            return choose_agent(klass.policy, item, views, self.cursors.get(item.queue_id))
        heap = klass.ranked
        while heap:
            _, version, agent_id = heap[0]
            record = agents.get(agent_id)
            if (
                record is not None
                and version == record.version
                and agent_id in klass.members
                and record.free(channel) > 0
            ):
                return agent_id
            heapq.heappop(heap)
        return None

    def _offer_agent(self, agent_id: str) -> list[_Class]:
        """Make the agent (current version) findable in every class it has room for;
        returns those classes."""
        record = self._agents.get(agent_id)
        if record is None:
            return []
        version = record.version
        offered: list[_Class] = []
        room = record.room()
        if not room:
            for klass in self._agent_classes.get(agent_id, ()):
                if not klass.stable:
                    klass.free.discard(agent_id)
            return offered
        for klass in self._agent_classes.get(agent_id, ()):
            if klass.channel not in room:
                if klass.free:
                    klass.free.discard(agent_id)
                continue
            offered.append(klass)
            if not klass.stable:
                klass.free.add(agent_id)
                continue
            rank = stable_rank(
                klass.policy, agent_id, record.skills, record.idle_since, klass.template
            )
            heapq.heappush(klass.ranked, (rank, version, agent_id))
            if len(klass.ranked) > 4 * len(klass.members) + 64:
                self._compact(klass)
        return offered

    def _compact(self, klass: _Class) -> None:
        agents = self._agents
        klass.ranked = [
            entry
            for entry in klass.ranked
            if entry[2] in agents and entry[1] == agents[entry[2]].version
        ]
        heapq.heapify(klass.ranked)

    # --- classes and the skill index ---------------------------------------------------

    def _class_of(self, item: WorkItem) -> _Class:
        # Items of a queue usually share their requirement objects: compare those first.
        known_here = self._by_queue.get((item.queue_id, item.channel), ())
        if known_here:
            required_skills, excluded_agents, known = known_here[0]
            if required_skills is item.required_skills and excluded_agents is item.excluded_agents:
                return known
        for required_skills, excluded_agents, known in known_here:
            if (
                required_skills is item.required_skills or required_skills == item.required_skills
            ) and (
                excluded_agents is item.excluded_agents or excluded_agents == item.excluded_agents
            ):
                return known
        required = tuple(sorted(item.required_skills.items()))
        excluded = frozenset(item.excluded_agents)
        key: ClassKey = (item.queue_id, item.channel, required, excluded)
        klass = self._classes.get(key)
        if klass is None:
            klass = self._new_class(key, item)
        self._by_queue.setdefault((item.queue_id, item.channel), []).append(
            (item.required_skills, item.excluded_agents, klass)
        )
        return klass

    def _new_class(self, key: ClassKey, item: WorkItem) -> _Class:
        policy = self._policies.get(item.queue_id, self._default_policy)
        template = WorkItem("", item.queue_id, item.channel, dict(key[2]))
        klass = _Class(key, template, policy, rank_is_stable(policy), item.channel, item.queue_id)
        self._classes[key] = klass
        required = key[2]
        if required:
            # Indexed under its rarest skill: an agent without it cannot qualify.
            rarest = min(
                (skill for skill, _ in required),
                key=lambda s: len(self._agents_by_skill.get(s, ())),
            )
            self._classes_by_skill.setdefault(rarest, []).append(klass)
            candidates: Iterable[str] = list(self._agents_by_skill.get(rarest, ()))
        else:
            self._open_classes.append(klass)
            candidates = list(self._agents)
        for agent_id in candidates:
            if self._qualifies(self._agents[agent_id], klass):
                self._join(agent_id, klass)
        return klass

    @staticmethod
    def _qualifies(record: _Agent, klass: _Class) -> bool:
        return record.agent_id not in klass.key[3] and record.qualifies(klass.key[2])

    def _join(self, agent_id: str, klass: _Class) -> None:
        self._member(agent_id, klass)
        record = self._agents[agent_id]
        if record.free(klass.channel) <= 0:
            return
        if klass.stable:
            rank = stable_rank(
                klass.policy, agent_id, record.skills, record.idle_since, klass.template
            )
            heapq.heappush(klass.ranked, (rank, record.version, agent_id))
        else:
            klass.free.add(agent_id)

    def _member(self, agent_id: str, klass: _Class) -> None:
        klass.members.add(agent_id)
        self._agent_classes.setdefault(agent_id, []).append(klass)
        by_channel = self._agents[agent_id].by_channel
        by_channel.setdefault(klass.channel, []).append(klass)

    def _index_agent(self, agent_id: str, before: _Agent | None) -> None:
        record = self._agents[agent_id]
        for klass in self._agent_classes.pop(agent_id, []):
            klass.members.discard(agent_id)
            klass.free.discard(agent_id)
        record.by_channel = {}
        if before is not None:
            for skill in before.skills:
                self._agents_by_skill.get(skill, set()).discard(agent_id)
        for skill in record.skills:
            self._agents_by_skill.setdefault(skill, set()).add(agent_id)
        seen: set[ClassKey] = set()
        groups = [self._open_classes, *(self._classes_by_skill.get(s, []) for s in record.skills)]
        for classes in groups:
            for klass in classes:
                if klass.key not in seen and self._qualifies(record, klass):
                    seen.add(klass.key)
                    self._member(agent_id, klass)
