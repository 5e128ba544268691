"""Channel tests drive the delivery worker themselves (`DeliveryWorker.run_once`), so the
app under test does not start its own background worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from jietong.app.asgi import create_app
from jietong.app.platform import Platform


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    platform.settings.delivery_worker_enabled = False
    with TestClient(create_app(platform)) as test_client:
        yield test_client
