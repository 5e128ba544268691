"""Channel accounts: an organisation's Twilio numbers, WeChat Official Accounts and
API-channel clients, managed by admins.

Secrets are write-only: the API shows only their last four characters, events and the
audit log name the changed keys, never values. They are stored sealed, value by value,
with the unit of work's `SecretBox` (ADR 0016); `account_secrets` opens them. Which
settings and secrets an account needs comes from the registry (`AccountSpec`), so this
module knows no provider.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from sqlalchemy.exc import IntegrityError

from jietong.channels import store
from jietong.channels.base import ChannelAccount
from jietong.channels.registry import AccountSpec, ChannelRegistry
from jietong.core.errors import Conflict, InvalidInput, NotFound
from jietong.core.ids import new_id
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.events.channels import (
    ChannelAccountCreated,
    ChannelAccountDeleted,
    ChannelAccountUpdated,
)
from jietong.interactions import store as interaction_store
from jietong.storage.secretbox import SecretBox
from jietong.storage.tables_channels import ChannelAccountRow
from jietong.storage.uow import UnitOfWork

ENTITY_TYPE = "channel_account"
_ID = re.compile(r"^[0-9a-f]{32}$")
MIN_SECRET = 8


class ChannelAccountNotFound(NotFound):
    pass


@dataclass(frozen=True)
class AccountChanges:
    """A create or update request, already shaped by the API layer."""

    name: str | None = None
    address: str | None = None
    queue_id: str | None = None
    settings: Mapping[str, str] | None = None
    secrets: Mapping[str, str] | None = None
    enabled: bool | None = None
    clear_queue: bool = False


@dataclass(frozen=True)
class WebhookAccount:
    """An enabled account found from a webhook URL: whose it is and how to check it."""

    org_id: str
    channel: str
    queue_id: str | None
    account: ChannelAccount


def create_account(
    uow: UnitOfWork,
    actor: Actor,
    registry: ChannelRegistry,
    *,
    channel: str,
    provider: str,
    changes: AccountChanges,
) -> ChannelAccountRow:
    require(actor, Permission.CHANNELS_MANAGE)
    spec = _spec(registry, channel, provider)
    settings = dict(changes.settings or {})
    secrets = dict(changes.secrets or {})
    _check_keys(spec, settings, secrets, complete=True)
    row = ChannelAccountRow(
        id=new_id(),
        org_id=actor.org_id,
        channel=channel,
        name=changes.name or f"{channel} {provider}",
        provider=provider,
        address=changes.address,
        queue_id=_queue(uow, actor, changes.queue_id),
        settings=settings,
        secrets=uow.secrets.seal_values(secrets),
        enabled=True if changes.enabled is None else changes.enabled,
        created_at=uow.now,
        updated_at=uow.now,
    )
    uow.session.add(row)
    uow.emit(
        ChannelAccountCreated(
            org_id=actor.org_id, account_id=row.id, channel=channel, provider=provider
        )
    )
    uow.audit(
        actor,
        "channel_account.created",
        ENTITY_TYPE,
        row.id,
        {"channel": channel, "provider": provider, "secrets": sorted(secrets)},
    )
    _commit(uow)
    return row


def update_account(
    uow: UnitOfWork,
    actor: Actor,
    registry: ChannelRegistry,
    account_id: str,
    changes: AccountChanges,
) -> ChannelAccountRow:
    """Change what is given; `settings` and `secrets` replace only the keys they name."""
    require(actor, Permission.CHANNELS_MANAGE)
    row = _get(uow, actor, account_id)
    spec = _spec(registry, row.channel, row.provider)
    settings = {**row.settings, **(changes.settings or {})}
    current = account_secrets(row, uow.secrets)
    secrets = {**current, **(changes.secrets or {})}
    _check_keys(spec, settings, secrets, complete=True)
    changed = _apply(uow, actor, row, changes, settings, secrets, current)
    if changed:
        row.updated_at = uow.now
        uow.emit(ChannelAccountUpdated(org_id=actor.org_id, account_id=row.id, changed=changed))
        uow.audit(actor, "channel_account.updated", ENTITY_TYPE, row.id, {"changed": changed})
    _commit(uow)
    return row


def delete_account(uow: UnitOfWork, actor: Actor, account_id: str) -> None:
    require(actor, Permission.CHANNELS_MANAGE)
    row = _get(uow, actor, account_id)
    uow.session.delete(row)
    uow.emit(ChannelAccountDeleted(org_id=actor.org_id, account_id=row.id))
    uow.audit(actor, "channel_account.deleted", ENTITY_TYPE, row.id, {"name": row.name})
    uow.commit()


def get_account(uow: UnitOfWork, actor: Actor, account_id: str) -> ChannelAccountRow:
    require(actor, Permission.CHANNELS_MANAGE)
    return _get(uow, actor, account_id)


def list_accounts(
    uow: UnitOfWork, actor: Actor, *, channel: str | None = None
) -> list[ChannelAccountRow]:
    require(actor, Permission.CHANNELS_MANAGE)
    return store.list_accounts(uow.session, actor.org_id, channel=channel)


def find_webhook_account(uow: UnitOfWork, account_id: str, channel: str) -> WebhookAccount | None:
    """The enabled account of `channel` with this id, for an unauthenticated webhook
    (whose signature the caller checks next); None for anything else."""
    if not _ID.match(account_id):
        return None
    row = store.find_account(uow.session, account_id)
    if row is None or row.channel != channel or not row.enabled:
        return None
    return WebhookAccount(
        row.org_id, row.channel, row.queue_id, to_channel_account(row, uow.secrets)
    )


class WebhookAccountCache:
    """Webhook look-ups of the last few seconds, per process.

    Every provider webhook starts by finding its account; at hundreds of messages per
    second that read was a quarter of the server's time. Accounts change rarely, so a
    look-up (found or not) is reused for `ttl` seconds. The price: an account disabled,
    deleted or re-keyed by another process keeps answering here for at most `ttl`
    seconds; changes made through this process's API call `invalidate` and take effect
    at once.

    When an answer expires under load, every webhook arriving meanwhile misses at once;
    `get` lets one of them read it and the others wait for that read (measured: at 500
    messages a second, each expiry sent a few dozen requests to threads and to new
    database connections, a tenth of the server's time).
    """

    def __init__(self, ttl: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, WebhookAccount | None]] = {}
        self._loading: dict[tuple[str, str], asyncio.Future[WebhookAccount | None]] = {}
        self._generation = 0  # invalidations so far: a read begun before one is not kept

    MISS: ClassVar[object] = object()

    async def get(
        self,
        account_id: str,
        channel: str,
        load: Callable[[], Awaitable[WebhookAccount | None]],
    ) -> WebhookAccount | None:
        """The remembered answer, or `load`'s, awaited once however many ask meanwhile."""
        hit = self.cached(account_id, channel)
        if hit is not self.MISS:
            return cast(WebhookAccount | None, hit)
        key = (account_id, channel)
        pending = self._loading.get(key)
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            pending = asyncio.ensure_future(self._load(key, load, self._generation))
            self._loading[key] = pending
        # shield: one waiter cancelled (its client went away) must not cancel the read
        # the others wait for.
        return await asyncio.shield(pending)

    async def _load(
        self,
        key: tuple[str, str],
        load: Callable[[], Awaitable[WebhookAccount | None]],
        generation: int,
    ) -> WebhookAccount | None:
        try:
            found = await load()
        finally:
            self._loading.pop(key, None)
        if generation == self._generation:
            self.remember(*key, found)
        return found

    def cached(self, account_id: str, channel: str) -> WebhookAccount | object | None:
        """The remembered answer (an account or None), or `WebhookAccountCache.MISS`."""
        with self._lock:
            entry = self._entries.get((account_id, channel))
        if entry is None or entry[0] <= self._clock():
            return self.MISS
        return entry[1]

    def remember(self, account_id: str, channel: str, found: WebhookAccount | None) -> None:
        with self._lock:
            if len(self._entries) > 10_000:  # unknown ids from a scanner must not grow it
                self._entries.clear()
            self._entries[(account_id, channel)] = (self._clock() + self.ttl, found)

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


def to_channel_account(row: ChannelAccountRow, box: SecretBox) -> ChannelAccount:
    """The adapters' view of `row`, its secrets opened (`UndecryptableSecret` if no key
    opens one)."""
    return ChannelAccount(
        id=row.id,
        provider=row.provider,
        address=row.address,
        settings={k: str(v) for k, v in row.settings.items()},
        secrets=account_secrets(row, box),
    )


def account_secrets(row: ChannelAccountRow, box: SecretBox) -> dict[str, str]:
    """The stored secrets of `row`, opened (values stored before sealing pass as they are)."""
    return box.open_values(row.secrets, owner=f"channel account {row.id}")


def masked(secrets: Mapping[str, Any]) -> dict[str, str]:
    """Secrets as the API shows them: the last four characters at most. Give it opened
    secrets (`account_secrets`): a sealed value's tail is the token's, not the secret's."""
    return {k: "…" + str(v)[-4:] if len(str(v)) >= 12 else "…" for k, v in secrets.items()}


def _get(uow: UnitOfWork, actor: Actor, account_id: str) -> ChannelAccountRow:
    row = None
    if _ID.match(account_id):
        row = store.find_account(uow.session, account_id, org_id=actor.org_id)
    if row is None:
        raise ChannelAccountNotFound(f"channel account {account_id} not found")
    return row


def _spec(registry: ChannelRegistry, channel: str, provider: str) -> AccountSpec:
    if channel not in registry:
        raise InvalidInput(f"unknown channel '{channel}'")
    spec = registry.account_spec(channel, provider)
    if spec is None:
        known = ", ".join(registry.providers(channel)) or "none"
        raise InvalidInput(f"channel '{channel}' has no provider '{provider}' (known: {known})")
    return spec


def _check_keys(
    spec: AccountSpec, settings: Mapping[str, str], secrets: Mapping[str, str], *, complete: bool
) -> None:
    unknown = sorted(set(settings) - spec.allowed_settings()) + sorted(
        set(secrets) - spec.allowed_secrets()
    )
    if unknown:
        raise InvalidInput(f"unknown account fields: {', '.join(unknown)}")
    missing = sorted(spec.settings - set(settings)) + sorted(spec.secrets - set(secrets))
    if complete and missing:
        raise InvalidInput(f"missing account fields: {', '.join(missing)}")
    short = sorted(k for k, v in secrets.items() if len(v) < MIN_SECRET)
    if short:
        raise InvalidInput(f"secrets must have at least {MIN_SECRET} characters: {short}")


def _queue(uow: UnitOfWork, actor: Actor, queue_id: str | None) -> str | None:
    if queue_id is None:
        return None
    if interaction_store.find_queue(uow.session, actor.org_id, queue_id) is None:
        raise InvalidInput(f"unknown queue {queue_id}")
    return queue_id


def _apply(
    uow: UnitOfWork,
    actor: Actor,
    row: ChannelAccountRow,
    changes: AccountChanges,
    settings: dict[str, str],
    secrets: dict[str, str],
    current_secrets: dict[str, str],
) -> list[str]:
    changed: list[str] = []
    for name in ("name", "address", "enabled"):
        value = getattr(changes, name)
        if value is not None and value != getattr(row, name):
            setattr(row, name, value)
            changed.append(name)
    if changes.clear_queue or changes.queue_id is not None:
        queue_id = None if changes.clear_queue else _queue(uow, actor, changes.queue_id)
        if queue_id != row.queue_id:
            row.queue_id = queue_id
            changed.append("queue_id")
    if settings != row.settings:
        row.settings = settings
        changed.append("settings")
    if secrets != current_secrets:
        row.secrets = uow.secrets.seal_values(secrets)
        changed.extend(f"secrets.{k}" for k in sorted(changes.secrets or {}))
    return changed


def _commit(uow: UnitOfWork) -> None:
    try:
        uow.commit()
    except IntegrityError:
        raise Conflict("another account of this channel has that name") from None
