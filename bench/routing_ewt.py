"""Benchmark: accuracy of the estimated wait time (EWT) Jietong tells waiting customers.

Run:  .venv/bin/python bench/routing_ewt.py [--hours 8] [--seed 1]

A discrete-event simulation of a contact center produces the *actual* waits; at every
arrival that has to wait, Jietong's estimator (`jietong.routing.ewt`, the code behind
GET /api/v1/routing/interactions/{id}/position) is asked for the expected wait using only
what the live engine knows at that instant: the contact's place in its queue, the queue's
measured service and abandonment rates (a `RateTracker` fed with the queue's events),
the agents logged in and ready, and the mean handle time of contacts finished so far.
The reference is the textbook estimate ``position x AHT / agents`` with the same AHT and
agent count. Errors are measured on answered contacts (an abandoned contact has no
actual wait to compare with).

Scenarios (each for ``--hours`` of steady traffic at ~95% occupancy):

* ``erlang_a``: one queue, 25 agents, exponential handle times (mean 300 s), callers
  abandoning after an exponential patience (mean 180 s);
* ``breaks``: the same, with log-normal handle times (cv 1) and agents taking breaks
  between contacts (~15% of the staff away at any time);
* ``vip_shared``: a VIP queue (priority 3) and a standard queue served by the same 25
  agents; standard callers are passed over whenever a VIP waits.

Routing inside the simulation follows `routing.policies`: waiting contacts are served in
`key_of_work` order (priority, then aging, then arrival), the longest-idle agent first.
The last line is machine-readable:
RESULT routing_ewt mae_seconds=... p90_abs_error_seconds=... bias_seconds=...
reference_mae_seconds=... reference_p90_abs_error_seconds=... improvement=...
floor_mae_seconds=... estimates_per_s=... samples=...
"""

from __future__ import annotations

import argparse
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from jietong.routing.ewt import RateTracker, estimate, naive_wait, staffing_rate
from jietong.routing.policies import DEFAULT_AGING_SECONDS_PER_LEVEL, key_of_work

ARRIVAL, END, ABANDON, BACK = 0, 1, 2, 3


@dataclass(frozen=True)
class QueueSpec:
    name: str
    share: float  # of the arrivals
    priority: int = 0
    patience: float = 180.0


@dataclass(frozen=True)
class Scenario:
    name: str
    queues: tuple[QueueSpec, ...]
    agents: int = 25
    aht: float = 300.0
    lognormal: bool = False
    break_probability: float = 0.0  # after each contact
    break_seconds: float = 900.0
    occupancy: float = 0.95


@dataclass
class Sample:
    queue: str
    ahead: int
    ours: float | None
    naive: float | None
    ours_mean: float | None = None
    actual: float | None = None  # answered: the wait; abandoned: None
    potential: float | None = None  # the wait had the customer held on (answered: actual)


@dataclass
class Outcome:
    scenario: str
    samples: list[Sample] = field(default_factory=list)
    estimate_seconds: float = 0.0  # CPU time spent estimating
    estimates: int = 0
    answered: int = 0
    abandoned: int = 0


SCENARIOS = (
    Scenario("erlang_a", (QueueSpec("main", 1.0),)),
    Scenario(
        "breaks",
        (QueueSpec("main", 1.0),),
        lognormal=True,
        break_probability=0.06,
        break_seconds=900.0,
    ),
    Scenario("vip_shared", (QueueSpec("vip", 0.3, priority=3), QueueSpec("standard", 0.7))),
)


def handle_sampler(sc: Scenario, rng: np.random.Generator) -> Callable[[], float]:
    if not sc.lognormal:
        return lambda: float(rng.exponential(sc.aht))
    sigma2 = np.log(2.0)  # cv = 1
    mu = np.log(sc.aht) - sigma2 / 2
    return lambda: float(rng.lognormal(mu, np.sqrt(sigma2)))


def simulate(sc: Scenario, hours: float, seed: int) -> Outcome:
    rng = np.random.default_rng(seed)
    handle = handle_sampler(sc, rng)
    away_share = (
        sc.break_probability * sc.break_seconds / (sc.aht + sc.break_probability * sc.break_seconds)
    )
    ready = sc.agents * (1.0 - away_share)
    rate = sc.occupancy * ready / sc.aht  # arrivals per second
    horizon = hours * 3600.0
    aging = DEFAULT_AGING_SECONDS_PER_LEVEL
    events: list[tuple[float, int, int, int]] = []
    t = 0.0
    cid = 0
    while True:
        t += float(rng.exponential(1.0 / rate))
        if t >= horizon:
            break
        q = int(rng.choice(len(sc.queues), p=[qs.share for qs in sc.queues]))
        events.append((t, ARRIVAL, cid, q))
        cid += 1
    heapq.heapify(events)

    idle: list[tuple[float, int]] = [(0.0, a) for a in range(sc.agents)]  # longest idle first
    heapq.heapify(idle)
    on_break = 0
    waiting: list[dict[int, tuple[tuple[float, float, str], float]]] = [{} for _ in sc.queues]
    heaps: list[list[tuple[tuple[float, float, str], int]]] = [[] for _ in sc.queues]
    trackers = [RateTracker() for _ in sc.queues]
    busy_for: dict[int, float] = {}
    handled = 0
    handled_sum = 0.0
    sample_of: dict[int, Sample] = {}
    phantoms: dict[int, tuple[Sample, float]] = {}
    out = Outcome(sc.name)

    def start(agent: int, contact: int, now: float) -> None:
        duration = handle()
        busy_for[agent] = duration
        heapq.heappush(events, (now + duration, END, agent, contact))

    def next_waiting(now: float) -> tuple[int, int] | None:
        """The contact an agent freed at ``now`` takes. Contacts that abandoned stay in the
        heaps as phantoms: when one reaches the head it would have been served now, which
        is its *potential* wait (what an EWT promises); it takes no agent."""
        while True:
            best: tuple[tuple[float, float, str], int, int] | None = None
            for q, heap in enumerate(heaps):
                if heap and (best is None or heap[0][0] < best[0]):
                    best = (heap[0][0], q, heap[0][1])
            if best is None:
                return None
            _, q, contact = best
            heapq.heappop(heaps[q])
            if contact in waiting[q]:
                return q, contact
            sample, arrived = phantoms.pop(contact)
            sample.potential = now - arrived
            out.samples.append(sample)

    while events:
        now, kind, a, b = heapq.heappop(events)
        if kind == END:  # the mean handle time of finished contacts, as the live engine
            handled += 1
            handled_sum += busy_for.pop(a)
        staffed = sc.agents - on_break
        aht = handled_sum / handled if handled else sc.aht
        nominal = staffing_rate(staffed, aht) or 0.0
        for tracker in trackers:
            tracker.set_nominal(now, nominal)
        if kind == ARRIVAL:
            contact, q = a, b
            if idle:
                _, agent = heapq.heappop(idle)
                out.answered += 1
                start(agent, contact, now)
                continue
            spec = sc.queues[q]
            ahead = len(waiting[q])
            began = time.perf_counter()
            rates = trackers[q].rates(now)
            ours = estimate(ahead, rates, staffing=staffing_rate(staffed, aht))
            out.estimate_seconds += time.perf_counter() - began
            out.estimates += 1
            sample_of[contact] = Sample(
                spec.name,
                ahead,
                None if ours is None else ours.median,
                naive_wait(ahead, staffed, aht),
                ours_mean=None if ours is None else ours.mean,
            )
            key = key_of_work(spec.priority, now, f"{contact:09d}", aging)
            waiting[q][contact] = (key, now)
            heapq.heappush(heaps[q], (key, contact))
            trackers[q].started_waiting(now)
            heapq.heappush(
                events, (now + float(rng.exponential(spec.patience)), ABANDON, contact, q)
            )
        elif kind == ABANDON:
            contact, q = a, b
            record = waiting[q].pop(contact, None)
            if record is not None:
                trackers[q].abandoned(now)
                out.abandoned += 1
                phantoms[contact] = (sample_of.pop(contact), record[1])
        elif kind in (END, BACK):
            agent = a
            if kind == END and rng.random() < sc.break_probability:
                on_break += 1
                heapq.heappush(
                    events, (now + float(rng.exponential(sc.break_seconds)), BACK, agent, -1)
                )
                continue
            if kind == BACK:
                on_break -= 1
            found = next_waiting(now)
            if found is None:
                heapq.heappush(idle, (now, agent))
                continue
            q, contact = found
            _, arrived = waiting[q].pop(contact)
            trackers[q].served(now)
            out.answered += 1
            sample = sample_of.pop(contact, None)
            if sample is not None:
                sample.actual = sample.potential = now - arrived
                out.samples.append(sample)
            start(agent, contact, now)
    return out


def errors(samples: list[Sample], which: str, truth: str) -> np.ndarray:
    values = [
        (getattr(s, which) or 0.0) - getattr(s, truth)
        for s in samples
        if getattr(s, truth) is not None
    ]
    return np.asarray(values, dtype=np.float64)


def summary(samples: list[Sample], truth: str = "potential") -> dict[str, float]:
    ours, naive = errors(samples, "ours", truth), errors(samples, "naive", truth)
    mean = errors(samples, "ours_mean", truth)
    return {
        "mean_mae": float(np.mean(np.abs(mean))),
        "mean_bias": float(np.mean(mean)),
        "n": float(len(ours)),
        "mae": float(np.mean(np.abs(ours))),
        "p90": float(np.percentile(np.abs(ours), 90)),
        "bias": float(np.mean(ours)),
        "ref_mae": float(np.mean(np.abs(naive))),
        "ref_p90": float(np.percentile(np.abs(naive), 90)),
        "ref_bias": float(np.mean(naive)),
        "mean_wait": float(
            np.mean([getattr(s, truth) for s in samples if getattr(s, truth) is not None])
        ),
    }


def position_oracle(outcomes: list[Outcome]) -> float:
    """MAE of the in-hindsight best estimate that knows only the queue and the place in
    it: the median potential wait of each (scenario, queue, contacts ahead) group."""
    groups: dict[tuple[str, str, int], list[float]] = {}
    for out in outcomes:
        for s in out.samples:
            if s.potential is not None:
                groups.setdefault((out.scenario, s.queue, s.ahead), []).append(s.potential)
    errors_ = [abs(w - float(np.median(waits))) for waits in groups.values() for w in waits]
    return float(np.mean(errors_))


def print_table(
    title: str, outcomes: list[Outcome], scenarios: tuple[Scenario, ...], truth: str
) -> None:
    print(title)
    print(
        f"{'scenario':<12}{'queue':<10}{'samples':>8}{'mean wait':>11}"
        f"{'MAE':>9}{'p90':>9}{'bias':>9}  |{'ref MAE':>9}{'ref p90':>9}{'ref bias':>10}"
    )
    for sc, out in zip(scenarios, outcomes, strict=True):
        groups = {"(all)": out.samples}
        if len(sc.queues) > 1:
            groups |= {q.name: [s for s in out.samples if s.queue == q.name] for q in sc.queues}
        for queue, samples in groups.items():
            f = summary(samples, truth)
            print(
                f"{sc.name:<12}{queue:<10}{f['n']:>8.0f}{f['mean_wait']:>10.1f}s"
                f"{f['mae']:>8.1f}s{f['p90']:>8.1f}s{f['bias']:>+8.1f}s  |"
                f"{f['ref_mae']:>8.1f}s{f['ref_p90']:>8.1f}s{f['ref_bias']:>+9.1f}s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    outcomes = [simulate(sc, args.hours, args.seed + i) for i, sc in enumerate(SCENARIOS)]
    for sc, out in zip(SCENARIOS, outcomes, strict=True):
        print(f"{sc.name}: answered {out.answered:,}, abandoned {out.abandoned:,}")
    print_table(
        f"\nEWT error, every contact that waited, against its potential wait "
        f"({args.hours:g} h per scenario):",
        outcomes,
        SCENARIOS,
        "potential",
    )
    print_table(
        "\nThe same on answered contacts only (actual waits):", outcomes, SCENARIOS, "actual"
    )
    everything = [s for out in outcomes for s in out.samples]
    spent = sum(out.estimate_seconds for out in outcomes)
    per_s = sum(out.estimates for out in outcomes) / spent if spent > 0 else float("inf")
    total = summary(everything)
    floor = position_oracle(outcomes)
    print(
        f"\noverall: MAE {total['mae']:.1f} s (reference {total['ref_mae']:.1f} s), "
        f"p90 {total['p90']:.1f} s (reference {total['ref_p90']:.1f} s), "
        f"bias {total['bias']:+.1f} s (reference {total['ref_bias']:+.1f} s); "
        f"the mean instead of the median: MAE {total['mean_mae']:.1f} s, "
        f"bias {total['mean_bias']:+.1f} s; {per_s:,.0f} estimates/s"
    )
    print(
        f"floor: knowing in hindsight the median wait of every (scenario, queue, place) "
        f"gives MAE {floor:.1f} s; the rest is the randomness of the waits themselves"
    )
    print(
        f"RESULT routing_ewt mae_seconds={total['mae']:.1f} "
        f"p90_abs_error_seconds={total['p90']:.1f} bias_seconds={total['bias']:.1f} "
        f"reference_mae_seconds={total['ref_mae']:.1f} "
        f"reference_p90_abs_error_seconds={total['ref_p90']:.1f} "
        f"improvement={total['ref_mae'] / total['mae']:.2f} floor_mae_seconds={floor:.1f} "
        f"estimates_per_s={per_s:.0f} samples={len(everything)}"
    )


if __name__ == "__main__":
    main()
