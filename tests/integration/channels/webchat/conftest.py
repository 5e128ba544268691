"""One running app per backend for the whole module (starting one costs seconds), and a
fresh organisation with its own widget for every test, so tests never see each other's
data. The delivery worker is off: tests run it themselves when they need it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from jietong.app.asgi import create_app
from jietong.app.platform import Platform, build_platform
from jietong.app.settings import Settings
from jietong.channels import accounts
from jietong.channels.webchat.runtime import ChatRuntime
from jietong.core.ids import new_id
from jietong.core.tenancy import system_actor
from jietong.org import service as org_service
from jietong.org.schemas import QueueCreate, TeamCreate
from jietong.storage.engine import create_db_engine
from jietong.storage.migrate import upgrade
from tests.conftest import POSTGRES_URL


@dataclass(frozen=True)
class ChatApp:
    platform: Platform
    client: TestClient


@dataclass(frozen=True)
class Org:
    org_id: str
    team_id: str
    queue_id: str
    widget: str


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def chat_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChatApp]:
    root = tmp_path_factory.mktemp("webchat")
    url, drop = _database(request, root)
    settings = Settings(
        data_dir=root / "data",
        database_url=url,
        secret_key="test-secret",
        login_attempts_per_minute=1000,
        delivery_worker_enabled=False,
        smtp_enabled=False,
    )
    platform = build_platform(settings)
    try:
        with TestClient(create_app(platform)) as client:
            yield ChatApp(platform, client)
    finally:
        platform.close()
        drop()


def _database(request: pytest.FixtureRequest, root: Path) -> tuple[str, Callable[[], None]]:
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'chat.db'}"
        engine = create_db_engine(url)
        upgrade(engine)
        engine.dispose()
        return url, lambda: None
    template = request.getfixturevalue("postgres_template")
    assert POSTGRES_URL is not None
    name = f"jt_{new_id()[-16:]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(POSTGRES_URL).set(database=name).render_as_string(False), drop


@pytest.fixture
def platform(chat_app: ChatApp) -> Platform:
    return chat_app.platform


@pytest.fixture
def client(chat_app: ChatApp) -> Iterator[TestClient]:
    yield chat_app.client
    # A test may have swapped the chat runtime (limits, routing); the next gets a fresh one.
    runtime = getattr(chat_app.client.app.state, "webchat", None)  # type: ignore[attr-defined]
    if runtime is not None:
        runtime.close()
        del chat_app.client.app.state.webchat  # type: ignore[attr-defined]


def use_runtime(client: TestClient, runtime: ChatRuntime) -> ChatRuntime:
    old = getattr(client.app.state, "webchat", None)  # type: ignore[attr-defined]
    if old is not None:
        old.close()
    client.app.state.webchat = runtime  # type: ignore[attr-defined]
    return runtime


def new_org(platform: Platform, **widget_settings: str) -> Org:
    """An organisation with a team, a chat queue and a widget (no users: fast)."""
    with platform.uow() as uow:
        org = org_service.create_organisation(uow, slug=f"o{new_id()[-12:]}", name="Tea House")
    actor = system_actor(org.id)
    with platform.uow() as uow:
        team = org_service.create_team(uow, actor, TeamCreate(name="Front line"))
    with platform.uow() as uow:
        queue = org_service.create_queue(
            uow, actor, QueueCreate(name="Web chat", channels=["chat"], team_id=team.id)
        )
    key = add_widget(platform, org.id, queue.id, **widget_settings)
    return Org(org.id, team.id, queue.id, key)


def add_widget(
    platform: Platform,
    org_id: str,
    queue_id: str | None,
    *,
    name: str = "Website",
    identity_secret: str | None = None,
    **settings: str,
) -> str:
    with platform.uow() as uow:
        row = accounts.create_account(
            uow,
            system_actor(org_id),
            platform.channels,
            channel="chat",
            provider="widget",
            changes=accounts.AccountChanges(
                name=name,
                queue_id=queue_id,
                settings={"offline_when": "never", **settings},
                secrets={"identity_secret": identity_secret} if identity_secret else {},
            ),
        )
    return row.id


@pytest.fixture
def org(platform: Platform) -> Org:
    return new_org(platform)
