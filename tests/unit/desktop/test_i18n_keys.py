"""Every message the desk, the wallboard and the admin console use exists in both
catalogues: literal keys in the templates and the ES modules, keys the modules build from
data (an agent state, a channel, a case status…) for every value the data can take, and
every key a module asks for is one the page embeds for it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jietong.cases.model import CasePriority, CaseStatus, CaseType
from jietong.core.tenancy import Role
from jietong.identity.contact_points import ContactKind
from jietong.identity.model import VipTier
from jietong.interactions.model import InteractionState
from jietong.org.schemas import RoutingPolicy, SkillKind, TeamKind
from jietong.web import i18n
from jietong.web.desktop.pages import SCRIPT_PREFIXES

WEB = Path(i18n.__file__).parent
TEMPLATES = sorted((WEB / "templates" / "desktop").glob("*.html"))
MODULES = sorted((WEB / "static" / "desktop").glob("*.js"))

TEMPLATE_KEY = re.compile(r"""\bt\(\s*["']([a-z_.0-9]+)["']\s*[,)]""")
TEMPLATE_PREFIX = re.compile(r"""\bt\(\s*["']([a-z_.0-9]+\.)["']\s*~""")
JS_KEY = re.compile(r"""\bt\(\s*["'`]([a-z_.0-9]+)["'`]\s*[,)]""")
JS_PREFIX = re.compile(r"""\bt\(\s*`([a-z_.0-9]+\.)\$\{""")
JS_SPEC_KEY = re.compile(
    r"""\b(?:label|title|intro|help|placeholder):\s*"([a-z_]+\.[a-z_.0-9]+)\""""
)

AGENT_STATES = ("available", "ringing", "busy", "wrap_up", "not_ready", "offline")
REASONS = ("break", "lunch", "meeting", "training", "back_office", "no_answer", "other")
CHANNELS = ("call", "chat", "email", "sms", "wechat", "api", "voice")
SECTIONS = ("users", "teams", "skills", "queues", "hours", "channels", "wrapup", "canned", "tokens")


def values(enum: object) -> tuple[str, ...]:
    return tuple(member.value for member in enum)  # type: ignore[attr-defined]


# The values each data-built key prefix can be followed by.
DYNAMIC: dict[str, tuple[str, ...]] = {
    "dsk.state.": AGENT_STATES,
    "dsk.reason.": REASONS,
    "dsk.channel.": CHANNELS,
    "dsk.istate.": values(InteractionState),
    "dsk.case_type.": values(CaseType),
    "dsk.priority.": values(CasePriority),
    "dsk.case_status.": values(CaseStatus),
    "dsk.point.": values(ContactKind),
    "dsk.merge_reason.": ("phone_in_messages", "same_name_and_company"),
    "dsk.conn.": ("connecting", "live", "offline"),
    "vip.": values(VipTier),
    "role.": values(Role),
    "desk.softphone.": ("answer", "hold", "mute", "transfer", "dtmf", "hangup"),
    "adm.": tuple(f"{s}.title" for s in SECTIONS),
    "adm.policy.": values(RoutingPolicy),
    "adm.kind.": values(TeamKind),
    "adm.skill_kind.": values(SkillKind),
    "weekday.": tuple(str(d) for d in range(7)),
    "wall.": ("move_done", "assign_done"),
}


def literal_keys() -> set[str]:
    keys = {k for f in TEMPLATES for k in TEMPLATE_KEY.findall(f.read_text("utf-8"))}
    for module in MODULES:
        text = module.read_text("utf-8")
        keys |= set(JS_KEY.findall(text)) | set(JS_SPEC_KEY.findall(text))
    return keys


def built_prefixes() -> set[str]:
    found = {p for f in TEMPLATES for p in TEMPLATE_PREFIX.findall(f.read_text("utf-8"))}
    for module in MODULES:
        found |= set(JS_PREFIX.findall(module.read_text("utf-8")))
    return found


@pytest.mark.parametrize("locale", i18n.SUPPORTED)
def test_literal_keys_exist(locale: str) -> None:
    keys = literal_keys()
    assert len(keys) > 150
    missing = sorted(keys - set(i18n.catalogue(locale)))
    assert not missing, f"{locale} lacks {missing}"


@pytest.mark.parametrize("locale", i18n.SUPPORTED)
def test_keys_built_from_data_exist_for_every_value(locale: str) -> None:
    prefixes = built_prefixes()
    unknown = prefixes - set(DYNAMIC)
    assert not unknown, f"say which values {unknown} can take in DYNAMIC"
    catalogue = i18n.catalogue(locale)
    missing = [p + v for p in prefixes for v in DYNAMIC[p] if p + v not in catalogue]
    assert not missing, f"{locale} lacks {missing}"


def test_scripts_only_ask_for_messages_their_page_embeds() -> None:
    script_keys = set()
    for module in MODULES:
        text = module.read_text("utf-8")
        script_keys |= set(JS_KEY.findall(text)) | set(JS_SPEC_KEY.findall(text))
        script_keys |= set(JS_PREFIX.findall(text))
    outside = sorted(k for k in script_keys if not k.startswith(SCRIPT_PREFIXES))
    assert not outside, f"not embedded for the scripts: {outside}"
