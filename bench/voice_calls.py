"""Benchmark: recording calls — the call model and CDRs written step by step.

Run:  .venv/bin/python bench/voice_calls.py [--backends sqlite,postgres] [--calls 300]
      [--threads 4]   (PostgreSQL: --postgres-url or JIETONG_TEST_POSTGRES_URL)

Every call the orchestrator handles is reported to the call service one step at a time
(each step one transaction: lock the call, check the leg move, append facts, rewrite the
CDR from the history, emit events). A typical answered call is 16 steps: open (with its
interaction), answer, IVR entered, 4 IVR nodes, IVR left, queue entered, agent leg,
offered, agent answered, hold, resume, agent hangs up, call ended (interaction to
wrap-up). One call in four is abandoned in the queue instead (11 steps). ``--threads``
calls run at once, as the orchestrator runs steps in worker threads.

Reference in the same run ("bare"): the same number of transactions, each inserting
one append-only event row and nothing else — the floor of one commit per step. The
ratio is what the checks, the CDR projection and the events cost on top.

The last line is machine-readable:
RESULT voice_calls <backend>_calls_per_s=... <backend>_step_p50_ms=...
<backend>_step_p99_ms=... <backend>_bare_steps_per_s=... <backend>_ratio=...
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from _benchdb import database

from jietong.app.platform import Platform, build_platform
from jietong.app.settings import Settings
from jietong.core.tenancy import Role, system_actor
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate, TeamCreate, UserCreate
from jietong.storage.migrate import upgrade
from jietong.storage.tables_voice import VoiceCallRow, VoiceLegEventRow
from jietong.telephony.calls import service as calls
from jietong.telephony.calls.model import CallDirection, EndCause, LegKind, LegTrigger


def prepare(url: str, data_dir: Path) -> tuple[Platform, str, str, str]:
    platform = build_platform(Settings(data_dir=data_dir, database_url=url, secret_key="b"))
    upgrade(platform.engine)
    with platform.uow() as uow:
        org = org_service.create_organisation(uow, slug="bench", name="Bench")
    system = system_actor(org.id)
    with platform.uow() as uow:
        team = org_service.create_team(uow, system, TeamCreate(name="Front"))
    with platform.uow() as uow:
        queue = org_service.create_queue(
            uow, system, QueueCreate(name="Billing", channels=["call"], team_id=team.id)
        )
    with platform.uow() as uow:
        agent = org_service.create_user(
            uow, system,
            UserCreate(username="ann", display_name="Ann", password="correct-horse-9",
                       role=Role.AGENT, team_ids=[team.id]),
        )  # fmt: skip
    return platform, org.id, queue.id, agent.user.id


Timer = Callable[[Callable[[], object]], None]


def one_call(platform: Platform, org: str, queue: str, agent: str, n: int, step: Timer) -> None:
    """One call's steps, each a unit of work, as the orchestrator reports them."""
    ids: dict[str, str] = {}

    def run(fn: Callable[..., object], *args: object, **kwargs: object) -> object:
        result: list[object] = []

        def work() -> None:
            with platform.uow() as uow:
                result.append(fn(uow, *args, **kwargs))

        step(work)
        return result[0]

    view = run(calls.open_call, org, direction=CallDirection.INBOUND, caller="+8613800000000",
               dialled="4008001234", queue_id=queue)  # fmt: skip
    call_id = ids["call"] = view.call.id  # type: ignore[attr-defined]
    customer = view.customer_leg.id  # type: ignore[attr-defined]
    run(calls.leg_event, org, call_id, customer, LegTrigger.ANSWER)
    run(calls.ivr_entered, org, call_id)
    for node, kind in (
        ("language", "language"),
        ("hours", "hours"),
        ("main", "menu"),
        ("q", "queue"),
    ):
        run(calls.ivr_node, org, call_id, node, kind)
    run(calls.ivr_left, org, call_id, "queue", target=queue, variables={"language": "zh-CN"})
    run(calls.queue_entered, org, call_id, queue)
    if n % 4 == 3:
        run(calls.end_leg, org, call_id, customer, EndCause.CUSTOMER_HANGUP)
        return
    leg = run(calls.add_leg, org, call_id, kind=LegKind.AGENT, party="ann", user_id=agent)
    run(calls.offered, org, call_id, agent)
    leg_id = leg.id  # type: ignore[attr-defined]
    run(calls.answered_by_agent, org, call_id, agent_user_id=agent, agent_leg_id=leg_id)
    run(calls.hold, org, call_id)
    run(calls.resume, org, call_id)
    run(calls.end_leg, org, call_id, leg_id, EndCause.AGENT_HANGUP)
    run(calls.end_call, org, call_id, EndCause.SYSTEM_HANGUP, disposition="resolved")


def _untimed(work: Callable[[], object]) -> None:
    work()


def bare_steps(platform: Platform, org: str, call_id: str, count: int, step: Timer) -> None:
    def work() -> None:
        with platform.uow() as uow:
            uow.session.add(
                VoiceLegEventRow(org_id=org, call_id=call_id, leg_id=None, kind="bench",
                                 data={}, at=uow.now)
            )  # fmt: skip
            uow.commit()

    for _ in range(count):
        step(work)


def in_threads(
    threads: int, total: int, job: Callable[[int, Timer], None]
) -> tuple[float, list[float]]:
    """Run ``job(i, timer)`` for i in 0..total-1 over ``threads`` threads; wall seconds and
    every step's latency in ms."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def timer(work: Callable[[], object]) -> None:
        started = time.perf_counter()
        work()
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            job(i, timer)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - started, latencies


def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as root,
        database(backend, args.postgres_url, Path(root)) as url,
    ):
        platform, org, queue, agent = prepare(url, Path(root) / "data")
        try:
            one_call(platform, org, queue, agent, 0, _untimed)  # warm up
            wall, lat = in_threads(
                args.threads, args.calls, lambda i, t: one_call(platform, org, queue, agent, i, t)
            )
            steps = len(lat)
            with platform.uow() as uow:
                sink = uow.session.query(VoiceCallRow).first()
                assert sink is not None
                sink_id = sink.id
            per_thread = steps // args.threads
            bare_wall, bare_lat = in_threads(
                args.threads,
                args.threads,
                lambda i, t: bare_steps(platform, org, sink_id, per_thread, t),
            )
        finally:
            platform.close()
    quantiles = statistics.quantiles(lat, n=100)
    figures = {
        "calls_per_s": args.calls / wall,
        "steps_per_s": steps / wall,
        "step_p50_ms": quantiles[49],
        "step_p99_ms": quantiles[98],
        "bare_steps_per_s": len(bare_lat) / bare_wall,
        "bare_step_p50_ms": statistics.median(bare_lat),
    }
    figures["ratio"] = figures["bare_steps_per_s"] / figures["steps_per_s"]
    print(
        f"{backend:9s} {args.calls} calls ({steps} steps) in {wall:.1f} s, "
        f"{args.threads} threads: "
        f"{figures['calls_per_s']:.1f} calls/s, {figures['steps_per_s']:.0f} steps/s, "
        f"step p50 {figures['step_p50_ms']:.1f} ms p99 {figures['step_p99_ms']:.1f} ms"
    )
    print(
        f"{'':9s} bare: {len(bare_lat)} one-row commits in {bare_wall:.1f} s: "
        f"{figures['bare_steps_per_s']:.0f} steps/s, p50 {figures['bare_step_p50_ms']:.1f} ms "
        f"-> the call model costs {figures['ratio']:.1f}x a bare commit per step"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--postgres-url", default=os.environ.get("JIETONG_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    result = []
    for backend in args.backends.split(","):
        figures = bench_backend(backend, args)
        for key in ("calls_per_s", "step_p50_ms", "step_p99_ms", "bare_steps_per_s", "ratio"):
            result.append(f"{backend}_{key}={figures[key]:.2f}")
    print("RESULT voice_calls " + " ".join(result))


if __name__ == "__main__":
    main()
