"""Logins, browser sessions and API tokens.

Secrets (session tokens, API tokens) are 256-bit random values shown once; only their
SHA-256 is stored. A plain hash is right here, unlike passwords: the values carry full
entropy, so there is nothing to brute-force, and look-up must be one indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from jietong.auth.passwords import verify_password
from jietong.core.errors import AuthenticationFailed, InvalidInput, NotFound
from jietong.core.ids import new_id
from jietong.core.permissions import ROLE_PERMISSIONS, Permission, require
from jietong.core.tenancy import Actor, Role
from jietong.events.catalogue import ApiTokenIssued, ApiTokenRevoked
from jietong.org import store as org_store
from jietong.storage.tables import ApiTokenRow, UserRow, WebSessionRow
from jietong.storage.uow import UnitOfWork

TOKEN_PREFIX = "jt_"  # noqa: S105 - a public prefix, not a secret


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    expires_at: datetime
    user: UserRow


@dataclass(frozen=True)
class IssuedToken:
    token: str
    row: ApiTokenRow


def login(uow: UnitOfWork, username: str, password: str, *, hours: int) -> NewSession:
    """Check the password and open a browser session; one message for every failure."""
    user = org_store.find_user_by_username(uow.session, username)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        raise AuthenticationFailed("wrong username or password")
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = uow.now + timedelta(hours=hours)
    uow.session.add(
        WebSessionRow(
            id=new_id(),
            token_hash=_digest(token),
            org_id=user.org_id,
            user_id=user.id,
            csrf_token=csrf,
            created_at=uow.now,
            expires_at=expires,
        )
    )
    uow.audit(_actor_for(uow, user, None, None), "user.logged_in", "user", user.id)
    uow.commit()
    return NewSession(token, csrf, expires, user)


def logout(uow: UnitOfWork, session_token: str) -> None:
    row = uow.session.scalar(
        select(WebSessionRow).where(WebSessionRow.token_hash == _digest(session_token))
    )
    if row is not None and row.revoked_at is None:
        row.revoked_at = uow.now
        uow.commit()


@dataclass(frozen=True)
class SessionActor:
    actor: Actor
    csrf_token: str


def actor_for_session(uow: UnitOfWork, session_token: str) -> SessionActor | None:
    row = uow.session.scalar(
        select(WebSessionRow).where(WebSessionRow.token_hash == _digest(session_token))
    )
    if row is None or row.revoked_at is not None or row.expires_at <= uow.now:
        return None
    user = org_store.find_user(uow.session, row.org_id, row.user_id)
    if user is None or not user.active:
        return None
    return SessionActor(_actor_for(uow, user, None, None), row.csrf_token)


def actor_for_token(uow: UnitOfWork, token: str) -> Actor | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = uow.session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == _digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= uow.now:
        return None
    user = org_store.find_user(uow.session, row.org_id, row.user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = uow.now
    uow.commit()
    return _actor_for(uow, user, row.id, frozenset(row.scopes))


def issue_token(
    uow: UnitOfWork, actor: Actor, *, name: str, scopes: list[str], expires_at: datetime | None
) -> IssuedToken:
    """A token for the acting user, limited to `scopes` (a subset of the user's rights)."""
    require(actor, Permission.TOKENS_MANAGE)
    if actor.token_id is not None:
        raise InvalidInput("an API token cannot issue tokens; sign in to do that")
    allowed = {p.value for p in ROLE_PERMISSIONS[actor.role]}
    unknown = sorted(set(scopes) - allowed)
    if unknown:
        raise InvalidInput(f"scopes not available to your role: {', '.join(unknown)}")
    if expires_at is not None and expires_at <= uow.now:
        raise InvalidInput("expires_at must be in the future")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(
        id=new_id(),
        org_id=actor.org_id,
        user_id=actor.user_id,
        name=name,
        token_hash=_digest(token),
        scopes=sorted(set(scopes)),
        created_at=uow.now,
        expires_at=expires_at,
    )
    uow.session.add(row)
    uow.emit(
        ApiTokenIssued(
            org_id=actor.org_id, token_id=row.id, user_id=actor.user_id, scopes=row.scopes
        )
    )
    uow.audit(actor, "api_token.issued", "api_token", row.id, {"name": name, "scopes": row.scopes})
    uow.commit()
    return IssuedToken(token, row)


def list_tokens(uow: UnitOfWork, actor: Actor) -> list[ApiTokenRow]:
    """The acting user's tokens; admins see every token of the organisation."""
    require(actor, Permission.TOKENS_MANAGE)
    query = select(ApiTokenRow).where(ApiTokenRow.org_id == actor.org_id)
    if actor.role != Role.ADMIN:
        query = query.where(ApiTokenRow.user_id == actor.user_id)
    return list(uow.session.scalars(query.order_by(ApiTokenRow.id.desc()).limit(500)))


def revoke_token(uow: UnitOfWork, actor: Actor, token_id: str) -> None:
    require(actor, Permission.TOKENS_MANAGE)
    row = uow.session.scalar(
        select(ApiTokenRow).where(ApiTokenRow.org_id == actor.org_id, ApiTokenRow.id == token_id)
    )
    if row is None or (actor.role != Role.ADMIN and row.user_id != actor.user_id):
        raise NotFound(f"token {token_id} not found")
    if row.revoked_at is None:
        row.revoked_at = uow.now
        uow.emit(ApiTokenRevoked(org_id=actor.org_id, token_id=row.id))
        uow.audit(actor, "api_token.revoked", "api_token", row.id)
    uow.commit()


def _actor_for(
    uow: UnitOfWork, user: UserRow, token_id: str | None, scopes: frozenset[str] | None
) -> Actor:
    teams = frozenset(org_store.team_ids_of(uow.session, user.org_id, [user.id])[user.id])
    return Actor(
        org_id=user.org_id,
        user_id=user.id,
        role=Role(user.role),
        team_ids=teams,
        token_id=token_id,
        scopes=scopes,
    )
