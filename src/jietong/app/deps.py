"""FastAPI dependencies: the platform, a unit of work per request, the acting user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request

from jietong.app.platform import Platform
from jietong.core.pagination import MAX_LIMIT
from jietong.core.tenancy import Actor
from jietong.storage.uow import UnitOfWork


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def get_uow(platform: Annotated[Platform, Depends(get_platform)]) -> Iterator[UnitOfWork]:
    with platform.uow() as uow:
        yield uow


def get_actor(request: Request) -> Actor:
    """The authenticated actor, set by the authentication middleware, or 401."""
    from jietong.auth.http import actor_from_request

    return actor_from_request(request)


PlatformDep = Annotated[Platform, Depends(get_platform)]
UowDep = Annotated[UnitOfWork, Depends(get_uow)]
ActorDep = Annotated[Actor, Depends(get_actor)]
CursorQuery = Annotated[str | None, Query(max_length=200, description="Opaque cursor.")]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
SearchQuery = Annotated[str | None, Query(max_length=200, description="Free-text search.")]
