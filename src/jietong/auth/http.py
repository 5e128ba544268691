"""Authenticating HTTP requests: a session cookie (browser) or a bearer token (integrations).

Cookie-authenticated requests that change anything must echo the session's CSRF token
in the X-CSRF-Token header; bearer requests need none (browsers never add them).
"""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

from jietong.auth import service
from jietong.core.errors import AuthenticationFailed, PermissionDenied
from jietong.core.tenancy import Actor
from jietong.storage.uow import UnitOfWork

SESSION_COOKIE = "jietong_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def authenticate(conn: HTTPConnection, uow: UnitOfWork) -> Actor | None:
    """The actor behind this request, None if it carries no credentials at all."""
    authorization = conn.headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("use 'Authorization: Bearer <token>'")
        actor = service.actor_for_token(uow, token.strip())
        if actor is None:
            raise AuthenticationFailed("invalid, expired or revoked token")
        return actor
    cookie = conn.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    found = service.actor_for_session(uow, cookie)
    if found is None:
        raise AuthenticationFailed("your session has ended; sign in again")
    method = conn.scope.get("method", "GET")
    if method not in SAFE_METHODS:
        sent = conn.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), found.csrf_token.encode()):
            raise PermissionDenied("missing or wrong X-CSRF-Token header")
    return found.actor


def actor_from_request(conn: HTTPConnection) -> Actor:
    """Used by the ActorDep dependency: 401 unless the request is authenticated."""
    from jietong.app.platform import Platform

    platform: Platform = conn.app.state.platform
    with platform.uow() as uow:
        actor = authenticate(conn, uow)
    if actor is None:
        raise AuthenticationFailed("sign in or send a bearer token")
    return actor
