"""The channel registry refuses inconsistent adapters at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from jietong.app.channels_runtime import build_channel_registry
from jietong.app.settings import Settings
from jietong.channels.base import DeliveryResult, OutboundMessage
from jietong.channels.deliveries import RetryPolicy
from jietong.channels.registry import ChannelRegistry, RegistryError, UnknownChannel
from jietong.identity.contact_points import ContactKind


@dataclass
class Fake:
    name: str
    contact_kind: ContactKind = ContactKind.PHONE

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        return DeliveryResult(ok=True)


def test_the_shipped_channels_register_and_validate() -> None:
    registry = build_channel_registry(Settings())

    assert registry.names() == ["api", "chat", "email", "sms", "wechat"]
    assert registry.get("wechat").contact_kind is ContactKind.WECHAT_OPENID
    assert registry.account_spec("sms", "twilio") is not None


@pytest.mark.parametrize("name", ["", "SMS", "sms-2", "a" * 17, "1sms"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(RegistryError):
        ChannelRegistry([Fake(name)])


def test_duplicates_bad_kinds_and_late_registration_are_refused() -> None:
    with pytest.raises(RegistryError, match="twice"):
        ChannelRegistry([Fake("sms"), Fake("sms")])
    with pytest.raises(RegistryError, match="ContactKind"):
        ChannelRegistry([Fake("sms", contact_kind="phone")])  # type: ignore[arg-type]
    registry = ChannelRegistry([Fake("sms")]).freeze()
    with pytest.raises(RegistryError, match="frozen"):
        registry.register(Fake("fax"))
    with pytest.raises(UnknownChannel):
        registry.get("fax")


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base=timedelta(seconds=5), cap=timedelta(minutes=1))

    delays = [policy.delay(n).total_seconds() for n in range(1, 7)]

    assert delays == [5, 10, 20, 40, 60, 60]
