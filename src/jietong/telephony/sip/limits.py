"""Authentication failure limits per source address (issue 6, security).

Every address counts, loopback included: an exemption for 127.0.0.1 would make the
loopback tests pass while proving nothing, and a local proxy (Kamailio) in front would
otherwise carry every attacker's failures unlimited.

In-process state on purpose: it belongs to one signaling process, like its sockets. A
site with several signaling processes behind Kamailio limits at Kamailio (pike module,
see docs/howto/kamailio.md).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class _Source:
    failures: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class FailureLimiter:
    """After `max_failures` failures within `window_s`, a source is blocked for
    `block_s` (its requests get 403 or are ignored). `now` is passed in."""

    def __init__(
        self, *, max_failures: int = 10, window_s: float = 60.0, block_s: float = 300.0
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.block_s = block_s
        self._sources: dict[str, _Source] = {}

    def blocked(self, host: str, now: float) -> bool:
        source = self._sources.get(host)
        return source is not None and source.blocked_until > now

    def failed(self, host: str, now: float) -> bool:
        """Count one failure; True when this one blocks the source."""
        source = self._sources.setdefault(host, _Source())
        failures = source.failures
        failures.append(now)
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if len(failures) >= self.max_failures:
            source.blocked_until = now + self.block_s
            failures.clear()
            return True
        return False

    def succeeded(self, host: str) -> None:
        """A success does not forgive a block, but clears the failures counted so far,
        so a phone that mistyped once is not blocked by its later re-registrations."""
        source = self._sources.get(host)
        if source is not None and source.blocked_until == 0.0:
            del self._sources[host]

    def prune(self, now: float) -> None:
        """Forget sources with nothing recent (bounded memory under a scan)."""
        stale = [
            host
            for host, s in self._sources.items()
            if s.blocked_until <= now and (not s.failures or s.failures[-1] <= now - self.window_s)
        ]
        for host in stale:
            del self._sources[host]
