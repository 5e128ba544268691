"""Fixtures of the email tests: organisations without users (fast)."""

from __future__ import annotations

import pytest
from tests.integration.channels.email.emailfactories import Org, make_org

from jietong.app.platform import Platform


@pytest.fixture
def org_a(platform: Platform) -> Org:
    return make_org(platform, "org-a")


@pytest.fixture
def org_b(platform: Platform) -> Org:
    return make_org(platform, "org-b")
