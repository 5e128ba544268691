"""The widget's HTTP API under `/api/v1/channels/chat/{widget key}` and the agents'
typing indicator: translation only.

The widget runs on the customer's own site, so these endpoints answer cross-origin
requests (CORS) from the origins the widget allows; they take no cookies: the visitor
is whoever holds the visitor token (`X-Visitor-Token`), which the server signed. An
unknown or disabled widget key is 404 before anything else is looked at.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    File,
    Form,
    Header,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
    WebSocket,
    status,
)
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from jietong.app.deps import ActorDep, UowDep
from jietong.app.platform import Platform
from jietong.channels.base import InboundAttachment
from jietong.channels.webchat import (
    gateway,
    model,
    offline,
    schemas,
    service,
    sessions,
    transcripts,
)
from jietong.channels.webchat.config import WidgetConfig
from jietong.channels.webchat.runtime import ChatRuntime
from jietong.core.errors import AuthenticationFailed, NotFound, PermissionDenied
from jietong.interactions.api import download_headers
from jietong.interactions.schemas import ID_PATTERN
from jietong.web.i18n import catalogue, choose_locale

KeyPath = Annotated[str, Path(pattern=ID_PATTERN, description="The widget key.")]
TokenHeader = Annotated[
    str | None, Header(max_length=1000, description="The visitor token from /sessions.")
]
ALLOWED_HEADERS = "content-type, x-visitor-token"
EXPOSED_HEADERS = "retry-after, content-disposition"


class CorsRoute(APIRoute):
    """Adds CORS headers to every answer of the widget API, errors included (the
    widget must be able to read a 429 or a 401 to act on it)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except Exception as exc:
                response = await _handled(request, exc)
            allow_cross_origin(request, response)
            return response

        return handler


async def _handled(request: Request, exc: Exception) -> Response:
    """The app's own exception handler for `exc` (problem JSON), as the app would run it."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            response: Response = await handler(request, exc)
            return response
    raise exc


def allow_cross_origin(request: Request, response: Response) -> None:
    """No credentials are involved, so echoing the caller's origin is safe; which
    origins may really use a widget is checked per widget (`WidgetConfig.origin_allowed`)."""
    origin = request.headers.get("origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        response.headers["Vary"] = "Origin"


router = APIRouter(prefix="/channels/chat", tags=["channels: web chat"], route_class=CorsRoute)
agent_router = APIRouter(prefix="/channels/chat", tags=["channels: web chat"])


def runtime_of(app_state: Any, platform: Platform) -> ChatRuntime:
    """The process's chat runtime, created on first use (in the event loop's thread)."""
    runtime: ChatRuntime | None = getattr(app_state, "webchat", None)
    if runtime is None:
        runtime = ChatRuntime(platform)
        app_state.webchat = runtime
    return runtime


def _runtime(request: Request) -> ChatRuntime:
    return runtime_of(request.app.state, request.app.state.platform)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _widget(request: Request, key: str) -> WidgetConfig:
    runtime = _runtime(request)

    def find() -> WidgetConfig | None:
        with runtime.context.new_uow() as uow:
            return sessions.find_widget(uow, key)

    widget = await run_in_threadpool(find)
    if widget is None:
        raise NotFound(f"no chat widget {key}")
    if not widget.origin_allowed(request.headers.get("origin")):
        raise PermissionDenied("this site may not use the chat widget")
    return widget


async def _visitor(
    request: Request, key: str, token: str | None
) -> tuple[ChatRuntime, WidgetConfig, model.Visitor]:
    widget = await _widget(request, key)
    if not token:
        raise AuthenticationFailed("send the visitor token in X-Visitor-Token")
    runtime = _runtime(request)
    visitor = await run_in_threadpool(
        sessions.authenticate, runtime.context, widget, token, now=runtime.platform.clock()
    )
    return runtime, widget, visitor


def _locale(request: Request, asked: str | None, runtime: ChatRuntime) -> str:
    return choose_locale(
        asked,
        None,
        request.headers.get("accept-language"),
        runtime.platform.settings.default_locale,
    )


def widget_strings(locale: str) -> dict[str, str]:
    return {k[len("widget.") :]: v for k, v in catalogue(locale).items() if k.startswith("widget.")}


@router.options("/{widget_key}/{rest:path}", include_in_schema=False)
async def preflight(widget_key: str, rest: str) -> Response:
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
        },
    )


@router.get("/{widget_key}/config", response_model=schemas.WidgetOut, summary="Widget settings")
async def get_config(
    widget_key: KeyPath,
    request: Request,
    locale: Annotated[schemas.Locale | None, Query()] = None,
) -> schemas.WidgetOut:
    widget = await _widget(request, widget_key)
    runtime = _runtime(request)
    chosen = _locale(request, locale, runtime)

    def online() -> model.Online:
        with runtime.context.new_uow() as uow:
            return service.availability(uow, runtime.context.routing, widget, now=uow.now)

    found = await run_in_threadpool(online)
    return schemas.WidgetOut(
        title=widget.title,
        locale=chosen,
        pre_chat=widget.pre_chat.value,
        identity_required=widget.identity_required,
        online=found.online,
        offline_reason=found.reason,
        max_attachment_bytes=widget.max_attachment_bytes,
        strings=widget_strings(chosen),
    )


@router.post(
    "/{widget_key}/sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.SessionOut,
    summary="Start or resume a visitor session",
)
async def start_session(
    widget_key: KeyPath, body: schemas.SessionIn, request: Request
) -> schemas.SessionOut:
    widget = await _widget(request, widget_key)
    runtime = _runtime(request)
    runtime.session_started(_address(request))
    started = await run_in_threadpool(
        sessions.start_session,
        runtime.context,
        widget,
        model.SessionRequest(
            token=body.visitor_token,
            user_id=body.user_id,
            user_hash=body.user_hash,
            name=body.name,
            email=body.email,
            phone=body.phone,
            locale=body.locale,
        ),
        now=runtime.platform.clock(),
    )
    return schemas.SessionOut(
        visitor_token=started.token,
        visitor_id=started.visitor.id,
        expires_at=started.expires_at,
        last_seq=started.last_seq,
        verified=started.visitor.verified,
        name=started.visitor.name,
        email=started.visitor.email,
    )


@router.get("/{widget_key}/messages", response_model=schemas.TimelineOut)
async def list_messages(
    widget_key: KeyPath,
    request: Request,
    x_visitor_token: TokenHeader = None,
    after: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> schemas.TimelineOut:
    """The visitor's messages numbered after `after` (polling fallback and history)."""
    runtime, _, visitor = await _visitor(request, widget_key, x_visitor_token)

    def read() -> tuple[list[model.TimelineItem], model.ConversationStatus]:
        with runtime.context.new_uow() as uow:
            service.sequence(uow, visitor.org_id, visitor.id)
            items = service.timeline(uow, visitor, after=after)
            return items, service.status(uow, runtime.context.routing, visitor, now=uow.now)

    items, found = await run_in_threadpool(read)
    return schemas.TimelineOut(
        items=[schemas.message_out(i) for i in items], status=schemas.status_out(found)
    )


@router.post(
    "/{widget_key}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.PostedOut,
    responses={200: {"model": schemas.PostedOut, "description": "A repeated client_id."}},
)
async def post_message(
    widget_key: KeyPath,
    body: schemas.MessageIn,
    request: Request,
    response: Response,
    x_visitor_token: TokenHeader = None,
) -> schemas.PostedOut:
    """Send a message over HTTP (the WebSocket does the same); resend with the same
    client_id after a failure: it is stored once."""
    runtime, widget, visitor = await _visitor(request, widget_key, x_visitor_token)
    runtime.message_sent(_address(request), visitor.id)
    posted = await run_in_threadpool(
        service.post_message,
        runtime.context,
        widget,
        visitor,
        client_id=body.client_id,
        text=body.text,
        now=runtime.platform.clock(),
    )
    if posted.duplicate:
        response.status_code = status.HTTP_200_OK
    return _posted(posted)


def _posted(posted: model.Posted) -> schemas.PostedOut:
    return schemas.PostedOut(
        message_id=posted.message_id,
        interaction_id=posted.interaction_id,
        seq=posted.seq,
        duplicate=posted.duplicate,
    )


@router.post(
    "/{widget_key}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.PostedOut,
    summary="Send a file (its type is sniffed; the widget's size limit applies)",
)
async def upload_attachment(
    widget_key: KeyPath,
    request: Request,
    response: Response,
    file: Annotated[UploadFile, File()],
    client_id: Annotated[str, Form(pattern=r"^[A-Za-z0-9_-]{8,64}$")],
    text: Annotated[str, Form(max_length=10_000)] = "",
    x_visitor_token: TokenHeader = None,
) -> schemas.PostedOut:
    runtime, widget, visitor = await _visitor(request, widget_key, x_visitor_token)
    runtime.message_sent(_address(request), visitor.id)
    data = await file.read(widget.max_attachment_bytes + 1)
    part = InboundAttachment(
        filename=file.filename or "attachment",
        declared_content_type=file.content_type,
        data=data,
    )
    posted = await run_in_threadpool(
        service.post_message,
        runtime.context,
        widget,
        visitor,
        client_id=client_id,
        text=text,
        attachments=[part],
        now=runtime.platform.clock(),
    )
    if posted.duplicate:
        response.status_code = status.HTTP_200_OK
    return _posted(posted)


@router.get(
    "/{widget_key}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def download_attachment(
    widget_key: KeyPath,
    attachment_id: Annotated[str, Path(pattern=ID_PATTERN)],
    request: Request,
    x_visitor_token: TokenHeader = None,
) -> Response:
    """A file of the visitor's own conversation (404 for any other)."""
    runtime, _, visitor = await _visitor(request, widget_key, x_visitor_token)
    platform = runtime.platform

    def read() -> model.VisitorFile:
        with runtime.context.new_uow() as uow:
            return service.open_attachment(uow, platform.blobs, visitor, attachment_id)

    found = await run_in_threadpool(read)
    return Response(
        found.data, media_type=found.served_type, headers=download_headers(found.filename)
    )


@router.post(
    "/{widget_key}/offline",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.OfflineOut,
    summary="Leave a message while nobody can chat (becomes a case)",
)
async def leave_message(
    widget_key: KeyPath,
    body: schemas.OfflineIn,
    request: Request,
    x_visitor_token: TokenHeader = None,
) -> schemas.OfflineOut:
    runtime, widget, visitor = await _visitor(request, widget_key, x_visitor_token)
    runtime.message_sent(_address(request), visitor.id)
    left = await run_in_threadpool(
        offline.leave_message,
        runtime.context,
        widget,
        visitor,
        client_id=body.client_id,
        name=body.name,
        email=body.email,
        text=body.text,
        now=runtime.platform.clock(),
    )
    return schemas.OfflineOut(
        message_id=left.posted.message_id, seq=left.posted.seq, case_number=left.case_number
    )


def _labels(locale: str) -> transcripts.Labels:
    words = widget_strings(locale)
    return transcripts.Labels(
        title=words["transcript.title"],
        visitor=words["you"],
        agent=words["agent"],
        system=words["system"],
        attachment=words["attachment"],
    )


@router.get(
    "/{widget_key}/transcript",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def download_transcript(
    widget_key: KeyPath,
    request: Request,
    x_visitor_token: TokenHeader = None,
    locale: Annotated[schemas.Locale | None, Query()] = None,
) -> Response:
    runtime, _, visitor = await _visitor(request, widget_key, x_visitor_token)
    labels = _labels(_locale(request, locale, runtime))

    def render() -> str:
        with runtime.context.new_uow() as uow:
            return transcripts.render(transcripts.transcript_items(uow, visitor), labels)

    text = await run_in_threadpool(render)
    headers = download_headers(f"transcript-{runtime.platform.clock():%Y%m%d-%H%M}.txt")
    return Response(text, media_type="text/plain; charset=utf-8", headers=headers)


@router.post("/{widget_key}/transcript", response_model=schemas.TranscriptOut)
async def email_transcript(
    widget_key: KeyPath,
    body: schemas.TranscriptIn,
    request: Request,
    x_visitor_token: TokenHeader = None,
) -> schemas.TranscriptOut:
    """Email the transcript (to `email`, else the pre-chat email) when the organisation
    sends email; otherwise `emailed` is false and the download path is the way."""
    runtime, _, visitor = await _visitor(request, widget_key, x_visitor_token)
    runtime.message_sent(_address(request), visitor.id)
    locale = _locale(request, body.locale, runtime)
    labels = _labels(locale)
    address = body.email or visitor.email
    path = f"/api/v1/channels/chat/{widget_key}/transcript?locale={locale}"

    def send() -> str | None:
        with runtime.context.new_uow() as uow:
            if address is None or not transcripts.can_email(
                uow, runtime.platform.channels, visitor.org_id
            ):
                return None
            text = transcripts.render(transcripts.transcript_items(uow, visitor), labels)
            return transcripts.email_transcript(
                uow,
                runtime.platform.channels,
                visitor,
                address=address,
                text=text,
                subject=labels.title,
                default_region=runtime.context.default_region,
            )

    delivery_id = await run_in_threadpool(send)
    return schemas.TranscriptOut(
        emailed=delivery_id is not None, delivery_id=delivery_id, download_path=path
    )


@router.websocket("/{widget_key}/ws")
async def widget_socket(websocket: WebSocket, widget_key: str) -> None:
    runtime = runtime_of(websocket.app.state, websocket.app.state.platform)
    await gateway.serve(websocket, runtime, widget_key)


@agent_router.post(
    "/interactions/{interaction_id}/typing",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Tell the visitor that you are typing (at most every few seconds)",
)
def agent_typing(
    interaction_id: Annotated[str, Path(pattern=ID_PATTERN)], uow: UowDep, actor: ActorDep
) -> Response:
    service.agent_typing(uow, actor, interaction_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
