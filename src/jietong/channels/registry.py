"""The channel registry: one per running platform, filled and validated at start-up.

Core code asks the registry for an adapter by the channel name stored on interactions
and messages; it never switches on names. Adding a channel means registering one more
adapter in the composition root (`jietong.app.channels_runtime`), nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from jietong.channels.base import ChannelAdapter
from jietong.core.errors import InvalidInput
from jietong.identity.contact_points import ContactKind

# Channel names are stored in 16-character columns and appear in URLs.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


@dataclass(frozen=True)
class AccountSpec:
    """What an account of one provider on a channel needs: setting and secret names.
    The accounts service validates against it, so core code knows no provider."""

    settings: frozenset[str] = frozenset()  # required
    optional_settings: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()  # required
    optional_secrets: frozenset[str] = frozenset()
    # Webhook paths under /api/v1/channels/<channel>/<account id>, shown to admins.
    webhook_suffixes: tuple[str, ...] = ("",)

    def allowed_settings(self) -> frozenset[str]:
        return self.settings | self.optional_settings

    def allowed_secrets(self) -> frozenset[str]:
        return self.secrets | self.optional_secrets


class RegistryError(ValueError):
    """The registered adapters are inconsistent: start-up must stop here."""


class UnknownChannel(InvalidInput):
    """No adapter is registered under this name (a reply on a channel that cannot send)."""


class ChannelRegistry:
    """Adapters by name. Built once; `freeze` validates it and refuses later changes."""

    def __init__(self, adapters: Iterable[ChannelAdapter] = ()) -> None:
        self._adapters: dict[str, ChannelAdapter] = {}
        self._accounts: dict[str, dict[str, AccountSpec]] = {}
        self._declared: set[str] = set()
        self._frozen = False
        for adapter in adapters:
            self.register(adapter)

    def register(
        self, adapter: ChannelAdapter, accounts: Mapping[str, AccountSpec] | None = None
    ) -> None:
        """Add `adapter` and, for channels with per-organisation accounts, the account
        shape of each provider it speaks. RegistryError for a bad or duplicate name or a
        frozen registry."""
        if self._frozen:
            raise RegistryError("the channel registry is frozen after start-up")
        name = adapter.name
        if not isinstance(name, str) or not _NAME.match(name):
            raise RegistryError(f"channel name {name!r} must match {_NAME.pattern}")
        if name in self._adapters:
            raise RegistryError(f"channel {name!r} is registered twice")
        if not isinstance(adapter.contact_kind, ContactKind):
            raise RegistryError(f"channel {name!r}: contact_kind must be a ContactKind")
        if not callable(getattr(adapter, "deliver", None)):
            raise RegistryError(f"channel {name!r}: the adapter has no deliver()")
        self._adapters[name] = adapter
        self._accounts[name] = dict(accounts or {})

    def declare(self, name: str) -> None:
        """A channel whose interactions exist but whose messages no adapter sends (voice:
        calls are media, driven by the telephony engine, not by deliveries)."""
        if self._frozen:
            raise RegistryError("the channel registry is frozen after start-up")
        if not _NAME.match(name) or name in self._adapters or name in self._declared:
            raise RegistryError(f"channel {name!r} is invalid or already known")
        self._declared.add(name)

    def interaction_channels(self) -> frozenset[str]:
        """Every channel an interaction may be on: registered adapters and declared ones."""
        return frozenset(self._adapters) | frozenset(self._declared)

    def freeze(self) -> ChannelRegistry:
        """Validate and close the registry; returns it for chaining."""
        self._frozen = True
        return self

    def get(self, name: str) -> ChannelAdapter:
        """The adapter of `name`, or UnknownChannel."""
        adapter = self._adapters.get(name)
        if adapter is None:
            raise UnknownChannel(f"no channel adapter can send on '{name}'")
        return adapter

    def account_spec(self, name: str, provider: str) -> AccountSpec | None:
        """The account shape of `provider` on channel `name`; None if it has none."""
        return self._accounts.get(name, {}).get(provider)

    def providers(self, name: str) -> list[str]:
        return sorted(self._accounts.get(name, {}))

    def find(self, name: str) -> ChannelAdapter | None:
        return self._adapters.get(name)

    def names(self) -> list[str]:
        return sorted(self._adapters)

    def __contains__(self, name: object) -> bool:
        return name in self._adapters

    def __iter__(self) -> Iterator[ChannelAdapter]:
        return iter([self._adapters[n] for n in self.names()])

    def __len__(self) -> int:
        return len(self._adapters)
