"""Routing invariants as hypothesis state-machine tests over random event sequences:
arrivals (any channel, any VIP tier), agents logging in, pausing, coming back, logging
out, accepting, declining, letting offers ring out, finishing work, customers hanging up,
and time passing. The real services and engine run on a real database (SQLite on tmpfs,
so that fsync does not dominate); after every event one engine cycle runs and these hold:

1. No interaction waits while an eligible agent with a free slot is available: after one
   routing decision `policies.match` finds nothing more to assign.
2. No interaction is offered to two agents at once; every offered interaction has exactly
   one pending offer, to the agent it is assigned to; an agent has at most one offer.
3. No agent is over capacity, and blending holds (a call never shares with other work).
4. Nothing is lost or duplicated: one entry per interaction, in the state its interaction
   implies (queued=waiting, offered=offered, answered=served, abandoned=removed).
5. Priority and aging order: an agent offered an item was not eligible for any item that
   waits ahead of it (smaller `work_key`) and is still waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from jietong.agents.model import DEFAULT_EXCLUDES, AgentState, NotReadyReason, TeamRules
from jietong.app.platform import Platform, build_platform
from jietong.app.settings import Settings
from jietong.core.errors import JietongError
from jietong.core.ids import new_id
from jietong.core.tenancy import Actor, Role, system_actor
from jietong.identity.model import VipTier
from jietong.interactions import service as interactions
from jietong.interactions.model import Channel
from jietong.interactions.schemas import InteractionCreate
from jietong.routing import offers, presence
from jietong.routing.configuration import settings_of_org
from jietong.routing.engine import decide, expire_due_offers
from jietong.routing.entries import apply_timers, sync_entries
from jietong.routing.policies import eligible, match, work_key
from jietong.routing.presence import settle_agents
from jietong.routing.snapshot import AGING_SECONDS_PER_LEVEL, build_state
from jietong.storage.migrate import upgrade
from jietong.storage.tables import (
    CustomerRow,
    InteractionRow,
    OrganisationRow,
    QueueRow,
    SkillRow,
    TeamMemberRow,
    TeamRow,
    UserRow,
    UserSkillRow,
)
from jietong.storage.tables_routing import (
    AgentPresenceRow,
    RoutingEntryRow,
    RoutingOfferRow,
    TeamRoutingRow,
)
from jietong.storage.uow import UnitOfWork
from tests.integration.routing.world import T0

AGENTS = ("ann", "bo", "cy")
SKILLS = {"ann": {"en": 8, "zh": 5}, "bo": {"zh": 9}, "cy": {"en": 3, "zh": 3}}
QUEUES = {"general": {}, "english": {"en": 5}, "mandarin": {"zh": 4}}
RULES = TeamRules(
    capacity={"call": 1, "chat": 2, "email": 2},
    excludes={k: v for k, v in DEFAULT_EXCLUDES.items() if k in ("call", "chat", "email")},
    wrap_up_seconds=30,
    max_missed_offers=2,
)
EXPECTED_ENTRY = {
    "queued": "waiting",
    "offered": "offered",
    "connected": "served",
    "wrap_up": "served",
    "closed": "served",
    "abandoned": "removed",
}


@pytest.fixture(scope="module")
def fast_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    shm = Path("/dev/shm")
    folder = shm if shm.is_dir() else tmp_path_factory.mktemp("db")
    path = folder / f"jt-invariants-{new_id()}.db"
    platform = build_platform(
        Settings(
            data_dir=tmp_path_factory.mktemp("data"),
            database_url=f"sqlite:///{path}",
            outbox_relay_enabled=False,
        )
    )
    platform.routing = None
    upgrade(platform.engine)
    yield platform
    platform.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


class Centre:
    """One fresh organisation per example, inserted row by row (no password hashing)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.now = T0
        self.org_id = new_id()
        self.system = system_actor(self.org_id)
        self.agents: dict[str, Actor] = {}
        self.queues: dict[str, str] = {}
        self.customers: dict[VipTier, str] = {}
        self.interactions: list[str] = []
        with self.uow() as uow:
            self._insert(uow)
            uow.session.commit()

    def _insert(self, uow: UnitOfWork) -> None:
        s, now, org = uow.session, self.now, self.org_id
        s.add(OrganisationRow(id=org, slug=f"p{org[-12:]}", name="P", created_at=now))
        s.flush()
        team = new_id()
        s.add(TeamRow(id=team, org_id=org, name="t", kind="team", created_at=now))
        s.add(TeamRoutingRow(team_id=team, org_id=org, rules=RULES.model_dump(), updated_at=now))
        skills = {name: new_id() for name in ("en", "zh")}
        for name, sid in skills.items():
            s.add(SkillRow(id=sid, org_id=org, name=name, kind="language", created_at=now))
        s.flush()
        for name in AGENTS:
            uid = new_id()
            s.add(
                UserRow(
                    id=uid,
                    org_id=org,
                    username=f"{name}-{uid}",
                    display_name=name,
                    role="agent",
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
            )
            s.flush()
            s.add(TeamMemberRow(team_id=team, user_id=uid, org_id=org))
            for skill, level in SKILLS[name].items():
                s.add(UserSkillRow(user_id=uid, skill_id=skills[skill], org_id=org, level=level))
            self.agents[name] = Actor(org, uid, Role.AGENT, frozenset({team}))
        for name, required in QUEUES.items():
            qid = new_id()
            s.add(
                QueueRow(
                    id=qid,
                    org_id=org,
                    name=name,
                    channels=["call", "chat", "email"],
                    team_id=team,
                    policy="longest_idle",
                    priority=0,
                    required_skills={skills[k]: v for k, v in required.items()},
                    target_service_level=0.8,
                    target_answer_seconds=20,
                    created_at=now,
                )
            )
            self.queues[name] = qid
        for tier in VipTier:
            cid = new_id()
            s.add(
                CustomerRow(
                    id=cid,
                    org_id=org,
                    display_name=tier.value,
                    vip_tier=tier.value,
                    tags=[],
                    attributes={},
                    created_at=now,
                    updated_at=now,
                )
            )
            self.customers[tier] = cid

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.platform.sessions, self.now)

    def attempt(self, fn: object, *args: object, **kwargs: object) -> None:
        """Run a service call; domain refusals (illegal now) are part of the game."""
        try:
            with self.uow() as uow:
                fn(uow, *args, **kwargs)  # type: ignore[operator]
        except JietongError:
            pass

    def rows(self, row: type, **where: object) -> list:  # type: ignore[type-arg]
        with self.uow() as uow:
            query: Any = select(row).where(row.org_id == self.org_id)  # type: ignore[attr-defined]
            for key, value in where.items():
                query = query.where(getattr(row, key) == value)
            return list(uow.session.scalars(query))


class RoutingMachine(RuleBasedStateMachine):
    platform: Platform

    def __init__(self) -> None:
        super().__init__()
        self.c = Centre(self.platform)

    # --- events --------------------------------------------------------------------------

    @rule(
        queue=st.sampled_from(sorted(QUEUES)),
        channel=st.sampled_from(["call", "chat", "email"]),
        tier=st.sampled_from(list(VipTier)),
        count=st.integers(min_value=1, max_value=3),
    )
    def arrive(self, queue: str, channel: str, tier: VipTier, count: int) -> None:
        for _ in range(count):  # a burst: one decision for several contacts
            with self.c.uow() as uow:
                view = interactions.create_interaction(
                    uow,
                    self.c.system,
                    InteractionCreate(
                        channel=Channel(channel),
                        queue_id=self.c.queues[queue],
                        customer_id=self.c.customers[tier],
                    ),
                )
            iid = view.interaction.id
            self.c.interactions.append(iid)
            self.c.attempt(interactions.transition_interaction, self.c.system, iid, "enqueue")
        self.cycle()

    @rule(
        agents=st.sets(st.sampled_from(AGENTS), min_size=1),
        state=st.sampled_from([AgentState.AVAILABLE, AgentState.NOT_READY, AgentState.OFFLINE]),
    )
    def change_state(self, agents: set[str], state: AgentState) -> None:
        reason = NotReadyReason.BREAK if state is AgentState.NOT_READY else None
        for agent in sorted(agents):  # together: one decision for several agents
            actor = self.c.agents[agent]
            self.c.attempt(
                presence.set_presence, actor, actor.user_id, state, reason=reason, now=self.c.now
            )
        self.cycle()

    @rule(agent=st.sampled_from(AGENTS), accept=st.booleans())
    def answer(self, agent: str, accept: bool) -> None:
        actor = self.c.agents[agent]
        pending = self.c.rows(RoutingOfferRow, agent_id=actor.user_id, state="pending")
        if not pending:
            return
        action = offers.accept_offer if accept else offers.decline_offer
        self.c.attempt(action, actor, pending[0].id, now=self.c.now)
        self.cycle()

    @rule(agent=st.sampled_from(AGENTS), close=st.booleans())
    def finish(self, agent: str, close: bool) -> None:
        actor = self.c.agents[agent]
        for row in self.c.rows(InteractionRow, assigned_user_id=actor.user_id):
            if row.state == "connected":
                self.c.attempt(interactions.transition_interaction, actor, row.id, "end")
                if close:
                    self.c.attempt(interactions.transition_interaction, actor, row.id, "close")
                break
        self.cycle()

    @rule(pick=st.integers(min_value=0, max_value=50))
    def hang_up(self, pick: int) -> None:
        waiting = [r for r in self.c.rows(InteractionRow) if r.state in ("queued", "offered")]
        if waiting:
            row = waiting[pick % len(waiting)]
            self.c.attempt(interactions.transition_interaction, self.c.system, row.id, "abandon")
        self.cycle()

    @rule(seconds=st.sampled_from([1, 7, 21, 45]))
    def time_passes(self, seconds: int) -> None:
        self.c.now += timedelta(seconds=seconds)
        self.cycle()

    # --- one engine cycle, with the priority-order check around its decision ---------------

    def cycle(self) -> None:
        c, now = self.c, self.c.now
        with c.uow() as uow:
            queue_settings = settings_of_org(uow, c.org_id)
            uow.session.rollback()
            expire_due_offers(uow, c.org_id, now=now)
            sync_entries(uow, c.org_id, queue_settings, now=now)
            settle_agents(uow, c.org_id, now=now)
            apply_timers(uow, c.org_id, queue_settings, now=now)
            before = build_state(uow, c.org_id, queue_settings, now=now)
            uow.session.rollback()
            decide(uow, c.org_id, queue_settings, now=now)
        self.check_order(before)

    def check_order(self, before: object) -> None:
        """Invariant 5, on the snapshot the decision was made from."""
        snapshot = before.snapshot  # type: ignore[attr-defined]
        made = {
            o.entry_id: o.agent_id
            for o in self.c.rows(RoutingOfferRow, state="pending")
            if o.created_at == self.c.now
        }
        still = {e.id for e in self.c.rows(RoutingEntryRow, state="waiting")}
        agents = {a.agent_id: a for a in snapshot.agents}
        items = {i.item_id: i for i in snapshot.items}
        for entry_id, agent_id in made.items():
            if entry_id not in items or agent_id not in agents:
                continue
            key = work_key(items[entry_id], AGING_SECONDS_PER_LEVEL)
            for other in snapshot.items:
                if other.item_id in still and work_key(other, AGING_SECONDS_PER_LEVEL) < key:
                    assert not eligible(agents[agent_id], other), (
                        f"{agent_id} got {entry_id} while {other.item_id} waited ahead"
                    )

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def nobody_waits_beside_a_free_agent(self) -> None:
        with self.c.uow() as uow:
            state = build_state(
                uow, self.c.org_id, settings_of_org(uow, self.c.org_id), now=self.c.now
            )
        leftovers = match(state.snapshot, self.c.now.timestamp())
        assert leftovers == [], f"assignable after a decision: {leftovers}"

    @invariant()
    def one_offer_at_a_time(self) -> None:
        pending = self.c.rows(RoutingOfferRow, state="pending")
        assert len({o.interaction_id for o in pending}) == len(pending)
        assert len({o.agent_id for o in pending}) == len(pending)
        by_interaction = {o.interaction_id: o.agent_id for o in pending}
        for row in self.c.rows(InteractionRow):
            if row.state == "offered":
                assert by_interaction.get(row.id) == row.assigned_user_id, row.id

    @invariant()
    def no_agent_over_capacity(self) -> None:
        loads: dict[str, dict[str, int]] = {}
        for row in self.c.rows(InteractionRow):
            if row.state in ("offered", "connected", "wrap_up") and row.assigned_user_id:
                load = loads.setdefault(row.assigned_user_id, {})
                load[row.channel] = load.get(row.channel, 0) + 1
        for load in loads.values():
            for channel, count in load.items():
                assert count <= RULES.capacity[channel], load
            if load.get("call"):
                assert set(load) == {"call"}, f"a call shares the agent with {load}"

    @invariant()
    def nothing_lost_or_duplicated(self) -> None:
        entries = self.c.rows(RoutingEntryRow)
        by_interaction = {e.interaction_id: e for e in entries}
        assert len(by_interaction) == len(entries)
        for row in self.c.rows(InteractionRow):
            entry = by_interaction.get(row.id)
            assert entry is not None, f"{row.id} ({row.state}) has no entry"
            assert entry.state == EXPECTED_ENTRY[row.state], (row.state, entry.state)
        assert len(self.c.rows(InteractionRow)) == len(self.c.interactions)

    @invariant()
    def agents_state_follows_work(self) -> None:
        for row in self.c.rows(AgentPresenceRow):
            pending = self.c.rows(RoutingOfferRow, agent_id=row.user_id, state="pending")
            if row.state == "ringing":
                assert pending, "ringing without an offer"


def test_routing_invariants_hold_over_random_event_sequences(fast_platform: Platform) -> None:
    RoutingMachine.platform = fast_platform
    run_state_machine_as_test(
        RoutingMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        ),
    )
