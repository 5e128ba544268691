"""HTTP for signing in and out, the current user, and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from jietong.app.deps import ActorDep, PlatformDep, UowDep
from jietong.auth import service
from jietong.auth.http import SESSION_COOKIE
from jietong.auth.ratelimit import RateLimiter
from jietong.org import service as org_service

router = APIRouter(tags=["auth"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[str, StringConstraints(min_length=1, max_length=150)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class LoginOut(BaseModel):
    user_id: str
    org_id: str
    role: str
    csrf_token: str
    expires_at: datetime


class MeOut(BaseModel):
    user_id: str
    org_id: str
    username: str
    display_name: str
    role: str
    locale: str | None
    team_ids: list[str]
    via_token: bool


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    scopes: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        min_length=1, max_length=32
    )
    expires_at: datetime | None = None


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    user_id: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedTokenOut(TokenOut):
    token: str = Field(description="Shown once; only its hash is kept.")


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def check_login_rate(request: Request, username: str) -> None:
    limiter: RateLimiter = request.app.state.login_limiter
    limiter.hit(f"ip:{client_key(request)}")
    limiter.hit(f"user:{username.lower()}")


@router.post("/auth/login", response_model=LoginOut)
def login(
    body: LoginIn, request: Request, response: Response, uow: UowDep, platform: PlatformDep
) -> LoginOut:
    check_login_rate(request, body.username)
    new = service.login(uow, body.username, body.password, hours=platform.settings.session_hours)
    set_session_cookie(response, new, secure=platform.settings.secure_cookies)
    return LoginOut(
        user_id=new.user.id,
        org_id=new.user.org_id,
        role=new.user.role,
        csrf_token=new.csrf_token,
        expires_at=new.expires_at,
    )


def set_session_cookie(response: Response, new: service.NewSession, *, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        httponly=True,
        samesite="lax",
        secure=secure,
        expires=new.expires_at,
        path="/",
    )


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, uow: UowDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        service.logout(uow, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=MeOut)
def me(uow: UowDep, actor: ActorDep) -> MeOut:
    view = org_service.get_user(uow, actor, actor.user_id)
    return MeOut(
        user_id=actor.user_id,
        org_id=actor.org_id,
        username=view.user.username,
        display_name=view.user.display_name,
        role=actor.role.value,
        locale=view.user.locale,
        team_ids=sorted(actor.team_ids),
        via_token=actor.token_id is not None,
    )


@router.get("/tokens", response_model=list[TokenOut], tags=["tokens"])
def list_tokens(uow: UowDep, actor: ActorDep) -> list[TokenOut]:
    return [TokenOut.model_validate(r) for r in service.list_tokens(uow, actor)]


@router.post("/tokens", status_code=201, response_model=IssuedTokenOut, tags=["tokens"])
def issue_token(body: TokenIn, uow: UowDep, actor: ActorDep) -> IssuedTokenOut:
    issued = service.issue_token(
        uow, actor, name=body.name, scopes=body.scopes, expires_at=body.expires_at
    )
    return IssuedTokenOut(token=issued.token, **TokenOut.model_validate(issued.row).model_dump())


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"])
def revoke_token(token_id: str, uow: UowDep, actor: ActorDep) -> Response:
    service.revoke_token(uow, actor, token_id)
    return Response(status_code=204)
