"""Contact generation, one interval at a time.

Each queue has its own random stream (spawned from the replication's seed), so adding a
queue does not change the contacts of the others, and both engines (`engine` and the
`reference` checker) see identical contacts for the same seed. Memory stays bounded by one
interval's contacts however long the horizon.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jietong.wfm.simulation.model import Scenario


class ArrivalBatch(NamedTuple):
    """One interval's contacts, sorted by arrival time; parallel lists."""

    times: list[float]
    queues: list[int]
    handles: list[float]
    patiences: list[float]
    priorities: list[int]
    callback_draws: list[float]
    """Uniform(0, 1) per contact; the contact accepts a callback offer iff below the
    queue's acceptance probability (1.0 for queues without callbacks: never accepts)."""


def queue_streams(scenario: Scenario, seed: np.random.SeedSequence) -> list[np.random.Generator]:
    """One independent generator per queue for one replication."""
    return [np.random.default_rng(child) for child in seed.spawn(len(scenario.queues))]


def interval_batch(
    scenario: Scenario, streams: list[np.random.Generator], interval: int
) -> ArrivalBatch:
    """Draw the contacts arriving in ``interval`` (Poisson count, uniform times)."""
    start = interval * scenario.interval_seconds
    parts: list[tuple[np.ndarray, ...]] = []
    for q, (queue, rng) in enumerate(zip(scenario.queues, streams, strict=True)):
        n = int(rng.poisson(queue.volumes[interval]))
        if n == 0:
            continue
        times = start + scenario.interval_seconds * rng.random(n)
        handles = queue.handle_time.sample(rng, n)
        patiences = queue.patience.sample(rng, n)
        if len(queue.priorities) == 1:
            priorities = np.full(n, queue.priorities[0][0], dtype=np.int64)
        else:
            levels = np.array([p for p, _ in queue.priorities], dtype=np.int64)
            weights = np.array([w for _, w in queue.priorities], dtype=np.float64)
            priorities = rng.choice(levels, n, p=weights / weights.sum())
        draws = rng.random(n) if queue.callback is not None else np.ones(n)
        parts.append((times, np.full(n, q, dtype=np.int64), handles, patiences, priorities, draws))
    if not parts:
        return ArrivalBatch([], [], [], [], [], [])
    columns = [np.concatenate(column) for column in zip(*parts, strict=True)]
    order = np.argsort(columns[0], kind="stable")
    times, queues, handles, patiences, priorities, draws = (c[order] for c in columns)
    return ArrivalBatch(
        times.tolist(),
        queues.tolist(),
        handles.tolist(),
        patiences.tolist(),
        priorities.tolist(),
        draws.tolist(),
    )
