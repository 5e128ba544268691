"""Role-based permissions. API tokens narrow a user's permissions to the token's scopes."""

from __future__ import annotations

from enum import StrEnum

from jietong.core.errors import PermissionDenied
from jietong.core.tenancy import Actor, Role


class Permission(StrEnum):
    ORG_MANAGE = "org:manage"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    TEAMS_MANAGE = "teams:manage"
    SKILLS_MANAGE = "skills:manage"
    AGENT_SKILLS_MANAGE = "agent_skills:manage"
    QUEUES_MANAGE = "queues:manage"
    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    INTERACTIONS_READ = "interactions:read"
    INTERACTIONS_WRITE = "interactions:write"
    CASES_READ = "cases:read"
    CASES_WRITE = "cases:write"
    AUDIT_READ = "audit:read"
    TOKENS_MANAGE = "tokens:manage"
    ROUTING_SUPERVISE = "routing:supervise"  # agents' states, moves, manual assignment
    CHANNELS_MANAGE = "channels:manage"  # channel accounts and their secrets (admins)
    CHANNELS_POST = "channels:post"  # post inbound messages to the API channel (integrations)


_READ = {
    Permission.USERS_READ,
    Permission.CUSTOMERS_READ,
    Permission.INTERACTIONS_READ,
    Permission.CASES_READ,
}
_FRONT_LINE = _READ | {
    Permission.CUSTOMERS_WRITE,
    Permission.INTERACTIONS_WRITE,
    Permission.CASES_WRITE,
    Permission.TOKENS_MANAGE,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.SUPERVISOR: frozenset(
        _FRONT_LINE
        | {Permission.AGENT_SKILLS_MANAGE, Permission.AUDIT_READ, Permission.ROUTING_SUPERVISE}
    ),
    Role.AGENT: frozenset(_FRONT_LINE),
    Role.BACK_OFFICE: frozenset(_FRONT_LINE),
    Role.READ_ONLY: frozenset(_READ | {Permission.AUDIT_READ}),
}


def has_permission(actor: Actor, permission: Permission) -> bool:
    if permission not in ROLE_PERMISSIONS[actor.role]:
        return False
    return actor.scopes is None or permission.value in actor.scopes


def require(actor: Actor, permission: Permission) -> None:
    """Raise PermissionDenied unless `actor` holds `permission`."""
    if not has_permission(actor, permission):
        raise PermissionDenied(f"this action needs the '{permission.value}' permission")
