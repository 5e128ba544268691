"""Fixtures of the email tests: organisations without users (fast)."""

from __future__ import annotations

import pytest

from jietong.app.platform import Platform
from tests.integration.channels.email.emailfactories import Org, make_org


@pytest.fixture
def org_a(platform: Platform) -> Org:
    return make_org(platform, "org-a")


@pytest.fixture
def org_b(platform: Platform) -> Org:
    return make_org(platform, "org-b")
