"""Routing vocabulary: queue entries, offers, queue settings, overflow and limits. Pure.

A *queue entry* is one interaction's place in the routing queues. Its ``kind`` says who
is waiting: a live customer holding the line or the chat (``live``), or deferred work
that keeps the customer's place without holding (``callback``, ``voicemail``,
``message``). Deferred work is routed like any other, but it does not count against a
queue's live limits (maximum length, maximum wait).

Overflow and escalation are steps on the time an entry has spent in its current queue:
after ``after_seconds`` a step changes the required skill levels (lower them, drop a
skill with level 0, or require another one), raises the priority, or moves the entry to
another queue. Which steps apply is a pure function of the wait (`overflow_stage`), so a
restarted engine needs nothing but the entry's times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from jietong.core.statemachine import StateMachine
from jietong.routing.hours import BusinessHours

EntityId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]

LIVE_CHANNELS: frozenset[str] = frozenset({"call"})
"""Channels whose contact is present from the moment it is created (media, not
messages): an inbound one naming a queue is queued by the engine without waiting for a
message. Data, not a branch: a plugin voice channel would be listed here."""
SkillLevels = dict[EntityId, Annotated[int, Field(ge=0, le=10)]]


class EntryKind(StrEnum):
    LIVE = "live"
    CALLBACK = "callback"
    VOICEMAIL = "voicemail"
    MESSAGE = "message"
    TASK = "task"  # a back-office case task (`routing.case_tasks`)


DEFERRED_KINDS = frozenset(
    {EntryKind.CALLBACK, EntryKind.VOICEMAIL, EntryKind.MESSAGE, EntryKind.TASK}
)


class EntryState(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    SERVED = "served"
    REMOVED = "removed"


ACTIVE_ENTRY_STATES = frozenset({EntryState.WAITING, EntryState.OFFERED})


class OfferState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class OfferTrigger(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    EXPIRE = "expire"
    WITHDRAW = "withdraw"


_O = OfferState
OFFER_LIFECYCLE = StateMachine(
    "offer",
    {
        (_O.PENDING, OfferTrigger.ACCEPT): _O.ACCEPTED,
        (_O.PENDING, OfferTrigger.DECLINE): _O.DECLINED,
        (_O.PENDING, OfferTrigger.EXPIRE): _O.EXPIRED,
        (_O.PENDING, OfferTrigger.WITHDRAW): _O.WITHDRAWN,
    },
)


class LimitAction(StrEnum):
    """What happens to a live contact that hits a queue limit or a closed queue."""

    VOICEMAIL = "voicemail"  # the voice channel records a message; it waits as work
    CALLBACK = "callback"  # the customer hangs up and is called back, keeping the place
    MESSAGE = "message"  # the messaging channel tells the customer; it waits as work
    QUEUE = "queue"  # moved to ``limit_queue_id``, keeping the place


class LimitReason(StrEnum):
    QUEUE_LENGTH = "queue_length"
    MAX_WAIT = "max_wait"
    CLOSED = "closed"


class OverflowStep(BaseModel):
    """One overflow/escalation step, applied once the entry has waited ``after_seconds``
    in its current queue. ``min_levels`` sets minimum levels per skill id (lower to widen
    to less proficient agents, 0 to drop the skill, a new skill to escalate to
    specialists); ``priority_boost`` raises the priority; ``move_to_queue_id`` moves the
    entry (keeping its original arrival time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after_seconds: int = Field(ge=1, le=7 * 86_400)
    min_levels: SkillLevels = Field(default_factory=dict, max_length=20)
    priority_boost: int = Field(default=0, ge=0, le=100)
    move_to_queue_id: EntityId | None = None


class QueueSettings(BaseModel):
    """Routing settings of one queue. Defaults: inbound arrivals are queued at once, 20 s
    ring time, no overflow, no limits, always open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auto_enqueue: bool = True
    ring_timeout_seconds: int = Field(default=20, ge=5, le=600)
    overflow: list[OverflowStep] = Field(default_factory=list, max_length=10)
    max_queue_length: int | None = Field(default=None, ge=0, le=100_000)
    max_wait_seconds: int | None = Field(default=None, ge=1, le=7 * 86_400)
    limit_action: LimitAction = LimitAction.CALLBACK
    limit_queue_id: EntityId | None = None
    hours: BusinessHours | None = None
    closed_action: LimitAction | None = None

    @model_validator(mode="after")
    def _steps_in_order(self) -> QueueSettings:
        times = [s.after_seconds for s in self.overflow]
        if times != sorted(set(times)):
            raise ValueError("overflow steps must have strictly increasing after_seconds")
        uses_queue = LimitAction.QUEUE in (self.limit_action, self.closed_action)
        if uses_queue and self.limit_queue_id is None:
            raise ValueError("the 'queue' action needs limit_queue_id")
        return self


DEFAULT_SETTINGS = QueueSettings()


def overflow_stage(steps: Sequence[OverflowStep], waited_seconds: float) -> int:
    """How many steps apply after ``waited_seconds`` in the current queue."""
    return sum(1 for step in steps if step.after_seconds <= waited_seconds)


def effective_requirements(
    required: Mapping[str, int], steps: Sequence[OverflowStep], stage: int
) -> dict[str, int]:
    """The required skill levels after the first ``stage`` steps (level 0 drops one)."""
    levels = dict(required)
    for step in steps[:stage]:
        levels.update(step.min_levels)
    return {skill: level for skill, level in levels.items() if level > 0}


def priority_boost(steps: Sequence[OverflowStep], stage: int) -> int:
    """The priority the first ``stage`` steps add."""
    return sum(step.priority_boost for step in steps[:stage])


def first_move(steps: Sequence[OverflowStep], stage: int) -> str | None:
    """The queue the first applicable moving step sends the entry to, if any."""
    for step in steps[:stage]:
        if step.move_to_queue_id is not None:
            return step.move_to_queue_id
    return None


CASE_PRIORITY_BOOST = {"low": -1, "normal": 0, "high": 1, "urgent": 2}
"""Routing priority a linked case adds, by case priority."""


def entry_priority(
    queue_priority: int, vip_routing_priority: int, case_priorities: list[str]
) -> int:
    """An entry's base priority: the queue's, the customer's VIP tier, the most urgent
    linked case."""
    case = max((CASE_PRIORITY_BOOST.get(p, 0) for p in case_priorities), default=0)
    return queue_priority + vip_routing_priority + case


def epoch_seconds(moment: datetime) -> float:
    """The time axis of `routing.policies` (seconds since the Unix epoch)."""
    return moment.timestamp()
