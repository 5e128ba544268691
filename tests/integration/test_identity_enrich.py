"""Enriching a customer (imports, merges) is one transaction: all of it lands or none."""

from __future__ import annotations

import pytest

from jietong.app.platform import Platform
from jietong.core.errors import Conflict
from jietong.core.tenancy import system_actor
from jietong.identity import service
from jietong.identity.contact_points import ContactKind
from jietong.identity.schemas import ContactPointIn, CustomerCreate, CustomerUpdate
from tests.conftest import Tenant


def phone(value: str) -> ContactPointIn:
    return ContactPointIn(kind=ContactKind.PHONE, value=value)


def test_enrich_is_all_or_nothing(platform: Platform, tenant_a: Tenant) -> None:
    actor = system_actor(tenant_a.org_id)
    with platform.uow() as uow:
        target = service.create_customer(
            uow, actor, CustomerCreate(display_name="目标"), default_region="CN"
        )
    with platform.uow() as uow:
        service.create_customer(
            uow,
            actor,
            CustomerCreate(display_name="other", contact_points=[phone("13900000002")]),
            default_region="CN",
        )
    with platform.uow() as uow, pytest.raises(Conflict):
        service.enrich_customer(
            uow,
            actor,
            target.customer.id,
            new_points=[phone("13900000001"), phone("139 0000 0002")],
            update=CustomerUpdate(company="should not land"),
            default_region="CN",
        )
    with platform.uow() as uow:
        after = service.get_customer(uow, actor, target.customer.id)
    assert after.contact_points == [] and after.customer.company is None

    with platform.uow() as uow:
        done = service.enrich_customer(
            uow,
            actor,
            target.customer.id,
            new_points=[phone("13900000001")],
            update=CustomerUpdate(company="华信", tags=["vip", " vip "]),
            default_region="CN",
        )
    assert [p.value for p in done.contact_points] == ["+8613900000001"]
    assert (done.customer.company, done.customer.tags) == ("华信", ["vip"])
    with platform.uow() as uow:
        page = service.list_customers(
            uow, actor, query="华信", cursor=None, limit=10, default_region="CN"
        )
    assert [v.customer.id for v in page.items] == [target.customer.id]
