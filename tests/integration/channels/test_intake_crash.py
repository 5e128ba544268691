"""Killing the server (SIGKILL) while messages pour in loses none that were acknowledged.

A real `jietong serve` takes API-channel messages from several clients at once, so the
intake committer stores them in shared transactions. The process is killed in the middle.
Every message that got its 201 must be in the database afterwards, with its raw source;
messages that got no answer may or may not be there (their senders would retry).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from jietong.app.platform import build_platform
from jietong.app.settings import Settings
from jietong.channels import accounts
from jietong.core.tenancy import system_actor
from jietong.interactions.intake import raw_source
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate, TeamCreate
from jietong.storage.migrate import upgrade
from jietong.storage.tables import MessageRow
from jietong.storage.tables_channels import MessageSourceRow
from tests.conftest import POSTGRES_URL, service_or_skip
from tests.servers import free_port, server_env, start_server

TOKEN = "crash-test-inbound-token"
CLIENTS = 8


def prepare(database_url: str, data_dir: Path) -> str:
    """An organisation with a queue and an API-channel account; returns the account id."""
    platform = build_platform(Settings(data_dir=data_dir, database_url=database_url))
    upgrade(platform.engine)
    with platform.uow() as uow:
        org = org_service.create_organisation(uow, slug="crash", name="Crash Co.")
    system = system_actor(org.id)
    with platform.uow() as uow:
        team = org_service.create_team(uow, system, TeamCreate(name="Desk"))
    with platform.uow() as uow:
        queue = org_service.create_queue(
            uow, system, QueueCreate(name="Inbox", channels=["api"], team_id=team.id)
        )
    with platform.uow() as uow:
        account = accounts.create_account(
            uow,
            system,
            platform.channels,
            channel="api",
            provider="app",
            changes=accounts.AccountChanges(
                name="POS",
                queue_id=queue.id,
                secrets={"inbound_token": TOKEN, "webhook_secret": "crash-test-webhook"},
            ),
        )
    platform.close()
    return account.id


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_messages_acknowledged_before_a_kill_are_all_stored(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        service_or_skip(POSTGRES_URL, "PostgreSQL")
        database_url = request.getfixturevalue("db_url_postgres_only")
    else:
        database_url = f"sqlite:///{tmp_path / 'crash.db'}"
    account_id = prepare(database_url, tmp_path)
    port = free_port()
    env = server_env(tmp_path, database_url=database_url, smtp_enabled="false")
    server = start_server(env, port)
    acked: dict[str, str] = {}  # external id -> message id, for every 201
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        ) as http:
            i = 0
            while not stop.is_set():
                external_id = f"crash-{n}-{i}"
                i += 1
                try:
                    r = http.post(
                        f"/api/v1/channels/api/{account_id}/messages",
                        json={
                            "external_id": external_id,
                            "sender": {"id": f"member-{(n * 7 + i) % 40}"},
                            "text": f"消息 {external_id}",
                        },
                    )
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 201:
                    with lock:
                        acked[external_id] = r.json()["message_id"]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while len(acked) < 150 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(15)
    assert len(acked) >= 20, "too few messages were acknowledged to prove anything"

    platform = build_platform(Settings(data_dir=tmp_path, database_url=database_url))
    try:
        with platform.sessions() as session:
            rows = session.execute(
                select(MessageRow.external_id, MessageRow.id).where(
                    MessageRow.external_id.in_(list(acked))
                )
            )
            stored = {external_id: message_id for external_id, message_id in rows}
            missing = sorted(set(acked) - set(stored))
            assert not missing, f"acknowledged but lost: {missing[:10]}"
            assert stored == acked, "an acknowledged message id changed"
            sources = session.scalars(
                select(MessageSourceRow).where(
                    MessageSourceRow.message_id.in_(list(acked.values()))
                )
            ).all()
            assert len(sources) == len(acked)
            for source in sources:
                raw = raw_source(source, platform.blobs)
                assert raw is not None and b"crash-" in raw
    finally:
        platform.close()
