"""What the widget asks routing: may a visitor chat now, and how long will they wait?

A small port, so that the chat channel depends on two questions rather than on the
routing engine's internals; `RoutingStats` answers them from `jietong.routing.stats`
(queue status, position and estimated wait), the same figures the wallboard shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from jietong.core.errors import NotFound
from jietong.core.tenancy import system_actor
from jietong.routing import stats
from jietong.storage.uow import UnitOfWork

# Logged-in agent states that do not take new work.
_NOT_TAKING_WORK = frozenset({"not_ready", "offline"})


@dataclass(frozen=True)
class Availability:
    """Whether the queue is inside its business hours, and how many agents qualified
    for it are logged in and not paused (None: unknown)."""

    open: bool = True
    agents: int | None = None


@dataclass(frozen=True)
class Waiting:
    """A waiting conversation's place: 1 is next; the estimate may be unknown.
    `deferred`: routing stopped holding it live (a queue limit or closed hours turned it
    into a message that waits as work): it will be answered, just not right now."""

    position: int
    ewt_seconds: float | None
    deferred: bool = False


class RoutingView(Protocol):
    def availability(
        self, uow: UnitOfWork, org_id: str, queue_id: str, *, now: datetime
    ) -> Availability:
        """The queue's opening state and its available agents at `now`."""
        ...

    def waiting(
        self, uow: UnitOfWork, org_id: str, interaction_id: str, *, now: datetime
    ) -> Waiting | None:
        """The interaction's place in its queue; None when it is not waiting in one."""
        ...


class RoutingStats:
    """The port answered by the routing engine's read model."""

    def availability(
        self, uow: UnitOfWork, org_id: str, queue_id: str, *, now: datetime
    ) -> Availability:
        try:
            status = stats.get_queue_status(uow, system_actor(org_id), queue_id, now=now)
        except NotFound:
            return Availability()
        agents = sum(n for state, n in status.agents.items() if state not in _NOT_TAKING_WORK)
        return Availability(open=status.open, agents=agents)

    def waiting(
        self, uow: UnitOfWork, org_id: str, interaction_id: str, *, now: datetime
    ) -> Waiting | None:
        try:
            place = stats.get_position(uow, system_actor(org_id), interaction_id, now=now)
        except NotFound:
            return None
        return Waiting(
            position=place.position, ewt_seconds=place.ewt_seconds, deferred=place.kind != "live"
        )
