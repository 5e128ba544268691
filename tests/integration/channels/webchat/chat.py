"""Helpers for web chat tests: widgets made through the admin API, visitor sessions,
and reading WebSocket frames until the one a test waits for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jietong.app.platform import Platform
from jietong.core.tenancy import system_actor
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate
from jietong.storage.tables import MessageRow
from tests.conftest import Tenant

CHAT = "/api/v1/channels/chat"
Frame = dict[str, Any]


def make_queue(platform: Platform, tenant: Tenant, name: str = "Web chat") -> str:
    with platform.uow() as uow:
        return org_service.create_queue(
            uow,
            system_actor(tenant.org_id),
            QueueCreate(name=name, channels=["chat"], team_id=tenant.team_id),
        ).id


def make_widget(
    client: TestClient,
    tenant: Tenant,
    *,
    queue_id: str | None = None,
    name: str = "Website",
    settings: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
) -> str:
    body: dict[str, Any] = {
        "channel": "chat",
        "provider": "widget",
        "name": name,
        "settings": {"offline_when": "never", **(settings or {})},
        "secrets": secrets or {},
    }
    if queue_id is not None:
        body["queue_id"] = queue_id
    r = client.post("/api/v1/channel-accounts", headers=tenant.headers, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def start(client: TestClient, key: str, **body: Any) -> Frame:
    r = client.post(f"{CHAT}/{key}/sessions", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def visitor(token: str) -> dict[str, str]:
    return {"X-Visitor-Token": token}


def read_until(ws: Any, predicate: Callable[[Frame], bool], limit: int = 50) -> list[Frame]:
    """Frames up to and including the first one matching `predicate`."""
    seen: list[Frame] = []
    for _ in range(limit):
        frame = ws.receive_json()
        seen.append(frame)
        if predicate(frame):
            return seen
    raise AssertionError(f"no matching frame in {limit}: {seen[-5:]}")


def is_message(text: str) -> Callable[[Frame], bool]:
    return lambda f: f.get("type") == "message" and f.get("text") == text


def messages(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f.get("type") == "message"]


@contextmanager
def socket(client: TestClient, key: str, token: str, after: int = 0) -> Iterator[Any]:
    with client.websocket_connect(f"{CHAT}/{key}/ws") as ws:
        ws.send_json({"type": "hello", "token": token, "after": after})
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome", welcome
        yield ws


def count_messages(platform: Platform, **where: Any) -> int:
    with platform.sessions() as session:
        query = select(func.count()).select_from(MessageRow)
        for key, value in where.items():
            query = query.where(getattr(MessageRow, key) == value)
        return int(session.scalar(query) or 0)
