"""Files that followers send on WeChat (images, voice) are fetched from WeChat's
/cgi-bin/media/get after the push was answered, and become attachments of the message;
a file that cannot be fetched is retried, then reported in the conversation."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from jietong.app.channels_runtime import DeliveryWorker
from jietong.app.platform import Platform
from jietong.channels.wechat.media import FetchPolicy, WeChatMediaFetcher
from jietong.events.base import Envelope
from jietong.storage.tables import AttachmentRow, MessageRow
from jietong.storage.tables_wechat import WeChatMediaFetchRow
from tests.conftest import Tenant
from tests.integration.channels.fakes import Answer, FakeProvider, Seen
from tests.integration.channels.test_wechat_and_api import NOW, push, wechat_account

IMAGE_PUSH = (Path(__file__).parents[2] / "channels/wechat/fixtures/image.xml").read_bytes()
TOKEN = json.dumps({"access_token": "TOKEN_1", "expires_in": 7200}).encode()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def fetched_file(seen: Seen) -> Answer:
    if seen.path == "/cgi-bin/token":
        return 200, TOKEN
    assert seen.path == "/cgi-bin/media/get"
    return (
        200,
        jpeg(),
        {
            "Content-Type": "image/jpeg",
            "Content-disposition": 'attachment; filename="media_id_abc_123.jpg"',
        },
    )


class Clock:
    """The push's signature carries a time; the platform's clock starts there."""

    def __init__(self, platform: Platform) -> None:
        self.now = NOW
        platform.clock = lambda: self.now


def fetch_rows(platform: Platform) -> list[WeChatMediaFetchRow]:
    with platform.sessions() as session:
        return list(session.scalars(select(WeChatMediaFetchRow)))


def test_an_image_becomes_an_attachment_of_its_message(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    Clock(platform)
    with FakeProvider(fetched_file).running() as fake:
        account_id = wechat_account(client, tenant_a, fake.url)
        answer = push(client, account_id, IMAGE_PUSH)
        assert (answer.status_code, answer.text) == (200, "success")
        fetcher = WeChatMediaFetcher(platform)
        assert fetcher.run_once() == 1
        assert fetcher.run_once() == 0  # done once, never again

    media_calls = [s for s in fake.seen if s.path == "/cgi-bin/media/get"]
    assert [(s.query["media_id"], s.query["access_token"]) for s in media_calls] == [
        ("media_id_abc_123", "TOKEN_1")
    ]
    with platform.sessions() as session:
        message = session.scalars(select(MessageRow)).one()
        attachment = session.scalars(select(AttachmentRow)).one()
    assert attachment.message_id == message.id
    assert attachment.filename == "media_id_abc_123.jpg"
    assert attachment.content_type == "image/jpeg"  # sniffed from the bytes
    assert platform.blobs.get(attachment.storage_key) == jpeg()
    [row] = fetch_rows(platform)
    assert (row.state, row.attempts, row.attachment_id) == ("done", 1, attachment.id)
    listed = client.get(
        f"/api/v1/interactions/{message.interaction_id}/attachments", headers=tenant_a.headers
    )
    assert [a["filename"] for a in listed.json()] == ["media_id_abc_123.jpg"]


def test_a_failing_fetch_is_retried_with_backoff_then_succeeds(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    clock = Clock(platform)
    answers: list[Answer] = [(502, b"bad gateway")]

    def flaky(seen: Seen) -> Answer:
        if seen.path == "/cgi-bin/token":
            return 200, TOKEN
        return answers.pop(0) if answers else fetched_file(seen)

    with FakeProvider(flaky).running() as fake:
        account_id = wechat_account(client, tenant_a, fake.url)
        push(
            client,
            account_id,
            IMAGE_PUSH,
        )
        fetcher = WeChatMediaFetcher(platform, policy=FetchPolicy(base=timedelta(seconds=10)))
        assert fetcher.run_once() == 1
        [row] = fetch_rows(platform)
        assert (row.state, row.attempts, row.last_error) == (
            "pending",
            1,
            "WeChat errcode -1: HTTP 502",
        )
        assert fetcher.run_once() == 0  # not due before its backoff
        clock.now += timedelta(seconds=11)
        assert fetcher.run_once() == 1
    [row] = fetch_rows(platform)
    assert (row.state, row.attempts) == ("done", 2)


def test_a_file_wechat_no_longer_has_is_reported_in_the_conversation(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    Clock(platform)

    def gone(seen: Seen) -> Answer:
        if seen.path == "/cgi-bin/token":
            return 200, TOKEN
        return 200, b'{"errcode":40007,"errmsg":"invalid media_id"}', {"Content-Type": "text/plain"}

    with FakeProvider(gone).running() as fake:
        account_id = wechat_account(client, tenant_a, fake.url)
        push(
            client,
            account_id,
            IMAGE_PUSH,
        )
        fetcher = WeChatMediaFetcher(platform)
        assert fetcher.run_once() == 1
        assert fetcher.run_once() == 0  # not retried: the file is gone

    [row] = fetch_rows(platform)
    assert row.state == "failed" and "40007" in (row.last_error or "")
    with platform.sessions() as session:
        notes = list(session.scalars(select(MessageRow).where(MessageRow.internal.is_(True))))
    assert len(notes) == 1 and "40007" in notes[0].body_text


def heard(org_id: str, message_id: str, channel: str = "wechat") -> Envelope:
    return Envelope(
        event_id="e1",
        event_type="InboundMessageReceived",
        org_id=org_id,
        occurred_at=NOW,
        payload={"channel": channel, "message_id": message_id},
    )


def test_a_heard_message_is_fetched_at_once_and_a_sweep_finds_one_not_heard(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    clock = Clock(platform)
    other_image = IMAGE_PUSH.replace(b"24988123456789013", b"24988123456789099")
    with FakeProvider(fetched_file).running() as fake:
        account_id = wechat_account(client, tenant_a, fake.url)
        worker = DeliveryWorker(platform)  # runs the channels' jobs: the fetcher among them
        assert worker.run_jobs() == 0  # its first round sweeps; nothing there yet
        push(client, account_id, IMAGE_PUSH)
        first = only_message_id(platform)
        assert not worker.wake.is_set()
        worker.on_event(heard(tenant_a.org_id, "someone-else", channel="sms"))
        assert not worker.wake.is_set()  # other channels' messages are not its business
        worker.on_event(heard(tenant_a.org_id, first))
        assert worker.wake.is_set()
        assert worker.run_jobs() == 1  # heard: fetched without waiting for a sweep

        push(client, account_id, other_image)  # stored, but the event never reached us
        assert worker.run_jobs() == 0
        clock.now += FetchPolicy().sweep_every
        assert worker.run_jobs() == 1
    assert [r.state for r in fetch_rows(platform)] == ["done", "done"]


def only_message_id(platform: Platform) -> str:
    with platform.sessions() as session:
        return session.scalars(select(MessageRow.id)).one()
