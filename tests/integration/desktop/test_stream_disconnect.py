"""A closed browser is noticed by an idle stream: the gateway reads the socket, so the
disconnect ends the stream (and its bus subscription) without waiting for an event to
send. Real server (uvicorn on loopback) and a real WebSocket client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from websockets.sync.client import connect

from jietong.app.asgi import create_app
from jietong.app.platform import Platform
from jietong.events.bus import EventBus
from tests.conftest import Tenant
from tests.servers import free_port


def subscribers(bus: EventBus) -> int:
    """How many handlers the bus calls (the Redis bus fans out through a local one)."""
    local: Any = getattr(bus, "_local", bus)
    return len(local._handlers)


def eventually(condition: Any, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


@pytest.fixture
def served(platform: Platform) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert eventually(lambda: server.started), "the server did not start"
    yield f"ws://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def test_an_idle_stream_ends_when_the_browser_goes(
    served: str, platform: Platform, tenant_a: Tenant
) -> None:
    before = subscribers(platform.bus)
    # After a position far ahead nothing is ever sent: the stream stays idle whatever
    # the relay publishes meanwhile.
    idle = f"{served}/api/v1/stream?after={10**12}"
    with connect(idle, additional_headers=tenant_a.headers) as ws:
        assert '"hello"' in str(ws.recv(timeout=20))
        assert eventually(lambda: subscribers(platform.bus) == before + 1)
        ws.send('{"type": "subscribe", "org_id": "someone else"}')  # read and ignored
    # Nothing is sent meanwhile: only reading the socket can notice the close.
    assert eventually(lambda: subscribers(platform.bus) == before), "the stream lingers"
