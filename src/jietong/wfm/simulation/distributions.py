"""Random durations for the simulator: handle times and caller patience.

Every distribution is a frozen dataclass with a `mean` and a vectorised
``sample(rng, n)``; the engine draws a whole interval's worth at once, because one numpy
call per interval is far cheaper than one Python-level draw per contact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from jietong.core.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]


class Distribution(Protocol):
    """A non-negative random duration in seconds."""

    @property
    def mean(self) -> float:
        """The expected value (``inf`` for `Never`)."""
        ...

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        """``n`` independent draws."""
        ...


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InvalidInput(f"{name} must be a positive number of seconds, got {value!r}")


@dataclass(frozen=True)
class Exponential:
    """Memoryless durations (the M in M/M/n+M)."""

    mean_seconds: float

    def __post_init__(self) -> None:
        _positive("exponential mean", self.mean_seconds)

    @property
    def mean(self) -> float:
        return self.mean_seconds

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.exponential(self.mean_seconds, n)


@dataclass(frozen=True)
class LogNormal:
    """Right-skewed durations given by their own mean and standard deviation (seconds)."""

    mean_seconds: float
    sd_seconds: float

    def __post_init__(self) -> None:
        _positive("lognormal mean", self.mean_seconds)
        _positive("lognormal standard deviation", self.sd_seconds)

    @property
    def mean(self) -> float:
        return self.mean_seconds

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        # Moment matching: sigma² = ln(1 + cv²), mu = ln(mean) - sigma²/2.
        sigma2 = math.log1p((self.sd_seconds / self.mean_seconds) ** 2)
        mu = math.log(self.mean_seconds) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), n)


@dataclass(frozen=True)
class Empirical:
    """Resamples observed durations (e.g. last month's handle times) with replacement."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise InvalidInput("an empirical distribution needs at least one observation")
        if any(not (math.isfinite(v) and v >= 0) for v in self.values):
            raise InvalidInput("empirical observations must be finite and non-negative")

    @property
    def mean(self) -> float:
        return math.fsum(self.values) / len(self.values)

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return rng.choice(np.asarray(self.values, dtype=np.float64), n)


@dataclass(frozen=True)
class Deterministic:
    """Always the same duration."""

    seconds: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and self.seconds >= 0):
            raise InvalidInput(f"a fixed duration must be finite and >= 0, got {self.seconds!r}")

    @property
    def mean(self) -> float:
        return self.seconds

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return np.full(n, self.seconds, dtype=np.float64)


@dataclass(frozen=True)
class Never:
    """Infinite duration: as patience, callers never abandon."""

    @property
    def mean(self) -> float:
        return math.inf

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        return np.full(n, math.inf, dtype=np.float64)
