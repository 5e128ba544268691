"""Staffing solvers: the fewest agents that meet service targets, for many intervals at once.

Contract of :func:`solve_staffing`:

* Inputs broadcast like numpy arrays (one element per interval/queue).
* ``required_agents`` is the smallest integer n >= 0 whose figures meet *every* target
  given in :class:`StaffingTargets` (service level X within T, ASA, abandonment cap,
  occupancy cap). Without ``patience_seconds`` the queue is Erlang C (M/M/n); with it,
  Erlang A (M/M/n+M). No load needs no agents.
* ``scheduled_agents`` = ceil(required / (1 - shrinkage)).
* ``metrics`` are the figures at ``required_agents`` (see ``erlang.QueueMetrics``).

Why the search is correct: service level, ASA, abandonment and occupancy are monotone
in the number of agents (property-tested in tests/unit/wfm). Erlang C steps upward from
the first stable staffing with the Erlang B recurrence, which costs a few flops per step;
Erlang A brackets the answer by doubling and then bisects, all intervals in lockstep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np
import numpy.typing as npt

from jietong.wfm.erlang import (
    FloatArray,
    QueueMetrics,
    erlang_a_metrics,
    erlang_b,
    erlang_b_step,
    erlang_c_figures,
    erlang_c_metrics,
)

IntArray = npt.NDArray[np.int64]
SlDefinition = Literal["offered", "answered", "offered_excl_short_abandons"]
SL_DEFINITIONS: Final[tuple[str, ...]] = get_args(SlDefinition)

# Relative slack when turning a ratio into a ceiling, so that e.g. 7 / (1 - 0.3) =
# 10.000000000000002 in floating point schedules 10 agents, not 11.
_CEIL_SLACK: Final = 1e-12


@dataclass(frozen=True)
class StaffingTargets:
    """What every interval must achieve. Leave a target as None to ignore it.

    ``service_level``: fraction in (0, 1] of calls answered within ``target_seconds``,
    using the definition named by ``sl_definition`` (default ``"offered"``: answered
    within T / offered). ``asa_seconds`` > 0: cap on the mean wait of answered calls.
    ``max_abandon`` in (0, 1]: cap on abandoned / offered (Erlang A only).
    ``max_occupancy`` in (0, 1]: cap on carried load / agents.
    ``short_abandon_seconds``: S of the "excluding short abandons" definition.
    """

    service_level: float | None = None
    target_seconds: float = 20.0
    asa_seconds: float | None = None
    max_abandon: float | None = None
    max_occupancy: float | None = None
    sl_definition: SlDefinition = "offered"
    short_abandon_seconds: float = 5.0

    def validate(self, *, erlang_a: bool) -> None:
        """Raise ValueError with a plain message if the targets cannot be used."""
        if all(
            t is None
            for t in (self.service_level, self.asa_seconds, self.max_abandon, self.max_occupancy)
        ):
            raise ValueError("give at least one target (service level, ASA, abandon, occupancy)")
        _check_fraction("service level target", self.service_level)
        _check_fraction("abandonment cap", self.max_abandon)
        _check_fraction("occupancy cap", self.max_occupancy)
        if self.asa_seconds is not None and not (
            math.isfinite(self.asa_seconds) and self.asa_seconds > 0
        ):
            raise ValueError(f"ASA target must be > 0 seconds, got {self.asa_seconds}")
        if not (math.isfinite(self.target_seconds) and self.target_seconds >= 0):
            raise ValueError(f"target seconds must be >= 0, got {self.target_seconds}")
        if not (math.isfinite(self.short_abandon_seconds) and self.short_abandon_seconds >= 0):
            raise ValueError("short-abandon threshold must be >= 0 seconds")
        if self.sl_definition not in SL_DEFINITIONS:
            raise ValueError(f"service-level definition must be one of {SL_DEFINITIONS}")
        if self.max_abandon is not None and not erlang_a:
            raise ValueError("an abandonment cap needs a patience (Erlang A)")


def _check_fraction(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise ValueError(f"{name} must be in (0, 1], got {value}")


@dataclass(frozen=True)
class StaffingResult:
    """Agents needed per interval, and the figures they achieve (see module docstring)."""

    required_agents: IntArray
    scheduled_agents: IntArray
    metrics: QueueMetrics


def scheduled_from_required(required: npt.ArrayLike, shrinkage: npt.ArrayLike) -> IntArray:
    """ceil(required / (1 - shrinkage)): heads to schedule so that ``required`` are on-line."""
    ratio = np.asarray(required, dtype=np.float64) / (1.0 - np.asarray(shrinkage, np.float64))
    return np.ceil(ratio * (1.0 - _CEIL_SLACK)).astype(np.int64)


def solve_staffing(
    calls: npt.ArrayLike,
    aht_seconds: npt.ArrayLike,
    interval_seconds: npt.ArrayLike,
    targets: StaffingTargets,
    *,
    patience_seconds: npt.ArrayLike | None = None,
    shrinkage: npt.ArrayLike = 0.0,
) -> StaffingResult:
    """Fewest agents meeting ``targets`` in each interval (see the module contract).

    ``calls`` offered per interval (>= 0), ``aht_seconds`` > 0, ``interval_seconds`` > 0,
    ``patience_seconds`` > 0 (mean, exponential) switches to Erlang A, ``shrinkage`` in
    [0, 1). Raises ValueError on bad input.
    """
    erlang_a = patience_seconds is not None
    targets.validate(erlang_a=erlang_a)
    arrays = [np.asarray(v, dtype=np.float64) for v in (calls, aht_seconds, interval_seconds)]
    arrays.append(np.asarray(shrinkage, dtype=np.float64))
    if erlang_a:
        arrays.append(np.asarray(patience_seconds, dtype=np.float64))
    flat = [v.ravel() for v in np.broadcast_arrays(*arrays)]
    shape = np.broadcast_shapes(*(v.shape for v in arrays))
    n_calls, aht, interval, shrink = flat[:4]
    _validate_inputs(n_calls, aht, interval, shrink, flat[4] if erlang_a else None)
    rate = n_calls / interval
    load = rate * aht
    if erlang_a:
        patience = flat[4]
        required = _solve_erlang_a(rate, aht, patience, targets).reshape(shape)
        metrics = erlang_a_metrics(
            required,
            rate.reshape(shape),
            aht.reshape(shape),
            patience.reshape(shape),
            targets.target_seconds,
            targets.short_abandon_seconds,
        )
    else:
        required = _solve_erlang_c(load, aht, targets).reshape(shape)
        metrics = erlang_c_metrics(
            required, rate.reshape(shape), aht.reshape(shape), targets.target_seconds
        )
    return StaffingResult(
        required_agents=required,
        scheduled_agents=scheduled_from_required(required, shrink.reshape(shape)),
        metrics=metrics,
    )


def _validate_inputs(
    calls: FloatArray,
    aht: FloatArray,
    interval: FloatArray,
    shrinkage: FloatArray,
    patience: FloatArray | None,
) -> None:
    if not np.all(np.isfinite(calls) & (calls >= 0)):
        raise ValueError("calls must be finite and >= 0")
    if not np.all(np.isfinite(aht) & (aht > 0)):
        raise ValueError("AHT must be finite and > 0 seconds")
    if not np.all(np.isfinite(interval) & (interval > 0)):
        raise ValueError("interval length must be finite and > 0 seconds")
    if not np.all((shrinkage >= 0) & (shrinkage < 1)):
        raise ValueError("shrinkage must be in [0, 1)")
    if patience is not None and not np.all(np.isfinite(patience) & (patience > 0)):
        raise ValueError("patience must be finite and > 0 seconds")


# --------------------------------------------------------------------------- Erlang C


def _erlang_c_start(load: FloatArray, targets: StaffingTargets) -> FloatArray:
    """Lowest staffing worth checking: the first stable one, raised to the occupancy cap."""
    start = np.where(load > 0.0, np.floor(load) + 1.0, 0.0)
    if targets.max_occupancy is not None:
        by_occupancy = np.ceil(load / targets.max_occupancy * (1.0 - _CEIL_SLACK))
        start = np.maximum(start, by_occupancy)
    return start


def _erlang_c_meets(
    n: FloatArray, load: FloatArray, aht: FloatArray, b: FloatArray, targets: StaffingTargets
) -> npt.NDArray[np.bool_]:
    _, sl, asa, occupancy = erlang_c_figures(n, load, aht, targets.target_seconds, blocking=b)
    ok = np.ones(n.shape, dtype=np.bool_)
    if targets.service_level is not None:
        ok &= sl >= targets.service_level  # no abandons: every SL definition is the same
    if targets.asa_seconds is not None:
        ok &= asa <= targets.asa_seconds
    if targets.max_occupancy is not None:
        ok &= occupancy <= targets.max_occupancy
    return ok


def _solve_erlang_c(load: FloatArray, aht: FloatArray, targets: StaffingTargets) -> IntArray:
    """Step each interval up from its start with B(n + 1) = a B / (n + 1 + a B).

    Steps are counted from the first stable staffing, so an interval needs about
    (answer - load) iterations, O(sqrt(load)) for usual targets. Finished intervals are
    dropped from the working arrays at every step.
    """
    n = _erlang_c_start(load, targets)
    b = erlang_b(n, load)
    result = np.empty(load.shape, dtype=np.int64)
    index = np.arange(load.size)
    a, h = load, aht
    while index.size:
        ok = _erlang_c_meets(n, a, h, b, targets)
        result[index[ok]] = n[ok]
        keep = ~ok
        index, n, a, h, b = index[keep], n[keep], a[keep], h[keep], b[keep]
        b = erlang_b_step(b, n, a)
        n = n + 1.0
    return result


# --------------------------------------------------------------------------- Erlang A


def meets_targets(metrics: QueueMetrics, targets: StaffingTargets) -> npt.NDArray[np.bool_]:
    """Whether each element of ``metrics`` meets every target set in ``targets``."""
    ok = np.ones(metrics.agents.shape, dtype=np.bool_)
    if targets.service_level is not None:
        sl = {
            "offered": metrics.service_level,
            "answered": metrics.service_level_answered,
            "offered_excl_short_abandons": metrics.service_level_excl_short_abandons,
        }[targets.sl_definition]
        ok &= sl >= targets.service_level
    if targets.asa_seconds is not None:
        ok &= metrics.asa_seconds <= targets.asa_seconds
    if targets.max_abandon is not None:
        ok &= metrics.p_abandon <= targets.max_abandon
    if targets.max_occupancy is not None:
        ok &= metrics.occupancy <= targets.max_occupancy
    return ok


Feasible = Callable[[FloatArray, npt.NDArray[np.intp]], npt.NDArray[np.bool_]]


def _erlang_a_feasible(
    rate: FloatArray, aht: FloatArray, patience: FloatArray, targets: StaffingTargets
) -> Feasible:
    def feasible(n: FloatArray, index: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        metrics = erlang_a_metrics(
            n,
            rate[index],
            aht[index],
            patience[index],
            targets.target_seconds,
            targets.short_abandon_seconds,
        )
        return meets_targets(metrics, targets)

    return feasible


def _smallest_feasible(feasible: Feasible, load: FloatArray) -> IntArray:
    """Smallest n >= 0 with feasible(n), for a predicate monotone in n.

    Brackets by doubling the excess over the load, then bisects; each round evaluates
    only the intervals whose bracket is still open.
    """
    size = load.size
    lo = np.full(size, -1.0)  # known infeasible (n = -1 is never evaluated)
    excess = np.ceil(3.0 * np.sqrt(load)) + 1.0
    hi = np.ceil(load) + excess
    pending = np.arange(size)
    while pending.size:
        ok = feasible(hi[pending], pending)
        lo[pending[~ok]] = hi[pending[~ok]]
        pending = pending[~ok]
        excess[pending] *= 2.0
        hi[pending] = np.ceil(load[pending]) + excess[pending]
    open_ = np.flatnonzero(hi - lo > 1.0)
    while open_.size:
        mid = np.floor((lo[open_] + hi[open_]) / 2.0)
        ok = feasible(mid, open_)
        hi[open_[ok]] = mid[ok]
        lo[open_[~ok]] = mid[~ok]
        open_ = open_[hi[open_] - lo[open_] > 1.0]
    return hi.astype(np.int64)


def _solve_erlang_a(
    rate: FloatArray, aht: FloatArray, patience: FloatArray, targets: StaffingTargets
) -> IntArray:
    return _smallest_feasible(_erlang_a_feasible(rate, aht, patience, targets), rate * aht)
