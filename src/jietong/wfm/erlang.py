"""Erlang B, C and A queueing formulas, exact and numerically stable to very large loads.

Every public function is pure, vectorised (inputs broadcast like numpy arrays) and
returns float64 arrays (0-d for scalar inputs). Nothing here overflows, underflows
into 0/0 or returns NaN for valid input, up to and beyond 20,000 erlangs:

* Poisson terms ``a**n e**-a / n!`` are evaluated in log space with the saddle-point
  form (Stirling error + deviance), never with factorials or powers.
* Erlang B is ``pmf / cdf`` of a Poisson(a) variable at n; the cdf comes from the
  regularised incomplete gamma function (``scipy.special.gammaincc``). In deep overload
  (n + 1 < a) the cdf underflows, so 1/B is computed as a Laplace-type integral instead.
* Erlang A (M/M/n+M) needs Kummer's function ``A(x, y) = 1F1(1; x + 1; y)``, i.e. a
  scaled lower incomplete gamma. It and every Erlang A figure are written as integrals
  of ``exp(-c u + y (1 - e**-u))`` with a concave exponent, and evaluated with
  Gauss-Legendre quadrature on a window that is proven to hold all but ``e**-50`` of
  the mass (see ``_window``). All integrands are positive, so there is no cancellation.

The derivation of the Erlang A integrals is in docs/subsystems/wfm-erlang.md.

Service-level definitions (T = ``target_seconds``, S = ``short_abandon_seconds``):

* ``service_level`` (SL_offered, the default): answered within T / offered.
* ``service_level_answered``: answered within T / answered.
* ``service_level_excl_short_abandons``: answered within T / (offered - abandoned
  within S).

In Erlang C nobody abandons, so the three coincide.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import special

FloatArray = npt.NDArray[np.float64]

SL_OFFERED: Final = "answered within T seconds / offered calls"
SL_ANSWERED: Final = "answered within T seconds / answered calls"
SL_EXCL_SHORT_ABANDONS: Final = (
    "answered within T seconds / (offered calls - calls abandoned within S seconds)"
)

# Nats below the peak at which a concave integrand is cut off: e**-50 ~ 2e-22, far
# below float64 resolution of the integral.
_TAIL_NATS: Final = 50.0
# 64 Gauss-Legendre nodes per side of the peak integrate e**-(50 t) or e**-(50 t**2)
# on [0, 1] to ~1e-20 relative error (the error bound (25 e / 128)**128 is tiny).
_GL_X, _GL_W = np.polynomial.legendre.leggauss(64)
_GL_T: Final[FloatArray] = (_GL_X + 1.0) / 2.0
_GL_WT: Final[FloatArray] = _GL_W / 2.0
_HALF_LOG_2PI: Final = 0.5 * float(np.log(2.0 * np.pi))


def _f(value: npt.ArrayLike) -> FloatArray:
    return np.asarray(value, dtype=np.float64)


# --------------------------------------------------------------------------- Poisson terms


def _stirling_error(n: FloatArray) -> FloatArray:
    """log(n!) - [(n + 1/2) log n - n + log(2 pi)/2] for n >= 1 (real)."""
    big = n >= 15.0
    safe_big = np.where(big, n, 15.0)
    inv2 = 1.0 / (safe_big * safe_big)
    # Asymptotic series; at n >= 15 the first omitted term is below 1e-16 relative.
    series = (
        1.0 / 12.0
        - (1.0 / 360.0 - (1.0 / 1260.0 - (1.0 / 1680.0 - inv2 / 1188.0) * inv2) * inv2) * inv2
    ) / safe_big
    small = np.where(big, 1.0, n)
    # Below 15 the terms are small, so direct evaluation loses only a few ulps.
    direct = special.gammaln(small + 1.0) - (small + 0.5) * np.log(small) + small - _HALF_LOG_2PI
    return np.where(big, series, direct)


def _deviance(x: FloatArray, mean: FloatArray) -> FloatArray:
    """x log(x / mean) + mean - x >= 0, accurate also when x is close to mean (mean > 0)."""
    near = np.abs(x - mean) < 0.1 * (x + mean)
    v = np.where(near, (x - mean) / (x + mean), 0.0)
    # Series in v = (x - m) / (x + m); |v| < 0.1 so ten terms reach 1e-20 relative.
    total = (x - mean) * v
    term = 2.0 * x * v
    v2 = v * v
    for k in range(1, 11):
        term = term * v2
        total = total + term / (2 * k + 1)
    safe_x = np.where(near | (x <= 0.0), 1.0, x)
    far = np.where(x > 0.0, safe_x * np.log(safe_x / mean), 0.0) + mean - x
    return np.where(near, total, far)


def log_poisson_term(n: npt.ArrayLike, a: npt.ArrayLike) -> FloatArray:
    """log(a**n e**-a / Gamma(n + 1)) for real n >= 0 and a > 0, without cancellation.

    For n >= 1 uses the saddle-point form -log(2 pi n)/2 - stirlerr(n) - bd0(n, a),
    whose relative error stays at a few ulps even for n, a ~ 1e5.
    """
    nn, aa = np.broadcast_arrays(_f(n), _f(a))
    big = nn >= 1.0
    nb = np.where(big, nn, 1.0)
    saddle = -0.5 * np.log(2.0 * np.pi * nb) - _stirling_error(nb) - _deviance(nb, aa)
    ns = np.where(big, 0.0, nn)
    direct = special.xlogy(ns, aa) - aa - special.gammaln(ns + 1.0)
    return np.asarray(np.where(big, saddle, direct), dtype=np.float64)


# --------------------------------------------------------------------------- quadrature


def _gap_for_drop(k: FloatArray) -> FloatArray:
    """Smallest d with d**2 / (2 + d) >= k; d - 1 + e**-d >= d**2 / (2 + d) for d >= 0."""
    return 0.5 * (k + np.sqrt(k * k + 8.0 * k))


@dataclass(frozen=True)
class _Window:
    """Where ``exp(-c u + y (1 - e**-u))`` on [0, cap] holds all but e**-50 of its peak."""

    lo: FloatArray
    mode: FloatArray
    hi: FloatArray
    log_peak: FloatArray  # exponent value at ``mode``
    curvature: FloatArray  # y e**-mode, the scale of the e**-u term at the mode


def _window(c: FloatArray, y: FloatArray, cap: FloatArray) -> _Window:
    """Window for phi(u) = -c u + y (1 - e**-u) on [0, cap], y > 0, any real c.

    phi is concave. Right of its peak m the drop after distance d is
    p d + w (d - 1 + e**-d) with p = -phi'(m) >= 0 and w = y e**-m, which is at least
    both p d and c (d - 1 + e**-d). Left of m it is p' d + w (e**d - 1 - d) with
    p' = phi'(m) >= 0, at least both p' d and w d**2 / 2.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        interior = (c > 0.0) & (y > c)
        safe_c = np.where(c > 0.0, c, 1.0)
        free_mode = np.where(interior, np.log(np.where(interior, y / safe_c, 1.0)), 0.0)
        # With c <= 0 phi rises forever, so its peak on [0, cap] is the cap itself.
        mode = np.where(c <= 0.0, cap, np.minimum(free_mode, cap))
        w = y * np.exp(-mode)
        slope = w - c  # phi'(mode): >= 0 when the cap cut the rise, <= 0 otherwise
        by_slope = _TAIL_NATS / np.abs(slope)  # inf when slope == 0
        right = np.where(c > 0.0, np.minimum(_gap_for_drop(_TAIL_NATS / safe_c), by_slope), 0.0)
        left = np.minimum(np.sqrt(2.0 * _TAIL_NATS / w), by_slope)
        # At an interior free mode phi(m) = c (r - 1 - log r), r = y / c: written with
        # log1p so that it keeps full relative accuracy when y is close to c.
        ratio_m1 = np.where(interior, y / safe_c - 1.0, 0.0)
        peak_free = c * (ratio_m1 - np.log1p(ratio_m1))
        peak_capped = -c * mode - y * np.expm1(-mode)
        log_peak = np.where(interior & (free_mode <= cap), peak_free, peak_capped)
    return _Window(
        lo=np.maximum(mode - left, 0.0),
        mode=mode,
        hi=np.minimum(mode + right, cap),
        log_peak=np.asarray(log_peak, dtype=np.float64),
        curvature=w,
    )


Factor = Callable[[FloatArray], FloatArray]


def _laplace(
    c: FloatArray, y: FloatArray, cap: FloatArray, factors: Sequence[Factor]
) -> tuple[FloatArray, list[FloatArray]]:
    """Integrals of f(u) exp(phi(u) - phi(mode)) over [0, cap], phi(u) = -c u + y (1 - e**-u).

    Returns (phi(mode), [scaled integral for each factor f]); the true integral is
    exp(phi(mode)) times the scaled one. Needs y > 0.
    """
    win = _window(c, y, cap)
    results = [np.zeros_like(c) for _ in factors]
    for start, stop in ((win.lo, win.mode), (win.mode, win.hi)):
        width = (stop - start)[..., None]
        u = start[..., None] + width * _GL_T
        delta = u - win.mode[..., None]
        # phi(u) - phi(mode), arranged so that nothing large cancels.
        log_rel = -c[..., None] * delta - win.curvature[..., None] * np.expm1(-delta)
        base = np.exp(log_rel) * (width * _GL_WT)
        for i, factor in enumerate(factors):
            results[i] = results[i] + np.sum(base * factor(u), axis=-1)
    return win.log_peak, results


def _one(u: FloatArray) -> FloatArray:
    return np.ones_like(u)


def _identity(u: FloatArray) -> FloatArray:
    return u


def _one_minus_exp_neg(u: FloatArray) -> FloatArray:
    return -np.expm1(-u)


# --------------------------------------------------------------------------- Erlang B


def offered_load(
    calls: npt.ArrayLike, interval_seconds: npt.ArrayLike, aht_seconds: npt.ArrayLike
) -> FloatArray:
    """Offered load in erlangs: calls * AHT / interval length."""
    return _f(calls) * _f(aht_seconds) / _f(interval_seconds)


def _inverse_erlang_b_overloaded(n: FloatArray, a: FloatArray) -> FloatArray:
    """1/B(n, a) for n + 1 < a, as a * integral_0^inf exp((n + 1) u - a (e**u - 1)) du.

    (From Q(n + 1, a) n! e**a / a**n = integral_0^inf (1 + s/a)**n e**-s ds with
    1 + s/a = e**u.) The exponent falls from 0 at u = 0 by at least (a - n - 1) u and
    a u**2 / 2, so [0, min(50/(a - n - 1), sqrt(100/a))] holds all the mass.
    """
    c = n + 1.0
    width = np.minimum(_TAIL_NATS / (a - c), np.sqrt(2.0 * _TAIL_NATS / a))[..., None]
    u = width * _GL_T
    integrand = np.exp(c[..., None] * u - a[..., None] * np.expm1(u))
    return np.asarray(a * np.sum(integrand * (width * _GL_WT), axis=-1), dtype=np.float64)


def erlang_b(agents: npt.ArrayLike, load: npt.ArrayLike) -> FloatArray:
    """Blocking probability of an M/M/n/n loss system (Erlang B).

    ``agents`` (trunks) are integers >= 0, ``load`` is the offered load in erlangs >= 0.
    B(n, a) = P(X = n) / P(X <= n) for X ~ Poisson(a). Exact to ~1e-13 relative.
    """
    n, a = np.broadcast_arrays(_f(agents), _f(load))
    out = np.ones(n.shape, dtype=np.float64)
    busy = (a > 0.0) & (n > 0.0)
    out[(a <= 0.0) & (n > 0.0)] = 0.0
    light = busy & (n + 1.0 >= a)
    if np.any(light):
        nl, al = n[light], a[light]
        # P(X <= n) >= ~1/2 here, so the cdf never underflows.
        out[light] = np.exp(log_poisson_term(nl, al)) / special.gammaincc(nl + 1.0, al)
    heavy = busy & ~light
    if np.any(heavy):
        out[heavy] = 1.0 / _inverse_erlang_b_overloaded(n[heavy], a[heavy])
    return out


def erlang_b_step(blocking: FloatArray, agents: FloatArray, load: FloatArray) -> FloatArray:
    """B(n + 1, a) from B(n, a): a B / (n + 1 + a B). Forward recurrence, errors decay."""
    ab = load * blocking
    return np.asarray(ab / (agents + 1.0 + ab), dtype=np.float64)


# --------------------------------------------------------------------------- Erlang C


def erlang_c(agents: npt.ArrayLike, load: npt.ArrayLike) -> FloatArray:
    """Probability of waiting in M/M/n (Erlang C); 1 when agents <= load (unstable).

    Uses the identity C = n B / (n - a (1 - B)) with B = Erlang B, whose denominator
    n - a + a B is a sum of positive terms when n > a.
    """
    n, a = np.broadcast_arrays(_f(agents), _f(load))
    return _erlang_c_from_b(erlang_b(n, a), n, a)


def _erlang_c_from_b(b: FloatArray, n: FloatArray, a: FloatArray) -> FloatArray:
    stable = n > a
    with np.errstate(divide="ignore", invalid="ignore"):
        c = n * b / (n - a + a * b)
    out = np.where(stable, c, 1.0)
    return np.asarray(np.where(a <= 0.0, 0.0, out), dtype=np.float64)


@dataclass(frozen=True)
class QueueMetrics:
    """Figures for one staffing level of an Erlang C or Erlang A queue.

    ``service_level`` is SL_offered (answered within T / offered). ``asa_seconds`` is the
    mean wait of answered calls; ``mean_wait_seconds`` is the mean time in queue over all
    offered calls (abandoned calls count their time until abandoning). ``occupancy`` is
    the fraction of agent time spent handling calls (carried load / agents). Unstable
    Erlang C (agents <= load): p_wait 1, service level 0, infinite waits, occupancy 1.
    In Erlang C the abandonment fields are 0.
    """

    model: str
    agents: FloatArray
    offered_load: FloatArray
    p_wait: FloatArray
    service_level: FloatArray
    service_level_answered: FloatArray
    service_level_excl_short_abandons: FloatArray
    asa_seconds: FloatArray
    mean_wait_seconds: FloatArray
    occupancy: FloatArray
    p_abandon: FloatArray
    p_abandon_short: FloatArray
    target_seconds: FloatArray
    short_abandon_seconds: FloatArray

    service_level_definition: str = SL_OFFERED
    service_level_answered_definition: str = SL_ANSWERED
    service_level_excl_short_abandons_definition: str = SL_EXCL_SHORT_ABANDONS


def erlang_c_figures(
    agents: npt.ArrayLike,
    load: npt.ArrayLike,
    aht_seconds: npt.ArrayLike,
    target_seconds: npt.ArrayLike,
    blocking: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(p_wait, service level, ASA seconds, occupancy) of M/M/n; the solver's hot path.

    SL(T) = 1 - C e**(-(n - a) T / AHT); ASA = C AHT / (n - a); occupancy = a / n.
    ``blocking`` may pass a precomputed Erlang B value to skip recomputing it.
    """
    n, a, aht, t = np.broadcast_arrays(_f(agents), _f(load), _f(aht_seconds), _f(target_seconds))
    b = erlang_b(n, a) if blocking is None else blocking
    p_wait = _erlang_c_from_b(b, n, a)
    stable = (n > a) | (a <= 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        gap = np.where(stable, n - a, 1.0)
        sl = np.where(stable, 1.0 - p_wait * np.exp(-gap * t / aht), 0.0)
        # p_wait == 0 (no load, or B underflowed) means no wait at all, even at n == a.
        asa = np.where(stable, np.where(p_wait > 0.0, p_wait * aht / gap, 0.0), np.inf)
        occupancy = np.where(stable, np.where(n > 0.0, a / np.where(n > 0.0, n, 1.0), 0.0), 1.0)
    return p_wait, sl, asa, occupancy


def erlang_c_metrics(
    agents: npt.ArrayLike,
    arrival_rate: npt.ArrayLike,
    aht_seconds: npt.ArrayLike,
    target_seconds: npt.ArrayLike,
) -> QueueMetrics:
    """Erlang C (M/M/n, infinite patience) figures at ``agents``.

    ``arrival_rate`` is calls per second, ``aht_seconds`` the mean handling time,
    ``target_seconds`` the T of "answered within T".
    """
    n, lam, aht, t = np.broadcast_arrays(
        _f(agents), _f(arrival_rate), _f(aht_seconds), _f(target_seconds)
    )
    a = lam * aht
    p_wait, sl, asa, occupancy = erlang_c_figures(n, a, aht, t)
    zeros = np.zeros_like(a)
    return QueueMetrics(
        model="erlang_c",
        agents=n,
        offered_load=a,
        p_wait=p_wait,
        service_level=sl,
        service_level_answered=sl,
        service_level_excl_short_abandons=sl,
        asa_seconds=asa,
        mean_wait_seconds=asa,
        occupancy=occupancy,
        p_abandon=zeros,
        p_abandon_short=zeros,
        target_seconds=t,
        short_abandon_seconds=zeros,
    )


# --------------------------------------------------------------------------- Erlang A


@dataclass(frozen=True)
class _ErlangAParts:
    """Conditional-on-waiting pieces of M/M/n+M, all in [0, 1] or seconds."""

    p_wait: FloatArray
    p_no_wait: FloatArray
    served_given_wait: FloatArray
    abandon_given_wait: FloatArray
    wait_given_served_and_wait: FloatArray  # seconds
    served_within_t_given_wait: FloatArray
    abandon_within_s_given_wait: FloatArray


def _erlang_a_parts(
    n: FloatArray, lam: FloatArray, mu: FloatArray, theta: FloatArray, t: FloatArray, s: FloatArray
) -> _ErlangAParts:
    """Erlang A for n >= 1 agents and lam > 0.

    With x = n mu / theta, y = lam / theta and psi(u) = -(x + 1) u + y (1 - e**-u):
    J = int psi, L = int (1 - e**-u) psi, M = int u psi (all of e**psi over [0, inf));
    A(x, y) = 1 + y J; P(served | wait) = x J / A; P(abandon | wait) = (J + y L) / A;
    the scaled wait z = theta W of a served waiting call has density e**psi / J, so
    E[W | served, wait] = M / (theta J) and P(served, W <= T | wait) = x int_0^{theta T}
    e**psi / A. A waiting call abandons within S with probability
    (x / A) int_0^{theta S} e**psi_x (1 - e**-u) + (1 - e**-(theta S)) P(V > S | wait),
    where psi_x(u) = psi(u) + u and P(V <= S | wait) = (x / A) int_0^{theta S} e**psi_x.
    """
    x = n * mu / theta
    y = lam / theta
    infinite = np.full_like(x, np.inf)
    log_j, (j, ell, m) = _laplace(x + 1.0, y, infinite, (_one, _one_minus_exp_neg, _identity))
    # Everything below is divided by A = 1 + y J = e**log_j (e**-log_j + y j).
    with np.errstate(over="ignore"):
        scaled_a = np.exp(-log_j) + y * j
    log_a = log_j + np.log(scaled_a)
    served = x * j / scaled_a
    abandoned = (j + y * ell) / scaled_a
    b = erlang_b(n, lam / mu)
    inv_a = np.exp(-log_a)
    # P(wait) = A E / (1 + (A - 1) E); its complement is also formed directly, because
    # 1 - P(wait) loses all digits when nearly everyone waits.
    denominator = b + (1.0 - b) * inv_a
    p_wait = b / denominator
    p_no_wait = (1.0 - b) * inv_a / denominator
    wait_served = m / (theta * j)

    log_jt, (jt,) = _laplace(x + 1.0, y, theta * t, (_one,))
    served_within = x * np.exp(log_jt - log_a) * jt

    theta_s = theta * s
    log_i, (i_all, i_gone) = _laplace(x, y, theta_s, (_one, _one_minus_exp_neg))
    scale_s = x * np.exp(log_i - log_a)
    early_ready = scale_s * i_all  # P(V <= S | wait), V the offered wait
    abandon_within = scale_s * i_gone - np.expm1(-theta_s) * (1.0 - early_ready)
    return _ErlangAParts(
        p_wait=np.asarray(p_wait, dtype=np.float64),
        p_no_wait=np.asarray(p_no_wait, dtype=np.float64),
        served_given_wait=np.clip(served, 0.0, 1.0),
        abandon_given_wait=np.clip(abandoned, 0.0, 1.0),
        wait_given_served_and_wait=wait_served,
        served_within_t_given_wait=np.clip(served_within, 0.0, 1.0),
        abandon_within_s_given_wait=np.clip(abandon_within, 0.0, 1.0),
    )


# Quadrature works on (intervals x nodes) matrices; chunking bounds their memory.
_CHUNK: Final = 4096


def _erlang_a_parts_chunked(
    n: FloatArray, lam: FloatArray, mu: FloatArray, theta: FloatArray, t: FloatArray, s: FloatArray
) -> _ErlangAParts:
    """``_erlang_a_parts`` on 1-D inputs, _CHUNK elements at a time."""
    chunks = [
        _erlang_a_parts(*(v[i : i + _CHUNK] for v in (n, lam, mu, theta, t, s)))
        for i in range(0, n.size, _CHUNK)
    ]
    if len(chunks) == 1:
        return chunks[0]
    joined = {
        name: np.concatenate([getattr(c, name) for c in chunks])
        for name in _ErlangAParts.__dataclass_fields__
    }
    return _ErlangAParts(**joined)


def erlang_a_metrics(
    agents: npt.ArrayLike,
    arrival_rate: npt.ArrayLike,
    aht_seconds: npt.ArrayLike,
    patience_seconds: npt.ArrayLike,
    target_seconds: npt.ArrayLike,
    short_abandon_seconds: npt.ArrayLike = 5.0,
) -> QueueMetrics:
    """Erlang A (M/M/n+M: exponential patience with mean ``patience_seconds``) figures.

    Follows Garnett, Mandelbaum & Reiman (2002) and Mandelbaum & Zeltyn; stable for any
    agents >= 0 (overload included). ``p_abandon`` is over all offered calls;
    ``p_abandon_short`` is the fraction of offered calls that abandon within S seconds.
    Tends to Erlang C as patience grows.
    """
    n, lam, aht, pat, t, s = np.broadcast_arrays(
        _f(agents),
        _f(arrival_rate),
        _f(aht_seconds),
        _f(patience_seconds),
        _f(target_seconds),
        _f(short_abandon_seconds),
    )
    a = lam * aht
    shape = n.shape
    # Defaults cover no load (nobody waits) and no agents (everybody waits, then leaves).
    p_wait = np.array(np.where(a > 0.0, 1.0, 0.0), dtype=np.float64)
    no_wait = np.array(1.0 - p_wait, dtype=np.float64)
    served_w = np.zeros(shape)
    abandon_w = p_wait.copy()
    wait_sw = np.zeros(shape)
    within_t_w = np.zeros(shape)
    within_s_w = np.array(np.where(a > 0.0, -np.expm1(-s / pat), 0.0), dtype=np.float64)
    live = (a > 0.0) & (n > 0.0)
    if np.any(live):
        parts = _erlang_a_parts_chunked(
            n[live], lam[live], 1.0 / aht[live], 1.0 / pat[live], t[live], s[live]
        )
        p_wait[live] = parts.p_wait
        no_wait[live] = parts.p_no_wait
        served_w[live] = parts.served_given_wait
        abandon_w[live] = parts.abandon_given_wait
        wait_sw[live] = parts.wait_given_served_and_wait
        within_t_w[live] = parts.served_within_t_given_wait
        within_s_w[live] = parts.abandon_within_s_given_wait
    return _assemble_erlang_a(
        n, a, pat, t, s, p_wait, no_wait, served_w, abandon_w, wait_sw, within_t_w, within_s_w
    )


def _assemble_erlang_a(
    n: FloatArray,
    a: FloatArray,
    patience: FloatArray,
    t: FloatArray,
    s: FloatArray,
    p_wait: FloatArray,
    no_wait: FloatArray,
    served_w: FloatArray,
    abandon_w: FloatArray,
    wait_sw: FloatArray,
    within_t_w: FloatArray,
    within_s_w: FloatArray,
) -> QueueMetrics:
    """Unconditional figures from the conditional-on-waiting pieces."""
    p_abandon = p_wait * abandon_w
    # P(served) = P(no wait) + P(wait) P(served | wait); summed, not 1 - P(abandon), so
    # that it keeps relative accuracy when almost everybody abandons.
    p_served = no_wait + p_wait * served_w
    answered_within = no_wait + p_wait * within_t_w
    short_abandons = p_wait * within_s_w
    with np.errstate(divide="ignore", invalid="ignore"):
        asa = np.where(p_served > 0.0, p_wait * served_w * wait_sw / p_served, np.inf)
        sl_answered = np.where(p_served > 0.0, answered_within / p_served, 0.0)
        sl_excl = np.where(
            1.0 - short_abandons > 0.0, answered_within / (1.0 - short_abandons), 0.0
        )
        # No agents but calls: count them as fully occupied (the limit of overload), so
        # that occupancy stays non-increasing in n and an occupancy cap never picks 0.
        occupancy = np.where(
            n > 0.0, a * p_served / np.where(n > 0.0, n, 1.0), np.where(a > 0.0, 1.0, 0.0)
        )
    return QueueMetrics(
        model="erlang_a",
        agents=n,
        offered_load=a,
        p_wait=p_wait,
        service_level=np.clip(answered_within, 0.0, 1.0),
        service_level_answered=np.clip(sl_answered, 0.0, 1.0),
        service_level_excl_short_abandons=np.clip(sl_excl, 0.0, 1.0),
        asa_seconds=asa,
        # Abandonment rate theta E[queue] = lam P(abandon), so by Little E[W] = P(ab) / theta.
        mean_wait_seconds=p_abandon * patience,
        occupancy=np.minimum(occupancy, 1.0),
        p_abandon=p_abandon,
        p_abandon_short=short_abandons,
        target_seconds=t,
        short_abandon_seconds=s,
    )
