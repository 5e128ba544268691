"""The event stream over a WebSocket: `GET /api/v1/stream?after=N` (upgrade).

Authentication is the same as for HTTP: the session cookie (browsers) or a bearer token.
Browsers send cookies on cross-site WebSocket handshakes too, so a cookie-authenticated
handshake must come from our own origin (no cross-site WebSocket hijacking).

Messages, JSON, server to client only:
  {"type": "hello", "position": N}  — the newest publication number at connect time
  {"type": "event", "seq", "event_id", "event_type", "occurred_at", "payload"}
  {"type": "resnapshot"}            — too far behind: reload the snapshot, then reconnect

Whatever a client sends is read and ignored: nothing it says can widen what it sees.
Reading is also how a closed browser is noticed: an idle stream sends nothing, so
without a reader its disconnect would surface only at the next event, keeping the
subscription (and the server's shutdown) waiting until then.
"""

from __future__ import annotations

import asyncio
from typing import Protocol
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from jietong.auth.http import SESSION_COOKIE, authenticate
from jietong.core.errors import JietongError
from jietong.core.tenancy import Actor
from jietong.desktop.stream import EventStream, ReplayTooLong
from jietong.storage.uow import UnitOfWork

router = APIRouter()

POLICY_VIOLATION = 4403
RESNAPSHOT = 4409


@router.websocket("/stream")
async def stream(websocket: WebSocket, after: int = 0) -> None:
    platform = websocket.app.state.platform
    actor = await asyncio.to_thread(_authenticate, websocket, platform)
    if actor is None or after < 0:
        await websocket.close(code=POLICY_VIOLATION)
        return
    events = EventStream(platform.bus, platform.uow)
    await websocket.accept()
    client_gone = False
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            nonlocal client_gone
            await _until_closed(websocket)
            client_gone = True
            # Ends the sender too; its event generator's `finally` unsubscribes.
            group.cancel_scope.cancel()

        group.start_soon(watch)
        await _send_events(websocket, events, actor, after)
        group.cancel_scope.cancel()
    if websocket.application_state == WebSocketState.CONNECTED and not client_gone:
        await websocket.close()


async def _send_events(websocket: WebSocket, events: EventStream, actor: Actor, after: int) -> None:
    await websocket.send_json(
        {"type": "hello", "position": await asyncio.to_thread(events.position)}
    )
    try:
        async for envelope in events.events(actor, after):
            await websocket.send_json(
                {
                    "type": "event",
                    "seq": envelope.seq,
                    "event_id": envelope.event_id,
                    "event_type": envelope.event_type,
                    "occurred_at": envelope.occurred_at.isoformat(),
                    "payload": envelope.payload,
                }
            )
    except ReplayTooLong:
        await websocket.send_json({"type": "resnapshot"})
        await websocket.close(code=RESNAPSHOT)
    except WebSocketDisconnect:
        pass


async def _until_closed(websocket: WebSocket) -> None:
    """Return when the client goes away; messages from it are dropped unread."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


class UnitsOfWork(Protocol):
    def uow(self) -> UnitOfWork: ...


def _authenticate(websocket: WebSocket, platform: UnitsOfWork) -> Actor | None:
    if SESSION_COOKIE in websocket.cookies and not _same_origin(websocket):
        return None
    try:
        with platform.uow() as uow:
            return authenticate(websocket, uow)
    except JietongError:
        return None


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: browsers always send Origin on WebSocket handshakes
    return urlsplit(origin).netloc == websocket.headers.get("host")
