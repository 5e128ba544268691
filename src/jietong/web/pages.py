"""Server-rendered pages of the web shell: sign-in, landing per role, language switch."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from jietong.app.deps import PlatformDep
from jietong.auth import service as auth_service
from jietong.auth.api import check_login_rate, set_session_cookie
from jietong.auth.http import SESSION_COOKIE, authenticate
from jietong.core.errors import AuthenticationFailed, JietongError, PermissionDenied, RateLimited
from jietong.core.tenancy import Actor
from jietong.identity import service as identity_service
from jietong.org import service as org_service
from jietong.web.i18n import LANG_COOKIE, SUPPORTED, choose_locale, translate

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(
    directory=str(__import__("pathlib").Path(__file__).parent / "templates")
)


def request_locale(request: Request, user_locale: str | None, default: str) -> str:
    return choose_locale(
        user_locale,
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
        default,
    )


def render_page(
    request: Request, name: str, locale: str, status: int = 200, **ctx: Any
) -> Response:
    def t(key: str, **values: str) -> str:
        return translate(locale, key, **values)

    response = templates.TemplateResponse(
        request, name, {"t": t, "locale": locale, "locales": SUPPORTED, **ctx}, status_code=status
    )
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/", response_model=None)
def index() -> RedirectResponse:
    return RedirectResponse("/home", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, platform: PlatformDep) -> Response:
    locale = request_locale(request, None, platform.settings.default_locale)
    return render_page(request, "login.html", locale)


@router.post("/login", response_model=None)
def login_submit(
    request: Request,
    platform: PlatformDep,
    username: Annotated[str, Form(max_length=150)],
    password: Annotated[str, Form(max_length=256)],
) -> Response:
    locale = request_locale(request, None, platform.settings.default_locale)
    try:
        check_login_rate(request, username)
        with platform.uow() as uow:
            new = auth_service.login(uow, username, password, hours=platform.settings.session_hours)
    except RateLimited as exc:
        error = translate(locale, "login.rate_limited", seconds=str(exc.retry_after_seconds))
        return render_page(request, "login.html", locale, status=429, error=error)
    except AuthenticationFailed:
        error = translate(locale, "login.failed")
        return render_page(request, "login.html", locale, status=401, error=error)
    response = RedirectResponse("/home", status_code=303)
    set_session_cookie(response, new, secure=platform.settings.secure_cookies)
    return response


@router.post("/logout", response_model=None)
def logout(request: Request, platform: PlatformDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with platform.uow() as uow:
            auth_service.logout(uow, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{locale}", response_model=None)
def switch_language(locale: str) -> Response:
    response = RedirectResponse("/home", status_code=303)
    if locale in SUPPORTED:
        response.set_cookie(LANG_COOKIE, locale, samesite="lax", max_age=365 * 86400)
    return response


@router.get("/home", response_model=None)
def home(request: Request, platform: PlatformDep) -> Response:
    with platform.uow() as uow:
        try:
            actor = authenticate(request, uow)
        except (AuthenticationFailed, PermissionDenied):
            actor = None
        if actor is None:
            return RedirectResponse("/login", status_code=303)
        return _landing(request, platform, uow, actor)


def _landing(request: Request, platform: Any, uow: Any, actor: Actor) -> Response:
    me = org_service.get_user(uow, actor, actor.user_id)
    org = org_service.get_organisation(uow, actor)
    locale = request_locale(request, me.user.locale, org.locale)
    tz = ZoneInfo(me.user.timezone or org.timezone)
    try:
        customers = identity_service.list_customers(
            uow,
            actor,
            query=None,
            cursor=None,
            limit=10,
            default_region=platform.settings.default_region,
        ).items
    except JietongError:
        customers = []
    return render_page(
        request,
        "home.html",
        locale,
        me=me.user,
        role=actor.role.value,
        org=org,
        customers=customers,
        tz=tz,
        tz_name=str(tz),
    )
