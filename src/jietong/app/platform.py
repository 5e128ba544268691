"""The composition root's container: one object holding every port's chosen backend."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from jietong.app.channels_runtime import build_channel_registry
from jietong.app.routing_runtime import RoutingRuntime
from jietong.app.settings import Settings
from jietong.channels.accounts import WebhookAccountCache
from jietong.channels.registry import ChannelRegistry
from jietong.core.clock import utcnow
from jietong.events.bus import EventBus, create_bus
from jietong.interactions.committer import IntakeCommitter
from jietong.interactions.writer_process import ProcessCommitter
from jietong.storage.blobs import BlobStore, FileBlobStore
from jietong.storage.engine import create_db_engine
from jietong.storage.outbox import OutboxRelay
from jietong.storage.secretbox import SecretBox, secret_box_of, session_factory
from jietong.storage.uow import UnitOfWork


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: EventBus
    relay: OutboxRelay
    blobs: BlobStore
    clock: Callable[[], datetime] = utcnow
    # Set after a commit that emitted events; the relay task waits on it.
    events_pending: threading.Event = field(default_factory=threading.Event)
    # Channel adapters by name, validated at start-up (issue 3).
    channels: ChannelRegistry = field(default_factory=ChannelRegistry)
    # The routing engine's in-process state and loop (issue 4); None: not run here.
    routing: RoutingRuntime | None = field(default_factory=RoutingRuntime)
    # Webhooks' account look-ups of the last seconds (channels.accounts.WebhookAccountCache).
    webhook_accounts: WebhookAccountCache = field(default_factory=WebhookAccountCache)
    # Group commit of inbound messages (interactions.committer); its thread (or, with
    # `intake_writer=process`, its process) starts with the first message.
    intake: IntakeCommitter | ProcessCommitter = field(init=False)

    def __post_init__(self) -> None:
        if self.settings.intake_writer == "process":
            relaying = self.settings.outbox_relay_enabled
            self.intake = ProcessCommitter(
                self.settings.effective_database_url,
                after_commit=self.events_pending.set,
                publish_to=self.bus if relaying else None,
                redis_url=self.settings.redis_url,
                stream=self.settings.event_stream,
            )
        else:
            self.intake = IntakeCommitter(self.uow)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.clock(), after_commit=self.events_pending.set)

    def read_uow(self) -> UnitOfWork:
        """A unit of work that only reads: on SQLite it never waits for the write lock."""
        return UnitOfWork(self.sessions, self.clock(), read_only=True)

    @property
    def secret_box(self) -> SecretBox:
        """The keys sealing secrets at rest, as every session of `sessions` carries them."""
        return secret_box_of(self.sessions)

    def close(self) -> None:
        self.intake.close()
        self.bus.close()
        self.engine.dispose()


def build_platform(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> Platform:
    engine = create_db_engine(settings.effective_database_url)
    sessions = session_factory(engine, SecretBox(settings.secrets_keyring()))
    bus = create_bus(settings.redis_url, settings.event_stream)
    return Platform(
        settings=settings,
        engine=engine,
        sessions=sessions,
        bus=bus,
        relay=OutboxRelay(sessions, bus, clock),
        blobs=FileBlobStore(settings.blob_dir),
        clock=clock,
        channels=build_channel_registry(settings),
    )
