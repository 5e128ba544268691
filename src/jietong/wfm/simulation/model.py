"""What to simulate: queues with their demand, agents with their shifts, and the day's grid.

Time is seconds from the start of the simulated horizon, which is ``n_intervals`` intervals
of ``interval_seconds`` each. All constructors validate and raise `InvalidInput` with a
message fit for an end user.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from jietong.core.errors import InvalidInput
from jietong.routing.policies import DEFAULT_AGING_SECONDS_PER_LEVEL, AgentPolicy
from jietong.wfm.simulation.distributions import Distribution, Exponential, Never


@dataclass(frozen=True)
class CallbackOffer:
    """Offer a callback to a contact that would wait, instead of holding.

    When a contact finds no free agent and its *estimated* wait exceeds
    ``threshold_seconds``, it accepts a callback with ``accept_probability``. An accepted
    callback keeps its place in the queue (virtual hold), can no longer abandon, and when
    an agent reaches it the agent spends ``dial_seconds`` more on it (dialling out).
    The estimate is ``(contacts ahead + 1) * mean handle time / agents logged in for the
    queue`` — the crude but common "position times AHT over staff" rule used by ACDs.
    """

    threshold_seconds: float
    accept_probability: float
    dial_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.threshold_seconds) and self.threshold_seconds >= 0):
            raise InvalidInput("callback threshold must be a finite number of seconds >= 0")
        if not 0.0 <= self.accept_probability <= 1.0:
            raise InvalidInput("callback acceptance probability must be between 0 and 1")
        if not (math.isfinite(self.dial_seconds) and self.dial_seconds >= 0):
            raise InvalidInput("callback dial time must be a finite number of seconds >= 0")


@dataclass(frozen=True)
class QueueSpec:
    """One queue: its demand per interval and how its contacts behave.

    ``volumes`` holds the expected number of arrivals in each interval (a forecast, or
    history averaged per interval); arrivals are Poisson with that mean, uniformly spread
    within the interval, i.e. a piecewise-constant non-homogeneous Poisson process.
    ``priorities`` is a distribution of (priority, weight) pairs drawn per contact.
    ``required_skills`` defaults to ``{queue_id: 1}``.
    """

    queue_id: str
    volumes: tuple[float, ...]
    handle_time: Distribution
    patience: Distribution = field(default_factory=Never)
    channel: str = "voice"
    required_skills: Mapping[str, int] | None = None
    priorities: tuple[tuple[int, float], ...] = ((0, 1.0),)
    policy: AgentPolicy = AgentPolicy.LONGEST_IDLE
    callback: CallbackOffer | None = None

    def __post_init__(self) -> None:
        if not self.queue_id:
            raise InvalidInput("a queue needs a non-empty id")
        if any(not (math.isfinite(v) and v >= 0) for v in self.volumes):
            raise InvalidInput(f"queue {self.queue_id}: volumes must be finite and >= 0")
        if not self.priorities or any(w < 0 for _, w in self.priorities):
            raise InvalidInput(f"queue {self.queue_id}: priority weights must be >= 0")
        if sum(w for _, w in self.priorities) <= 0:
            raise InvalidInput(f"queue {self.queue_id}: priority weights must not all be 0")
        skills = self.skills
        if any(not 1 <= level <= 10 for level in skills.values()):
            raise InvalidInput(f"queue {self.queue_id}: skill levels must be within 1..10")

    @property
    def skills(self) -> Mapping[str, int]:
        """The skills (and minimum levels) every contact of this queue requires."""
        if self.required_skills is None:
            return MappingProxyType({self.queue_id: 1})
        return self.required_skills


@dataclass(frozen=True)
class AgentSpec:
    """One agent: skills with levels 1..10, shifts as (start, end) seconds, concurrency.

    ``concurrency`` is how many contacts the agent may handle at once (1 for voice,
    typically 2-4 for chat).
    """

    agent_id: str
    skills: Mapping[str, int]
    shifts: tuple[tuple[float, float], ...]
    concurrency: int = 1

    def __post_init__(self) -> None:
        if not self.agent_id:
            raise InvalidInput("an agent needs a non-empty id")
        if self.concurrency < 1:
            raise InvalidInput(f"agent {self.agent_id}: concurrency must be at least 1")
        if any(not 1 <= level <= 10 for level in self.skills.values()):
            raise InvalidInput(f"agent {self.agent_id}: skill levels must be within 1..10")
        last_end = -math.inf
        for start, end in sorted(self.shifts):
            if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
                raise InvalidInput(f"agent {self.agent_id}: a shift must have 0 <= start < end")
            if start < last_end:
                raise InvalidInput(f"agent {self.agent_id}: shifts overlap")
            last_end = end


@dataclass(frozen=True)
class Scenario:
    """A complete simulation model.

    ``service_target_seconds`` is T in the service level; ``warmup_intervals`` leading
    intervals are left out of the overall figures (the system starts empty).
    """

    interval_seconds: float
    n_intervals: int
    queues: tuple[QueueSpec, ...]
    agents: tuple[AgentSpec, ...]
    service_target_seconds: float = 20.0
    aging_seconds_per_level: float | None = DEFAULT_AGING_SECONDS_PER_LEVEL
    warmup_intervals: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.interval_seconds) and self.interval_seconds > 0):
            raise InvalidInput("interval length must be a positive number of seconds")
        if self.n_intervals < 1:
            raise InvalidInput("the horizon needs at least one interval")
        if not self.queues:
            raise InvalidInput("a scenario needs at least one queue")
        _unique("queue", [q.queue_id for q in self.queues])
        _unique("agent", [a.agent_id for a in self.agents])
        for queue in self.queues:
            if len(queue.volumes) != self.n_intervals:
                raise InvalidInput(
                    f"queue {queue.queue_id}: {len(queue.volumes)} volumes given for "
                    f"{self.n_intervals} intervals"
                )
        if not (math.isfinite(self.service_target_seconds) and self.service_target_seconds >= 0):
            raise InvalidInput("the service-level target must be a number of seconds >= 0")
        aging = self.aging_seconds_per_level
        if aging is not None and not (math.isfinite(aging) and aging > 0):
            raise InvalidInput("aging must be a positive number of seconds per priority level")
        if not 0 <= self.warmup_intervals < self.n_intervals:
            raise InvalidInput("warm-up must leave at least one interval to report")

    @property
    def horizon(self) -> float:
        return self.interval_seconds * self.n_intervals


def _unique(kind: str, ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for ident in ids:
        if ident in seen:
            raise InvalidInput(f"duplicate {kind} id {ident!r}")
        seen.add(ident)


def agents_from_headcount(
    headcounts: Sequence[int],
    interval_seconds: float,
    skills: Mapping[str, int],
    *,
    prefix: str = "agent",
    concurrency: int = 1,
) -> tuple[AgentSpec, ...]:
    """Agents realising a per-interval headcount with identical skills.

    Agent k works every interval whose headcount exceeds k, so when staffing drops the
    highest-numbered agents leave (after finishing the contact in hand).
    """
    if any(h < 0 for h in headcounts):
        raise InvalidInput("headcounts must be >= 0")
    width = len(str(max(headcounts, default=0)))
    agents = []
    for k in range(max(headcounts, default=0)):
        shifts: list[tuple[float, float]] = []
        for i, heads in enumerate(headcounts):
            if heads <= k:
                continue
            start, end = i * interval_seconds, (i + 1) * interval_seconds
            if shifts and shifts[-1][1] == start:
                shifts[-1] = (shifts[-1][0], end)  # contiguous intervals form one shift
            else:
                shifts.append((start, end))
        agents.append(
            AgentSpec(f"{prefix}-{k + 1:0{width}d}", dict(skills), tuple(shifts), concurrency)
        )
    return tuple(agents)


def volumes_from_history(
    arrival_times: Sequence[float], interval_seconds: float, n_intervals: int, periods: int = 1
) -> tuple[float, ...]:
    """Expected arrivals per interval, averaged from past arrival times.

    ``arrival_times`` are seconds from the start of ``periods`` consecutive periods of
    ``n_intervals`` intervals each (e.g. 28 days of 96 quarter-hours); every period is folded
    onto one grid and the counts are averaged. Times outside the periods are an error.
    """
    if periods < 1 or n_intervals < 1 or not interval_seconds > 0:
        raise InvalidInput("history needs at least one period of at least one interval")
    span = interval_seconds * n_intervals
    counts = [0] * n_intervals
    for t in arrival_times:
        if not 0 <= t < span * periods:
            raise InvalidInput(f"arrival time {t!r} is outside the {periods} period(s) given")
        counts[int((t % span) // interval_seconds)] += 1
    return tuple(c / periods for c in counts)


def single_queue_scenario(
    *,
    calls_per_hour: float,
    aht_seconds: float,
    agents: int,
    hours: float,
    patience_seconds: float | None = None,
    target_seconds: float = 20.0,
    interval_seconds: float = 900.0,
    warmup_intervals: int = 0,
    handle_time: Distribution | None = None,
    callback: CallbackOffer | None = None,
) -> Scenario:
    """The textbook M/M/n(+M) model: one queue, constant demand, n identical agents.

    Handle times are exponential with mean ``aht_seconds`` unless ``handle_time`` is given;
    patience is exponential with mean ``patience_seconds`` (no abandonment if None);
    ``callback`` optionally offers callbacks to contacts facing a long wait.
    """
    if not (math.isfinite(calls_per_hour) and calls_per_hour >= 0):
        raise InvalidInput("calls per hour must be a number >= 0")
    if agents < 1:
        raise InvalidInput("at least one agent is needed")
    if not (math.isfinite(hours) and hours > 0):
        raise InvalidInput("hours must be a positive number")
    if not (math.isfinite(aht_seconds) and aht_seconds > 0):
        raise InvalidInput("average handle time must be a positive number of seconds")
    if patience_seconds is not None and not (
        math.isfinite(patience_seconds) and patience_seconds > 0
    ):
        raise InvalidInput("mean patience must be a positive, finite number of seconds")
    n_intervals = max(1, math.ceil(hours * 3600 / interval_seconds - 1e-9))
    per_interval = calls_per_hour * interval_seconds / 3600
    patience: Distribution = Never() if patience_seconds is None else Exponential(patience_seconds)
    queue = QueueSpec(
        queue_id="queue",
        volumes=(per_interval,) * n_intervals,
        handle_time=handle_time or Exponential(aht_seconds),
        patience=patience,
        callback=callback,
    )
    staff = agents_from_headcount([agents] * n_intervals, interval_seconds, queue.skills)
    return Scenario(
        interval_seconds=interval_seconds,
        n_intervals=n_intervals,
        queues=(queue,),
        agents=staff,
        service_target_seconds=target_seconds,
        warmup_intervals=warmup_intervals,
    )
