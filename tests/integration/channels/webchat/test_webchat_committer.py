"""Web chat through the intake committer (SQLite and PostgreSQL): the visitor's `sent`
acknowledgement, on the WebSocket and over HTTP, comes only after the commit holding
the message; a failed commit acknowledges nothing and the resend is stored once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from jietong.app.platform import Platform
from jietong.channels.webchat.runtime import ChatRuntime
from jietong.interactions.committer import IntakeCommitter
from tests.integration.channels.fakes import HeldUow
from tests.integration.channels.webchat.chat import (
    CHAT,
    count_messages,
    read_until,
    socket,
    start,
    visitor,
)
from tests.integration.channels.webchat.conftest import Org, use_runtime


@pytest.fixture
def held(client: TestClient, platform: Platform) -> Iterator[HeldUow]:
    """A chat runtime whose messages go through a committer writing via `HeldUow`."""
    uow = HeldUow(platform)
    committer = IntakeCommitter(uow)
    runtime = use_runtime(client, ChatRuntime(platform))
    runtime.context = replace(runtime.context, submit=committer.submit)
    yield uow
    uow.gate.set()
    committer.close()


def test_the_sent_frame_waits_for_the_commit(
    client: TestClient, platform: Platform, org: Org, held: HeldUow
) -> None:
    token = start(client, org.widget, name="林小姐")["visitor_token"]
    with socket(client, org.widget, token) as ws:
        ws.send_json({"type": "message", "client_id": "c-0000000001", "text": "你好"})
        frames: list[dict[str, Any]] = []
        sent = threading.Event()

        def read() -> None:
            frames.extend(read_until(ws, lambda f: f["type"] == "sent"))
            sent.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert held.entered.wait(10), "the message never reached the committer"
        assert not sent.wait(0.5), "acknowledged before the commit"
        assert count_messages(platform, org_id=org.org_id) == 0
        held.gate.set()
        reader.join(10)
    assert sent.is_set() and frames[-1]["duplicate"] is False
    assert count_messages(platform, org_id=org.org_id) == 1


def test_a_failed_commit_acknowledges_nothing_and_the_resend_is_stored_once(
    client: TestClient, platform: Platform, org: Org, held: HeldUow
) -> None:
    token = start(client, org.widget, name="林小姐")["visitor_token"]
    body = {"client_id": "c-0000000002", "text": "还在吗？"}
    held.failures = 1
    held.gate.set()
    url = f"{CHAT}/{org.widget}/messages"
    failed = client.post(url, headers=visitor(token), json=body)
    # A database failure, not the visitor's mistake: 500, and the widget resends (its
    # outbox keeps the message until it is acknowledged).
    assert failed.status_code == 500
    assert count_messages(platform, org_id=org.org_id) == 0
    first = client.post(url, headers=visitor(token), json=body)
    again = client.post(url, headers=visitor(token), json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["message_id"] == again.json()["message_id"]
    assert count_messages(platform, org_id=org.org_id) == 1


def test_an_http_message_is_answered_after_its_commit(
    client: TestClient, platform: Platform, org: Org, held: HeldUow
) -> None:
    token = start(client, org.widget)["visitor_token"]
    answers: list[httpx.Response] = []

    def post() -> None:
        answers.append(
            client.post(
                f"{CHAT}/{org.widget}/messages",
                headers=visitor(token),
                json={"client_id": "c-0000000003", "text": "hello"},
            )
        )

    poster = threading.Thread(target=post, daemon=True)
    poster.start()
    assert held.entered.wait(10)
    poster.join(0.5)
    assert answers == [], "answered before the commit"
    held.gate.set()
    poster.join(10)
    [answer] = answers
    assert answer.status_code == 201 and count_messages(platform, org_id=org.org_id) == 1


def test_a_failed_commit_closes_the_socket_unacknowledged_and_the_resend_is_stored_once(
    client: TestClient, platform: Platform, org: Org, held: HeldUow
) -> None:
    token = start(client, org.widget)["visitor_token"]
    frame = {"type": "message", "client_id": "c-0000000004", "text": "在吗"}
    held.failures = 1
    held.gate.set()
    frames: list[dict[str, Any]] = []
    with socket(client, org.widget, token) as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.send_json(frame)
        while True:
            frames.append(ws.receive_json())
    assert closed.value.code == 1011
    assert not [f for f in frames if f.get("type") == "sent"]
    assert count_messages(platform, org_id=org.org_id) == 0
    with socket(client, org.widget, token) as ws:  # the widget's outbox resends
        ws.send_json(frame)
        sent = read_until(ws, lambda f: f["type"] == "sent")[-1]
        ws.send_json(frame)
        again = read_until(ws, lambda f: f["type"] == "sent")[-1]
    assert (sent["duplicate"], again["duplicate"]) == (False, True)
    assert count_messages(platform, org_id=org.org_id) == 1
