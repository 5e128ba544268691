"""The stream's seam between replay and live events, at its narrowest: an event the
relay handed to the bus before the stream subscribed, whose transaction commits only
after the stream's replay read it. PostgreSQL only: on SQLite the replay waits for the
relay's write lock, so the window does not exist there."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from jietong.app.platform import Platform, build_platform
from jietong.app.settings import Settings
from jietong.core.tenancy import Actor
from jietong.desktop.stream import EventStream
from jietong.events.base import Envelope
from jietong.events.bus import InProcessBus
from jietong.identity import service as identity_service
from jietong.identity.schemas import CustomerCreate
from jietong.storage.outbox import OutboxRelay
from tests.conftest import make_tenant


@pytest.fixture
def pg_platform(db_url_postgres_only: str, tmp_path: Path) -> Iterator[Platform]:
    built = build_platform(Settings(data_dir=tmp_path / "data", database_url=db_url_postgres_only))
    yield built
    built.close()


class HeldBus(InProcessBus):
    """Delivers, then holds the publishing relay (inside its transaction) until let go."""

    def __init__(self) -> None:
        super().__init__()
        self.handed = threading.Event()
        self.let_go = threading.Event()

    def publish(self, envelopes: Sequence[Envelope]) -> None:
        super().publish(envelopes)
        self.handed.set()
        assert self.let_go.wait(10)


def _customer(platform: Platform, actor: Actor, name: str) -> None:
    with platform.uow() as uow:
        identity_service.create_customer(
            uow, actor, CustomerCreate(display_name=name), default_region="CN"
        )


def test_an_event_published_before_subscribing_and_committed_after_the_replay_arrives(
    pg_platform: Platform,
) -> None:
    admin = make_tenant(pg_platform, "seam").admin
    bus = HeldBus()
    relay = OutboxRelay(pg_platform.sessions, bus, pg_platform.clock)
    bus.let_go.set()
    relay.relay_all()  # the tenant's own events, out of the way
    bus.let_go.clear()
    bus.handed.clear()
    _customer(pg_platform, admin, "early")
    held = threading.Thread(target=relay.relay_once)  # hands "early" over, then waits
    held.start()
    assert bus.handed.wait(10)

    async def scenario() -> list[str]:
        events = EventStream(bus, pg_platform.uow)
        stream = events.events(admin, after=await asyncio.to_thread(events.position))
        first = asyncio.ensure_future(anext(stream))  # subscribes, replays, waits live
        await asyncio.sleep(0.3)
        assert not first.done()  # "early" is neither live nor readable yet
        bus.let_go.set()
        await asyncio.to_thread(held.join)
        bus.handed.clear()
        await asyncio.to_thread(_customer, pg_platform, admin, "late")
        await asyncio.to_thread(relay.relay_once)  # "late" arrives live at once
        arrived = [await asyncio.wait_for(first, 5)]
        with contextlib.suppress(TimeoutError):  # without the seam read: never
            arrived.append(await asyncio.wait_for(anext(stream), 3))
        return [str(envelope.payload.get("display_name")) for envelope in arrived]

    assert asyncio.run(scenario()) == ["early", "late"]
