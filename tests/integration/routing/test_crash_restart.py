"""Killing the server loses no place in any queue.

A real `jietong serve` process routes: contacts queue up behind one ringing offer. It is
killed with SIGKILL. A new process rebuilds from the database alone: every waiting
interaction is still waiting, in the same order, with its original arrival time, and the
offer that was ringing when the process died times out and goes back to the head of the
queue (its original place), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from jietong.app.bootstrap import DEMO_LOGINS, ensure_demo
from jietong.app.platform import build_platform
from jietong.app.settings import Settings
from jietong.storage.migrate import upgrade
from tests.conftest import POSTGRES_URL, service_or_skip
from tests.servers import free_port, server_env, start_server


def login(base: str, username: str) -> httpx.Client:
    http = httpx.Client(base_url=base, timeout=10)
    password = next(d.password for d in DEMO_LOGINS if d.username == username)
    r = http.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    http.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return http


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def wait_for(probe: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def queue_snapshot(http: httpx.Client, queue_id: str) -> list[tuple[str, str, str]]:
    entries = ok(http.get(f"/api/v1/routing/queues/{queue_id}/entries"))
    return [(e["interaction_id"], e["state"], e["enqueued_at"]) for e in entries]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_waiting_interactions_survive_a_killed_engine_in_order(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        service_or_skip(POSTGRES_URL, "PostgreSQL")
        database_url = request.getfixturevalue("db_url_postgres_only")
    else:
        database_url = f"sqlite:///{tmp_path / 'crash.db'}"
    platform = build_platform(Settings(data_dir=tmp_path, database_url=database_url))
    upgrade(platform.engine)
    ensure_demo(platform)
    platform.close()
    env = server_env(tmp_path, database_url=database_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    server = start_server(env, port)
    try:
        admin = login(base, "admin")
        queue = next(q for q in ok(admin.get("/api/v1/queues"))["items"] if q["name"] == "Billing")
        ok(
            admin.put(
                f"/api/v1/routing/queues/{queue['id']}/settings", json={"ring_timeout_seconds": 5}
            )
        )
        agent = login(base, "agent1")
        me = ok(agent.get("/api/v1/agents/me/presence"))["user_id"]
        ok(admin.put(f"/api/v1/users/{me}/skills", json={"skills": dict(queue["required_skills"])}))
        for team_id in ok(admin.get(f"/api/v1/users/{me}"))["team_ids"]:
            # One unanswered offer pauses the agent, so nobody is offered anything after
            # the restart and the whole queue can be compared.
            ok(admin.put(f"/api/v1/routing/teams/{team_id}/rules", json={"max_missed_offers": 1}))
        ok(agent.put("/api/v1/agents/me/presence", json={"state": "available"}))
        created = []
        for i in range(5):
            iid = ok(
                admin.post(
                    "/api/v1/interactions",
                    json={"channel": "call", "queue_id": queue["id"], "subject": f"崩溃 {i}"},
                ),
                201,
            )["id"]
            # A call naming a queue is queued by the engine itself; queuing it by hand too
            # either wins (200) or finds it queued already (409).
            queued = admin.post(
                f"/api/v1/interactions/{iid}/transitions", json={"trigger": "enqueue"}
            )
            assert queued.status_code in (200, 409), queued.text
            assert ok(admin.get(f"/api/v1/interactions/{iid}"))["state"] in ("queued", "offered")
            created.append(iid)
            time.sleep(0.05)  # distinct arrival times

        def one_ringing() -> list[tuple[str, str, str]] | None:
            s = queue_snapshot(admin, queue["id"])
            return s if len(s) == 5 and s[0][1] == "offered" else None

        before = wait_for(one_ringing, 20)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)

    assert [iid for iid, _, _ in before] == created  # the ringing one first, then in order
    restarted = start_server(env, port)
    try:
        admin = login(base, "admin")
        after = queue_snapshot(admin, queue["id"])
        assert [(i, at) for i, _, at in after] == [(i, at) for i, _, at in before]

        # The offer that rang when the process died times out and goes back to its
        # original place at the head (the new process took the dead one's lease over).
        def all_waiting() -> list[tuple[str, str, str]] | None:
            s = queue_snapshot(admin, queue["id"])
            return s if all(state == "waiting" for _, state, _ in s) else None

        back = wait_for(all_waiting, 30)
        assert [(iid, at) for iid, _, at in back] == [(iid, at) for iid, _, at in before]
        presence = ok(admin.get(f"/api/v1/agents/{me}/presence"))
        assert (presence["state"], presence["reason"]) == ("not_ready", "no_answer")
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=10)
