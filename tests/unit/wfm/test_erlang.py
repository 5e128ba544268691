"""Erlang B/C/A against arbitrary-precision references, plus queueing properties.

Two independent references, both in mpmath at 40 digits:
* closed forms from the literature (Poisson terms and incomplete gamma functions), at
  many points up to 20,000+ erlangs;
* a brute-force birth-death chain of M/M/n+M with per-state waiting-time laws, which
  checks the closed forms themselves at small loads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jietong.wfm.erlang import (
    erlang_a_metrics,
    erlang_b,
    erlang_b_step,
    erlang_c,
    erlang_c_metrics,
    log_poisson_term,
)

mp.mp.dps = 40
RTOL = 1e-11  # observed worst case ~2e-13; float64 cannot do much better at 20k erlangs


def rel_err(got: float, want: mp.mpf) -> float:
    return float(abs(mp.mpf(got) - want) / abs(want))


# --------------------------------------------------------------------------- references


def ref_erlang_b(n: int, a: float) -> mp.mpf:
    """B = P(X = n) / P(X <= n), X ~ Poisson(a), with mpmath's incomplete gamma."""
    a_ = mp.mpf(a)
    pmf = mp.exp(n * mp.log(a_) - a_ - mp.loggamma(n + 1))
    return pmf / mp.gammainc(n + 1, a_, mp.inf, regularized=True)


def ref_erlang_b_recursive(n: int, a: float) -> mp.mpf:
    """The textbook recursion, exact in 40-digit arithmetic (small n only)."""
    b = mp.mpf(1)
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def ref_erlang_c(n: int, a: float) -> mp.mpf:
    """C = (a^n/n! * n/(n-a)) / (sum_{k<n} a^k/k! + a^n/n! * n/(n-a))."""
    a_ = mp.mpf(a)
    top = mp.exp(n * mp.log(a_) - mp.loggamma(n + 1)) * n / (n - a_)
    below = mp.gammainc(n, a_, mp.inf, regularized=True) * mp.exp(a_)  # sum_{k<n} a^k/k!
    return top / (below + top)


@dataclass(frozen=True)
class RefA:
    p_wait: mp.mpf
    p_abandon: mp.mpf
    service_level: mp.mpf
    asa: mp.mpf
    p_abandon_short: mp.mpf


def ref_erlang_a(n: int, lam: float, aht: float, pat: float, t: float, s: float) -> RefA:
    """Mandelbaum & Zeltyn's closed forms with x = n mu/theta, y = lam/theta,
    A(x, y) = x e^y y^-x gamma(x, y) (lower incomplete gamma)."""
    mu, th = 1 / mp.mpf(aht), 1 / mp.mpf(pat)
    x, y = n * mu / th, mp.mpf(lam) / th
    rho = mp.mpf(lam) / (n * mu)

    def g(shape: mp.mpf, v: mp.mpf) -> mp.mpf:
        return mp.gammainc(shape, 0, v)

    big_a = x * mp.exp(y) * y ** (-x) * g(x, y)
    e = ref_erlang_b(n, float(mp.mpf(lam) / mu))
    p_wait = big_a * e / (1 + (big_a - 1) * e)
    ab_w = 1 / (rho * big_a) + 1 - 1 / rho
    q = mp.exp(-th * t)
    within_w = (g(x + 1, y) - g(x + 1, y * q)) / (y * g(x, y))
    qs = mp.exp(-th * s)
    short_w = ((y * g(x, y) - g(x + 1, y)) - (y * qs * g(x, y * qs) - g(x + 1, y * qs))) / (
        y * g(x, y)
    )

    # Mean wait of a served waiting call: E[log(y / G) | G <= y] / theta, G ~ Gamma(x+1).
    def f(v: mp.mpf) -> mp.mpf:
        return mp.log(y / v) * v**x * mp.exp(-v)

    peak = x + 1
    if y <= peak:
        cuts = [0, y / 2, y * 0.9, y * 0.99, y]
    else:
        width = 10 * mp.sqrt(peak)
        cuts = [0, max(peak - width, peak / 2), peak, peak + width, y]
    served_wait = mp.quad(f, cuts) / g(x + 1, y) / th
    p_served = 1 - p_wait * ab_w
    return RefA(
        p_wait=p_wait,
        p_abandon=p_wait * ab_w,
        service_level=1 - p_wait + p_wait * within_w,
        asa=p_wait * (1 - ab_w) * served_wait / p_served,
        p_abandon_short=p_wait * short_w,
    )


def chain_erlang_a(n: int, lam: float, aht: float, pat: float, t: float, s: float) -> RefA:
    """Brute force: stationary M/M/n+M chain truncated far out, and for an arrival that
    finds j calls queued ahead, offered wait V = sum_{i<=j} Exp(n mu + i theta), i.e.
    theta V = -log Beta(x, j+1); served iff patience > V."""
    mu, th = 1 / mp.mpf(aht), 1 / mp.mpf(pat)
    lam_ = mp.mpf(lam)
    x = n * mu / th
    weights = [mp.mpf(1)]
    for k in range(1, 400):
        death = k * mu if k <= n else n * mu + (k - n) * th
        weights.append(weights[-1] * lam_ / death)
    total = mp.fsum(weights)
    probs = [w / total for w in weights]
    p_wait = mp.fsum(probs[n:])
    q = mp.exp(-th * t)
    ab = within = short = served_wait = mp.mpf(0)
    for j, p in enumerate(probs[n:]):
        served = x / (x + j + 1)
        ab += p * (1 - served)
        within += p * served * mp.betainc(j + 1, x + 1, 0, 1 - q, regularized=True)
        served_wait += p * served * (mp.digamma(x + j + 2) - mp.digamma(x + 1)) / th

        def abandon_density(u: mp.mpf, j: int = j) -> mp.mpf:  # patience ends at u and V > u
            return th * mp.exp(-th * u) * mp.betainc(x, j + 1, 0, mp.exp(-th * u), regularized=True)

        if p > mp.mpf(10) ** -30:
            short += p * mp.quad(abandon_density, [0, s])
    p_served = 1 - ab
    return RefA(
        p_wait=p_wait,
        p_abandon=ab,
        service_level=1 - p_wait + within,
        asa=served_wait / p_served,
        p_abandon_short=short,
    )


# --------------------------------------------------------------------------- Erlang B / C

B_POINTS = [
    (1, 0.5),
    (5, 5.0),
    (10, 8.0),
    (30, 29.5),
    (100, 10.0),
    (100, 120.0),
    (2, 1000.0),
    (1000, 950.0),
    (5000, 20000.0),
    (15000, 20000.0),
    (19000, 20000.0),
    (19999, 20000.0),
    (20000, 20000.0),
    (20100, 20000.0),
    (20500, 20000.0),
    (21000, 20000.0),
    (25000, 25000.5),
]


@pytest.mark.parametrize(("n", "a"), B_POINTS)
def test_erlang_b_matches_mpmath(n: int, a: float) -> None:
    assert rel_err(float(erlang_b(n, a)), ref_erlang_b(n, a)) < RTOL


def test_erlang_b_matches_exact_recursion_small_n() -> None:
    for n, a in [(1, 0.3), (7, 2.5), (40, 41.0), (60, 20.0)]:
        assert rel_err(float(erlang_b(n, a)), ref_erlang_b_recursive(n, a)) < RTOL


C_POINTS = [(2, 1.0), (10, 8.0), (39, 33.3333), (200, 180.0), (20050, 20000.0), (20300, 20000.0)]


@pytest.mark.parametrize(("n", "a"), C_POINTS)
def test_erlang_c_matches_mpmath(n: int, a: float) -> None:
    assert rel_err(float(erlang_c(n, a)), ref_erlang_c(n, a)) < RTOL


@pytest.mark.parametrize(
    ("n", "a", "aht", "t"), [(39, 33.3333, 300.0, 20.0), (20150, 20000.0, 240.0, 15.0)]
)
def test_erlang_c_service_level_and_asa(n: int, a: float, aht: float, t: float) -> None:
    m = erlang_c_metrics(n, a / aht, aht, t)
    c = ref_erlang_c(n, a)
    want_sl = 1 - c * mp.exp(-(n - mp.mpf(a)) * t / aht)
    want_asa = c * aht / (n - mp.mpf(a))
    assert rel_err(float(m.service_level), want_sl) < RTOL
    assert rel_err(float(m.asa_seconds), want_asa) < RTOL
    assert float(m.occupancy) == pytest.approx(a / n, rel=1e-14)
    assert float(m.service_level_answered) == float(m.service_level)  # nobody abandons


def test_log_poisson_term_is_accurate_at_large_arguments() -> None:
    for n, a in [(20000.0, 20000.0), (20500.0, 20000.0), (0.5, 3.0), (1e5, 1.01e5), (3.0, 2.0)]:
        want = n * mp.log(a) - a - mp.loggamma(n + 1)
        got = float(log_poisson_term(n, a))
        assert abs(got - want) < 1e-12 * max(1.0, abs(float(want)))


def test_unstable_and_empty_queues() -> None:
    m = erlang_c_metrics([10, 0, 5], [1.0, 0.0, 0.0], 10.0, 20.0)  # a = 10, 0, 0
    assert m.p_wait.tolist() == [1.0, 0.0, 0.0]
    assert m.service_level.tolist() == [0.0, 1.0, 1.0]
    assert math.isinf(m.asa_seconds[0]) and m.asa_seconds[1:].tolist() == [0.0, 0.0]
    assert m.occupancy.tolist() == [1.0, 0.0, 0.0]


# --------------------------------------------------------------------------- Erlang A

A_POINTS = [
    # agents, arrivals per second, AHT, patience, T, S
    (10, 8 / 180, 180.0, 60.0, 20.0, 5.0),
    (20, 8 / 180, 180.0, 30.0, 20.0, 5.0),
    (1, 0.01, 300.0, 10.0, 20.0, 5.0),
    (3, 0.05, 100.0, 2.0, 20.0, 5.0),
    (5, 1.0, 300.0, 60.0, 20.0, 5.0),  # 300 erlangs on 5 agents: deep overload
    (300, 1.0, 300.0, 120.0, 20.0, 5.0),
    (50, 0.1, 600.0, 5.0, 30.0, 5.0),
    (2, 0.3, 60.0, 0.01, 20.0, 5.0),  # patience far shorter than service
    (12, 8 / 180, 180.0, 1e6, 20.0, 5.0),  # nearly Erlang C
    (19000, 20000 / 300, 300.0, 180.0, 20.0, 5.0),  # 20,000 erlangs, overloaded
    (20050, 20000 / 300, 300.0, 180.0, 20.0, 5.0),
    (20200, 20000 / 300, 300.0, 600.0, 15.0, 10.0),
]


@pytest.mark.parametrize("point", A_POINTS)
def test_erlang_a_matches_mpmath_closed_forms(point: tuple[float, ...]) -> None:
    n, lam, aht, pat, t, s = point
    want = ref_erlang_a(int(n), lam, aht, pat, t, s)
    got = erlang_a_metrics(n, lam, aht, pat, t, s)
    assert rel_err(float(got.p_wait), want.p_wait) < RTOL
    assert rel_err(float(got.p_abandon), want.p_abandon) < RTOL
    assert rel_err(float(got.asa_seconds), want.asa) < RTOL
    assert rel_err(float(got.p_abandon_short), want.p_abandon_short) < RTOL
    # SL can be ~1e-19 in overload, where only its absolute error is meaningful.
    assert abs(float(got.service_level) - want.service_level) < RTOL * max(
        1e-3, float(want.service_level)
    )


@pytest.mark.parametrize(
    "point",
    [
        (2, 1 / 60, 100.0, 30.0, 20.0, 5.0),
        (4, 0.05, 90.0, 45.0, 10.0, 3.0),
        (3, 0.04, 60.0, 5.0, 20.0, 8.0),
    ],
)
def test_erlang_a_matches_brute_force_chain(point: tuple[float, ...]) -> None:
    n, lam, aht, pat, t, s = point
    want = chain_erlang_a(int(n), lam, aht, pat, t, s)
    got = erlang_a_metrics(n, lam, aht, pat, t, s)
    for name in ("p_wait", "p_abandon", "service_level", "p_abandon_short"):
        assert rel_err(float(getattr(got, name)), getattr(want, name)) < 1e-10, name
    assert rel_err(float(got.asa_seconds), want.asa) < 1e-10


def test_erlang_a_sl_variants_are_consistent() -> None:
    m = erlang_a_metrics(33, 100 / 900, 300.0, 60.0, 20.0, 5.0)
    answered = 1 - float(m.p_abandon)
    assert float(m.service_level_answered) == pytest.approx(float(m.service_level) / answered)
    excl = float(m.service_level) / (1 - float(m.p_abandon_short))
    assert float(m.service_level_excl_short_abandons) == pytest.approx(excl)
    assert float(m.mean_wait_seconds) == pytest.approx(float(m.p_abandon) * 60.0)
    assert float(m.service_level) < float(m.service_level_excl_short_abandons)
    assert float(m.service_level_excl_short_abandons) < float(m.service_level_answered)


def test_erlang_a_edge_cases() -> None:
    m = erlang_a_metrics([0, 0, 3], [0.1, 0.0, 0.0], 100.0, 50.0, 20.0, 5.0)
    assert m.p_wait.tolist() == [1.0, 0.0, 0.0]
    assert m.p_abandon.tolist() == [1.0, 0.0, 0.0]
    assert m.service_level.tolist() == [0.0, 1.0, 1.0]
    assert math.isinf(m.asa_seconds[0])
    assert m.p_abandon_short[0] == pytest.approx(-math.expm1(-5.0 / 50.0))


def test_no_nan_over_a_wide_grid() -> None:
    loads = np.array([1e-6, 0.3, 7.0, 150.0, 2000.0, 20000.0, 30000.0])
    agent_factors = np.array([0.05, 0.5, 0.98, 1.0, 1.02, 1.5, 3.0])
    n = np.maximum(np.round(loads[:, None] * agent_factors[None, :]), 1.0)
    aht = 240.0
    lam = loads[:, None] / aht
    assert np.all(np.isfinite(erlang_b(n, loads[:, None])))
    c = erlang_c_metrics(n, lam, aht, 20.0)
    assert not np.isnan(c.asa_seconds).any() and np.all(np.isfinite(c.service_level))
    for patience in (0.1, 30.0, 600.0, 1e7):
        m = erlang_a_metrics(n, lam, aht, patience, 20.0, 5.0)
        for field in ("p_wait", "p_abandon", "service_level", "asa_seconds", "occupancy"):
            values = getattr(m, field)
            assert np.all(np.isfinite(values)), (patience, field)
            assert np.all(values >= 0), (patience, field)


# --------------------------------------------------------------------------- properties

FAST = settings(max_examples=40, deadline=None)
loads = st.floats(min_value=0.05, max_value=3000.0)
ahts = st.floats(min_value=30.0, max_value=900.0)
targets = st.floats(min_value=0.0, max_value=120.0)
patiences = st.floats(min_value=1.0, max_value=1800.0)


@FAST
@given(a=loads, aht=ahts, t=targets, extra=st.integers(0, 60))
def test_erlang_c_more_agents_never_hurt(a: float, aht: float, t: float, extra: int) -> None:
    n = np.floor(a) + 1 + extra + np.arange(4)
    m = erlang_c_metrics(n, a / aht, aht, t)
    assert np.all(np.diff(m.service_level) >= -1e-15)
    assert np.all(np.diff(m.asa_seconds) <= 1e-15 * m.asa_seconds[:-1])


@FAST
@given(a=loads, aht=ahts, pat=patiences, t=targets, frac=st.floats(0.0, 2.0))
def test_erlang_a_more_agents_never_hurt(
    a: float, aht: float, pat: float, t: float, frac: float
) -> None:
    n = max(1.0, np.floor(a * frac)) + np.arange(4)
    m = erlang_a_metrics(n, a / aht, aht, pat, t, 5.0)
    tol = 1e-12
    assert np.all(np.diff(m.service_level) >= -tol)
    assert np.all(np.diff(m.service_level_answered) >= -tol)
    assert np.all(np.diff(m.service_level_excl_short_abandons) >= -tol)
    assert np.all(np.diff(m.asa_seconds) <= tol * m.asa_seconds[:-1])
    assert np.all(np.diff(m.p_abandon) <= tol * m.p_abandon[:-1])
    assert np.all(np.diff(m.occupancy) <= tol)


@FAST
@given(a=st.floats(0.1, 500.0), aht=ahts, t=targets, extra=st.integers(1, 30))
def test_erlang_a_tends_to_erlang_c_as_patience_grows(
    a: float, aht: float, t: float, extra: int
) -> None:
    # At least half an agent of slack: right at critical load Erlang C waits grow without
    # bound and the approach to it, though still 1/patience, starts far later.
    n = math.ceil(a + 0.5) + extra - 1
    c = erlang_c_metrics(n, a / aht, aht, t)
    gaps = []
    for patience in (1e10, 1e12, 1e14):
        m = erlang_a_metrics(n, a / aht, aht, patience, t, 5.0)
        gaps.append(abs(float(m.service_level) - float(c.service_level)))
    # The gap is first order in 1/patience: each 100x more patience shrinks it ~100x,
    # until it reaches float64 noise.
    assert gaps[1] <= gaps[0] / 50 + 1e-12
    assert gaps[2] <= gaps[1] / 50 + 1e-12
    far = erlang_a_metrics(n, a / aht, aht, 1e14, t, 5.0)
    assert float(far.p_wait) == pytest.approx(float(c.p_wait), rel=1e-6)
    assert float(far.asa_seconds) == pytest.approx(float(c.asa_seconds), rel=1e-6)
    assert float(far.service_level) == pytest.approx(float(c.service_level), rel=1e-6, abs=1e-9)
    assert float(far.p_abandon) < 1e-6


@FAST
@given(a=st.floats(0.01, 25000.0), offset=st.integers(1, 400))
def test_erlang_c_from_erlang_b_identity(a: float, offset: int) -> None:
    n = math.floor(a) + offset
    b = float(erlang_b(n, a))
    rho = a / n
    assert float(erlang_c(n, a)) == pytest.approx(b / (1 - rho * (1 - b)), rel=1e-13)


@FAST
@given(a=st.floats(0.01, 25000.0), n=st.integers(0, 30000))
def test_erlang_b_recurrence_holds(a: float, n: int) -> None:
    b_n = erlang_b(n, a)
    stepped = erlang_b_step(b_n, np.float64(n), np.float64(a))
    # Far in the tail (B ~ 1e-250) log-space terms of size ~1e4 leave ~1e-12 relative error.
    assert float(erlang_b(n + 1, a)) == pytest.approx(float(stepped), rel=1e-10, abs=1e-300)
    assert 0.0 <= float(b_n) <= 1.0
