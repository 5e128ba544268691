"""Storage durability settings, the append-only audit log, and authentication rules."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from jietong.app.platform import Platform
from jietong.auth.ratelimit import InProcessRateLimiter
from jietong.core.errors import RateLimited
from jietong.core.tenancy import Role
from jietong.events.base import Envelope
from jietong.org import service as org_service
from jietong.storage.migrate import current_revision
from jietong.storage.outbox import RELAY_LOCK_KEY
from jietong.storage.tables import OutboxRow
from tests.conftest import Tenant, issue_all_scopes, make_user


def test_sqlite_runs_wal_with_full_sync(platform: Platform) -> None:
    if platform.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with platform.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_database_is_at_the_newest_migration(platform: Platform) -> None:
    assert current_revision(platform.engine) is not None


def test_audit_log_refuses_update_and_delete(platform: Platform, tenant_a: Tenant) -> None:
    with platform.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() > 0
    for statement in ("UPDATE audit_log SET action = 'forged'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError), platform.engine.begin() as conn:
            conn.execute(text(statement))
    with platform.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'forged'")
            ).scalar_one()
            == 0
        )


def test_events_reach_subscribers_after_commit_in_order(
    platform: Platform, client: TestClient, tenant_a: Tenant
) -> None:
    seen: list[Envelope] = []
    platform.bus.subscribe(seen.append)
    for name in ("甲", "乙"):
        assert (
            client.post(
                "/api/v1/customers", headers=tenant_a.headers, json={"display_name": name}
            ).status_code
            == 201
        )
    platform.relay.relay_all()
    names = [e.payload["display_name"] for e in seen if e.event_type == "CustomerCreated"]
    assert names == ["甲", "乙"]
    assert platform.relay.relay_all() == 0, "published events must not be published again"


def test_login_sets_a_session_and_unsafe_requests_need_csrf(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    make_user(platform, tenant_a.org_id, "alice", Role.AGENT, [tenant_a.team_id])
    bad = client.post("/api/v1/auth/login", json={"username": "alice", "password": "nope-nope"})
    assert bad.status_code == 401 and bad.headers["content-type"] == "application/problem+json"
    good = client.post(
        "/api/v1/auth/login", json={"username": "alice", "password": "correct-horse-9"}
    )
    assert good.status_code == 200
    assert client.get("/api/v1/me").json()["username"] == "alice"
    assert client.post("/api/v1/customers", json={"display_name": "x"}).status_code == 403
    ok = client.post(
        "/api/v1/customers",
        json={"display_name": "x"},
        headers={"X-CSRF-Token": good.json()["csrf_token"]},
    )
    assert ok.status_code == 201
    client.post("/api/v1/auth/logout")
    assert client.get("/api/v1/me").status_code == 401


def test_token_scopes_limit_what_a_token_may_do(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    issued = client.post(
        "/api/v1/tokens", headers=tenant_a.headers, json={"name": "x", "scopes": ["customers:read"]}
    )
    assert issued.status_code == 422, "a token cannot issue tokens"
    from jietong.auth import service

    with platform.uow() as uow:
        read_only = service.issue_token(
            uow, tenant_a.admin, name="ro", scopes=["customers:read"], expires_at=None
        )
    headers = {"Authorization": f"Bearer {read_only.token}"}
    assert client.get("/api/v1/customers", headers=headers).status_code == 200
    denied = client.post("/api/v1/customers", headers=headers, json={"display_name": "x"})
    assert denied.status_code == 403
    assert (
        client.delete(f"/api/v1/tokens/{read_only.row.id}", headers=tenant_a.headers).status_code
        == 204
    )
    assert client.get("/api/v1/customers", headers=headers).status_code == 401


def test_agents_cannot_manage_users_or_queues(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    agent = make_user(platform, tenant_a.org_id, "agent-x", Role.AGENT, [tenant_a.team_id])
    headers = {"Authorization": f"Bearer {issue_all_scopes(platform, agent)}"}
    assert (
        client.post(
            "/api/v1/users",
            headers=headers,
            json={
                "username": "evil",
                "display_name": "e",
                "password": "12345678",
                "role": "admin",
            },
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/queues", headers=headers, json={"name": "q", "channels": ["chat"]}
        ).status_code
        == 403
    )
    assert client.get("/api/v1/audit", headers=headers).status_code == 403


def test_phone_search_matches_any_spelling(client: TestClient, tenant_a: Tenant) -> None:
    created = client.post(
        "/api/v1/customers",
        headers=tenant_a.headers,
        json={
            "display_name": "王芳",
            "contact_points": [{"kind": "phone", "value": "138-0013-8000"}],
        },
    )
    assert created.status_code == 201
    assert created.json()["contact_points"][0]["value"] == "+8613800138000"
    for spelling in ("+86 138 0013 8000", "13800138000", "王芳"):
        found = client.get(
            "/api/v1/customers", headers=tenant_a.headers, params={"q": spelling}
        ).json()["items"]
        assert [c["display_name"] for c in found] == ["王芳"], spelling
    dup = client.post(
        "/api/v1/customers",
        headers=tenant_a.headers,
        json={
            "display_name": "copy",
            "contact_points": [{"kind": "phone", "value": "13800138000"}],
        },
    )
    assert dup.status_code == 409


def test_cursor_pagination_visits_every_customer_once(client: TestClient, tenant_a: Tenant) -> None:
    for i in range(7):
        client.post("/api/v1/customers", headers=tenant_a.headers, json={"display_name": f"c{i}"})
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/customers", headers=tenant_a.headers, params=params).json()
        seen += [c["display_name"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"c{i}" for i in reversed(range(7))]
    bad = client.get("/api/v1/customers", headers=tenant_a.headers, params={"cursor": "zz!"})
    assert bad.status_code == 422


def test_rate_limit_counts_loopback_too() -> None:
    now = [0.0]
    limiter = InProcessRateLimiter(3, 60, clock=lambda: now[0])
    for _ in range(3):
        limiter.hit("ip:127.0.0.1")
    with pytest.raises(RateLimited) as exc:
        limiter.hit("ip:127.0.0.1")
    assert exc.value.retry_after_seconds == 61
    now[0] = 61.0
    limiter.hit("ip:127.0.0.1")


def test_login_is_rate_limited_through_http(platform: Platform, tenant_a: Tenant) -> None:
    from jietong.app.asgi import create_app

    platform.settings.login_attempts_per_minute = 3
    with TestClient(create_app(platform)) as c:
        codes = [
            c.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"}).status_code
            for _ in range(5)
        ]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]


def test_expired_session_is_refused(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    make_user(platform, tenant_a.org_id, "bob", Role.AGENT, [])
    client.post("/api/v1/auth/login", json={"username": "bob", "password": "correct-horse-9"})
    with platform.engine.begin() as conn:
        conn.execute(
            text("UPDATE web_sessions SET expires_at = :t"),
            {"t": datetime.now(UTC) - timedelta(minutes=1)},
        )
    assert client.get("/api/v1/me").status_code == 401


def test_oversized_bodies_are_refused_with_413(
    client: TestClient, platform: Platform, tenant_a: Tenant
) -> None:
    limit = platform.settings.max_attachment_bytes + 1024 * 1024
    declared = client.post(
        "/api/v1/customers",
        headers={**tenant_a.headers, "Content-Length": str(limit + 1)},
        content=b"{}",
    )
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"

    def chunks():  # no Content-Length: the body is counted as it streams in
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536

    streamed = client.post("/api/v1/customers", headers=tenant_a.headers, content=chunks())
    assert streamed.status_code == 413
    assert client.get("/api/v1/customers", headers=tenant_a.headers).status_code == 200


def test_concurrent_relays_publish_each_event_once_in_one_order(
    platform: Platform, client: TestClient, tenant_a: Tenant
) -> None:
    """Two relays (as two server processes would run) share the work without
    publishing anything twice, and publication numbers form one gap-free sequence."""
    import threading

    from jietong.storage.outbox import OutboxRelay

    seen: list[Envelope] = []
    lock = threading.Lock()

    def collect(envelope: Envelope) -> None:
        with lock:
            seen.append(envelope)

    platform.bus.subscribe(collect)
    platform.relay.relay_all()
    seen.clear()
    for i in range(30):
        client.post("/api/v1/customers", headers=tenant_a.headers, json={"display_name": f"r{i}"})
    relays = [
        OutboxRelay(platform.sessions, platform.bus, platform.clock, batch_size=4) for _ in range(2)
    ]
    threads = [threading.Thread(target=r.relay_all) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    platform.relay.relay_all()  # whatever a relay skipped while the other held the lock
    ids = [e.event_id for e in seen]
    assert len(ids) == len(set(ids)) and len(ids) >= 30
    seqs = sorted(e.seq for e in seen if e.seq is not None)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    # The marks stored are the numbers published (streams resume from the stored ones).
    with platform.sessions() as session:
        stored = dict(
            session.execute(
                select(OutboxRow.event_id, OutboxRow.published_seq).where(
                    OutboxRow.event_id.in_(ids)
                )
            ).all()
        )
    assert stored == {e.event_id: e.seq for e in seen}
    # Numbered in the order the events were written (the outbox's own sequence).
    with platform.sessions() as session:
        written = session.scalars(
            select(OutboxRow.event_id)
            .where(OutboxRow.event_id.in_(ids))
            .order_by(OutboxRow.published_seq)
        ).all()
        by_seq = session.scalars(
            select(OutboxRow.event_id).where(OutboxRow.event_id.in_(ids)).order_by(OutboxRow.seq)
        ).all()
    assert written == by_seq


def test_migrations_build_exactly_the_schema_the_tables_describe(platform: Platform) -> None:
    """Every table module's change has its migration (and nothing else changed the
    schema): Alembic's comparison of the migrated database with the metadata is empty."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from jietong.storage.all_tables import metadata

    with platform.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_relay_pending_finds_nothing_without_waiting_for_the_relays_lock(
    platform: Platform,
) -> None:
    """The relay task's look (`relay_pending`) takes neither SQLite's write lock nor the
    relays' advisory lock when nothing waits: while another writer holds the lock it
    answers at once instead of queueing behind it; with an event pending it relays."""
    platform.relay.relay_all()
    holder = platform.engine.connect()
    try:
        if platform.engine.dialect.name == "sqlite":
            holder.exec_driver_sql("SELECT 1")  # began IMMEDIATE: the one write lock, held
        else:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": RELAY_LOCK_KEY})
        done = threading.Event()
        found: list[int] = []

        def look() -> None:
            found.append(platform.relay.relay_pending())
            done.set()

        threading.Thread(target=look, daemon=True).start()
        assert done.wait(10), "relay_pending queued behind the lock"
        assert found == [0]
    finally:
        if platform.engine.dialect.name == "sqlite":
            holder.rollback()
        else:
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": RELAY_LOCK_KEY})
            holder.commit()
        holder.close()
    received: list[Envelope] = []
    platform.bus.subscribe(received.append)
    with platform.uow() as uow:
        org_service.create_organisation(uow, slug="relay-pending", name="Relay pending")
    assert platform.relay.relay_pending() >= 1 and received
