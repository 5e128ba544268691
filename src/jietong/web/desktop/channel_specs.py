"""What the admin console's channel forms ask for: each registered channel's providers
with the names of the settings and secrets their accounts take (read from the channel
registry, so the console knows no provider by name). Sent with the admin page."""

from __future__ import annotations

from pydantic import BaseModel

from jietong.channels.registry import ChannelRegistry
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor


class ProviderSpecOut(BaseModel):
    channel: str
    provider: str
    settings: list[str]
    optional_settings: list[str]
    secrets: list[str]
    optional_secrets: list[str]
    webhook_suffixes: list[str]


def provider_specs(actor: Actor, registry: ChannelRegistry) -> list[ProviderSpecOut]:
    require(actor, Permission.CHANNELS_MANAGE)
    found = []
    for channel in registry.names():
        for provider in registry.providers(channel):
            spec = registry.account_spec(channel, provider)
            if spec is None:
                continue
            found.append(
                ProviderSpecOut(
                    channel=channel,
                    provider=provider,
                    settings=sorted(spec.settings),
                    optional_settings=sorted(spec.optional_settings),
                    secrets=sorted(spec.secrets),
                    optional_secrets=sorted(spec.optional_secrets),
                    webhook_suffixes=list(spec.webhook_suffixes),
                )
            )
    return found
