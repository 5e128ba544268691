"""RFC 9457 problem details for every error, so clients get one shape and never a bare 500.

Problems speak the caller's language: with Accept-Language (the screens send their page's
locale) or the language cookie asking for zh-CN, the title, the validation detail and each
field's message come from the zh-CN catalogue (field messages by pydantic's error type
and its limits). English callers get pydantic's own wording, as before. A domain error's
detail is free text written in English at the raise site; in zh-CN it follows the
translated title in brackets, so the lead of every message a screen shows is Chinese.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jietong.core import errors
from jietong.storage.secretbox import UndecryptableSecret
from jietong.web.i18n import FALLBACK, LANG_COOKIE, choose_locale, translate

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"

STATUS_OF: dict[type[errors.JietongError], int] = {
    errors.NotFound: 404,
    errors.IllegalTransition: 409,
    errors.Conflict: 409,
    errors.InvalidInput: 422,
    errors.PermissionDenied: 403,
    errors.AuthenticationFailed: 401,
    errors.RateLimited: 429,
    errors.PayloadTooLarge: 413,
}


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def request_language(request: Request) -> str:
    return choose_locale(
        None, request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"), FALLBACK
    )


def field_message(locale: str, issue: dict[str, Any]) -> str:
    """One validation issue in `locale` (pydantic's own message in English)."""
    if locale == FALLBACK:
        return str(issue.get("msg", ""))
    kind = str(issue.get("type", ""))
    values = {k: _shown(v) for k, v in (issue.get("ctx") or {}).items()}
    key = f"problem.field.{kind}"
    message = translate(locale, key)
    if message == key:
        return translate(locale, "problem.field.other")
    try:
        return message.format(**values)
    except (KeyError, IndexError):
        return translate(locale, "problem.field.other")


def _shown(value: Any) -> str:
    text = str(value)
    return text.removeprefix("Value error, ")[:200]


def _localised(locale: str, status: int, title: str, detail: str) -> tuple[str, str]:
    if locale == FALLBACK:
        return title, detail
    local_title = translate(locale, f"problem.title.{status}")
    if local_title.startswith("problem."):
        local_title = translate(locale, f"problem.title.{status // 100 * 100}")
    return local_title, translate(
        locale, "problem.detail_in_english", title=local_title, detail=detail
    )


def status_for(exc: errors.JietongError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.JietongError)
    async def _domain(request: Request, exc: errors.JietongError) -> JSONResponse:
        status = status_for(exc)
        title, detail = _localised(request_language(request), status, exc.title, exc.detail)
        response = problem(status, detail, title=title)
        if isinstance(exc, errors.RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after_seconds)
        if isinstance(exc, errors.AuthenticationFailed):
            response.headers["WWW-Authenticate"] = 'Bearer realm="jietong"'
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        locale = request_language(request)
        issues = [
            {"loc": list(e.get("loc", ())), "msg": field_message(locale, e), "type": e.get("type")}
            for e in exc.errors()
        ]
        if locale == FALLBACK:
            return problem(422, "the request is not valid", errors=issues)
        invalid = translate(locale, "problem.invalid_request")
        return problem(422, invalid, title=translate(locale, "problem.title.422"), errors=issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        phrase = HTTPStatus(exc.status_code).phrase
        title, detail = _localised(
            request_language(request), exc.status_code, phrase, str(exc.detail)
        )
        response = problem(exc.status_code, detail, title=title)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(UndecryptableSecret)
    async def _sealed(request: Request, exc: UndecryptableSecret) -> JSONResponse:
        # The installation lacks a key (ADR 0016): 503, so a provider's webhook is
        # retried once it is restored. The row is named in the log only: webhook callers
        # are outsiders.
        log.error("%s %s: %s", request.method, request.url.path, exc)
        locale = request_language(request)
        return problem(
            503,
            translate(locale, "problem.secret_unreadable"),
            title=translate(locale, "problem.title.503"),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        locale = request_language(request)
        return problem(
            500,
            translate(locale, "problem.unexpected"),
            title=translate(locale, "problem.title.500"),
        )
