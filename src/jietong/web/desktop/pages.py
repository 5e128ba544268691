"""The page shells of the agent desktop (/desk), the wallboard (/wallboard) and the admin
console (/admin). Each is a server-rendered template that loads one ES module; the page
embeds its configuration (CSRF token, time zone, locale, the messages its scripts use) as
a JSON data block, so the strict CSP needs no inline script.

Who: every member of staff may open the desk; the wallboard needs a role that sees the
whole organisation; the admin console needs `org:manage`, except its desk sections (wrap-up
codes, canned responses), which supervisors look after too. Without a session: /login.
A conversation URL (/desk/conversations/{id}) answers 404 unless the interactions service
lets the viewer see it — the same rule as the API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from jietong.app.deps import PlatformDep
from jietong.auth import service as auth_service
from jietong.auth.http import SESSION_COOKIE, authenticate
from jietong.core.errors import AuthenticationFailed, NotFound, PermissionDenied
from jietong.core.permissions import Permission, has_permission
from jietong.core.tenancy import Actor
from jietong.interactions import service as interactions_service
from jietong.org import service as org_service
from jietong.storage.uow import UnitOfWork
from jietong.web.desktop.channel_specs import provider_specs
from jietong.web.i18n import LANG_COOKIE, SUPPORTED, catalogue, choose_locale, translate

router = APIRouter(include_in_schema=False)
ADMIN_SECTIONS = (
    "users",
    "teams",
    "skills",
    "queues",
    "hours",
    "channels",
    "wrapup",
    "canned",
    "tokens",
    "ivr",
    "prompts",
    "trunks",
    "phones",
)
SUPERVISOR_SECTIONS = ("wrapup", "canned")
templates = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Catalogue entries the scripts may ask for (see tests/unit/desktop/test_i18n_keys.py).
SCRIPT_PREFIXES = ("dsk.", "desk.", "wall.", "adm.", "vip.", "role.", "weekday.")


@dataclass(frozen=True)
class Viewer:
    actor: Actor
    name: str
    locale: str
    timezone: str
    csrf: str
    org_name: str


def _viewer(request: Request, uow: UnitOfWork, default_locale: str) -> Viewer | None:
    try:
        actor = authenticate(request, uow)
    except (AuthenticationFailed, PermissionDenied):
        return None
    if actor is None:
        return None
    me = org_service.get_user(uow, actor, actor.user_id).user
    org = org_service.get_organisation(uow, actor)
    cookie = request.cookies.get(SESSION_COOKIE)
    session = auth_service.actor_for_session(uow, cookie) if cookie else None
    locale = choose_locale(
        me.locale,
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
        org.locale or default_locale,
    )
    return Viewer(
        actor=actor,
        name=me.display_name,
        locale=locale,
        timezone=str(ZoneInfo(me.timezone or org.timezone)),
        csrf=session.csrf_token if session else "",
        org_name=org.name,
    )


def script_messages(locale: str) -> dict[str, str]:
    return {k: v for k, v in catalogue(locale).items() if k.startswith(SCRIPT_PREFIXES)}


def _render(
    request: Request, viewer: Viewer, page: str, status: int = 200, **extra: Any
) -> Response:
    locale = viewer.locale

    def t(key: str, **values: str) -> str:
        return translate(locale, key, **values)

    config = {
        "page": page,
        "locale": locale,
        "timezone": viewer.timezone,
        "csrf": viewer.csrf,
        "user": {"id": viewer.actor.user_id, "name": viewer.name, "role": viewer.actor.role},
        "org_name": viewer.org_name,
        "may": _abilities(viewer.actor),
        "messages": script_messages(locale),
        **extra,
    }
    response = templates.TemplateResponse(
        request,
        f"desktop/{page}.html",
        {
            "t": t,
            "locale": locale,
            "locales": SUPPORTED,
            "viewer": viewer,
            "may": config["may"],
            "page": page,
            "config": config,
        },
        status_code=status,
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _abilities(actor: Actor) -> dict[str, bool]:
    """What the navigation and the screens offer (the server checks again on every call)."""
    return {
        "desk": has_permission(actor, Permission.INTERACTIONS_READ),
        "wallboard": actor.sees_whole_organisation,
        "supervise": has_permission(actor, Permission.ROUTING_SUPERVISE),
        "admin": has_permission(actor, Permission.ORG_MANAGE)
        or has_permission(actor, Permission.ROUTING_SUPERVISE),
    }


def _page(
    request: Request,
    platform: PlatformDep,
    page: str,
    allowed: Any,
    extra: Callable[[Actor], dict[str, Any]] = lambda actor: {},
) -> Response:
    with platform.uow() as uow:
        viewer = _viewer(request, uow, platform.settings.default_locale)
        if viewer is None:
            return RedirectResponse("/login", status_code=303)
        if not allowed(viewer.actor):
            return _render(request, viewer, "forbidden", status=403)
        return _render(request, viewer, page, **extra(viewer.actor))


@router.get("/desk", response_model=None)
def desk(request: Request, platform: PlatformDep) -> Response:
    return _page(request, platform, "desk", _abilities_of("desk"), lambda actor: {"open": None})


@router.get("/desk/conversations/{interaction_id}", response_model=None)
def desk_conversation(interaction_id: str, request: Request, platform: PlatformDep) -> Response:
    with platform.uow() as uow:
        viewer = _viewer(request, uow, platform.settings.default_locale)
        if viewer is None:
            return RedirectResponse("/login", status_code=303)
        try:
            interactions_service.get_interaction(uow, viewer.actor, interaction_id)
        except (NotFound, PermissionDenied):
            return _render(request, viewer, "not_found", status=404)
        return _render(request, viewer, "desk", open=interaction_id)


@router.get("/wallboard", response_model=None)
def wallboard(request: Request, platform: PlatformDep) -> Response:
    return _page(request, platform, "wallboard", _abilities_of("wallboard"))


@router.get("/admin", response_model=None)
def admin(request: Request, platform: PlatformDep) -> Response:
    def admin_config(actor: Actor) -> dict[str, Any]:
        # What the channel forms ask for comes with the page (admins only), read from
        # the channel registry: settings and secret *names* of each provider.
        full = has_permission(actor, Permission.ORG_MANAGE)
        specs = provider_specs(actor, platform.channels) if full else []
        return {
            "sections": list(ADMIN_SECTIONS if full else SUPERVISOR_SECTIONS),
            "channels": platform.channels.names(),
            "scopes": [p.value for p in Permission],
            "providers": [spec.model_dump() for spec in specs],
        }

    return _page(request, platform, "admin", _abilities_of("admin"), admin_config)


def _abilities_of(name: str) -> Any:
    return lambda actor: _abilities(actor)[name]
