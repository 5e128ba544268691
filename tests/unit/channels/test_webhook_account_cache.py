"""WebhookAccountCache: answers (found or not) live `ttl` seconds, invalidate forgets all."""

from __future__ import annotations

from jietong.channels.accounts import WebhookAccount, WebhookAccountCache
from jietong.channels.base import ChannelAccount


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def account(account_id: str) -> WebhookAccount:
    return WebhookAccount(
        "org", "api", None, ChannelAccount(account_id, "app", None, {}, {"inbound_token": "t"})
    )


def test_answers_live_for_ttl_then_miss() -> None:
    clock = Clock()
    cache = WebhookAccountCache(ttl=3.0, clock=clock)
    assert cache.cached("a", "api") is WebhookAccountCache.MISS
    found = account("a")
    cache.remember("a", "api", found)
    cache.remember("b", "api", None)
    assert cache.cached("a", "api") is found
    assert cache.cached("b", "api") is None  # unknown ids are remembered too
    assert cache.cached("a", "sms") is WebhookAccountCache.MISS  # per channel
    clock.now += 2.99
    assert cache.cached("a", "api") is found
    clock.now += 0.02
    assert cache.cached("a", "api") is WebhookAccountCache.MISS
    assert cache.cached("b", "api") is WebhookAccountCache.MISS


def test_invalidate_forgets_everything() -> None:
    cache = WebhookAccountCache(ttl=60.0, clock=Clock())
    cache.remember("a", "api", account("a"))
    cache.invalidate()
    assert cache.cached("a", "api") is WebhookAccountCache.MISS
