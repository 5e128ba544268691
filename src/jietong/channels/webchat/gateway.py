"""The widget's WebSocket: `/api/v1/channels/chat/{widget key}/ws`.

Frames are JSON text. The client speaks first, within a few seconds:

  → {"type": "hello", "token": "<visitor token>", "after": <last seq shown>}
  ← {"type": "welcome", "visitor_id", "last_seq"}
  ← {"type": "message", "seq", "id", "author", "agent_name", "text", "at", "client_id",
     "attachments": [...]}   every message numbered after `after`, then live ones
  ← {"type": "status", "state", "position", "ewt_seconds", "agent_name"}   on change
  ← {"type": "typing", "who": "agent", "name"}
  → {"type": "message", "client_id", "text"}   ← {"type": "sent", "client_id", "seq",
     "message_id", "duplicate"}   or {"type": "error", "client_id", "code", "detail"}
  → {"type": "typing"}      → {"type": "ping"}  ← {"type": "pong"}

The token is sent in the first frame rather than the URL, so it never lands in access
logs. Authentication is the token alone (no cookie), so a page on another site gains
nothing by opening the socket; the widget's allowed origins are still enforced.
Messages are sent only in `seq` order from the last one this connection sent: a resent
message (same client id) or a doorbell rung twice cannot produce a duplicate frame.

Close codes: 4400 bad hello, 4401 bad token, 4403 refused (origin, blocked visitor),
4404 unknown widget, 4429 rate limited, 1009 frame too large.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from jietong.channels.webchat import model, schemas, service, sessions, store
from jietong.channels.webchat.config import WidgetConfig
from jietong.channels.webchat.runtime import ChatRuntime, Connection
from jietong.core.errors import AuthenticationFailed, JietongError, PayloadTooLarge, RateLimited

log = logging.getLogger(__name__)

MAX_FRAME = 64 * 1024
BAD_HELLO, UNAUTHORISED, REFUSED, UNKNOWN, TOO_MANY, TOO_BIG = 4400, 4401, 4403, 4404, 4429, 1009


class Closing(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Pulled:
    items: list[model.TimelineItem]
    interactions: frozenset[str]
    status: model.ConversationStatus | None
    typing_names: list[str | None]


class LiveSession:
    """One connected widget: the writer (this coroutine) and the reader (a task)."""

    def __init__(
        self,
        ws: WebSocket,
        runtime: ChatRuntime,
        widget: WidgetConfig,
        visitor: model.Visitor,
        after: int,
        address: str,
    ) -> None:
        self.ws = ws
        self.runtime = runtime
        self.widget = widget
        self.visitor = visitor
        self.address = address
        self.last_sent = after
        self.last_status: dict[str, Any] | None = None
        self.last_typing = 0.0
        self.status_at = 0.0
        self._send_lock = asyncio.Lock()
        self.conn = Connection(widget.org_id, visitor.id, asyncio.get_running_loop())

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send_text(json.dumps(frame, ensure_ascii=False, default=str))

    async def run(self) -> None:
        hub = self.runtime.hub
        hub.add(self.conn)
        reader = asyncio.create_task(self._read())
        try:
            while not reader.done():
                await self._pump()
                waiter = asyncio.create_task(self.conn.wake.wait())
                await asyncio.wait(
                    {waiter, reader}, timeout=self._idle(), return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
                self.conn.wake.clear()
            reader.result()  # re-raise why the reader stopped
        finally:
            hub.remove(self.conn)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    # -- writer ------------------------------------------------------------------------

    def _idle(self) -> float:
        """How long to wait for a doorbell: the poll interval, or less when a status
        update is due but was held back by its rate limit."""
        limits = self.runtime.limits
        if not self.conn.status_due:
            return self.runtime.poll_seconds
        elapsed = asyncio.get_running_loop().time() - self.status_at
        return max(0.0, min(self.runtime.poll_seconds, limits.status_seconds - elapsed))

    async def _pump(self) -> None:
        loop_time = asyncio.get_running_loop().time()
        every = self.runtime.limits.status_seconds
        elapsed = loop_time - self.status_at
        # The queue position query is the heaviest: at most every `status_seconds` when
        # something changed, and every five times that anyway (the estimate moves).
        want_status = (self.conn.status_due and elapsed >= every) or elapsed >= 5 * every
        typing = list(self.conn.typing_agents)
        self.conn.typing_agents.clear()
        pulled = await run_in_threadpool(self._pull, want_status, typing)
        self.conn.interactions = pulled.interactions
        for item in pulled.items:
            if item.seq > self.last_sent:
                await self.send(schemas.message_frame(item))
                self.last_sent = item.seq
        if len(pulled.items) >= service.PAGE:
            self.conn.wake.set()  # more to send: go round again at once
        if pulled.status is not None:
            self.status_at = loop_time
            self.conn.status_due = False
            frame = {"type": "status", **schemas.status_out(pulled.status).model_dump()}
            if frame != self.last_status:
                self.last_status = frame
                await self.send(frame)
        for name in pulled.typing_names:
            await self.send({"type": "typing", "who": "agent", "name": name})

    def _pull(self, want_status: bool, typing: list[str | None]) -> Pulled:
        ctx = self.runtime.context
        visitor = self.visitor
        with ctx.new_uow() as uow:
            service.sequence(uow, visitor.org_id, visitor.id)
            items = service.timeline(uow, visitor, after=self.last_sent)
            interactions = frozenset(store.interactions_of(uow.session, visitor.org_id, visitor.id))
            found = None
            if want_status:
                found = service.status(uow, ctx.routing, visitor, now=uow.now)
            names = store.display_names(uow.session, visitor.org_id, {t for t in typing if t})
        return Pulled(items, interactions, found, [names.get(t or "") for t in typing])

    # -- reader ------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            frame = await receive_frame(self.ws)
            kind = frame.get("type")
            if kind == "message":
                await self._message(frame)
            elif kind == "typing":
                await self._typing()
            elif kind == "ping":
                await self.send({"type": "pong"})
            else:
                await self.send({"type": "error", "code": "unknown_type", "detail": str(kind)[:40]})

    async def _message(self, frame: dict[str, Any]) -> None:
        client_id = frame.get("client_id")
        text = frame.get("text")
        if not isinstance(client_id, str) or not isinstance(text, str):
            await self.send({"type": "error", "code": "invalid", "detail": "client_id and text"})
            return
        try:
            self.runtime.message_sent(self.address, self.visitor.id)
            posted = await run_in_threadpool(
                service.post_message,
                self.runtime.context,
                self.widget,
                self.visitor,
                client_id=client_id,
                text=text,
                now=self.runtime.platform.clock(),
            )
        except JietongError as exc:
            await self.send(error_frame(exc, client_id))
            return
        await self.send(
            {
                "type": "sent",
                "client_id": client_id,
                "seq": posted.seq,
                "message_id": posted.message_id,
                "duplicate": posted.duplicate,
            }
        )
        self.conn.status_due = True  # a first message opens a conversation: now waiting
        self.conn.wake.set()  # the writer sends the numbered message in order

    async def _typing(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self.last_typing < self.runtime.limits.typing_every_seconds:
            return
        self.last_typing = now
        await run_in_threadpool(service.visitor_typing, self.runtime.context, self.visitor)


def error_frame(exc: JietongError, client_id: str | None = None) -> dict[str, Any]:
    code = "invalid"
    if isinstance(exc, RateLimited):
        code = "rate_limited"
    elif isinstance(exc, PayloadTooLarge):
        code = "too_large"
    frame: dict[str, Any] = {"type": "error", "code": code, "detail": exc.detail}
    if client_id is not None:
        frame["client_id"] = client_id
    if isinstance(exc, RateLimited):
        frame["retry_after"] = exc.retry_after_seconds
    return frame


async def receive_frame(ws: WebSocket) -> dict[str, Any]:
    """The next JSON object from the client; Closing for anything else."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise Closing(BAD_HELLO)  # binary frames are not part of the protocol
    if len(text) > MAX_FRAME:
        raise Closing(TOO_BIG)
    try:
        frame = json.loads(text)
    except ValueError:
        raise Closing(BAD_HELLO) from None
    if not isinstance(frame, dict):
        raise Closing(BAD_HELLO)
    return frame


async def serve(ws: WebSocket, runtime: ChatRuntime, widget_key: str) -> None:
    """Run one widget connection until either side closes it."""
    address = ws.client.host if ws.client else "unknown"
    try:
        widget = await _widget(runtime, widget_key, ws.headers.get("origin"))
        runtime.connected(address)
    except Closing as exc:
        await ws.close(code=exc.code)
        return
    except RateLimited:
        await ws.close(code=TOO_MANY)
        return
    await ws.accept()
    try:
        session = await _hello(ws, runtime, widget, address)
        await session.send(
            {"type": "welcome", "visitor_id": session.visitor.id, "last_seq": session.last_sent}
        )
        await session.run()
    except Closing as exc:
        await _close(ws, exc.code)
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("web chat connection failed")
        await _close(ws, 1011)
    finally:
        await _close(ws, 1000)


async def _widget(runtime: ChatRuntime, key: str, origin: str | None) -> WidgetConfig:
    def find() -> WidgetConfig | None:
        with runtime.context.new_uow() as uow:
            return sessions.find_widget(uow, key)

    widget = await run_in_threadpool(find)
    if widget is None:
        raise Closing(UNKNOWN)
    if not widget.origin_allowed(origin):
        raise Closing(REFUSED)
    return widget


async def _hello(
    ws: WebSocket, runtime: ChatRuntime, widget: WidgetConfig, address: str
) -> LiveSession:
    try:
        frame = await asyncio.wait_for(receive_frame(ws), runtime.limits.hello_seconds)
    except TimeoutError:
        raise Closing(BAD_HELLO) from None
    token, after = frame.get("token"), frame.get("after", 0)
    if frame.get("type") != "hello" or not isinstance(token, str):
        raise Closing(BAD_HELLO)
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise Closing(BAD_HELLO)
    try:
        visitor = await run_in_threadpool(
            sessions.authenticate, runtime.context, widget, token, now=runtime.platform.clock()
        )
    except AuthenticationFailed:
        raise Closing(UNAUTHORISED) from None
    except JietongError:
        raise Closing(REFUSED) from None
    return LiveSession(ws, runtime, widget, visitor, after, address)


async def _close(ws: WebSocket, code: int) -> None:
    if ws.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await ws.close(code=code)
