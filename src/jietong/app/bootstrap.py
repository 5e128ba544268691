"""Preparing a platform to serve: migrations, and the demo organisation."""

from __future__ import annotations

from dataclasses import dataclass

from jietong.app.demo_history import add_demo_history
from jietong.app.email_runtime import add_demo_email_account
from jietong.app.platform import Platform
from jietong.app.secrets_at_rest import seal_plaintext
from jietong.channels.webchat.demo import add_demo_widget
from jietong.core.tenancy import Actor, Role, system_actor
from jietong.identity import service as identity_service
from jietong.identity.contact_points import ContactKind
from jietong.identity.model import VipTier
from jietong.identity.schemas import ContactPointIn, CustomerCreate
from jietong.org import service as org_service
from jietong.org.schemas import (
    QueueCreate,
    SkillCreate,
    SkillKind,
    TeamCreate,
    TeamKind,
    UserCreate,
)
from jietong.storage.migrate import upgrade

DEMO_SLUG = "demo"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: Role


DEMO_LOGINS = (
    DemoLogin("admin", "demo-admin-2026", Role.ADMIN),
    DemoLogin("supervisor", "demo-super-2026", Role.SUPERVISOR),
    DemoLogin("agent1", "demo-agent1-2026", Role.AGENT),
    DemoLogin("agent2", "demo-agent2-2026", Role.AGENT),
    DemoLogin("repair", "demo-repair-2026", Role.BACK_OFFICE),
)

# Skill levels (1..10) of the demo logins, by skill name.
DEMO_SKILLS: dict[str, dict[str, int]] = {
    "supervisor": {"普通话 Mandarin": 8, "English": 8, "billing": 8},
    "agent1": {"普通话 Mandarin": 9, "English": 6, "billing": 7},
    "agent2": {"普通话 Mandarin": 7, "English": 8},
    "repair": {"普通话 Mandarin": 6, "repair": 9},
}


def migrate(platform: Platform) -> None:
    """Bring the schema up to date, then seal any secret still stored in plaintext
    (written before secrets were sealed, ADR 0016); both are no-ops the second time."""
    upgrade(platform.engine)
    with platform.uow() as uow:
        seal_plaintext(uow)


def ensure_demo(platform: Platform) -> bool:
    """Create the demo organisation with users, teams, skills, queues and customers.

    Returns False (and changes nothing) when it exists already, so the demo can be
    started again and again on the same data directory.
    """
    with platform.uow() as uow:
        if org_service.find_organisation_by_slug(uow, DEMO_SLUG) is not None:
            return False
        org = org_service.create_organisation(uow, slug=DEMO_SLUG, name="接通演示 Demo Co.")
    actor = system_actor(org.id)
    with platform.uow() as uow:
        front = org_service.create_team(uow, actor, TeamCreate(name="一线客服 Front line"))
    with platform.uow() as uow:
        repair = org_service.create_team(
            uow, actor, TeamCreate(name="维修部 Repair", kind=TeamKind.DEPARTMENT)
        )
    skills = {}
    for name, kind in (
        ("普通话 Mandarin", SkillKind.LANGUAGE),
        ("English", SkillKind.LANGUAGE),
        ("billing", SkillKind.SKILL),
        ("repair", SkillKind.SKILL),
    ):
        with platform.uow() as uow:
            skills[name] = org_service.create_skill(uow, actor, SkillCreate(name=name, kind=kind))
    teams_for = {Role.AGENT: [front.id], Role.SUPERVISOR: [front.id], Role.BACK_OFFICE: [repair.id]}
    for login in DEMO_LOGINS:
        with platform.uow() as uow:
            user = org_service.create_user(
                uow,
                actor,
                UserCreate(
                    username=login.username,
                    display_name=login.username.capitalize(),
                    password=login.password,
                    role=login.role,
                    team_ids=teams_for.get(login.role, []),
                ),
            )
        # Every demo queue requires Mandarin: without it nobody would be offered anything
        # until a supervisor granted it.
        levels = {
            skills[name].id: level for name, level in DEMO_SKILLS.get(login.username, {}).items()
        }
        if levels:
            with platform.uow() as uow:
                org_service.set_user_skills(uow, actor, user.user.id, levels)
    for name, channels in (
        ("General", ["call", "chat", "email", "sms", "wechat"]),
        ("Billing", ["call", "email"]),
    ):
        with platform.uow() as uow:
            org_service.create_queue(
                uow,
                actor,
                QueueCreate(
                    name=name,
                    channels=channels,
                    team_id=front.id,
                    required_skills={skills["普通话 Mandarin"].id: 1},
                ),
            )
    _demo_customers(platform, actor, platform.settings.default_region)
    add_demo_email_account(platform, org.id)
    add_demo_widget(platform, org.id)
    add_demo_history(platform, org.id)
    return True


def _demo_customers(platform: Platform, actor: Actor, region: str) -> None:
    people = (
        ("王芳", "华信科技", VipTier.GOLD, "13800138000", "wang.fang@example.cn"),
        ("李伟", None, VipTier.NONE, "13912345678", None),
        ("Emily Chen", "Harbour Logistics", VipTier.SILVER, "+85291234567", "emily@example.com"),
    )
    for name, company, tier, phone, email in people:
        points = [ContactPointIn(kind=ContactKind.PHONE, value=phone)]
        if email:
            points.append(ContactPointIn(kind=ContactKind.EMAIL, value=email))
        with platform.uow() as uow:
            identity_service.create_customer(
                uow,
                actor,
                CustomerCreate(
                    display_name=name,
                    company=company,
                    vip_tier=tier,
                    contact_points=points,
                ),
                default_region=region,
            )
