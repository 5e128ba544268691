"""Estimated wait time (EWT) of a waiting contact. Pure: events and times in, seconds out.

Model. While a queue has a backlog, its head advances at the *service rate* ``r`` (every
agent who can take the work is busy, so each completion frees one for the head) and each
waiting contact leaves on its own at the *abandonment hazard* ``θ`` per second. A contact
with ``k`` others ahead moves up one place after an exponential time of rate
``r + m·θ`` while ``m`` others are ahead, and is served once it reaches the head, so

    EWT(k) = Σ_{m=0..k} 1 / (r + m·θ)

which is exact for the Erlang A (M/M/N+M) queue and reduces to the textbook
``(k + 1) · AHT / N`` without abandonment.

Both rates are *measured* rather than assumed: `RateTracker` keeps exponentially
weighted counts (time constant ``tau``) of contacts served from the backlog, per second of
backlog, and of abandonments, per second of waiting. Measuring ``r`` captures what a
staffing formula misses: agents shared with other queues, breaks, wrap-up time, agents
slower or faster than average. When the queue has too little history, the measurement is
blended with the staffing estimate ``N / AHT`` as a prior worth `PRIOR_SERVICES` services.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_TAU_SECONDS = 900.0
PRIOR_SERVICES = 3.0
MAX_TERMS = 100_000


@dataclass(frozen=True)
class Rates:
    """Measured rates of one queue: ``served`` contacts over ``backlog_seconds`` of
    backlog, ``abandoned`` over ``waiting_seconds`` of contact-waiting (all decayed)."""

    served: float
    backlog_seconds: float
    abandoned: float
    waiting_seconds: float

    def service_rate(self, prior_rate: float | None) -> float | None:
        """Contacts per second the head of the queue advances at, or None if unknown."""
        if prior_rate is not None and prior_rate > 0:
            return (self.served + PRIOR_SERVICES) / (
                self.backlog_seconds + PRIOR_SERVICES / prior_rate
            )
        if self.served >= 1 and self.backlog_seconds > 0:
            return self.served / self.backlog_seconds
        return None

    @property
    def abandon_rate(self) -> float:
        """Per waiting contact, the probability per second of hanging up."""
        if self.waiting_seconds <= 0:
            return 0.0
        return self.abandoned / self.waiting_seconds


class RateTracker:
    """Exponentially weighted service and abandonment rates of one queue, fed with the
    queue's events in time order: a contact starts waiting, is served, abandons or leaves
    otherwise (moved, turned into a callback)."""

    __slots__ = ("_abandoned", "_backlog", "_served", "_t", "_waiting", "_waiting_time", "tau")

    def __init__(self, tau: float = DEFAULT_TAU_SECONDS, start: float = 0.0) -> None:
        self.tau = tau
        self._t = start
        self._waiting = 0
        self._backlog = 0.0
        self._waiting_time = 0.0
        self._served = 0.0
        self._abandoned = 0.0

    @property
    def waiting(self) -> int:
        return self._waiting

    def _advance(self, t: float) -> None:
        dt = t - self._t
        if dt <= 0:
            return
        decay = math.exp(-dt / self.tau)
        weight = self.tau * (1.0 - decay)  # ∫ e^{-(t-s)/τ} ds over the interval
        self._backlog = self._backlog * decay + (weight if self._waiting > 0 else 0.0)
        self._waiting_time = self._waiting_time * decay + self._waiting * weight
        self._served *= decay
        self._abandoned *= decay
        self._t = t

    def started_waiting(self, t: float) -> None:
        self._advance(t)
        self._waiting += 1

    def served(self, t: float) -> None:
        self._advance(t)
        self._served += 1.0
        self._waiting = max(self._waiting - 1, 0)

    def abandoned(self, t: float) -> None:
        self._advance(t)
        self._abandoned += 1.0
        self._waiting = max(self._waiting - 1, 0)

    def left(self, t: float) -> None:
        self._advance(t)
        self._waiting = max(self._waiting - 1, 0)

    def rates(self, t: float) -> Rates:
        self._advance(t)
        return Rates(self._served, self._backlog, self._abandoned, self._waiting_time)


def staffing_rate(slots: float, handle_seconds: float | None) -> float | None:
    """The prior service rate ``N / AHT``: slots able to take the work over the mean
    handle time (None without either)."""
    if slots <= 0 or handle_seconds is None or handle_seconds <= 0:
        return None
    return slots / handle_seconds


def estimate_wait(
    ahead: int, rates: Rates, *, prior_rate: float | None, free_agent: bool = False
) -> float | None:
    """Expected seconds until a contact with ``ahead`` contacts before it is offered;
    0 when an eligible agent is free and nobody is ahead, None when no rate is known."""
    if ahead <= 0 and free_agent:
        return 0.0
    rate = rates.service_rate(prior_rate)
    if rate is None or rate <= 0:
        return None
    theta = rates.abandon_rate
    terms = min(max(ahead, 0), MAX_TERMS)
    if theta <= 0:
        return (terms + 1) / rate
    return sum(1.0 / (rate + m * theta) for m in range(terms + 1))


def naive_wait(ahead: int, agents: int, handle_seconds: float) -> float | None:
    """The textbook estimate ``position · AHT / agents`` (position = ahead + 1): the
    benchmark's reference."""
    if agents <= 0:
        return None
    return (ahead + 1) * handle_seconds / agents
