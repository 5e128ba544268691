"""What SIP signaling knows about phones, bindings and trunks, and the port it reads and
writes them through (`SipDirectory`). Signaling is an adapter: it never touches storage;
``store.SqlSipDirectory`` implements the port over the database and `MemoryDirectory`
in memory (tests of the stack, the benchmark, a site without a database)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class PhoneAccount:
    """An agent's SIP credentials. `username` is unique across the installation (the
    digest user; phones know nothing of organisations)."""

    id: str
    org_id: str
    username: str
    realm: str
    ha1: str = field(repr=False)  # MD5(user:realm:password): never logged
    user_id: str | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of a phone account (RFC 3261 10.3)."""

    org_id: str
    username: str
    contact: str  # the Contact URI as registered
    source_host: str
    source_port: int
    expires_at: datetime
    call_id: str
    cseq: int
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Trunk:
    """A carrier connection. Inbound calls are accepted from its `allowed_sources`
    (IPs/CIDRs), or from the address we register to when `register` is set; outbound
    calls go to ``host:port`` with `username`/`password` when the carrier challenges."""

    id: str
    org_id: str
    name: str
    host: str
    port: int = 5060
    allowed_sources: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    register: bool = False
    register_expires_s: int = 3600
    is_default: bool = False
    enabled: bool = True
    # An edge proxy of ours (Kamailio) that authenticated the phone itself and names it
    # in ``X-Jietong-Phone``. Only such a trunk is believed; from anyone else the header
    # is ignored (it would let a caller dial out as an agent: toll fraud).
    trusted_edge: bool = False

    def admits(self, source_host: str) -> bool:
        try:
            address = ipaddress.ip_address(source_host)
        except ValueError:
            return False
        for allowed in self.allowed_sources:
            try:
                if address in ipaddress.ip_network(allowed, strict=False):
                    return True
            except ValueError:
                continue
        return False


class SipDirectory(Protocol):
    """Reads and writes of signaling. Awaited on the event loop; implementations do
    their blocking I/O off it."""

    async def phone(self, username: str) -> PhoneAccount | None:
        """The account with this digest user, or None."""

    async def phone_for_user(self, org_id: str, user_id: str) -> PhoneAccount | None:
        """The account linked to this agent, or None."""

    async def trunk_admitting(self, source_host: str) -> Trunk | None:
        """An enabled trunk that accepts calls from this address (IP list or the host
        we register to), or None."""

    async def trunk(self, org_id: str, trunk_id: str | None) -> Trunk | None:
        """This trunk, or the organisation's default when `trunk_id` is None."""

    async def registering_trunks(self) -> list[Trunk]:
        """Enabled trunks we must register to."""

    async def bindings(self, username: str, now: datetime) -> list[Binding]:
        """Unexpired bindings of one account."""

    async def save_binding(self, binding: Binding) -> None:
        """Insert or refresh (same username and contact)."""

    async def remove_binding(self, username: str, contact: str) -> None: ...

    async def remove_bindings(self, username: str) -> None:
        """``Contact: *`` with Expires 0: every binding of the account."""

    async def purge_bindings(self, now: datetime) -> int:
        """Delete expired bindings; how many."""


BindingAction = Literal["saved", "removed"]


class MemoryDirectory:
    """`SipDirectory` in memory."""

    def __init__(
        self, phones: list[PhoneAccount] | None = None, trunks: list[Trunk] | None = None
    ) -> None:
        self.phones = {p.username: p for p in phones or []}
        self.trunks = list(trunks or [])
        self._bindings: dict[tuple[str, str], Binding] = {}

    async def phone(self, username: str) -> PhoneAccount | None:
        return self.phones.get(username)

    async def phone_for_user(self, org_id: str, user_id: str) -> PhoneAccount | None:
        return next(
            (p for p in self.phones.values() if p.org_id == org_id and p.user_id == user_id),
            None,
        )

    async def trunk_admitting(self, source_host: str) -> Trunk | None:
        for trunk in self.trunks:
            if trunk.enabled and (
                trunk.admits(source_host) or (trunk.register and trunk.host == source_host)
            ):
                return trunk
        return None

    async def trunk(self, org_id: str, trunk_id: str | None) -> Trunk | None:
        for trunk in self.trunks:
            if trunk.org_id == org_id and (
                trunk.id == trunk_id or (trunk_id is None and trunk.is_default)
            ):
                return trunk
        return None

    async def registering_trunks(self) -> list[Trunk]:
        return [t for t in self.trunks if t.enabled and t.register]

    async def bindings(self, username: str, now: datetime) -> list[Binding]:
        return [
            b for (user, _), b in self._bindings.items() if user == username and b.expires_at > now
        ]

    async def save_binding(self, binding: Binding) -> None:
        self._bindings[(binding.username, binding.contact)] = replace(binding)

    async def remove_binding(self, username: str, contact: str) -> None:
        self._bindings.pop((username, contact), None)

    async def remove_bindings(self, username: str) -> None:
        for key in [k for k in self._bindings if k[0] == username]:
            del self._bindings[key]

    async def purge_bindings(self, now: datetime) -> int:
        expired = [k for k, b in self._bindings.items() if b.expires_at <= now]
        for key in expired:
            del self._bindings[key]
        return len(expired)
