"""Fixtures of the email tests: organisations without users (fast), and a private
Dovecot with the clients on it (dovecot.py)."""

from __future__ import annotations

import pytest

from jietong.app.platform import Platform
from tests.integration.channels.email.dovecot import (  # noqa: F401 (fixtures: pytest finds them here)
    dovecot,
    imap_server,
    mailbox,
)
from tests.integration.channels.email.emailfactories import Org, make_org


@pytest.fixture
def org_a(platform: Platform) -> Org:
    return make_org(platform, "org-a")


@pytest.fixture
def org_b(platform: Platform) -> Org:
    return make_org(platform, "org-b")
