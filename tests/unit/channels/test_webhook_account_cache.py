"""WebhookAccountCache: answers (found or not) live `ttl` seconds, invalidate forgets all."""

from __future__ import annotations

import asyncio

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


def test_concurrent_misses_read_once_and_share_the_answer() -> None:
    cache = WebhookAccountCache(ttl=3.0, clock=Clock())
    reads = 0
    release = asyncio.Event()

    async def load() -> WebhookAccount | None:
        nonlocal reads
        reads += 1
        await release.wait()
        return account("a")

    async def scenario() -> list[WebhookAccount | None]:
        waiters = [asyncio.ensure_future(cache.get("a", "api", load)) for _ in range(50)]
        await asyncio.sleep(0)
        release.set()
        return await asyncio.gather(*waiters)

    answers = asyncio.run(scenario())
    assert reads == 1
    assert all(a is answers[0] for a in answers) and answers[0] is not None
    assert cache.cached("a", "api") is answers[0]


def test_a_cancelled_waiter_does_not_cancel_the_read_of_the_others() -> None:
    cache = WebhookAccountCache(ttl=3.0, clock=Clock())
    release = asyncio.Event()

    async def load() -> WebhookAccount | None:
        await release.wait()
        return account("a")

    async def scenario() -> WebhookAccount | None:
        first = asyncio.ensure_future(cache.get("a", "api", load))
        second = asyncio.ensure_future(cache.get("a", "api", load))
        await asyncio.sleep(0)
        first.cancel()
        release.set()
        return await second

    found = asyncio.run(scenario())
    assert found is not None and found.account.id == "a"


def test_a_read_begun_before_an_invalidation_is_not_remembered() -> None:
    cache = WebhookAccountCache(ttl=60.0, clock=Clock())
    release = asyncio.Event()

    async def load() -> WebhookAccount | None:
        await release.wait()
        return account("old")

    async def scenario() -> WebhookAccount | None:
        read = asyncio.ensure_future(cache.get("a", "api", load))
        await asyncio.sleep(0)
        cache.invalidate()  # the account changed while the read was under way
        release.set()
        return await read

    assert asyncio.run(scenario()) is not None  # its caller gets what was read …
    assert cache.cached("a", "api") is WebhookAccountCache.MISS  # … but nobody after it
