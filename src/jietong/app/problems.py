"""RFC 9457 problem details for every error, so clients get one shape and never a bare 500."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jietong.core import errors

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


def status_for(exc: errors.JietongError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.JietongError)
    async def _domain(request: Request, exc: errors.JietongError) -> JSONResponse:
        response = problem(status_for(exc), exc.detail, title=exc.title)
        if isinstance(exc, errors.RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after_seconds)
        if isinstance(exc, errors.AuthenticationFailed):
            response.headers["WWW-Authenticate"] = 'Bearer realm="jietong"'
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return problem(422, "the request is not valid", errors=issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "an unexpected error occurred; it has been logged")
