"""Registering to carriers' trunks (the client side of REGISTER), on sippy's agent.

sippy's `SipRegistrationAgent` answers 401/407 challenges with the trunk's credentials but
re-registers only when the binding has already expired; `RefreshingAgent` refreshes
ahead of expiry (half the granted time for short grants, 30 s before it for long ones),
so a carrier never sees a gap in which our calls would be refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sippy.SipRegistrationAgent import SipRegistrationAgent  # type: ignore[import-untyped]
from sippy.SipURL import SipURL  # type: ignore[import-untyped]
from sippy.Time.Timeout import Timeout  # type: ignore[import-untyped]

from jietong.telephony.sip.model import Trunk

log = logging.getLogger("jietong.sip")


def refresh_after(granted_s: float) -> float:
    """When to refresh a registration granted for `granted_s` seconds."""
    return max(1.0, granted_s - min(30.0, granted_s / 2))


@dataclass(frozen=True, slots=True)
class RegistrationState:
    trunk_id: str
    registered: bool
    detail: str  # "expires=N" or the carrier's status line
    refreshes: int = 0


class RefreshingAgent(SipRegistrationAgent):  # type: ignore[misc]
    """A trunk registration that refreshes before expiry. Reactor thread only."""

    def __init__(
        self,
        global_config: dict[str, Any],
        trunk: Trunk,
        contact_host: str,
        contact_port: int,
        report: Callable[[RegistrationState], None],
    ) -> None:
        aor = SipURL(username=trunk.username, host=trunk.host, port=trunk.port)
        contact = SipURL(username=trunk.username, host=contact_host, port=contact_port)
        super().__init__(
            global_config,
            aor,
            contact,
            user=trunk.username,
            passw=trunk.password,
            exp=trunk.register_expires_s,
        )
        self.trunk_id = trunk.id
        self.report = report
        self.refreshes = 0
        self.timer: Any = None

    def gotreply(self, resp: Any) -> None:
        if self.dead or resp.scode < 200:
            return
        if 200 <= resp.scode < 300:
            granted = float(self.exp)
            if resp.countHFs("contact") > 0:
                params = resp.getHFBody("contact").address.params
                if "expires" in params and str(params["expires"]).isdigit():
                    granted = float(params["expires"])
            elif resp.countHFs("expires") > 0:
                granted = float(resp.getHFBody("expires").getNum())
            self.timer = Timeout(self._refresh, refresh_after(granted))
            self.atries = 0
            self.report(
                RegistrationState(self.trunk_id, True, f"expires={int(granted)}", self.refreshes)
            )
            return
        if resp.scode not in (401, 407) or self.atries >= 3:
            self.report(RegistrationState(self.trunk_id, False, resp.getSL(), self.refreshes))
        super().gotreply(resp)  # answers a challenge, or retries in 60 s

    def _refresh(self) -> None:
        self.refreshes += 1
        self.doregister()

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.stopregister()
