"""Property-based fuzzing of the whole API from its OpenAPI document (schemathesis):
no generated request, authenticated or not, may produce a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from jietong.app.asgi import create_app
from jietong.app.platform import Platform, build_platform
from jietong.app.settings import Settings
from jietong.storage.migrate import upgrade
from tests.conftest import Tenant, make_tenant


@pytest.fixture(scope="module")
def fuzz_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, Tenant]]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    platform = build_platform(
        Settings(
            data_dir=root,
            database_url=f"sqlite:///{root / 'fuzz.db'}",
            secret_key="fuzz",
            login_attempts_per_minute=100_000,
            outbox_relay_enabled=False,
        )
    )
    upgrade(platform.engine)
    tenant = make_tenant(platform, "fuzz")
    yield platform, tenant
    platform.close()


def operations(platform: Platform) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(platform))
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 20
    return found


FUZZ = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)


def fuzz(operation: schemathesis.APIOperation, headers: dict[str, str] | None) -> None:
    @given(case=operation.as_strategy())
    @FUZZ
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
        if headers is None and case.path not in ANONYMOUS_PATHS:
            assert response.status_code in (401, 404, 405, 422), (case.path, response.text)

    run()


ANONYMOUS_PATHS = {"/api/v1/auth/login", "/api/v1/auth/logout", "/healthz"}


def test_authenticated_requests_never_fail_with_5xx(
    fuzz_platform: tuple[Platform, Tenant],
) -> None:
    platform, tenant = fuzz_platform
    for operation in operations(platform):
        fuzz(operation, tenant.headers)


def test_anonymous_requests_never_fail_with_5xx(fuzz_platform: tuple[Platform, Tenant]) -> None:
    platform, _tenant = fuzz_platform
    for operation in operations(platform):
        fuzz(operation, None)
