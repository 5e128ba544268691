"""Email accounts as channel accounts: their shape (AccountSpec per provider) and the
typed connection settings read from them.

An email account is a `channel_accounts` row of channel "email" whose `address` is the
mailbox customers write to. Provider "smtp" receives through the built-in SMTP
receiver (the domain's MX or a forwarding rule points at Jietong); provider "imap"
polls an existing mailbox. Both send replies through the SMTP relay in their settings.
Passwords are secrets: write-only in the API, never logged.
"""

from __future__ import annotations

from collections.abc import Mapping

from jietong.channels.base import ChannelAccount
from jietong.channels.email.compose import Sender
from jietong.channels.email.imap_in import Mailbox
from jietong.channels.email.smtp_out import Relay, Security
from jietong.channels.registry import AccountSpec

RECEIVER = "smtp"  # mail arrives through the built-in SMTP receiver
IMAP = "imap"  # mail is polled from an existing mailbox
_RELAY = frozenset({"smtp_host", "smtp_port", "smtp_security", "smtp_username"})
_COMMON = _RELAY | {"display_name"}
_IMAP = frozenset({"imap_port", "imap_security", "imap_folder", "imap_move_to"})

# Email has no webhooks: mail arrives over SMTP or IMAP.
ACCOUNTS: Mapping[str, AccountSpec] = {
    RECEIVER: AccountSpec(
        optional_settings=_COMMON,
        optional_secrets=frozenset({"smtp_password"}),
        webhook_suffixes=(),
    ),
    IMAP: AccountSpec(
        settings=frozenset({"imap_host", "imap_username"}),
        optional_settings=_COMMON | _IMAP,
        secrets=frozenset({"imap_password"}),
        optional_secrets=frozenset({"smtp_password"}),
        webhook_suffixes=(),
    ),
}


class InvalidAccount(ValueError):
    """The account's settings cannot be used (a port that is no number, an unknown
    security mode): a configuration error an admin must fix."""


def sender_of(account: ChannelAccount) -> Sender:
    if not account.address or "@" not in account.address:
        raise InvalidAccount("the email account has no address")
    return Sender(account.address.strip().lower(), account.settings.get("display_name") or None)


def relay_of(account: ChannelAccount) -> Relay | None:
    """The SMTP relay replies go through, or None when none is configured."""
    settings = account.settings
    host = (settings.get("smtp_host") or "").strip()
    if not host:
        return None
    security = _security(settings.get("smtp_security"), Security.STARTTLS)
    default_port = {Security.TLS: 465, Security.STARTTLS: 587, Security.NONE: 25}[security]
    return Relay(
        host=host,
        port=_port(settings.get("smtp_port"), default_port),
        security=security,
        username=settings.get("smtp_username") or None,
        password=account.secrets.get("smtp_password") or None,
    )


def mailbox_of(account: ChannelAccount) -> Mailbox:
    """The IMAP mailbox of an "imap" account."""
    settings = account.settings
    host = (settings.get("imap_host") or "").strip()
    username = settings.get("imap_username") or ""
    if not host or not username:
        raise InvalidAccount("an IMAP account needs imap_host and imap_username")
    security = _security(settings.get("imap_security"), Security.TLS)
    return Mailbox(
        host=host,
        port=_port(settings.get("imap_port"), 993 if security is Security.TLS else 143),
        username=username,
        password=account.secrets.get("imap_password", ""),
        security=security,
        folder=settings.get("imap_folder") or "INBOX",
        move_to=settings.get("imap_move_to") or None,
    )


def _security(value: str | None, default: Security) -> Security:
    if not value:
        return default
    try:
        return Security(value.strip().lower())
    except ValueError:
        raise InvalidAccount(
            f"security must be one of none, starttls, tls; not {value!r}"
        ) from None


def _port(value: str | None, default: int) -> int:
    if value is None or not str(value).strip():
        return default
    try:
        port = int(str(value).strip())
    except ValueError:
        raise InvalidAccount(f"a port must be a number, not {value!r}") from None
    if not 1 <= port <= 65535:
        raise InvalidAccount(f"port {port} is out of range")
    return port
