"""Shared fixtures: real databases (SQLite always, PostgreSQL when configured), the app,
and factories for organisations, users and tokens.

PostgreSQL: JIETONG_TEST_POSTGRES_URL points at a server where the role may create
databases. Each test gets its own database, copied from a migrated template (fast).
With JIETONG_REQUIRE_SERVICES=1 (CI) a missing PostgreSQL or Redis fails instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from jietong.app.asgi import create_app
from jietong.app.platform import Platform, build_platform
from jietong.app.settings import Settings
from jietong.auth import service as auth_service
from jietong.core.ids import new_id
from jietong.core.tenancy import Actor, Role, system_actor
from jietong.org import service as org_service
from jietong.org.schemas import TeamCreate, UserCreate
from jietong.storage.engine import create_db_engine
from jietong.storage.migrate import upgrade

POSTGRES_URL = os.environ.get("JIETONG_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("JIETONG_TEST_REDIS_URL")
REQUIRE_SERVICES = os.environ.get("JIETONG_REQUIRE_SERVICES") == "1"


def service_or_skip(url: str | None, name: str) -> str:
    if url:
        return url
    if REQUIRE_SERVICES:
        pytest.fail(f"{name} is required (JIETONG_REQUIRE_SERVICES=1) but not configured")
    pytest.skip(f"{name} not configured")


@pytest.fixture(scope="session")
def postgres_template(worker_id: str) -> Iterator[str]:
    """A migrated template database for this xdist worker; yields its name."""
    url = service_or_skip(POSTGRES_URL, "PostgreSQL")
    name = f"jt_template_{worker_id}_{os.getpid()}"  # unique per concurrent run
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_db_engine(make_url(url).set(database=name).render_as_string(False))
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        engine = create_db_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    template = request.getfixturevalue("postgres_template")
    assert POSTGRES_URL is not None
    name = f"jt_{new_id()[-16:]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key="test-secret",
        login_attempts_per_minute=1000,
    )


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    built = build_platform(settings)
    yield built
    built.close()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform)) as test_client:
        yield test_client


@dataclass(frozen=True)
class Tenant:
    org_id: str
    admin: Actor
    team_id: str
    token: str  # an admin API token with every scope

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_tenant(platform: Platform, slug: str) -> Tenant:
    """An organisation with one team and an admin holding an all-scope API token."""
    with platform.uow() as uow:
        org = org_service.create_organisation(uow, slug=slug, name=slug.title())
    system = system_actor(org.id)
    with platform.uow() as uow:
        team = org_service.create_team(uow, system, TeamCreate(name="Front line"))
    admin = make_user(platform, org.id, f"{slug}-admin", Role.ADMIN, [team.id])
    token = issue_all_scopes(platform, admin)
    return Tenant(org.id, admin, team.id, token)


def make_user(
    platform: Platform, org_id: str, username: str, role: Role, team_ids: list[str]
) -> Actor:
    with platform.uow() as uow:
        view = org_service.create_user(
            uow,
            system_actor(org_id),
            UserCreate(
                username=username,
                display_name=username,
                password="correct-horse-9",
                role=role,
                team_ids=team_ids,
            ),
        )
    return Actor(org_id=org_id, user_id=view.user.id, role=role, team_ids=frozenset(team_ids))


def issue_all_scopes(platform: Platform, actor: Actor) -> str:
    from jietong.core.permissions import ROLE_PERMISSIONS

    scopes = [p.value for p in ROLE_PERMISSIONS[actor.role]]
    with platform.uow() as uow:
        return auth_service.issue_token(
            uow, actor, name="test", scopes=scopes, expires_at=None
        ).token


@pytest.fixture
def tenant_a(platform: Platform) -> Tenant:
    return make_tenant(platform, "org-a")


@pytest.fixture
def tenant_b(platform: Platform) -> Tenant:
    return make_tenant(platform, "org-b")


@pytest.fixture
def db_url_postgres_only(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database (for tests that pick their backend themselves)."""
    template = request.getfixturevalue("postgres_template")
    assert POSTGRES_URL is not None
    name = f"jt_{new_id()[-16:]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
