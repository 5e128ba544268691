"""Login rate limiting: a sliding window per key, loopback included.

Loopback is not exempt on purpose: an exemption would make tests pass falsely and would
open the door to anything running on the same host. Behind the port so that a Redis
backend can share counts between processes in the scale-out mode.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from jietong.core.errors import RateLimited


class RateLimiter(Protocol):
    def hit(self, key: str) -> None:
        """Count one attempt for `key`; raise RateLimited when over the limit."""
        ...


class InProcessRateLimiter:
    def __init__(
        self,
        limit: int,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self._window:
                hits.popleft()
            if len(hits) >= self._limit:
                retry = int(hits[0] + self._window - now) + 1
                raise RateLimited("too many login attempts; try again later", retry)
            hits.append(now)
