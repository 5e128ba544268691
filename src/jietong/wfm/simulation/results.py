"""Raw counters of one replication, and the figures derived from them.

Definitions (a *live* contact is one that did not accept a callback; contacts count in the
interval in which they arrived):

* ``service_level`` = live contacts answered within T seconds / live contacts offered.
  Abandoned contacts count in the denominator whenever they abandon (no short-abandon
  exclusion), which is the Erlang A definition P(answered and wait <= T).
* ``asa`` = mean wait of answered live contacts (average speed of answer).
* ``mean_wait`` = mean time in queue of all live contacts, answered or abandoned.
* ``abandon_rate`` = abandoned / live offered.
* ``p_wait`` = share of live contacts not answered on arrival.
* ``callback_rate`` = accepted callbacks / offered; ``callback_delay`` = mean time from
  arrival to an agent starting the callback.
* ``occupancy`` = agent-seconds busy (at least one contact) / agent-seconds logged in.
* ``mean_queue`` = time-average number of waiting contacts (callbacks included);
  ``max_queue`` its maximum. These two and occupancy are over all queues.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

TraceEntry = tuple[int, str, float]
"""(contact number, agent id, time the agent took it)."""

CONTACT_METRICS = (
    "service_level",
    "asa",
    "mean_wait",
    "abandon_rate",
    "p_wait",
    "callback_rate",
    "callback_delay",
    "offered",
    "answered",
    "abandoned",
    "callbacks",
)
SYSTEM_METRICS = ("occupancy", "mean_queue", "max_queue")


@dataclass(frozen=True)
class ReplicationResult:
    """Counters of one run. Contact counters are indexed ``interval * n_queues + queue``;
    the time integrals (``queue_area`` ...) by interval only."""

    queue_ids: tuple[str, ...]
    interval_seconds: float
    n_intervals: int
    target_seconds: float
    offered: list[int]
    answered: list[int]
    answered_in_target: list[int]
    answered_immediately: list[int]
    abandoned: list[int]
    callbacks_offered: list[int]
    callbacks: list[int]
    callbacks_answered: list[int]
    wait_answered: list[float]
    wait_abandoned: list[float]
    callback_delay: list[float]
    queue_area: list[float]
    queue_max: list[int]
    busy_area: list[float]
    staffed_area: list[float]
    unserved: int
    events: int
    trace: tuple[TraceEntry, ...] | None = None

    def metrics(
        self, intervals: Sequence[int], queues: Sequence[int] | None = None
    ) -> dict[str, float]:
        """The figures over the given intervals and queues (all queues if None).

        System metrics (occupancy, queue length) are only given for all queues. A ratio
        with nothing to divide by is NaN.
        """
        nq = len(self.queue_ids)
        qs = range(nq) if queues is None else queues
        idx = [i * nq + q for i in intervals for q in qs]

        def total(values: Sequence[float]) -> float:
            return math.fsum(values[k] for k in idx)

        offered, callbacks = total(self.offered), total(self.callbacks)
        live, answered, abandoned = offered - callbacks, total(self.answered), total(self.abandoned)
        out = {
            "service_level": _ratio(total(self.answered_in_target), live),
            "asa": _ratio(total(self.wait_answered), answered),
            "mean_wait": _ratio(
                total(self.wait_answered) + total(self.wait_abandoned), answered + abandoned
            ),
            "abandon_rate": _ratio(abandoned, live),
            "p_wait": 1.0 - _ratio(total(self.answered_immediately), live),
            "callback_rate": _ratio(callbacks, offered),
            "callback_delay": _ratio(total(self.callback_delay), total(self.callbacks_answered)),
            "offered": offered,
            "answered": answered,
            "abandoned": abandoned,
            "callbacks": callbacks,
        }
        if queues is None:
            span = len(intervals) * self.interval_seconds
            out["occupancy"] = _ratio(
                math.fsum(self.busy_area[i] for i in intervals),
                math.fsum(self.staffed_area[i] for i in intervals),
            )
            out["mean_queue"] = _ratio(math.fsum(self.queue_area[i] for i in intervals), span)
            out["max_queue"] = float(max((self.queue_max[i] for i in intervals), default=0))
        return out

    @property
    def completions(self) -> int:
        """Contacts an agent finished (live and callbacks)."""
        return sum(self.answered) + sum(self.callbacks_answered)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan
