"""Killing the server between commit and publication loses no event.

A real `jietong serve` process runs with the relay switched off, so every committed
event is still only in the outbox when it is killed with SIGKILL. A new process (relay
on, Redis Streams bus) must publish each of them, once, in commit order.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
import redis

from jietong.app.bootstrap import DEMO_LOGINS, ensure_demo
from jietong.app.platform import build_platform
from jietong.app.settings import Settings
from jietong.core.ids import new_id
from jietong.events.base import Envelope
from jietong.storage.migrate import upgrade
from tests.conftest import POSTGRES_URL, REDIS_URL, service_or_skip
from tests.servers import free_port, server_env, start_server


def crash_env(
    data_dir: Path, database_url: str, redis_url: str, relay: bool, stream: str
) -> dict[str, str]:
    return server_env(
        data_dir,
        database_url=database_url,
        redis_url=redis_url,
        outbox_relay_enabled=str(relay).lower(),
        event_stream=stream,
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_events_committed_before_a_kill_are_published_after_restart(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    redis_url = service_or_skip(REDIS_URL, "Redis")
    if backend == "postgres":
        service_or_skip(POSTGRES_URL, "PostgreSQL")
        database_url = request.getfixturevalue("db_url_postgres_only")
    else:
        database_url = f"sqlite:///{tmp_path / 'crash.db'}"
    stream = f"jietong:test:{new_id()}"  # unique across xdist workers
    r = redis.Redis.from_url(redis_url)
    r.delete(stream)

    platform = build_platform(
        Settings(data_dir=tmp_path, database_url=database_url, outbox_relay_enabled=False)
    )
    upgrade(platform.engine)
    ensure_demo(platform)
    platform.close()
    port = free_port()
    server = start_server(
        crash_env(tmp_path, database_url, redis_url, relay=False, stream=stream), port
    )
    admin = DEMO_LOGINS[0]
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        login = http.post(
            "/api/v1/auth/login", json={"username": admin.username, "password": admin.password}
        )
        assert login.status_code == 200, login.text
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        created = []
        for i in range(5):
            resp = http.post(
                "/api/v1/customers", headers=csrf, json={"display_name": f"崩溃测试 {i}"}
            )
            assert resp.status_code == 201, resp.text
            created.append(resp.json()["id"])
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    assert r.xlen(stream) == 0, "the relay was off: nothing may have been published yet"

    restarted = start_server(
        crash_env(tmp_path, database_url, redis_url, relay=True, stream=stream), port
    )
    try:
        deadline = time.monotonic() + 15
        published: list[Envelope] = []
        while time.monotonic() < deadline:
            published = [Envelope.from_json(f[b"envelope"]) for _id, f in r.xrange(stream)]
            if {e.payload.get("customer_id") for e in published} >= set(created):
                break
            time.sleep(0.2)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=10)
    created_events = [e for e in published if e.event_type == "CustomerCreated"]
    assert [e.payload["customer_id"] for e in created_events][-5:] == created
    ids = [e.event_id for e in published]
    assert len(ids) == len(set(ids)), "an event was published twice"
    seqs = [e.seq for e in published]
    assert seqs == sorted(seqs), "events left commit order"
