"""Estimated wait time (EWT) of a waiting contact. Pure: events and times in, seconds out.

Model. While a queue has a backlog, its head advances at the *service rate* ``r`` (every
agent who can take the work is busy, so each completion frees one for the head) and each
waiting contact leaves on its own at the *abandonment hazard* ``θ`` per second. A contact
with ``k`` others ahead moves up one place after an exponential time of rate ``r + m·θ``
while ``m`` others are ahead and is served once it reaches the head, so its wait is a sum
of independent exponential times with

    mean = Σ_{m=0..k} 1 / (r + m·θ)        variance = Σ_{m=0..k} 1 / (r + m·θ)²

exact for the Erlang A (M/M/N+M) queue; without abandonment the mean is the textbook
``(k + 1) · AHT / N``. The figure told to customers is the *median* of that distribution
(half of the contacts in this place wait less), from a gamma fit of mean and variance:
waits are skewed, and the median is what minimises the typical (absolute) error. The mean
is available too.

Both rates are *measured*. `RateTracker` keeps exponentially weighted counts (time
constant ``tau``) of the contacts served from the backlog, of the services the staffing
would have allowed over the same backlog time (``N(t) / AHT``, fed with `set_nominal`),
and of abandonments per second of waiting. Their ratio is the queue's *efficiency*: what
a staffing formula misses (agents shared with other queues or passed over for higher
priority work, breaks between contacts, slower or faster agents). The service rate is
efficiency × today's staffing rate, so a change of staffing shows at once while the
efficiency is learnt slowly, with little noise. With little history the efficiency is
pulled towards 1 (`PRIOR_SERVICES` pseudo-services).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_TAU_SECONDS = 3600.0
PRIOR_SERVICES = 3.0
MAX_TERMS = 100_000


@dataclass(frozen=True)
class Rates:
    """Measured, decayed totals of one queue: ``served`` contacts over ``backlog_seconds``
    of backlog (``nominal_services`` of them the staffing allowed), ``abandoned`` over
    ``waiting_seconds`` of contact-waiting."""

    served: float
    backlog_seconds: float
    abandoned: float
    waiting_seconds: float
    nominal_services: float = 0.0

    def service_rate(self, staffing_rate: float | None) -> float | None:
        """Contacts per second the head of the queue advances at, or None if unknown."""
        if staffing_rate is not None and staffing_rate > 0:
            efficiency = (self.served + PRIOR_SERVICES) / (self.nominal_services + PRIOR_SERVICES)
            return efficiency * staffing_rate
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
    queue's events in time order: the staffing changes, a contact starts waiting, is
    served, abandons or leaves otherwise (moved, turned into a callback)."""

    __slots__ = (
        "_abandoned",
        "_backlog",
        "_nominal",
        "_nominal_services",
        "_served",
        "_t",
        "_waiting",
        "_waiting_time",
        "tau",
    )

    def __init__(self, tau: float = DEFAULT_TAU_SECONDS, start: float = 0.0) -> None:
        self.tau = tau
        self._t = start
        self._waiting = 0
        self._backlog = 0.0
        self._waiting_time = 0.0
        self._served = 0.0
        self._abandoned = 0.0
        self._nominal = 0.0
        self._nominal_services = 0.0

    @property
    def waiting(self) -> int:
        return self._waiting

    def _advance(self, t: float) -> None:
        dt = t - self._t
        if dt <= 0:
            return
        decay = math.exp(-dt / self.tau)
        weight = self.tau * (1.0 - decay)  # ∫ e^{-(t-s)/τ} ds over the interval
        backlog = weight if self._waiting > 0 else 0.0
        self._backlog = self._backlog * decay + backlog
        self._nominal_services = self._nominal_services * decay + backlog * self._nominal
        self._waiting_time = self._waiting_time * decay + self._waiting * weight
        self._served *= decay
        self._abandoned *= decay
        self._t = t

    def set_nominal(self, t: float, rate: float) -> None:
        """From ``t`` on, the staffing could serve the queue at ``rate`` contacts/s."""
        self._advance(t)
        self._nominal = max(rate, 0.0)

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
        return Rates(
            self._served, self._backlog, self._abandoned, self._waiting_time, self._nominal_services
        )


@dataclass(frozen=True)
class WaitEstimate:
    """Seconds until offered: ``median`` (told to customers) and ``mean``."""

    median: float
    mean: float


def staffing_rate(slots: float, handle_seconds: float | None) -> float | None:
    """``N / AHT``: slots able to take the work over the mean handle time (None without
    either)."""
    if slots <= 0 or handle_seconds is None or handle_seconds <= 0:
        return None
    return slots / handle_seconds


def estimate(
    ahead: int, rates: Rates, *, staffing: float | None, free_agent: bool = False
) -> WaitEstimate | None:
    """The wait of a contact with ``ahead`` contacts before it: zero when an eligible agent
    is free and nobody is ahead, None when no rate is known."""
    if ahead <= 0 and free_agent:
        return WaitEstimate(0.0, 0.0)
    rate = rates.service_rate(staffing)
    if rate is None or rate <= 0:
        return None
    theta = rates.abandon_rate
    terms = min(max(ahead, 0), MAX_TERMS)
    if theta <= 0:
        mean, variance = (terms + 1) / rate, (terms + 1) / rate**2
    else:
        steps = [1.0 / (rate + m * theta) for m in range(terms + 1)]
        mean, variance = sum(steps), sum(s * s for s in steps)
    return WaitEstimate(median=gamma_median(mean, variance), mean=mean)


def gamma_median(mean: float, variance: float) -> float:
    """The median of the gamma distribution with this mean and variance (Wilson-Hilferty;
    within 1% of the exact value for shape >= 1, which a sum of exponentials has)."""
    if mean <= 0 or variance <= 0:
        return max(mean, 0.0)
    shape = mean * mean / variance
    return mean * (1.0 - 1.0 / (9.0 * shape)) ** 3


def naive_wait(ahead: int, agents: int, handle_seconds: float) -> float | None:
    """The textbook estimate ``position · AHT / agents`` (position = ahead + 1): the
    benchmark's reference."""
    if agents <= 0:
        return None
    return (ahead + 1) * handle_seconds / agents
