"""Running the routing engine inside the server (embedded mode).

The engine's decisions are pure and its queues live in the database; this module only
decides *when* to run a cycle and *which process* runs it:

* when: after every event from the bus that may change routing (an interaction arrived,
  was answered or hung up, an agent changed state, settings changed…), and on a tick
  (default 1 s) for the timers: ring timeouts, wrap-up limits, overflow steps, maximum
  waits, scheduled callbacks, business hours. Events only wake the engine; correctness
  never depends on receiving them (the cycle reads the database).
* who: one leader per database. A lease row (`routing_leases`, 15 s, renewed each cycle)
  elects it, on SQLite and PostgreSQL alike; a process that loses or cannot renew the
  lease stops deciding. A killed process's lease is taken over at once by a successor on
  the same host (its pid is gone); elsewhere it runs out. Two leaders for a moment (a
  paused process resuming after its lease expired) are wasteful but safe: every offer
  is a conditional update behind unique indexes, so nothing is offered twice.

All in-process state (the wake-up event, leadership, the last wallboard figures) lives
in a `RoutingRuntime` object held by the platform, never in module globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from jietong.core.ids import new_id
from jietong.events.base import Envelope
from jietong.events.routing import QueueStatsChanged
from jietong.interactions.model import InteractionState
from jietong.routing import store
from jietong.routing.engine import CycleReport, run_all
from jietong.routing.stats import queue_stats_events
from jietong.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from jietong.app.platform import Platform

log = logging.getLogger(__name__)

LEASE_NAME = "routing-engine"
QUIET_EVENTS = frozenset(
    {"QueueStatsChanged", "OfferCreated", "WorkQueued", "InboundMessageReceived"}
)
"""Events that need not wake the engine: those it emits itself, and a customer's message
(its `MessageAdded` says whether it matters, see `wakes_routing`)."""


def wakes_routing(envelope: Envelope) -> bool:
    """Whether `envelope` may change what the engine decides.

    Messages are most of the events under load, and a message in a conversation that is
    already queued, offered or being handled changes nothing for routing; waking for
    each cost a loaded server a cycle every 0.1 s (intake benchmark, PostgreSQL:
    ~10% more messages/s without them). A customer's message in an interaction still
    'arrived' is what makes it routable (`store.arrivals`), so that one wakes it, as
    does one whose state the event does not tell. New interactions announce themselves
    (`InteractionCreated`); the tick covers anything else."""
    if envelope.event_type in QUIET_EVENTS:
        return False
    if envelope.event_type == "MessageAdded":
        payload = envelope.payload
        return (
            payload.get("direction") == "inbound"
            and not payload.get("internal")
            and payload.get("interaction_state") in (None, InteractionState.ARRIVED.value)
        )
    return True


@dataclass(frozen=True)
class RoutingRuntimeOptions:
    tick_seconds: float = 1.0
    lease_seconds: float = 15.0
    # Under a burst of events the loop runs cycles back to back; this gap between the
    # start of one and the next lets a cycle take a burst's arrivals together (one
    # commit for many) instead of one cycle per event. It bounds the added delay. An
    # idle cycle is a dozen reads; at 0.05 s they were a tenth of a loaded server's time
    # (intake benchmark, PostgreSQL: 0.1 s gave 665-701 msgs/s against 654-659).
    min_cycle_gap_seconds: float = 0.1
    # The wallboard's queue figures, from the loop, at most this often (a burst of
    # arrivals changes them every cycle; people read them at human speed).
    stats_interval_seconds: float = 1.0


def holder_is_dead(holder: str) -> bool:
    """Whether a lease holder is a process of this host that no longer exists (a killed
    embedded server): its successor need not wait for the lease to run out."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class RoutingRuntime:
    """The routing engine's in-process state and loop for one server process."""

    def __init__(self, options: RoutingRuntimeOptions | None = None) -> None:
        self.options = options or RoutingRuntimeOptions()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{new_id()[-8:]}"
        self._platform: Platform | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._stats: dict[tuple[str, str], str] = {}
        self._lease_until: datetime | None = None
        self.is_leader = False

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, platform: Platform) -> None:
        """Subscribe to the bus and start the loop (called from the ASGI lifespan)."""
        self._platform = platform
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        platform.bus.subscribe(self.on_event)
        self._task = asyncio.create_task(self._run_forever())

    async def stop(self) -> None:
        """Finish the cycle in progress, give up the lease, stop."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._platform is not None and self.is_leader:
            await asyncio.to_thread(self._release)

    def on_event(self, envelope: Envelope) -> None:
        """Bus handler (any thread): wake the loop for anything that may change routing."""
        if self._stopping or not wakes_routing(envelope):
            return
        loop, wake = self._loop, self._wake
        # Already woken: a burst of events need not queue a wake-up each (reading the
        # flag from another thread is a benign race: at worst one redundant wake-up).
        if loop is not None and wake is not None and not wake.is_set():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wake.set)

    async def _run_forever(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        stats_due = 0.0
        while not self._stopping:
            started = loop.time()
            publish_stats = started >= stats_due
            try:
                await asyncio.to_thread(self.step, None, publish_stats=publish_stats)
            except Exception:
                log.exception("routing engine cycle failed; retrying")
            if publish_stats:
                stats_due = started + self.options.stats_interval_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.options.tick_seconds)
            await asyncio.sleep(
                max(0.0, started + self.options.min_cycle_gap_seconds - loop.time())
            )
            self._wake.clear()

    # --- one step (synchronous, in a worker thread) -----------------------------------

    def step(
        self, now: datetime | None = None, *, publish_stats: bool = True
    ) -> CycleReport | None:
        """Run one engine cycle if this process leads; None if another one does."""
        platform = self._require_platform()
        moment = now or platform.clock()
        if not self._hold_lease(moment):
            return None
        report = run_all(self.new_uow, now=moment)
        if publish_stats:
            self._publish_stats(moment)
        return report

    def new_uow(self, now: datetime) -> UnitOfWork:
        platform = self._require_platform()
        return UnitOfWork(platform.sessions, now, after_commit=platform.events_pending.set)

    def _hold_lease(self, now: datetime) -> bool:
        half = timedelta(seconds=self.options.lease_seconds / 2)
        if self.is_leader and self._lease_until is not None and self._lease_until - now > half:
            return True  # renewing every cycle would cost a write (an fsync) per cycle
        until = now + timedelta(seconds=self.options.lease_seconds)
        with self.new_uow(now) as uow:
            held = store.take_lease(uow.session, LEASE_NAME, self.holder, now, until)
            if not held:
                stale = store.lease_holder(uow.session, LEASE_NAME)
                if stale is not None and holder_is_dead(stale):
                    held = store.take_over_lease(uow.session, LEASE_NAME, stale, self.holder, until)
            uow.session.commit()
        if held != self.is_leader:
            log.info("routing engine leadership %s (%s)", "taken" if held else "lost", self.holder)
        self.is_leader = held
        self._lease_until = until if held else None
        return held

    def _release(self) -> None:
        with self.new_uow(self._require_platform().clock()) as uow:
            store.release_lease(uow.session, LEASE_NAME, self.holder)
            uow.session.commit()
        self.is_leader = False
        self._lease_until = None

    def _publish_stats(self, now: datetime) -> None:
        """Emit `QueueStatsChanged` for every queue whose wallboard figures changed."""
        with self.new_uow(now) as uow:
            uow.begin_read()  # a read-only look first (see UnitOfWork.begin_read)
            orgs = set(store.orgs_with_work(uow.session)) | {org for org, _ in self._stats}
            changed: dict[tuple[str, str], tuple[str, QueueStatsChanged]] = {}
            for org_id in sorted(orgs):
                for event in queue_stats_events(uow, org_id):
                    key = (org_id, event.queue_id)
                    figures = event.model_dump_json()
                    if self._stats.get(key) != figures:
                        changed[key] = (figures, event)
            uow.session.rollback()
            if not changed:
                return
            for _figures, event in changed.values():
                uow.emit(event)
            uow.commit()
            self._stats.update({key: figures for key, (figures, _) in changed.items()})

    def _require_platform(self) -> Platform:
        if self._platform is None:
            raise RuntimeError("the routing runtime has not been started")
        return self._platform

    def attach(self, platform: Platform) -> None:
        """Bind to a platform without starting the loop (tests, tools driving `step`)."""
        self._platform = platform
