"""Ordered, resumable event streams for screens.

A screen loads a snapshot that says which publication number it reflects (`as_of`), then
opens the stream with `after=as_of`. The gateway subscribes to the bus first, then
replays what was published after `after` from the outbox, then forwards live events,
skipping any it already replayed — so nothing is lost or repeated at the seam. After a
network drop the client reconnects with the last `seq` it applied and continues.

The relay hands events to the bus before its transaction commits (so a crash can only
repeat an event, never lose one). A stream that subscribes inside that window receives
no live copy and cannot yet read the row. Relays run one at a time and a relay's lock is
held until its commit, so by the time the first live event arrives every event numbered
before it is committed: the stream reads the outbox once more then, before yielding that
event. (Without it, the live event would move the stream past the missed one for good —
seen as a wallboard out of step with a fresh snapshot.) Whenever the live queue has been
quiet for CATCH_UP_SECONDS the stream reads the outbox again too.
Events the actor may not see are dropped here, on the server, never in the browser.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from jietong.core.tenancy import Actor
from jietong.desktop import store
from jietong.desktop.visibility import visible
from jietong.events.base import Envelope
from jietong.events.bus import EventBus
from jietong.storage.outbox import envelope_of
from jietong.storage.uow import UnitOfWork

REPLAY_LIMIT = 5_000  # beyond this a client should load a fresh snapshot instead
CATCH_UP_SECONDS = 1.0


class ReplayTooLong(Exception):
    """The client is too far behind; it must reload its snapshot."""


@dataclass
class EventStream:
    bus: EventBus
    new_uow: Callable[[], UnitOfWork]

    async def events(self, actor: Actor, after: int) -> AsyncIterator[Envelope]:
        """Every event visible to `actor` with seq > `after`, in order, forever."""
        loop = asyncio.get_running_loop()
        live: asyncio.Queue[Envelope] = asyncio.Queue()

        def on_event(envelope: Envelope) -> None:  # runs in the relay's thread
            if envelope.org_id == actor.org_id:
                loop.call_soon_threadsafe(live.put_nowait, envelope)

        unsubscribe = self.bus.subscribe(on_event)
        try:
            last = after
            for envelope in await asyncio.to_thread(self._replay, actor.org_id, after):
                last = envelope.seq or last
                if visible(envelope, actor):
                    yield envelope
            seam_read = False
            while True:
                try:
                    batch = [await asyncio.wait_for(live.get(), CATCH_UP_SECONDS)]
                    if not seam_read:  # see the module's docstring
                        seam_read = True
                        earlier = await asyncio.to_thread(self._replay, actor.org_id, last)
                        batch = sorted(earlier + batch, key=lambda e: e.seq or 0)
                except TimeoutError:
                    batch = await asyncio.to_thread(self._replay, actor.org_id, last)
                for envelope in batch:
                    if envelope.seq is None or envelope.seq <= last:
                        continue
                    last = envelope.seq
                    if visible(envelope, actor):
                        yield envelope
        finally:
            unsubscribe()

    def _replay(self, org_id: str, after: int) -> list[Envelope]:
        with self.new_uow() as uow:
            rows = store.published_after(uow.session, org_id, after, REPLAY_LIMIT + 1)
        if len(rows) > REPLAY_LIMIT:
            raise ReplayTooLong(f"more than {REPLAY_LIMIT} events behind")
        return [envelope_of(r) for r in rows]

    def position(self) -> int:
        """The newest publication number: what a snapshot taken now reflects at least."""
        with self.new_uow() as uow:
            return store.last_published(uow.session)
