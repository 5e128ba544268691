"""Benchmark: Jietong's vectorised Erlang C staffing solver against pyworkforce's ErlangC.

Run:  .venv/bin/python bench/staffing.py        (pyworkforce: pip install '.[bench]')

10,000 intervals (96 fifteen-minute intervals x 100 queues), 1..2000 calls per hour,
AHT 180..600 s, target 80% answered within 20 s, seeded RNG. Both solvers get the same
inputs in the same run; the agent counts are compared one by one. The last line is
machine-readable:
RESULT staffing jietong_us_per_interval=... pyworkforce_us_per_interval=... mismatches=...
speedup=...
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from jietong.wfm.erlang import erlang_c_figures, offered_load
from jietong.wfm.staffing import StaffingTargets, solve_staffing

INTERVAL_SECONDS = 900.0
TARGET_SL = 0.8
TARGET_SECONDS = 20.0


@dataclass(frozen=True)
class Workload:
    calls: npt.NDArray[np.float64]  # offered per 15-minute interval
    aht_seconds: npt.NDArray[np.float64]


def make_workload(intervals: int, queues: int, seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    per_hour = rng.integers(1, 2001, size=(queues, intervals)).astype(np.float64)
    aht = rng.uniform(180.0, 600.0, size=(queues, intervals))
    return Workload(calls=(per_hour * INTERVAL_SECONDS / 3600.0).ravel(), aht_seconds=aht.ravel())


def time_jietong(work: Workload, repeats: int) -> tuple[float, npt.NDArray[np.int64]]:
    """Best-of-``repeats`` wall time of one vectorised call over every interval."""
    targets = StaffingTargets(service_level=TARGET_SL, target_seconds=TARGET_SECONDS)
    best = float("inf")
    agents = np.empty(0, dtype=np.int64)
    for _ in range(repeats):
        start = time.perf_counter()
        result = solve_staffing(work.calls, work.aht_seconds, INTERVAL_SECONDS, targets)
        best = min(best, time.perf_counter() - start)
        agents = result.required_agents
    return best, agents


def time_pyworkforce(work: Workload) -> tuple[float, npt.NDArray[np.int64]]:
    """One pass of pyworkforce's ErlangC, interval by interval (its only mode besides a
    joblib grid, which would add process start-up rather than remove work)."""
    from pyworkforce.queuing import ErlangC

    agents = np.empty(work.calls.size, dtype=np.int64)
    start = time.perf_counter()
    for i, (calls, aht) in enumerate(zip(work.calls, work.aht_seconds, strict=True)):
        model = ErlangC(
            transactions=float(calls),
            aht=float(aht) / 60.0,  # pyworkforce works in minutes
            asa=TARGET_SECONDS / 60.0,  # its "asa" is the service-level threshold T
            interval=INTERVAL_SECONDS / 60.0,
        )
        agents[i] = model.required_positions(service_level=TARGET_SL)["raw_positions"]
    return time.perf_counter() - start, agents


def explain_mismatches(
    work: Workload, ours: npt.NDArray[np.int64], theirs: npt.NDArray[np.int64]
) -> None:
    """Print the service level on both sides of each disagreement and the likely cause."""
    for i in np.flatnonzero(ours != theirs)[:10]:
        load = float(offered_load(work.calls[i], INTERVAL_SECONDS, work.aht_seconds[i]))
        levels = []
        for n in sorted({int(ours[i]) - 1, int(ours[i]), int(theirs[i])}):
            _, sl, _, _ = erlang_c_figures(n, load, work.aht_seconds[i], TARGET_SECONDS)
            levels.append(f"SL({n})={float(sl):.15f}")
        print(f"  mismatch: load={load:.6f} jietong={ours[i]} pyworkforce={theirs[i]} {levels}")
        if theirs[i] > ours[i] and round(load + 1) > ours[i]:
            print(
                "    cause: pyworkforce starts its search at round(load + 1) and never tries less"
            )
        else:
            print("    cause: the service level is within floating-point rounding of the target")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20240607)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--queues", type=int, default=100)
    args = parser.parse_args()
    work = make_workload(intervals=96, queues=args.queues, seed=args.seed)
    count = work.calls.size
    loads = offered_load(work.calls, INTERVAL_SECONDS, work.aht_seconds)
    print(
        f"intervals: {count} (96 x {args.queues} queues), "
        f"load {loads.min():.3f}..{loads.max():.1f} erlangs"
    )

    ours_s, ours = time_jietong(work, args.repeats)
    print(
        f"jietong     : {ours_s * 1e3:9.2f} ms total, {ours_s / count * 1e6:8.3f} us/interval "
        f"(best of {args.repeats})"
    )
    try:
        theirs_s, theirs = time_pyworkforce(work)
    except ImportError:
        print("pyworkforce is not installed: pip install '.[bench]'")
        raise SystemExit(1) from None
    print(
        f"pyworkforce : {theirs_s * 1e3:9.2f} ms total, {theirs_s / count * 1e6:8.3f} us/interval"
    )

    mismatches = int(np.count_nonzero(ours != theirs))
    print(
        f"agent counts: {count - mismatches} identical, {mismatches} different; "
        f"total agents jietong={int(ours.sum())} pyworkforce={int(theirs.sum())}"
    )
    explain_mismatches(work, ours, theirs)
    ours_us = ours_s / count * 1e6
    theirs_us = theirs_s / count * 1e6
    print(
        f"RESULT staffing jietong_us_per_interval={ours_us:.3f} "
        f"pyworkforce_us_per_interval={theirs_us:.3f} mismatches={mismatches} "
        f"speedup={theirs_us / ours_us:.1f}"
    )


if __name__ == "__main__":
    main()
