"""Independent replications and their confidence intervals.

Each replication uses its own child of ``SeedSequence(seed)``, so replications are
independent and the whole study is reproducible from one integer. A figure's estimate is
the mean over the R replications with the half-width ``t(1 - α/2, R - 1) · s / √R`` of a
Student-t interval (s = sample standard deviation across replications). Replications where
a ratio is undefined (e.g. no contact offered in an interval) are left out of that figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from jietong.core.errors import InvalidInput
from jietong.wfm.simulation.engine import simulate
from jietong.wfm.simulation.model import Scenario
from jietong.wfm.simulation.results import ReplicationResult


@dataclass(frozen=True)
class Estimate:
    """Mean over replications with its standard error and confidence half-width.

    ``n`` counts the replications where the figure was defined; with fewer than two the
    standard error and half-width are NaN.
    """

    mean: float
    std_error: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def estimate(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """The Student-t confidence interval of the mean of ``values`` (NaNs ignored)."""
    data = [v for v in values if not math.isnan(v)]
    n = len(data)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = math.fsum(data) / n
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n)
    from scipy.special import stdtrit  # deferred: scipy is slow to import

    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in data) / (n - 1))
    se = sd / math.sqrt(n)
    return Estimate(mean, se, float(stdtrit(n - 1, 0.5 + confidence / 2)) * se, n)


@dataclass(frozen=True)
class SimulationReport:
    """Figures over R replications: overall (after warm-up), per queue and per interval.

    Metric names and definitions are those of `jietong.wfm.simulation.results`.
    """

    replications: int
    confidence: float
    target_seconds: float
    warmup_intervals: int
    interval_seconds: float
    overall: Mapping[str, Estimate]
    per_queue: Mapping[str, Mapping[str, Estimate]]
    per_interval: tuple[Mapping[str, Estimate], ...]
    events: int
    unserved: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (NaN becomes None)."""

        def figures(metrics: Mapping[str, Estimate]) -> dict[str, dict[str, float | None]]:
            return {
                name: {
                    "mean": _finite(e.mean),
                    "half_width": _finite(e.half_width),
                    "std_error": _finite(e.std_error),
                    "low": _finite(e.low),
                    "high": _finite(e.high),
                }
                for name, e in metrics.items()
            }

        return {
            "replications": self.replications,
            "confidence": self.confidence,
            "target_seconds": self.target_seconds,
            "warmup_intervals": self.warmup_intervals,
            "interval_seconds": self.interval_seconds,
            "events": self.events,
            "unserved": self.unserved,
            "overall": figures(self.overall),
            "per_queue": {q: figures(m) for q, m in self.per_queue.items()},
            "per_interval": [figures(m) for m in self.per_interval],
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def summarize(
    results: Sequence[ReplicationResult], warmup_intervals: int = 0, confidence: float = 0.95
) -> SimulationReport:
    """Combine replications of the same scenario into estimates with confidence intervals."""
    if not results:
        raise InvalidInput("nothing to summarise: no replication was run")
    first = results[0]
    kept = range(warmup_intervals, first.n_intervals)

    def combine(per_rep: list[dict[str, float]]) -> dict[str, Estimate]:
        return {name: estimate([m[name] for m in per_rep], confidence) for name in per_rep[0]}

    overall = combine([r.metrics(kept) for r in results])
    per_queue = {
        qid: combine([r.metrics(kept, [q]) for r in results])
        for q, qid in enumerate(first.queue_ids)
    }
    per_interval = tuple(
        combine([r.metrics([i]) for r in results]) for i in range(first.n_intervals)
    )
    return SimulationReport(
        replications=len(results),
        confidence=confidence,
        target_seconds=first.target_seconds,
        warmup_intervals=warmup_intervals,
        interval_seconds=first.interval_seconds,
        overall=overall,
        per_queue=per_queue,
        per_interval=per_interval,
        events=sum(r.events for r in results),
        unserved=sum(r.unserved for r in results),
    )


def replication_seeds(seed: int, replications: int) -> list[np.random.SeedSequence]:
    """Independent, reproducible seeds, one per replication."""
    return np.random.SeedSequence(seed).spawn(replications)


def run_replications(
    scenario: Scenario,
    replications: int = 10,
    seed: int = 0,
    *,
    confidence: float = 0.95,
    workers: int = 1,
) -> SimulationReport:
    """Run R independent replications (in ``workers`` processes) and summarise them."""
    if replications < 1:
        raise InvalidInput("at least one replication is needed")
    if not 0 < confidence < 1:
        raise InvalidInput("confidence must be between 0 and 1")
    seeds = replication_seeds(seed, replications)
    if workers > 1 and replications > 1:
        with ProcessPoolExecutor(max_workers=min(workers, replications)) as pool:
            results = list(pool.map(simulate, [scenario] * replications, seeds))
    else:
        results = [simulate(scenario, s) for s in seeds]
    return summarize(results, scenario.warmup_intervals, confidence)
