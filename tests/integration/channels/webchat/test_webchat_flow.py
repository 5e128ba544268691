"""The web chat end to end through the real app (TestClient, SQLite and PostgreSQL):
the WebSocket (send, a resent message stored once, reconnect and resume after the last
number seen), agents' replies delivered live, queue position and agent name, typing,
files, offline messages that become cases, transcripts."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jietong.app.channels_runtime import DeliveryWorker
from jietong.app.platform import Platform
from jietong.channels import accounts
from jietong.channels.webchat.availability import Availability, Waiting
from jietong.channels.webchat.runtime import ChatLimits, ChatRuntime
from jietong.core.tenancy import Role, system_actor
from jietong.storage.tables import (
    AttachmentRow,
    CaseRow,
    ContactPointRow,
    InteractionRow,
    MessageRow,
    OutboxRow,
)
from jietong.storage.tables_channels import DeliveryRow
from jietong.storage.uow import UnitOfWork
from tests.conftest import issue_all_scopes, make_user
from tests.integration.channels.webchat.chat import (
    CHAT,
    count_messages,
    is_message,
    messages,
    read_until,
    socket,
    start,
    visitor,
)
from tests.integration.channels.webchat.conftest import Org, add_widget, use_runtime

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
QUICK = ChatLimits(status_seconds=0.05, poll_seconds=1.0, poll_seconds_embedded=1.0)


def agent_of(platform: Platform, org: Org, name: str) -> dict[str, str]:
    agent = make_user(platform, org.org_id, name, Role.AGENT, [org.team_id])
    return {"Authorization": f"Bearer {issue_all_scopes(platform, agent)}"}


def chat_interactions(platform: Platform, org: Org) -> list[InteractionRow]:
    with platform.sessions() as s:
        return list(s.scalars(select(InteractionRow).where(InteractionRow.org_id == org.org_id)))


def test_send_resend_and_resume_without_loss_or_duplicates(
    client: TestClient, platform: Platform, org: Org
) -> None:
    token = start(client, org.widget, name="林小姐")["visitor_token"]
    with socket(client, org.widget, token) as ws:
        ws.send_json({"type": "message", "client_id": "c-0000000001", "text": "你好"})
        frames = read_until(ws, is_message("你好"))
        if not any(f["type"] == "sent" for f in frames):
            read_until(ws, lambda f: f["type"] == "sent")
        # The acknowledgement was "lost": the widget sends the same client id again.
        ws.send_json({"type": "message", "client_id": "c-0000000001", "text": "你好"})
        again = read_until(ws, lambda f: f["type"] == "sent")
    assert again[-1]["duplicate"] is True and again[-1]["seq"] == 1
    assert not messages(again), "a resent message must not be shown twice"
    assert count_messages(platform, org_id=org.org_id) == 1

    # While the widget is away, another message arrives (the HTTP path).
    r = client.post(
        f"{CHAT}/{org.widget}/messages",
        headers=visitor(token),
        json={"client_id": "c-0000000002", "text": "还在吗？"},
    )
    assert r.status_code == 201 and r.json()["seq"] == 2
    with socket(client, org.widget, token, after=1) as ws:
        resumed = messages(read_until(ws, is_message("还在吗？")))
    assert [m["seq"] for m in resumed] == [2]
    with socket(client, org.widget, token, after=0) as ws:  # a reloaded page
        replayed = messages(read_until(ws, is_message("还在吗？")))
    assert [(m["seq"], m["client_id"]) for m in replayed] == [
        (1, "c-0000000001"),
        (2, "c-0000000002"),
    ]
    [conversation] = chat_interactions(platform, org)
    assert conversation.channel == "chat" and conversation.queue_id == org.queue_id


def test_an_agents_reply_reaches_the_visitor_live(
    client: TestClient, platform: Platform, org: Org
) -> None:
    agent = agent_of(platform, org, "zhang.wei")
    token = start(client, org.widget)["visitor_token"]
    with socket(client, org.widget, token) as ws:
        ws.send_json({"type": "message", "client_id": "c-0000000003", "text": "订单没收到"})
        first = messages(read_until(ws, is_message("订单没收到")))[0]
        [conversation] = chat_interactions(platform, org)
        r = client.post(
            f"/api/v1/interactions/{conversation.id}/replies",
            headers=agent,
            json={"text": "我来帮您查一下"},
        )
        assert r.status_code == 201, r.text
        reply = messages(read_until(ws, is_message("我来帮您查一下")))[-1]
    assert first["author"] == "visitor"
    assert reply["author"] == "agent" and reply["agent_name"] == "zhang.wei"
    assert reply["seq"] == first["seq"] + 1
    # The reply went through the delivery queue like any channel's reply.
    assert DeliveryWorker(platform).run_once() >= 1
    with platform.sessions() as s:
        delivery = s.scalar(
            select(DeliveryRow).where(DeliveryRow.interaction_id == conversation.id)
        )
    assert delivery is not None and delivery.status == "sent"
    assert delivery.provider_message_id == reply["id"]


def test_queue_position_then_the_agents_name(
    client: TestClient, platform: Platform, org: Org
) -> None:
    routing = FixedRouting(Availability(), Waiting(position=3, ewt_seconds=95.0))
    use_runtime(client, ChatRuntime(platform, routing=routing, limits=QUICK))
    token = start(client, org.widget)["visitor_token"]
    with socket(client, org.widget, token) as ws:
        ws.send_json({"type": "message", "client_id": "c-0000000007", "text": "排队吗"})
        waiting = read_until(ws, lambda f: f["type"] == "status" and f["state"] == "waiting")
        agent = make_user(platform, org.org_id, "li.na", Role.AGENT, [org.team_id])
        with platform.uow() as uow:
            row = uow.session.get(InteractionRow, chat_interactions(platform, org)[0].id)
            assert row is not None
            row.state, row.assigned_user_id = "connected", agent.user_id
            uow.commit()
        connected = read_until(ws, lambda f: f["type"] == "status" and f["state"] == "connected")
    assert waiting[-1]["position"] == 3 and waiting[-1]["ewt_seconds"] == 95.0
    assert connected[-1]["agent_name"] == "li.na"


def test_a_chat_kept_as_work_says_so_and_takes_an_email(
    client: TestClient, platform: Platform, org: Org
) -> None:
    routing = FixedRouting(Availability(), Waiting(position=1, ewt_seconds=None, deferred=True))
    use_runtime(client, ChatRuntime(platform, routing=routing))
    token = start(client, org.widget)["visitor_token"]
    client.post(
        f"{CHAT}/{org.widget}/messages",
        headers=visitor(token),
        json={"client_id": "d-00000001", "text": "有人吗"},
    )
    found = client.get(f"{CHAT}/{org.widget}/messages", headers=visitor(token)).json()
    assert found["status"]["state"] == "waiting" and found["status"]["deferred"] is True
    again = start(client, org.widget, visitor_token=token, email="later@example.cn")
    assert again["email"] == "later@example.cn"
    with platform.sessions() as s:
        points = s.scalars(
            select(ContactPointRow).where(
                ContactPointRow.org_id == org.org_id, ContactPointRow.kind == "email"
            )
        ).all()
    assert [p.value for p in points] == ["later@example.cn"]


def test_typing_both_ways(client: TestClient, platform: Platform, org: Org) -> None:
    agent = agent_of(platform, org, "wang.fang")
    token = start(client, org.widget)["visitor_token"]
    with socket(client, org.widget, token) as ws:
        ws.send_json({"type": "message", "client_id": "c-0000000008", "text": "在吗"})
        read_until(ws, is_message("在吗"))
        [conversation] = chat_interactions(platform, org)
        r = client.post(f"{CHAT}/interactions/{conversation.id}/typing", headers=agent)
        assert r.status_code == 204
        typing = read_until(ws, lambda f: f["type"] == "typing")[-1]
        ws.send_json({"type": "typing"})
        ws.send_json({"type": "typing"})  # within the throttle: not forwarded again
        ws.send_json({"type": "ping"})
        read_until(ws, lambda f: f["type"] == "pong")
    assert typing == {"type": "typing", "who": "agent", "name": "wang.fang"}
    with platform.sessions() as s:
        notices = s.scalars(
            select(OutboxRow).where(
                OutboxRow.org_id == org.org_id, OutboxRow.event_type == "ChatTypingStarted"
            )
        ).all()
    assert sorted(n.payload["who"] for n in notices) == ["agent", "visitor"]


def test_files_are_sniffed_limited_and_private(
    client: TestClient, platform: Platform, org: Org
) -> None:
    alice = start(client, org.widget)["visitor_token"]
    bob = start(client, org.widget)["visitor_token"]
    r = upload(client, org.widget, alice, "收据\u202egnp.exe", PNG, "text/plain")
    assert r.status_code == 201, r.text
    with platform.sessions() as s:
        [attachment] = s.scalars(
            select(AttachmentRow).where(AttachmentRow.org_id == org.org_id)
        ).all()
    assert attachment.content_type == "image/png"  # sniffed, not the declared text/plain
    assert "\u202e" not in attachment.filename  # no right-to-left override disguise
    path = f"{CHAT}/{org.widget}/attachments/{attachment.id}"
    own = client.get(path, headers=visitor(alice))
    assert own.status_code == 200 and own.content == PNG
    assert own.headers["content-disposition"].startswith("attachment;")
    assert own.headers["x-content-type-options"] == "nosniff"
    assert client.get(path, headers=visitor(bob)).status_code == 404
    assert client.get(f"{CHAT}/{org.widget}/messages", headers=visitor(bob)).json()["items"] == []
    small = add_widget(platform, org.org_id, org.queue_id, name="Small", max_attachment_mb="1")
    carol = start(client, small)["visitor_token"]
    big = upload(client, small, carol, "big.bin", b"\0" * (1024 * 1024 + 1), None)
    assert big.status_code == 413


def upload(
    client: TestClient, key: str, token: str, name: str, data: bytes, declared: str | None
) -> Any:
    files: Any = {"file": (name, data, declared or "application/octet-stream")}
    return client.post(
        f"{CHAT}/{key}/attachments",
        headers=visitor(token),
        data={"client_id": f"f-{len(data):010d}"},
        files=files,
    )


def test_offline_message_becomes_a_case(client: TestClient, platform: Platform, org: Org) -> None:
    key = add_widget(
        platform, org.org_id, org.queue_id, name="After hours", offline_when="no_agents"
    )
    use_runtime(client, ChatRuntime(platform, routing=FixedRouting(Availability(agents=0))))
    config = client.get(f"{CHAT}/{key}/config", params={"locale": "zh-CN"}).json()
    assert config["online"] is False and config["offline_reason"] == "no_agents"
    assert config["strings"]["offline.title"] == "客服暂时不在线"
    token = start(client, key)["visitor_token"]
    body = {
        "client_id": "c-0000000006",
        "name": "陈先生",
        "email": "Chen@Example.CN",
        "text": "发票抬头写错了，请帮我改一下",
    }
    r = client.post(f"{CHAT}/{key}/offline", headers=visitor(token), json=body)
    assert r.status_code == 201, r.text
    again = client.post(f"{CHAT}/{key}/offline", headers=visitor(token), json=body)
    assert again.json()["case_number"] == r.json()["case_number"]  # sent twice: one case
    with platform.sessions() as s:
        cases = s.scalars(select(CaseRow).where(CaseRow.org_id == org.org_id)).all()
        emails = s.scalars(
            select(ContactPointRow).where(
                ContactPointRow.org_id == org.org_id, ContactPointRow.kind == "email"
            )
        ).all()
    assert len(cases) == 1 and cases[0].subject.startswith("发票抬头写错了")
    assert [p.value for p in emails] == ["chen@example.cn"]
    assert cases[0].customer_id == emails[0].customer_id
    closed = FixedRouting(Availability(open=False, agents=2))
    use_runtime(client, ChatRuntime(platform, routing=closed))
    assert client.get(f"{CHAT}/{key}/config").json()["offline_reason"] == "closed"


def test_transcript_download(client: TestClient, org: Org) -> None:
    token = start(client, org.widget)["visitor_token"]
    for n, text in enumerate(["第一句", "second line"]):
        client.post(
            f"{CHAT}/{org.widget}/messages",
            headers=visitor(token),
            json={"client_id": f"c-000000010{n}", "text": text},
        )
    r = client.get(
        f"{CHAT}/{org.widget}/transcript", headers=visitor(token), params={"locale": "zh-CN"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith("聊天记录") and "您:" in r.text
    assert r.text.index("第一句") < r.text.index("second line")
    emailed = client.post(f"{CHAT}/{org.widget}/transcript", headers=visitor(token), json={})
    assert emailed.status_code == 200 and emailed.json()["emailed"] is False  # no address


class FixedRouting:
    """A routing view with fixed answers (the engine's own figures are tested there)."""

    def __init__(self, availability: Availability, waiting: Waiting | None = None) -> None:
        self._availability = availability
        self._waiting = waiting

    def availability(self, uow: object, org_id: str, queue_id: str, *, now: object) -> Availability:
        return self._availability

    def waiting(
        self, uow: object, org_id: str, interaction_id: str, *, now: object
    ) -> Waiting | None:
        return self._waiting


def test_transcript_by_email_goes_through_the_email_delivery_queue(
    client: TestClient, platform: Platform, org: Org
) -> None:
    with platform.uow() as uow:
        accounts.create_account(
            uow,
            system_actor(org.org_id),
            platform.channels,
            channel="email",
            provider="smtp",
            changes=accounts.AccountChanges(name="Support", address="support@tea.example"),
        )
    token = start(client, org.widget, email="Visitor@Example.com")["visitor_token"]
    client.post(
        f"{CHAT}/{org.widget}/messages",
        headers=visitor(token),
        json={"client_id": "t-00000001", "text": "请把记录发给我"},
    )
    r = client.post(f"{CHAT}/{org.widget}/transcript", headers=visitor(token), json={})
    assert r.status_code == 200 and r.json()["emailed"] is True, r.text
    with platform.sessions() as s:
        delivery = s.get(DeliveryRow, r.json()["delivery_id"])
        assert delivery is not None
        body = s.get(MessageRow, delivery.message_id)
    assert delivery.channel == "email" and delivery.status == "queued"
    assert delivery.recipient_address == "visitor@example.com"
    assert body is not None and "请把记录发给我" in body.body_text
    # The mail is in the conversation for agents, not in the visitor's chat timeline.
    items = client.get(f"{CHAT}/{org.widget}/messages", headers=visitor(token)).json()["items"]
    assert [i["text"] for i in items] == ["请把记录发给我"]


def test_queue_position_from_the_routing_engine(
    client: TestClient, platform: Platform, org: Org
) -> None:
    pytest.importorskip("jietong.routing.stats")
    from jietong.routing.engine import run_all

    tokens_ = [start(client, org.widget)["visitor_token"] for _ in range(2)]
    for n, token in enumerate(tokens_):
        client.post(
            f"{CHAT}/{org.widget}/messages",
            headers=visitor(token),
            json={"client_id": f"q-0000000{n}", "text": f"第 {n + 1} 位"},
        )
    if platform.routing is None:
        run_all(lambda at: UnitOfWork(platform.sessions, at), now=platform.clock())
    # Otherwise the app's own engine queues them. A second engine run from here would
    # race it with another clock (two queueing times) — the lease exists to prevent that.
    deadline = time.monotonic() + 30
    while True:
        places = [
            client.get(f"{CHAT}/{org.widget}/messages", headers=visitor(t)).json()["status"]
            for t in tokens_
        ]
        if all(p.get("position") for p in places) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [p["state"] for p in places] == ["waiting", "waiting"]
    assert [p["position"] for p in places] == [1, 2]


def test_offline_until_an_agent_of_the_queue_is_available(
    client: TestClient, platform: Platform, org: Org
) -> None:
    from jietong.agents.model import AgentState
    from jietong.routing.presence import set_presence

    key = add_widget(platform, org.org_id, org.queue_id, name="Live", offline_when="no_agents")
    before = client.get(f"{CHAT}/{key}/config").json()
    assert (before["online"], before["offline_reason"]) == (False, "no_agents")
    agent = make_user(platform, org.org_id, "zhao.lei", Role.AGENT, [org.team_id])
    with platform.uow() as uow:
        set_presence(uow, agent, agent.user_id, AgentState.AVAILABLE, reason=None, now=uow.now)
    after = client.get(f"{CHAT}/{key}/config").json()
    assert (after["online"], after["offline_reason"]) == (True, None)
    with platform.uow() as uow:
        set_presence(uow, agent, agent.user_id, AgentState.NOT_READY, reason=None, now=uow.now)
    assert client.get(f"{CHAT}/{key}/config").json()["online"] is False  # paused: not taking
