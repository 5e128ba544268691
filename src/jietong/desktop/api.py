"""The event stream over a WebSocket: `GET /api/v1/stream?after=N` (upgrade).

Authentication is the same as for HTTP: the session cookie (browsers) or a bearer token.
Browsers send cookies on cross-site WebSocket handshakes too, so a cookie-authenticated
handshake must come from our own origin (no cross-site WebSocket hijacking).

Messages, JSON, server to client only:
  {"type": "hello", "position": N}  — the newest publication number at connect time
  {"type": "event", "seq", "event_id", "event_type", "occurred_at", "payload"}
  {"type": "resnapshot"}            — too far behind: reload the snapshot, then reconnect
"""

from __future__ import annotations

import asyncio
from typing import Protocol
from urllib.parse import urlsplit

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
    finally:
        if websocket.application_state == WebSocketState.CONNECTED:
            await websocket.close()


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
