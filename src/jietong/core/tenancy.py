"""Who is acting, for whom: every service call takes an Actor, tenant first."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    BACK_OFFICE = "back_office"
    READ_ONLY = "read_only"


@dataclass(frozen=True)
class Actor:
    """An authenticated user (through a session or an API token) acting in one organisation.

    `team_ids` are the teams and departments the user belongs to; `scopes` is None for a
    browser session (the role decides) or the token's scopes for an API token.
    """

    org_id: str
    user_id: str
    role: Role
    team_ids: frozenset[str] = field(default_factory=frozenset)
    token_id: str | None = None
    scopes: frozenset[str] | None = None

    @property
    def sees_whole_organisation(self) -> bool:
        """Admins, supervisors and read-only (reporting) users see every team's work."""
        return self.role in (Role.ADMIN, Role.SUPERVISOR, Role.READ_ONLY)


SYSTEM_USER_ID = "system"


def system_actor(org_id: str) -> Actor:
    """The platform itself (imports, channel intake, the demo seeding)."""
    return Actor(org_id=org_id, user_id=SYSTEM_USER_ID, role=Role.ADMIN)
