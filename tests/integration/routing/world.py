"""A small contact center on a real database, with a hand-driven clock, for routing tests.

Everything goes through the public service functions (org, interactions, routing), and
the engine runs one cycle when the test says so, at the world's current time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from jietong.agents.model import AgentState, NotReadyReason, TeamRules
from jietong.app.platform import Platform
from jietong.core.ids import new_id
from jietong.core.tenancy import Actor, Role, system_actor
from jietong.identity import service as identity_service
from jietong.identity.model import VipTier
from jietong.identity.schemas import CustomerCreate
from jietong.interactions import service as interactions
from jietong.interactions.model import Channel
from jietong.interactions.schemas import InteractionCreate
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate, RoutingPolicy, SkillCreate, TeamCreate
from jietong.routing import configuration, offers, presence
from jietong.routing.engine import CycleReport, run_cycle
from jietong.routing.model import QueueSettings
from jietong.storage.tables import InteractionRow, TeamMemberRow, UserRow
from jietong.storage.tables_routing import AgentPresenceRow, RoutingEntryRow, RoutingOfferRow
from jietong.storage.uow import UnitOfWork
from tests.conftest import make_tenant

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai


@dataclass
class World:
    platform: Platform
    slug: str = "routing"
    now: datetime = T0
    skills: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    agents: dict[str, Actor] = field(default_factory=dict)
    teams: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tenant = make_tenant(self.platform, self.slug)
        self.org_id = tenant.org_id
        self.admin = tenant.admin
        self.team_id = tenant.team_id
        self.system = system_actor(self.org_id)

    # --- time and the engine ---------------------------------------------------------

    def uow(self, at: datetime | None = None) -> UnitOfWork:
        return UnitOfWork(
            self.platform.sessions,
            at or self.now,
            after_commit=self.platform.events_pending.set,
        )

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def cycle(self) -> CycleReport:
        return run_cycle(self.uow, self.org_id, now=self.now)

    # --- organisation ----------------------------------------------------------------

    def skill(self, name: str) -> str:
        if name not in self.skills:
            with self.uow() as uow:
                self.skills[name] = org_service.create_skill(
                    uow, self.system, SkillCreate(name=name)
                ).id
        return self.skills[name]

    def team(self, name: str, rules: TeamRules | None = None) -> str:
        if name not in self.teams:
            with self.uow() as uow:
                self.teams[name] = org_service.create_team(
                    uow, self.system, TeamCreate(name=name)
                ).id
        if rules is not None:
            with self.uow() as uow:
                configuration.set_team_rules(uow, self.admin, self.teams[name], rules, now=self.now)
        return self.teams[name]

    def queue(
        self,
        name: str,
        *,
        channels: tuple[str, ...] = ("call", "chat", "email"),
        skills: dict[str, int] | None = None,
        policy: RoutingPolicy = RoutingPolicy.LONGEST_IDLE,
        priority: int = 0,
        settings: QueueSettings | None = None,
    ) -> str:
        required = {self.skill(s): lvl for s, lvl in (skills or {}).items()}
        with self.uow() as uow:
            queue = org_service.create_queue(
                uow,
                self.system,
                QueueCreate(
                    name=name,
                    channels=list(channels),
                    team_id=self.team_id,
                    policy=policy,
                    priority=priority,
                    required_skills=required,
                ),
            )
        self.queues[name] = queue.id
        if settings is not None:
            self.configure(name, settings)
        return queue.id

    def configure(self, queue: str, settings: QueueSettings) -> None:
        with self.uow() as uow:
            configuration.set_queue_settings(
                uow, self.admin, self.queues[queue], settings, now=self.now
            )

    def agent(
        self,
        name: str,
        skills: dict[str, int] | None = None,
        *,
        teams: tuple[str, ...] = (),
        role: Role = Role.AGENT,
    ) -> Actor:
        team_ids = [self.team_id, *(self.teams[t] for t in teams)]
        actor = self._user(name, role, team_ids)
        if skills:
            with self.uow() as uow:
                org_service.set_user_skills(
                    uow,
                    self.system,
                    actor.user_id,
                    {self.skill(s): lvl for s, lvl in skills.items()},
                )
        self.agents[name] = actor
        return actor

    def _user(self, name: str, role: Role, team_ids: list[str]) -> Actor:
        """A user row without a password (no login needed here; argon2 is slow)."""
        user_id = new_id()
        with self.uow() as uow:
            uow.session.add(
                UserRow(
                    id=user_id,
                    org_id=self.org_id,
                    username=f"{self.slug}-{name}-{user_id[-6:]}",
                    display_name=name,
                    role=role.value,
                    active=True,
                    created_at=self.now,
                    updated_at=self.now,
                )
            )
            uow.session.flush()
            for team_id in team_ids:
                uow.session.add(TeamMemberRow(team_id=team_id, user_id=user_id, org_id=self.org_id))
            uow.session.commit()
        return Actor(self.org_id, user_id, role, frozenset(team_ids))

    def customer(self, name: str, tier: VipTier = VipTier.NONE) -> str:
        with self.uow() as uow:
            view = identity_service.create_customer(
                uow,
                self.system,
                CustomerCreate(display_name=name, vip_tier=tier),
                default_region="CN",
            )
        return view.customer.id

    # --- work ------------------------------------------------------------------------

    def arrive(self, queue: str, channel: str = "call", *, customer_id: str | None = None) -> str:
        """A contact arrives and is queued (as the channel intake would do)."""
        with self.uow() as uow:
            view = interactions.create_interaction(
                uow,
                self.system,
                InteractionCreate(
                    channel=Channel(channel), queue_id=self.queues[queue], customer_id=customer_id
                ),
            )
        iid = view.interaction.id
        self.fire(iid, "enqueue")
        return iid

    def fire(self, iid: str, trigger: str, actor: Actor | None = None) -> None:
        with self.uow() as uow:
            interactions.transition_interaction(uow, actor or self.system, iid, trigger)

    # --- agents ----------------------------------------------------------------------

    def set_state(
        self, name: str, state: AgentState, reason: NotReadyReason | None = None
    ) -> presence.PresenceView:
        actor = self.agents[name]
        with self.uow() as uow:
            return presence.set_presence(
                uow, actor, actor.user_id, state, reason=reason, now=self.now
            )

    def login(self, *names: str) -> None:
        for name in names:
            self.set_state(name, AgentState.AVAILABLE)

    def offer_of(self, name: str) -> RoutingOfferRow | None:
        with self.uow() as uow:
            found = offers.list_my_offers(uow, self.agents[name])
        return found[0].offer if found else None

    def accept(self, name: str) -> str:
        offer = self.offer_of(name)
        assert offer is not None, f"{name} has no offer"
        with self.uow() as uow:
            offers.accept_offer(uow, self.agents[name], offer.id, now=self.now)
        return offer.interaction_id

    def decline(self, name: str) -> str:
        offer = self.offer_of(name)
        assert offer is not None, f"{name} has no offer"
        with self.uow() as uow:
            offers.decline_offer(uow, self.agents[name], offer.id, now=self.now)
        return offer.interaction_id

    def finish(self, name: str, iid: str) -> None:
        """The agent ends the conversation and closes the wrap-up."""
        self.fire(iid, "end", self.agents[name])
        self.fire(iid, "close", self.agents[name])

    # --- reading ---------------------------------------------------------------------

    def state_of(self, name: str) -> str:
        with self.uow() as uow:
            row = uow.session.get(AgentPresenceRow, self.agents[name].user_id)
            return "offline" if row is None else row.state

    def presence_of(self, name: str) -> AgentPresenceRow:
        with self.uow() as uow:
            row = uow.session.get(AgentPresenceRow, self.agents[name].user_id)
            assert row is not None
            return row

    def interaction(self, iid: str) -> InteractionRow:
        with self.uow() as uow:
            row = uow.session.get(InteractionRow, iid)
            assert row is not None
            return row

    def entry(self, iid: str) -> RoutingEntryRow:
        with self.uow() as uow:
            row = uow.session.scalar(
                select(RoutingEntryRow).where(RoutingEntryRow.interaction_id == iid)
            )
            assert row is not None
            return row

    def name_of(self, user_id: str | None) -> str | None:
        for name, actor in self.agents.items():
            if actor.user_id == user_id:
                return name
        return None

    def offered_to(self, iid: str) -> str | None:
        row = self.interaction(iid)
        return self.name_of(row.assigned_user_id) if row.state == "offered" else None
