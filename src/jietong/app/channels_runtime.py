"""Channel wiring: which adapters are registered, which webhook routers are mounted, and
the delivery worker that sends queued outbound messages.

This is the one place that names channels. Adding one means one more `ChannelPlugin`
below (an adapter, its account shapes, its router); no core module changes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from jietong.app.settings import Settings
from jietong.channels.base import ChannelAdapter, DeliveryResult
from jietong.channels.deliveries import DeliveryJob, RetryPolicy, claim_due, record_attempt
from jietong.channels.registry import AccountSpec, ChannelRegistry
from jietong.events.base import Envelope

if TYPE_CHECKING:
    from fastapi import APIRouter

    from jietong.app.platform import Platform

log = logging.getLogger(__name__)
WAKING_EVENTS = frozenset({"DeliveryQueued", "DeliveryRequeued"})


class BackgroundJob(Protocol):
    """A channel's own periodic work (fetching media after a webhook was answered, say),
    run by the delivery worker's loop."""

    def on_event(self, envelope: Envelope) -> bool:
        """True when the event brought work (the loop then wakes at once)."""

    def run_once(self) -> int:
        """Do what is due; return how much was tried."""


@dataclass(frozen=True)
class ChannelPlugin:
    adapter: Callable[[Settings], ChannelAdapter]
    accounts: Mapping[str, AccountSpec] = field(default_factory=dict)
    background: Callable[[Platform], BackgroundJob] | None = None


def channel_plugins() -> list[ChannelPlugin]:
    from jietong.app.email_runtime import email_adapter
    from jietong.channels.api_channel import adapter as api_adapter
    from jietong.channels.email import config as email_config
    from jietong.channels.sms import adapter as sms
    from jietong.channels.webchat import adapter as webchat
    from jietong.channels.wechat import adapter as wechat
    from jietong.channels.wechat import media as wechat_media

    return [
        ChannelPlugin(email_adapter, email_config.ACCOUNTS),
        ChannelPlugin(lambda _s: sms.SmsAdapter(), sms.ACCOUNTS),
        ChannelPlugin(
            lambda _s: wechat.WeChatAdapter(), wechat.ACCOUNTS, wechat_media.WeChatMediaFetcher
        ),
        ChannelPlugin(lambda _s: api_adapter.ApiChannelAdapter(), api_adapter.ACCOUNTS),
        ChannelPlugin(lambda _s: webchat.WebchatAdapter(), webchat.ACCOUNTS),
    ]


def build_channel_registry(settings: Settings) -> ChannelRegistry:
    """Every channel's adapter, validated; start-up fails on an inconsistent set."""
    registry = ChannelRegistry()
    for plugin in channel_plugins():
        registry.register(plugin.adapter(settings), plugin.accounts)
    registry.declare("call")  # voice: media, not deliveries (issue 6)
    return registry.freeze()


def channel_routers() -> list[APIRouter]:
    """The webhook and management routers of the channels (mounted under /api/v1)."""
    from jietong.app import merge_api
    from jietong.channels import api as channels_api
    from jietong.channels.api_channel import api as api_channel_api
    from jietong.channels.sms import api as sms_api
    from jietong.channels.webchat import api as webchat_api
    from jietong.channels.webchat import demo as webchat_demo
    from jietong.channels.wechat import api as wechat_api

    return [
        channels_api.router,
        sms_api.router,
        wechat_api.router,
        api_channel_api.router,
        merge_api.router,
        *(webchat_demo.router, webchat_api.router, webchat_api.agent_router),
    ]


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.delivery_max_attempts,
        base=timedelta(seconds=settings.delivery_backoff_seconds),
        cap=timedelta(seconds=settings.delivery_backoff_max_seconds),
        lease=timedelta(seconds=settings.delivery_lease_seconds),
    )


class DeliveryWorker:
    """Claims due deliveries, hands each to its channel's adapter, records the outcome.

    `run_once` is synchronous (tests and `jietong worker` call it directly); the server
    runs `run_forever` as an asyncio task, waking early when a delivery is queued."""

    def __init__(self, platform: Platform, *, batch: int = 20) -> None:
        self._platform = platform
        self._policy = retry_policy(platform.settings)
        self._batch = batch
        self.wake = threading.Event()
        self.jobs = [p.background(platform) for p in channel_plugins() if p.background]

    def on_event(self, envelope: Envelope) -> None:
        """Bus subscriber: a queued delivery, or work for a channel's job, wakes the worker."""
        woken = envelope.event_type in WAKING_EVENTS
        for job in self.jobs:
            woken = job.on_event(envelope) or woken
        if woken:
            self.wake.set()

    def run_once(self) -> int:
        """Attempt every due delivery once; returns how many were attempted."""
        platform = self._platform
        with platform.uow() as uow:
            jobs = claim_due(
                uow,
                platform.channels,
                now=uow.now,
                policy=self._policy,
                limit=self._batch,
                blobs=platform.blobs,
            )
        for job in jobs:
            result = self._attempt(job)
            with platform.uow() as uow:
                record_attempt(uow, job, result, now=uow.now, policy=self._policy)
        return len(jobs)

    def _attempt(self, job: DeliveryJob) -> DeliveryResult:
        adapter = self._platform.channels.find(job.message.channel)
        if adapter is None:
            return DeliveryResult(ok=False, error="no adapter for this channel", retryable=False)
        try:
            return adapter.deliver(job.message)
        except Exception as exc:
            # An adapter bug must not lose the delivery: it is retried, then failed.
            log.exception("channel %s failed delivering %s", job.message.channel, job.delivery_id)
            return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])

    def run_jobs(self) -> int:
        """Each channel's background job once; one failing job does not stop the others."""
        done = 0
        for job in self.jobs:
            try:
                done += job.run_once()
            except Exception:
                log.exception("channel job %s failed; retrying", type(job).__name__)
        return done

    async def run_forever(self) -> None:
        interval = self._platform.settings.delivery_poll_seconds
        while True:
            try:
                done = await asyncio.to_thread(self.run_once)
                done += await asyncio.to_thread(self.run_jobs)
                if done == 0:
                    await asyncio.to_thread(self.wake.wait, interval)
                    self.wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery worker failed; retrying")
                await asyncio.sleep(interval)
