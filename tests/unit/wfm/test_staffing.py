"""Staffing solver: minimality against a brute-force scan, combined targets, shrinkage."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jietong.wfm.erlang import erlang_a_metrics, erlang_c_metrics
from jietong.wfm.staffing import (
    StaffingTargets,
    meets_targets,
    scheduled_from_required,
    solve_staffing,
)

INTERVAL = 900.0


def brute_force(
    calls: float, aht: float, targets: StaffingTargets, patience: float | None = None
) -> int:
    """Scan n = 0, 1, 2, ... with the formulas alone: the first staffing meeting all targets."""
    rate = calls / INTERVAL
    for n in range(0, 100_000):
        if patience is None:
            m = erlang_c_metrics(n, rate, aht, targets.target_seconds)
        else:
            m = erlang_a_metrics(
                n, rate, aht, patience, targets.target_seconds, targets.short_abandon_seconds
            )
        if bool(meets_targets(m, targets)):
            return n
    raise AssertionError("no staffing found")


def test_erlang_c_80_20_matches_brute_force_for_many_intervals() -> None:
    rng = np.random.default_rng(7)
    calls = rng.uniform(0.0, 600.0, size=40)
    aht = rng.uniform(60.0, 600.0, size=40)
    targets = StaffingTargets(service_level=0.8, target_seconds=20.0)
    result = solve_staffing(calls, aht, INTERVAL, targets)
    expected = [brute_force(c, h, targets) for c, h in zip(calls, aht, strict=True)]
    assert result.required_agents.tolist() == expected
    assert np.all(result.metrics.service_level >= 0.8)


def test_worked_example() -> None:
    # 100 calls in 30 minutes at 3 minutes AHT = 10 erlangs. Figures agree with the
    # independent pyworkforce implementation to 1e-15: 13 agents give SL 79.56%,
    # 14 give 88.84% with P(wait) 17.41% and ASA 7.836 s.
    r = solve_staffing(100, 180, 1800, StaffingTargets(service_level=0.8, target_seconds=20))
    assert int(r.required_agents) == 14
    assert float(r.metrics.service_level) == pytest.approx(0.888350019179, abs=1e-11)
    assert float(r.metrics.p_wait) == pytest.approx(0.174131933595, abs=1e-11)
    assert float(r.metrics.asa_seconds) == pytest.approx(7.835937011777, abs=1e-9)
    below = erlang_c_metrics(13, 100 / 1800, 180, 20)
    assert float(below.service_level) == pytest.approx(0.795594788418, abs=1e-11)


@pytest.mark.parametrize(
    "targets",
    [
        StaffingTargets(service_level=0.9, target_seconds=15.0),
        StaffingTargets(asa_seconds=10.0),
        StaffingTargets(max_occupancy=0.85),
        StaffingTargets(service_level=0.8, target_seconds=30.0, asa_seconds=5.0, max_occupancy=0.9),
        StaffingTargets(service_level=1.0, target_seconds=0.0),
    ],
)
def test_each_erlang_c_target_is_met_minimally(targets: StaffingTargets) -> None:
    calls = np.array([0.0, 3.0, 40.0, 250.0, 900.0])
    result = solve_staffing(calls, 240.0, INTERVAL, targets)
    expected = [brute_force(c, 240.0, targets) for c in calls]
    assert result.required_agents.tolist() == expected


@pytest.mark.parametrize(
    "targets",
    [
        StaffingTargets(service_level=0.8, target_seconds=20.0),
        StaffingTargets(service_level=0.8, target_seconds=20.0, sl_definition="answered"),
        StaffingTargets(
            service_level=0.85, target_seconds=20.0, sl_definition="offered_excl_short_abandons"
        ),
        StaffingTargets(asa_seconds=15.0),
        StaffingTargets(max_abandon=0.03),
        StaffingTargets(max_occupancy=0.8),
        StaffingTargets(service_level=0.7, target_seconds=30.0, max_abandon=0.05, asa_seconds=20.0),
    ],
)
def test_each_erlang_a_target_is_met_minimally(targets: StaffingTargets) -> None:
    calls = np.array([0.0, 2.0, 60.0, 400.0])
    patience = np.array([30.0, 90.0, 120.0, 300.0])
    result = solve_staffing(calls, 200.0, INTERVAL, targets, patience_seconds=patience)
    expected = [brute_force(c, 200.0, targets, p) for c, p in zip(calls, patience, strict=True)]
    assert result.required_agents.tolist() == expected


@settings(max_examples=25, deadline=None)
@given(
    calls=st.floats(0.5, 3000.0),
    aht=st.floats(30.0, 900.0),
    sl=st.floats(0.5, 0.99),
    t=st.floats(0.0, 60.0),
    asa=st.floats(1.0, 60.0),
    occ=st.floats(0.5, 1.0),
    patience=st.one_of(st.none(), st.floats(10.0, 900.0)),
)
def test_combined_targets_need_the_most_of_each_alone(
    calls: float, aht: float, sl: float, t: float, asa: float, occ: float, patience: float | None
) -> None:
    singles = [
        StaffingTargets(service_level=sl, target_seconds=t),
        StaffingTargets(asa_seconds=asa, target_seconds=t),
        StaffingTargets(max_occupancy=occ, target_seconds=t),
    ]
    combined = StaffingTargets(
        service_level=sl, target_seconds=t, asa_seconds=asa, max_occupancy=occ
    )
    each = [
        int(solve_staffing(calls, aht, INTERVAL, s, patience_seconds=patience).required_agents)
        for s in singles
    ]
    both = solve_staffing(calls, aht, INTERVAL, combined, patience_seconds=patience)
    n = int(both.required_agents)
    assert n == max(each)
    assert bool(meets_targets(both.metrics, combined))
    if n > 0:
        rate = calls / INTERVAL
        if patience is None:
            fewer = erlang_c_metrics(n - 1, rate, aht, t)
        else:
            fewer = erlang_a_metrics(n - 1, rate, aht, patience, t, 5.0)
        assert not bool(meets_targets(fewer, combined))


def test_large_center_and_shape_are_kept() -> None:
    calls = np.array([[80_000.0, 1.0], [0.0, 5_000.0]])  # 80k calls x 225 s / 900 s = 20k erl
    targets = StaffingTargets(service_level=0.8, target_seconds=20.0)
    c = solve_staffing(calls, 225.0, INTERVAL, targets)
    a = solve_staffing(calls, 225.0, INTERVAL, targets, patience_seconds=180.0)
    for result in (c, a):
        assert result.required_agents.shape == (2, 2)
        assert result.metrics.service_level.shape == (2, 2)
        assert np.all(np.isfinite(result.metrics.asa_seconds))
    assert 20_000 < int(c.required_agents[0, 0]) < 20_100
    assert int(c.required_agents[1, 0]) == 0
    assert int(a.required_agents[0, 0]) <= int(c.required_agents[0, 0])


def test_shrinkage_rounds_up_without_float_artefacts() -> None:
    assert scheduled_from_required([7, 8, 10, 0], 0.3).tolist() == [10, 12, 15, 0]
    assert scheduled_from_required(10, 0.2).tolist() == 13
    assert scheduled_from_required(8, 0.2).tolist() == 10
    r = solve_staffing(
        [100.0, 100.0],
        180.0,
        1800.0,
        StaffingTargets(service_level=0.8, target_seconds=20.0),
        shrinkage=[0.0, 0.35],
    )
    assert r.required_agents.tolist() == [14, 14]
    assert r.scheduled_agents.tolist() == [14, 22]


@pytest.mark.parametrize(
    ("kwargs", "targets", "message"),
    [
        ({"calls": -1.0}, StaffingTargets(service_level=0.8), "calls"),
        ({"aht_seconds": 0.0}, StaffingTargets(service_level=0.8), "AHT"),
        ({"interval_seconds": 0.0}, StaffingTargets(service_level=0.8), "interval"),
        ({"shrinkage": 1.0}, StaffingTargets(service_level=0.8), "shrinkage"),
        ({"patience_seconds": 0.0}, StaffingTargets(service_level=0.8), "patience"),
        ({}, StaffingTargets(service_level=1.2), "service level"),
        ({}, StaffingTargets(service_level=0.0), "service level"),
        ({}, StaffingTargets(asa_seconds=0.0), "ASA"),
        ({}, StaffingTargets(max_abandon=0.1), "patience"),
        ({}, StaffingTargets(), "at least one target"),
    ],
)
def test_bad_input_is_rejected(
    kwargs: dict[str, float], targets: StaffingTargets, message: str
) -> None:
    args: dict[str, float] = {"calls": 10.0, "aht_seconds": 100.0, "interval_seconds": 900.0}
    args.update(kwargs)
    patience = args.pop("patience_seconds", None)
    shrinkage = args.pop("shrinkage", 0.0)
    with pytest.raises(ValueError, match=message):
        solve_staffing(
            args["calls"],
            args["aht_seconds"],
            args["interval_seconds"],
            targets,
            patience_seconds=patience,
            shrinkage=shrinkage,
        )
