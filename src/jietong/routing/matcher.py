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
"""

from __future__ import annotations

import heapq
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
    free_capacity,
    qualified,
    rank_is_stable,
    stable_rank,
    work_key,
)

ClassKey = tuple[str, str, tuple[tuple[str, int], ...], frozenset[str]]
Head = tuple[WorkKey, int, str]
"""A class's earliest waiting item: (work key, 0, item id)."""


@dataclass(slots=True)
class _Class:
    """Waiting items that are eligible for exactly the same agents."""

    key: ClassKey
    template: WorkItem
    policy: AgentPolicy
    stable: bool
    channel: str
    members: set[str] = field(default_factory=set)  # qualified, not excluded
    items: list[tuple[WorkKey, str]] = field(default_factory=list)  # heap
    waiting: int = 0
    head: tuple[WorkKey, str] | None = None  # the earliest waiting item, None: unknown
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
        self._agents: dict[str, AgentView] = {}
        self._version: dict[str, int] = {}
        self._agent_classes: dict[str, list[_Class]] = {}
        self._agent_channels: dict[str, dict[str, list[_Class]]] = {}  # same, by channel
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
        return self._agents[agent_id]

    @property
    def agents(self) -> list[AgentView]:
        return list(self._agents.values())

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
        self._agents[view.agent_id] = view
        self._version[view.agent_id] = self._version.get(view.agent_id, 0) + 1
        if before is None or (before.skills is not view.skills and before.skills != view.skills):
            self._index_agent(view, before)
        self._dirty_agents.add(view.agent_id)

    def release(self, agent_id: str, channel: str, now: float) -> None:
        """The agent finished one contact on ``channel``: one slot back, idle from now
        (`put_agent` with that view, without building it)."""
        v = self._agents[agent_id]
        load = dict(v.load)
        load[channel] = max(load.get(channel, 0) - 1, 0)
        self._agents[agent_id] = AgentView(
            v.agent_id,
            v.skills,
            now,
            v.capacity,
            load,
            v.max_total,
            v.handled,
            v.occupancy,
            v.excludes,
        )
        self._version[agent_id] += 1
        self._dirty_agents.add(agent_id)

    def remove_agent(self, agent_id: str) -> None:
        view = self._agents.pop(agent_id, None)
        if view is None:
            return
        self._version[agent_id] = self._version.get(agent_id, 0) + 1  # stale heap entries
        for klass in self._agent_classes.pop(agent_id, []):
            klass.members.discard(agent_id)
            klass.free.discard(agent_id)
        self._agent_channels.pop(agent_id, None)
        for skill in view.skills:
            self._agents_by_skill.get(skill, set()).discard(agent_id)
        self._dirty_agents.discard(agent_id)

    def put_item(self, item: WorkItem) -> None:
        """Add a waiting item (an item already present is replaced)."""
        if item.item_id in self._items:
            self.remove_item(item.item_id)
        klass = self._class_of(item)
        key = work_key(item, self._aging)
        self._items[item.item_id] = (item, klass, key)
        heapq.heappush(klass.items, (key, item.item_id))
        klass.waiting += 1
        head = klass.head
        if klass.waiting == 1 or (head is not None and key < head[0]):
            klass.head = (key, item.item_id)
        if klass.waiting == 1:
            # Behind other waiting items of its class it cannot be assigned (they could
            # not be); alone, it may find an agent.
            self._dirty_classes[klass.key] = klass

    def remove_item(self, item_id: str) -> None:
        found = self._items.pop(item_id, None)
        if found is not None:
            klass = found[1]
            klass.waiting -= 1
            if klass.head is not None and klass.head[1] == item_id:
                klass.head = None

    # --- deciding ----------------------------------------------------------------------

    def decide(self, now: float) -> list[Assignment]:
        """`policies.match(self.snapshot(), now)`, applied to the agents' loads."""
        if not self._dirty_classes:
            if not self._dirty_agents:
                return []
            if len(self._dirty_agents) == 1:
                return self._pull(next(iter(self._dirty_agents)), now)
        frontier: list[tuple[Head, int, _Class]] = []
        touched: dict[ClassKey, _Class] = dict(self._dirty_classes)
        for agent_id in sorted(self._dirty_agents):
            for klass in self._offer_agent(agent_id):
                touched[klass.key] = klass
        self._dirty_agents.clear()
        self._dirty_classes.clear()
        for order, klass in enumerate(touched.values()):
            head = self._head(klass)
            if head is not None:
                frontier.append((head, order, klass))
        heapq.heapify(frontier)
        result: list[Assignment] = []
        while frontier:
            _, order, klass = heapq.heappop(frontier)
            head = self._head(klass)
            if head is None:
                continue
            item_id = head[2]
            chosen = self._best_agent(klass, self._items[item_id][0])
            if chosen is None:
                continue  # no agent for the head: none for the rest of the class
            self._assign(klass, item_id, chosen, now, result)
            following = self._head(klass)
            if following is not None:
                heapq.heappush(frontier, (following, order, klass))
        return result

    def _pull(self, agent_id: str, now: float) -> list[Assignment]:
        """One agent gained room, nothing else changed: it takes the earliest heads among
        its classes while it has room (nobody else is eligible for them). The hot path of
        a busy center, hence written out."""
        self._dirty_agents.clear()
        result: list[Assignment] = []
        by_channel = self._agent_channels.get(agent_id, {})
        while agent_id in self._agents:
            room = self._room(self._agents[agent_id])
            if not room:
                return result  # full: nothing to offer it anywhere
            best_key: WorkKey | None = None
            best_class: _Class | None = None
            best_item = ""
            for channel in room:
                for klass in by_channel.get(channel, ()):
                    if klass.waiting <= 0:
                        continue
                    head = klass.head
                    if head is None:
                        found = self._head(klass)
                        if found is None:
                            continue
                        head = (found[0], found[2])
                    if best_key is None or head[0] < best_key:
                        best_key, best_class, best_item = head[0], klass, head[1]
            if best_class is None:
                break
            self._assign(best_class, best_item, agent_id, now, result, offer=False)
        self._offer_agent(agent_id)
        return result

    @staticmethod
    def _room(view: AgentView) -> set[str]:
        """The channels on which the agent has a free slot."""
        return {ch for ch in view.capacity if free_capacity(view, ch) > 0}

    def _assign(
        self,
        klass: _Class,
        item_id: str,
        agent_id: str,
        now: float,
        result: list[Assignment],
        *,
        offer: bool = True,
    ) -> None:
        """Give the class's head to the agent, as `policies.match` does (one more load,
        idle clock reset); ``offer`` re-indexes the agent at once."""
        item, _, _ = self._items.pop(item_id)
        heapq.heappop(klass.items)  # the head's entry (or a stale one above it: harmless)
        klass.waiting -= 1
        klass.head = None
        result.append(Assignment(item_id, agent_id))
        self.cursors[item.queue_id] = agent_id
        v = self._agents[agent_id]
        load = dict(v.load)
        load[item.channel] = load.get(item.channel, 0) + 1
        self._agents[agent_id] = AgentView(
            v.agent_id,
            v.skills,
            now,
            v.capacity,
            load,
            v.max_total,
            v.handled + 1,
            v.occupancy,
            v.excludes,
        )
        self._version[agent_id] += 1
        if offer:
            self._offer_agent(agent_id)

    def _head(self, klass: _Class) -> Head | None:
        """The class's earliest waiting item as (key, 0, id); entries of removed or
        replaced items are dropped."""
        if klass.head is not None:
            return (klass.head[0], 0, klass.head[1])
        heap = klass.items
        while heap:
            key, item_id = heap[0]
            found = self._items.get(item_id)
            if found is not None and found[1] is klass and found[2] == key:
                klass.head = (key, item_id)
                return (key, 0, item_id)
            heapq.heappop(heap)
        return None

    def _best_agent(self, klass: _Class, item: WorkItem) -> str | None:
        channel = klass.channel
        if not klass.stable:
            views = [
                self._agents[a] for a in klass.free if free_capacity(self._agents[a], channel) > 0
            ]
            return choose_agent(klass.policy, item, views, self.cursors.get(item.queue_id))
        heap = klass.ranked
        while heap:
            _, version, agent_id = heap[0]
            current = version == self._version.get(agent_id) and agent_id in klass.members
            if current and free_capacity(self._agents[agent_id], channel) > 0:
                return agent_id
            heapq.heappop(heap)
        return None

    def _offer_agent(self, agent_id: str) -> list[_Class]:
        """Make the agent (current version) findable in every class it has room for;
        returns those classes."""
        view = self._agents.get(agent_id)
        if view is None:
            return []
        version = self._version[agent_id]
        offered: list[_Class] = []
        room = self._room(view)
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
            rank = stable_rank(klass.policy, agent_id, view.skills, view.idle_since, klass.template)
            heapq.heappush(klass.ranked, (rank, version, agent_id))
            if len(klass.ranked) > 4 * len(klass.members) + 64:
                self._compact(klass)
        return offered

    def _compact(self, klass: _Class) -> None:
        klass.ranked = [entry for entry in klass.ranked if entry[1] == self._version.get(entry[2])]
        heapq.heapify(klass.ranked)

    # --- classes and the skill index ---------------------------------------------------

    def _class_of(self, item: WorkItem) -> _Class:
        # Items of a queue usually share their requirement objects: compare those first.
        for required_skills, excluded_agents, known in self._by_queue.get(
            (item.queue_id, item.channel), ()
        ):
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
        klass = _Class(key, template, policy, rank_is_stable(policy), item.channel)
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

    def _qualifies(self, view: AgentView, klass: _Class) -> bool:
        return view.agent_id not in klass.key[3] and qualified(view, klass.template)

    def _join(self, agent_id: str, klass: _Class) -> None:
        self._member(agent_id, klass)
        view = self._agents[agent_id]
        if free_capacity(view, klass.channel) <= 0:
            return
        if klass.stable:
            rank = stable_rank(klass.policy, agent_id, view.skills, view.idle_since, klass.template)
            heapq.heappush(klass.ranked, (rank, self._version[agent_id], agent_id))
        else:
            klass.free.add(agent_id)

    def _member(self, agent_id: str, klass: _Class) -> None:
        klass.members.add(agent_id)
        self._agent_classes.setdefault(agent_id, []).append(klass)
        by_channel = self._agent_channels.setdefault(agent_id, {})
        by_channel.setdefault(klass.channel, []).append(klass)

    def _index_agent(self, view: AgentView, before: AgentView | None) -> None:
        agent_id = view.agent_id
        for klass in self._agent_classes.pop(agent_id, []):
            klass.members.discard(agent_id)
            klass.free.discard(agent_id)
        self._agent_channels.pop(agent_id, None)
        if before is not None:
            for skill in before.skills:
                self._agents_by_skill.get(skill, set()).discard(agent_id)
        for skill in view.skills:
            self._agents_by_skill.setdefault(skill, set()).add(agent_id)
        seen: set[ClassKey] = set()
        groups = [self._open_classes, *(self._classes_by_skill.get(s, []) for s in view.skills)]
        for classes in groups:
            for klass in classes:
                if klass.key not in seen and self._qualifies(view, klass):
                    seen.add(klass.key)
                    self._member(agent_id, klass)
