"""The contact-center simulator: exactness against Erlang A, equivalence with routing through
`policies.match`, and the model's bookkeeping."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.linalg import expm

from jietong.core.errors import InvalidInput
from jietong.routing.policies import AgentPolicy
from jietong.wfm.simulation import (
    AgentSpec,
    CallbackOffer,
    Deterministic,
    Empirical,
    Exponential,
    LogNormal,
    Never,
    QueueSpec,
    Scenario,
    agents_from_headcount,
    estimate,
    run_replications,
    simulate,
    single_queue_scenario,
    volumes_from_history,
)
from jietong.wfm.simulation.arrivals import interval_batch, queue_streams
from jietong.wfm.simulation.reference import simulate_with_match

# --- the exact M/M/n+M (Erlang A) reference ------------------------------------------------


def erlang_a(lam: float, mu: float, theta: float, n: int, target: float) -> dict[str, float]:
    """Exact stationary figures of M/M/n+M, computed independently of the simulator.

    Number in system is a birth-death chain (birth λ; death kμ below n, nμ + jθ with j
    waiting), truncated where its tail is negligible. Waiting-time figures follow a tagged
    arrival (PASTA): with m contacts ahead it moves up at rate nμ + mθ (nμ at the head) and
    abandons at rate θ; answered within T = absorbed in "served" by time T.
    """
    depth = 400
    size = n + depth + 1
    pi = np.zeros(size)
    pi[0] = 1.0
    for k in range(1, size):
        pi[k] = pi[k - 1] * lam / (min(k, n) * mu + max(k - n, 0) * theta)
    pi /= pi.sum()
    queue = float(np.dot(np.arange(depth + 1), pi[n:]))
    ahead = pi[n:]  # an arrival finding n + m in system has m ahead of it
    served_p = np.zeros(depth + 1)  # P(eventually served | m ahead)
    served_wait = np.zeros(depth + 1)  # E[wait · 1{served} | m ahead]
    generator = np.zeros((depth + 3, depth + 3))  # states m, then served, abandoned
    for m in range(depth + 1):
        move = n * mu + (m * theta if m else 0.0)
        rate = move + theta
        previous_p = served_p[m - 1] if m else 1.0
        previous_w = served_wait[m - 1] if m else 0.0
        served_p[m] = move / rate * previous_p
        served_wait[m] = served_p[m] / rate + move / rate * previous_w
        generator[m, m - 1 if m else depth + 1] = move
        generator[m, depth + 2] = theta
        generator[m, m] = -rate
    within = expm(generator * target)[: depth + 1, depth + 1]
    p_served = pi[:n].sum() + float(np.dot(ahead, served_p))
    abandon = theta * queue / lam
    assert p_served == pytest.approx(1 - abandon, rel=1e-9)  # the two routes agree
    return {
        "service_level": pi[:n].sum() + float(np.dot(ahead, within)),
        "asa": float(np.dot(ahead, served_wait)) / p_served,
        "mean_wait": queue / lam,
        "abandon_rate": abandon,
        "p_wait": float(ahead.sum()),
        "occupancy": lam * (1 - abandon) / mu / n,
        "mean_queue": queue,
    }


def test_reproduces_exact_erlang_a_within_two_standard_errors() -> None:
    # 20 agents, 19 erlangs offered, AHT 300 s, mean patience 120 s, T = 20 s:
    # 10 replications x ~34,000 contacts; the first hour (empty start) is left out.
    calls_per_hour, aht, n, patience, target = 228.0, 300.0, 20, 120.0, 20.0
    scenario = single_queue_scenario(
        calls_per_hour=calls_per_hour,
        aht_seconds=aht,
        agents=n,
        hours=150,
        patience_seconds=patience,
        target_seconds=target,
        interval_seconds=3600,
        warmup_intervals=1,
    )
    report = run_replications(scenario, replications=10, seed=20240611)
    exact = erlang_a(calls_per_hour / 3600, 1 / aht, 1 / patience, n, target)
    for name, value in exact.items():
        figure = report.overall[name]
        assert abs(figure.mean - value) <= 2 * figure.std_error, (name, figure, value)
        # The check is only meaningful if the estimate is tight.
        assert figure.std_error < 0.03 * value, (name, figure)


# --- the fast engine routes exactly like policies.match -----------------------------------


def mixed_scenario(policy: AgentPolicy, aging: float | None) -> Scenario:
    """Two voice queues (one with VIPs and callbacks) and a chat queue, uneven staffing;
    light and heavy intervals alternate so that both routing choices (several free
    agents) and queueing (several waiting contacts) are frequent."""
    width, n = 900.0, 16
    unit = 2 * width  # shifts below are in units of two intervals
    billing = QueueSpec(
        "billing",
        volumes=(5, 30, 8, 45, 5, 25, 3, 2) * 2,
        handle_time=LogNormal(240, 150),
        patience=Exponential(90),
        priorities=((0, 0.8), (2, 0.2)),
        policy=policy,
        callback=CallbackOffer(threshold_seconds=100, accept_probability=0.5, dial_seconds=15),
    )
    tech = QueueSpec(
        "tech",
        volumes=(3, 12, 4, 20, 3, 10, 2, 0) * 2,
        handle_time=Exponential(400),
        patience=Empirical((20.0, 60.0, 120.0, 600.0)),
        required_skills={"tech": 3},
        policy=policy,
    )
    chat = QueueSpec(
        "chat",
        volumes=(4, 12, 3, 15, 4, 8, 2, 1) * 2,
        handle_time=Deterministic(500),
        channel="chat",
        priorities=((1, 1.0),),
        policy=policy,
    )
    agents = (
        AgentSpec("a1", {"billing": 5, "tech": 5}, ((0, 4 * unit),)),
        AgentSpec("a2", {"billing": 8}, ((0, 2 * unit), (3 * unit, 8 * unit))),
        AgentSpec("a3", {"tech": 2, "billing": 3}, ((unit, 6 * unit),)),
        AgentSpec("a4", {"tech": 9}, ((0, 8 * unit),)),
        AgentSpec("a5", {"chat": 1, "billing": 1}, ((0, 5 * unit),), concurrency=3),
        AgentSpec("a6", {"chat": 7}, ((2 * unit, 8 * unit),), concurrency=2),
        AgentSpec("a7", {"billing": 2, "tech": 4, "chat": 2}, ((0.5 * unit, 7.5 * unit),)),
    )
    return Scenario(width, n, (billing, tech, chat), agents, aging_seconds_per_level=aging)


@pytest.mark.parametrize("policy", list(AgentPolicy))
@pytest.mark.parametrize("aging", [60.0, None])
def test_fast_engine_makes_the_same_assignments_as_match(
    policy: AgentPolicy, aging: float | None
) -> None:
    scenario = mixed_scenario(policy, aging)
    fast = simulate(scenario, seed=5, record_trace=True)
    slow = simulate_with_match(scenario, seed=5)
    assert fast.trace is not None and len(fast.trace) > 200
    assert fast.trace == slow.trace
    assert sum(fast.abandoned) == slow.abandoned > 0
    assert sum(fast.callbacks) == slow.callbacks > 0
    assert fast.unserved == slow.unserved


def test_fast_engine_matches_match_on_the_single_queue_fast_path() -> None:
    scenario = single_queue_scenario(
        calls_per_hour=300, aht_seconds=240, agents=20, hours=2, patience_seconds=60
    )
    fast = simulate(scenario, seed=9, record_trace=True)
    assert fast.trace == simulate_with_match(scenario, seed=9).trace


# --- behaviour and bookkeeping ------------------------------------------------------------


def test_same_seed_same_result_and_different_seed_different_result() -> None:
    scenario = single_queue_scenario(
        calls_per_hour=120, aht_seconds=200, agents=8, hours=4, patience_seconds=100
    )
    assert simulate(scenario, 3) == simulate(scenario, 3)
    assert simulate(scenario, 3).offered != simulate(scenario, 4).offered


def test_every_contact_gets_exactly_one_outcome() -> None:
    scenario = mixed_scenario(AgentPolicy.LONGEST_IDLE, 60.0)
    result = simulate(scenario, seed=11)
    offered = sum(result.offered)
    callbacks, answered = sum(result.callbacks), sum(result.answered)
    assert offered == answered + sum(result.abandoned) + callbacks + result.unserved
    assert result.unserved == 0  # agents stay past the horizon to drain the queue
    assert sum(result.callbacks_answered) == callbacks
    assert sum(result.callbacks_offered) >= callbacks
    assert all(a <= s + 1e-6 for a, s in zip(result.busy_area, result.staffed_area, strict=True))


def two_class_scenario(aging: float | None) -> Scenario:
    """VIP and standard contacts in two queues served by the same 9 agents (~89% load)."""
    vip = QueueSpec("vip", (40.0,) * 8, Exponential(300), priorities=((5, 1.0),))
    std = QueueSpec("std", (80.0,) * 8, Exponential(300))
    agents = agents_from_headcount([9] * 8, 900, {"vip": 1, "std": 1})
    return Scenario(900, 8, (vip, std), agents, aging_seconds_per_level=aging)


def test_priority_favours_vips_and_aging_bounds_the_advantage() -> None:
    def asa(aging: float | None, queue: int) -> float:
        values = [
            simulate(two_class_scenario(aging), s).metrics(range(8), [queue])["asa"]
            for s in range(4)
        ]
        return sum(values) / len(values)

    strict_vip, strict_std = asa(None, 0), asa(None, 1)
    aged_vip, aged_std = asa(2.0, 0), asa(2.0, 1)  # a VIP is worth only 10 s of waiting
    assert strict_vip < 0.5 * strict_std
    assert strict_vip < aged_vip and aged_std < strict_std
    assert abs(aged_vip - aged_std) < abs(strict_vip - strict_std)


def test_callbacks_replace_abandonment() -> None:
    base = single_queue_scenario(
        calls_per_hour=400, aht_seconds=300, agents=30, hours=4, patience_seconds=60
    )
    offer = CallbackOffer(threshold_seconds=0, accept_probability=1.0)
    with_cb = replace(base, queues=(replace(base.queues[0], callback=offer),))
    plain = simulate(base, 2).metrics(range(base.n_intervals))
    cb = simulate(with_cb, 2).metrics(range(base.n_intervals))
    assert plain["abandon_rate"] > 0.05
    assert cb["abandon_rate"] == 0  # everyone who would wait took a callback
    assert cb["p_wait"] == 0  # live contacts are those answered on arrival
    assert cb["callback_rate"] > 0.2
    assert cb["callback_delay"] > 0


def test_headcount_schedule_drives_staffing_and_occupancy() -> None:
    agents = agents_from_headcount([2, 3, 1], 600, {"q": 4})
    assert [a.agent_id for a in agents] == ["agent-1", "agent-2", "agent-3"]
    assert agents[0].shifts == ((0, 1800),)
    assert agents[1].shifts == ((0, 1200),)
    assert agents[2].shifts == ((600, 1200),)
    queue = QueueSpec("q", volumes=(0.0, 0.0, 0.0), handle_time=Exponential(60))
    result = simulate(Scenario(600, 3, (queue,), agents), 0)
    assert result.staffed_area == pytest.approx([1200, 1800, 600])
    assert result.busy_area == [0.0, 0.0, 0.0]
    assert math.isnan(result.metrics([0])["service_level"])


def test_contacts_wait_for_the_first_shift_and_the_queue_is_measured() -> None:
    queue = QueueSpec("q", volumes=(30.0, 0.0), handle_time=Deterministic(1.0))
    agent = AgentSpec("a", {"q": 1}, ((600, 1200),))
    scenario = Scenario(600, 2, (queue,), (agent,), service_target_seconds=0)
    result = simulate(scenario, 1)
    arrivals = interval_batch(scenario, queue_streams(scenario, np.random.SeedSequence(1)), 0)
    n = len(arrivals.times)
    assert sum(result.offered) == n > 10
    assert result.answered_immediately == [0, 0]
    assert result.queue_max[0] == n
    assert result.queue_area[0] == pytest.approx(sum(600 - t for t in arrivals.times))
    assert result.busy_area[1] == pytest.approx(n * 1.0)  # one second per contact
    assert sum(result.answered) == n
    assert result.metrics([0, 1])["service_level"] == 0


def test_replications_report_confidence_intervals_per_interval_and_queue() -> None:
    scenario = single_queue_scenario(
        calls_per_hour=200, aht_seconds=180, agents=12, hours=2, patience_seconds=90
    )
    report = run_replications(scenario, replications=4, seed=1)
    assert len(report.per_interval) == 8
    assert set(report.per_queue) == {"queue"}
    sl = report.overall["service_level"]
    assert sl.n == 4 and sl.low < sl.mean < sl.high
    assert report.to_dict()["overall"]["service_level"]["mean"] == sl.mean
    again = run_replications(scenario, replications=4, seed=1)
    assert again.overall == report.overall


def test_estimate_uses_student_t() -> None:
    e = estimate([1.0, 2.0, 3.0, math.nan])
    assert e.mean == 2.0 and e.n == 3
    assert e.std_error == pytest.approx(1 / math.sqrt(3))
    assert e.half_width == pytest.approx(4.302652729911275 / math.sqrt(3))
    assert math.isnan(estimate([5.0]).half_width)


def test_distributions_have_the_stated_means() -> None:
    rng = np.random.default_rng(0)
    assert LogNormal(300, 200).sample(rng, 200_000).mean() == pytest.approx(300, rel=0.02)
    assert LogNormal(300, 200).sample(rng, 200_000).std() == pytest.approx(200, rel=0.05)
    assert Exponential(50).sample(rng, 200_000).mean() == pytest.approx(50, rel=0.02)
    assert set(Empirical((1.0, 7.0)).sample(rng, 100).tolist()) == {1.0, 7.0}
    assert Empirical((1.0, 7.0)).mean == 4.0
    assert np.isinf(Never().sample(rng, 3)).all()


@pytest.mark.parametrize(
    "build",
    [
        lambda: Exponential(0),
        lambda: LogNormal(100, -1),
        lambda: Empirical(()),
        lambda: CallbackOffer(10, 1.5),
        lambda: QueueSpec("q", (-1.0,), Exponential(1)),
        lambda: QueueSpec("q", (1.0,), Exponential(1), required_skills={"q": 11}),
        lambda: AgentSpec("a", {"q": 1}, ((0, 10), (5, 20))),
        lambda: AgentSpec("a", {"q": 1}, ((10, 10),)),
        lambda: Scenario(900, 2, (QueueSpec("q", (1.0,), Exponential(1)),), ()),
        lambda: Scenario(900, 1, (QueueSpec("q", (1.0,), Exponential(1)),), (), warmup_intervals=1),
        lambda: single_queue_scenario(calls_per_hour=-1, aht_seconds=1, agents=1, hours=1),
        lambda: run_replications(
            single_queue_scenario(calls_per_hour=1, aht_seconds=1, agents=1, hours=1), 0
        ),
    ],
)
def test_bad_models_are_rejected_with_a_clear_error(build: object) -> None:
    with pytest.raises(InvalidInput):
        build()  # type: ignore[operator]


def test_volumes_from_history_fold_periods_onto_one_grid() -> None:
    day = 4 * 900.0
    times = [10.0, 899.0, 905.0, day + 20.0, day + 3 * 900.0 + 1]
    assert volumes_from_history(times, 900, 4, periods=2) == (1.5, 0.5, 0.0, 0.5)
    with pytest.raises(InvalidInput):
        volumes_from_history([2 * day], 900, 4, periods=2)
