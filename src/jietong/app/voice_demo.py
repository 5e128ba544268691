"""Voice in the demo organisation: phone accounts for the demo agents (fixed passwords,
printed in the demo banner like the web logins), a trunk that admits callers from this
machine (so SIPp or a softphone on localhost can dial any number), and the demo agents'
Mandarin skill (the demo queues ask for it, so calls reach them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from jietong.app.platform import Platform
from jietong.app.settings import Settings
from jietong.core.ids import new_id
from jietong.core.tenancy import system_actor
from jietong.org import service as org_service
from jietong.storage.tables import SkillRow, UserRow
from jietong.storage.tables_sip import SipPhoneAccountRow, SipTrunkRow
from jietong.telephony.sip.digest import ha1


@dataclass(frozen=True)
class DemoPhone:
    login: str  # the demo web login whose phone this is
    username: str  # the SIP (digest) user
    password: str


DEMO_PHONES = (
    DemoPhone("agent1", "agent1", "demo-sip-agent1-2026"),
    DemoPhone("agent2", "agent2", "demo-sip-agent2-2026"),
    DemoPhone("supervisor", "supervisor", "demo-sip-super-2026"),
)
DEMO_TRUNK = "本机 Local callers"
MANDARIN = "普通话 Mandarin"


def add_demo_voice(platform: Platform, org_id: str, *, realm: str) -> None:
    """Idempotent: phone accounts, the local trunk and skills are added once."""
    now = platform.clock()
    with platform.uow() as uow:
        users = {
            u.username: u
            for u in uow.session.scalars(select(UserRow).where(UserRow.org_id == org_id))
        }
        for phone in DEMO_PHONES:
            user = users.get(phone.login)
            if user is None or _phone_exists(uow.session, phone.username):
                continue
            uow.session.add(_account(org_id, user.id, phone, realm, now))
        if (
            uow.session.scalar(
                select(SipTrunkRow).where(
                    SipTrunkRow.org_id == org_id, SipTrunkRow.name == DEMO_TRUNK
                )
            )
            is None
        ):
            uow.session.add(_trunk(org_id, now))
        uow.commit()
    _skills(platform, org_id)


def _phone_exists(session: Session, username: str) -> bool:
    query = select(SipPhoneAccountRow.id).where(SipPhoneAccountRow.username == username)
    return session.scalar(query) is not None


def _account(
    org_id: str, user_id: str, phone: DemoPhone, realm: str, now: datetime
) -> SipPhoneAccountRow:
    return SipPhoneAccountRow(
        id=new_id(),
        org_id=org_id,
        username=phone.username,
        realm=realm,
        ha1=ha1(phone.username, realm, phone.password),
        user_id=user_id,
        enabled=True,
        created_at=now,
        rotated_at=now,
    )


def _trunk(org_id: str, now: datetime) -> SipTrunkRow:
    # Inbound from this machine only; outbound to a carrier simulator on 5070 (SIPp).
    return SipTrunkRow(
        id=new_id(),
        org_id=org_id,
        name=DEMO_TRUNK,
        host="127.0.0.1",
        port=5070,
        allowed_sources=["127.0.0.0/8"],
        username=None,
        password=None,
        register=False,
        register_expires_s=3600,
        is_default=True,
        enabled=True,
        created_at=now,
        updated_at=now,
    )


def _skills(platform: Platform, org_id: str) -> None:
    with platform.uow() as uow:
        skill = uow.session.scalar(
            select(SkillRow).where(SkillRow.org_id == org_id, SkillRow.name == MANDARIN)
        )
        agents = uow.session.scalars(
            select(UserRow).where(
                UserRow.org_id == org_id, UserRow.username.in_(["agent1", "agent2"])
            )
        ).all()
    if skill is None:
        return
    for agent in agents:
        with platform.uow() as uow:
            org_service.set_user_skills(uow, system_actor(org_id), agent.id, {skill.id: 3})


def demo_voice_settings(settings: Settings) -> Settings:
    """The demo answers calls (voice on) at any hour (the demo IVR ignores opening
    hours)."""
    return settings.model_copy(update={"voice_enabled": True, "voice_demo_always_open": True})


def prepare_demo_voice(platform: Platform) -> Table:
    """Seed the demo's voice (idempotent) and the banner table of SIP credentials."""
    from jietong.app.bootstrap import DEMO_SLUG

    settings = platform.settings
    with platform.uow() as uow:
        org = org_service.find_organisation_by_slug(uow, DEMO_SLUG)
    if org is not None:
        add_demo_voice(platform, org.id, realm=settings.sip_realm)
    host = settings.sip_public_host or settings.sip_host
    table = Table("SIP user", "password", "registrar", "for", title="Demo phones (SIP, digest)")
    for phone in DEMO_PHONES:
        table.add_row(phone.username, phone.password, f"{host}:{settings.sip_port}", phone.login)
    table.caption = (
        f"Call any number at sip:<number>@{host}:{settings.sip_port} from this machine "
        "(the demo trunk admits 127.0.0.0/8)."
    )
    return table
