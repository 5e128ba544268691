"""Benchmark: Jietong's contact-center simulator against ciw and SimPy on M/M/50+M.

Run:  .venv/bin/python bench/simulator.py        (ciw, simpy: pip install '.[bench]')

The system: 50 agents, 576 calls per hour (λ = 0.16/s), exponential handle times with mean
300 s (48 erlangs offered), exponential patience with mean 180 s, service-level target 20 s.
Every contender simulates 1,000,000 arrivals by default: Jietong as 10 independent
replications of 100,000 (first hour of each left out of the estimates, which need the
replications for their standard errors), ciw and SimPy as one run each. ``--ciw-arrivals``
and ``--simpy-arrivals`` shorten their runs (ciw keeps every record in memory: ~830 MB at
1M arrivals); rates are per event, and the arrival counts are printed. Rates are per CPU second of
the simulating process (wall time is printed too), so that other work on a shared machine
does not skew the comparison.

Each contender runs in its own subprocess so that its peak resident memory (ru_maxrss,
interpreter and imports included) is its own. An *event* is counted the same way for all
three: one per arrival, one per service completion, one per abandonment.
Jietong's estimates are compared with the exact Erlang A figures (birth-death chain,
computed here) and must lie within two standard errors.

The last line is machine-readable:
RESULT simulator events_per_s=... ciw_events_per_s=... simpy_events_per_s=... peak_mb=...
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from typing import Any

AGENTS = 50
CALLS_PER_HOUR = 576.0
AHT = 300.0
PATIENCE = 180.0
TARGET = 20.0
LAM, MU, THETA = CALLS_PER_HOUR / 3600, 1 / AHT, 1 / PATIENCE


class Clock:
    """CPU time of this process (what the rates use: robust to other load on a shared
    machine) and wall time (printed alongside)."""

    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def stop(self) -> tuple[float, float]:
        return time.process_time() - self.cpu, time.perf_counter() - self.wall


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_jietong(arrivals: int, seed: int) -> dict[str, Any]:
    import scipy.special  # noqa: F401  imported before the clock starts, like ciw and simpy

    from jietong.wfm.simulation import run_replications, single_queue_scenario

    replications = 10
    hours = arrivals / replications / CALLS_PER_HOUR
    scenario = single_queue_scenario(
        calls_per_hour=CALLS_PER_HOUR,
        aht_seconds=AHT,
        agents=AGENTS,
        hours=hours,
        patience_seconds=PATIENCE,
        target_seconds=TARGET,
        interval_seconds=3600,
        warmup_intervals=1,
    )
    clock = Clock()
    report = run_replications(scenario, replications=replications, seed=seed)
    elapsed, wall = clock.stop()
    # Event counts over the whole run (warm-up included: it was simulated too).
    whole = report.per_interval
    offered = sum(f["offered"].mean for f in whole) * replications
    answered = sum(f["answered"].mean for f in whole) * replications
    abandoned = sum(f["abandoned"].mean for f in whole) * replications
    events = offered + answered + abandoned
    estimates = {
        name: (report.overall[name].mean, report.overall[name].std_error)
        for name in ("service_level", "asa", "mean_wait", "abandon_rate", "p_wait", "occupancy")
    }
    return {
        "arrivals": round(offered),
        "events": round(events),
        "seconds": elapsed,
        "wall_seconds": wall,
        "events_per_s": events / elapsed,
        "peak_mb": peak_mb(),
        "estimates": estimates,
    }


def run_ciw(arrivals: int, seed: int) -> dict[str, Any]:
    import ciw

    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=LAM)],
        service_distributions=[ciw.dists.Exponential(rate=MU)],
        number_of_servers=[AGENTS],
        reneging_time_distributions=[ciw.dists.Exponential(rate=THETA)],
    )
    ciw.seed(seed)
    sim = ciw.Simulation(network)
    clock = Clock()
    sim.simulate_until_max_time(arrivals / LAM)
    elapsed, wall = clock.stop()
    records = sim.get_all_records()
    served = [r for r in records if r.record_type == "service"]
    reneged = sum(1 for r in records if r.record_type == "renege")
    in_system = len(sim.nodes[1].all_individuals)
    offered = len(served) + reneged + in_system
    events = offered + len(served) + reneged
    waits = [r.waiting_time for r in served]
    return {
        "arrivals": offered,
        "events": events,
        "seconds": elapsed,
        "wall_seconds": wall,
        "events_per_s": events / elapsed,
        "peak_mb": peak_mb(),
        "estimates": {
            "abandon_rate": (reneged / offered, math.nan),
            "asa": (sum(waits) / len(waits), math.nan),
        },
    }


def run_simpy(arrivals: int, seed: int) -> dict[str, Any]:
    import random

    import simpy

    rng = random.Random(seed)
    env = simpy.Environment()
    agents = simpy.Resource(env, capacity=AGENTS)
    counts = {"offered": 0, "answered": 0, "abandoned": 0, "wait": 0.0}

    def caller(patience: float, handle: float) -> Any:
        arrived = env.now
        with agents.request() as request:
            outcome = yield request | env.timeout(patience)
            if request not in outcome:
                counts["abandoned"] += 1
                return
            counts["wait"] += env.now - arrived
            yield env.timeout(handle)
            counts["answered"] += 1

    def source() -> Any:
        for _ in range(arrivals):
            yield env.timeout(rng.expovariate(LAM))
            counts["offered"] += 1
            env.process(caller(rng.expovariate(THETA), rng.expovariate(MU)))

    env.process(source())
    clock = Clock()
    env.run()
    elapsed, wall = clock.stop()
    events = counts["offered"] + counts["answered"] + counts["abandoned"]
    return {
        "arrivals": counts["offered"],
        "events": events,
        "seconds": elapsed,
        "wall_seconds": wall,
        "events_per_s": events / elapsed,
        "peak_mb": peak_mb(),
        "estimates": {
            "abandon_rate": (counts["abandoned"] / counts["offered"], math.nan),
            "asa": (counts["wait"] / max(counts["answered"], 1), math.nan),
        },
    }


CONTENDERS = {"jietong": run_jietong, "ciw": run_ciw, "simpy": run_simpy}


def erlang_a_exact() -> dict[str, float]:
    """Exact M/M/n+M figures (independent of the simulator): birth-death stationary law,
    plus a tagged arrival's race between its progress in the queue and its patience."""
    import numpy as np
    from scipy.linalg import expm

    n, depth = AGENTS, 400
    pi = np.ones(n + depth + 1)
    for k in range(1, len(pi)):
        pi[k] = pi[k - 1] * LAM / (min(k, n) * MU + max(k - n, 0) * THETA)
    pi /= pi.sum()
    ahead = pi[n:]
    queue = float(np.dot(np.arange(depth + 1), ahead))
    served, served_wait = np.zeros(depth + 1), np.zeros(depth + 1)
    gen = np.zeros((depth + 3, depth + 3))
    for m in range(depth + 1):
        move = n * MU + m * THETA
        rate = move + THETA
        served[m] = move / rate * (served[m - 1] if m else 1.0)
        served_wait[m] = served[m] / rate + move / rate * (served_wait[m - 1] if m else 0.0)
        gen[m, m - 1 if m else depth + 1], gen[m, depth + 2], gen[m, m] = move, THETA, -rate
    within = expm(gen * TARGET)[: depth + 1, depth + 1]
    p_served = pi[:n].sum() + float(np.dot(ahead, served))
    abandon = THETA * queue / LAM
    return {
        "service_level": pi[:n].sum() + float(np.dot(ahead, within)),
        "asa": float(np.dot(ahead, served_wait)) / p_served,
        "mean_wait": queue / LAM,
        "abandon_rate": abandon,
        "p_wait": float(ahead.sum()),
        "occupancy": LAM * (1 - abandon) / MU / n,
    }


def child(name: str, arrivals: int, seed: int) -> dict[str, Any]:
    seed_args = ("--seed", str(seed))
    proc = subprocess.run(
        [sys.executable, __file__, "--contender", name, "--arrivals", str(arrivals), *seed_args],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        print(f"{name} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return {"arrivals": 0, "events_per_s": math.nan, "peak_mb": math.nan, "estimates": {}}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrivals", type=int, default=1_000_000, help="Jietong's arrivals")
    parser.add_argument("--ciw-arrivals", type=int, default=1_000_000)
    parser.add_argument("--simpy-arrivals", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--contender", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:  # child process: run one contender, print JSON
        print(json.dumps(CONTENDERS[args.contender](args.arrivals, args.seed)))
        return

    counts = {"jietong": args.arrivals, "ciw": args.ciw_arrivals, "simpy": args.simpy_arrivals}
    results = {name: child(name, n, args.seed) for name, n in counts.items()}
    print(f"M/M/{AGENTS}+M: {CALLS_PER_HOUR:g} calls/h, AHT {AHT:g} s, patience {PATIENCE:g} s")
    print(
        f"{'contender':10s} {'arrivals':>10s} {'events':>10s} {'CPU s':>7s} {'wall s':>7s} "
        f"{'events/CPU s':>13s} {'peak MB':>8s}"
    )
    for name, r in results.items():
        print(
            f"{name:10s} {r['arrivals']:>10,} {r.get('events', 0):>10,} "
            f"{r.get('seconds', math.nan):>7.2f} {r.get('wall_seconds', math.nan):>7.2f} "
            f"{r['events_per_s']:>13,.0f} {r['peak_mb']:>8.1f}"
        )
    exact = erlang_a_exact()
    print("\nJietong vs exact Erlang A (10 replications; z = (estimate - exact) / SE):")
    ok = True
    for name, value in exact.items():
        mean, se = results["jietong"]["estimates"].get(name, (math.nan, math.nan))
        z = (mean - value) / se if se else math.nan
        ok = ok and abs(z) <= 2
        print(
            f"  {name:14s} estimate {mean:10.5f} ± {se:.5f} (SE)  exact {value:10.5f}  z {z:+.2f}"
        )
    for name in ("ciw", "simpy"):
        est = results[name]["estimates"]
        if est:
            print(
                f"  {name}: abandon_rate {est['abandon_rate'][0]:.5f}  asa {est['asa'][0]:.3f} s"
                f"  (one run, for sanity)"
            )
    print(f"  all within 2 SE: {'yes' if ok else 'NO'}")
    speedup = results["jietong"]["events_per_s"] / results["ciw"]["events_per_s"]
    print(f"  speed-up vs ciw: {speedup:.1f}x")
    print(
        f"RESULT simulator events_per_s={results['jietong']['events_per_s']:.0f} "
        f"ciw_events_per_s={results['ciw']['events_per_s']:.0f} "
        f"simpy_events_per_s={results['simpy']['events_per_s']:.0f} "
        f"peak_mb={results['jietong']['peak_mb']:.1f}"
    )


if __name__ == "__main__":
    main()
