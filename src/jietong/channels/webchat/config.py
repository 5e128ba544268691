"""A widget's configuration, read from its channel account (channel 'chat', provider
'widget'). Pure: the account's settings are strings chosen by an admin, so every value is
parsed with a safe default rather than trusted.

| setting | values | default |
|---|---|---|
| `title` | text shown in the widget header | "Chat with us" in the visitor's language |
| `allowed_origins` | space-separated origins (`https://shop.example`) that may embed it | any |
| `pre_chat` | `off`, `optional` (name/email/phone offered), `required` | `optional` |
| `identity` | `optional`, `required` (only host-verified users may chat) | `optional` |
| `offline_when` | `no_agents` (closed hours or nobody logged in), `closed`, `never` | `no_agents` |
| `max_attachment_mb` | 1..25 | 10 |

Secret: `identity_secret` (HMAC key shared with the host site's server), optional.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urlsplit

from jietong.channels.base import ChannelAccount
from jietong.channels.registry import AccountSpec

CHANNEL = "chat"
PROVIDER = "widget"
ACCOUNTS = {
    PROVIDER: AccountSpec(
        optional_settings=frozenset(
            {
                "title",
                "allowed_origins",
                "pre_chat",
                "identity",
                "offline_when",
                "max_attachment_mb",
            }
        ),
        optional_secrets=frozenset({"identity_secret"}),
        webhook_suffixes=("/sessions",),
    )
}
E = TypeVar("E", bound=StrEnum)
DEFAULT_ATTACHMENT_MB = 10
MAX_ATTACHMENT_MB = 25


class PreChat(StrEnum):
    OFF = "off"
    OPTIONAL = "optional"
    REQUIRED = "required"


class OfflineWhen(StrEnum):
    NO_AGENTS = "no_agents"
    CLOSED = "closed"
    NEVER = "never"


@dataclass(frozen=True)
class WidgetConfig:
    key: str  # the account id, public: it is in the script tag
    org_id: str
    queue_id: str | None
    title: str | None  # None: the widget's own words ("Chat with us")
    allowed_origins: frozenset[str]  # empty: any origin
    pre_chat: PreChat
    identity_required: bool
    offline_when: OfflineWhen
    max_attachment_bytes: int
    identity_secret: str | None

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether a browser page at `origin` may use this widget. Requests without an
        Origin (curl, servers) are not browsers embedding it and are not refused here."""
        if origin is None or not self.allowed_origins:
            return True
        return _origin(origin) in self.allowed_origins


def widget_config(org_id: str, queue_id: str | None, account: ChannelAccount) -> WidgetConfig:
    settings = account.settings
    return WidgetConfig(
        key=account.id,
        org_id=org_id,
        queue_id=queue_id,
        title=(settings.get("title") or "").strip()[:200] or None,
        allowed_origins=frozenset(
            o for o in (_origin(x) for x in settings.get("allowed_origins", "").split()) if o
        ),
        pre_chat=_enum(PreChat, settings, "pre_chat", PreChat.OPTIONAL),
        identity_required=settings.get("identity") == "required",
        offline_when=_enum(OfflineWhen, settings, "offline_when", OfflineWhen.NO_AGENTS),
        max_attachment_bytes=_megabytes(settings.get("max_attachment_mb")) * 1024 * 1024,
        identity_secret=account.secrets.get("identity_secret") or None,
    )


def _enum(kind: type[E], settings: Mapping[str, str], name: str, default: E) -> E:
    try:
        return kind(settings.get(name, default.value).strip().lower())
    except ValueError:
        return default


def _megabytes(raw: str | None) -> int:
    try:
        value = int(raw or DEFAULT_ATTACHMENT_MB)
    except ValueError:
        return DEFAULT_ATTACHMENT_MB
    return min(max(value, 1), MAX_ATTACHMENT_MB)


def _origin(raw: str) -> str:
    """`scheme://host[:port]`, lower-cased; '' for anything that is not an http(s) origin."""
    try:
        parts = urlsplit(raw.strip())
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"
