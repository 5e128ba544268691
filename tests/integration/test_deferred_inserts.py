"""`UnitOfWork.deferred_inserts`: rows queued with `add_later` are inserted together at
commit (on PostgreSQL in one pipeline) and behave as rows inserted one by one would."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from jietong.app.platform import Platform
from jietong.core.ids import new_id
from jietong.storage.tables import OrganisationRow, TeamRow


def _org(uow_now: object, slug: str) -> OrganisationRow:
    return OrganisationRow(id=new_id(), slug=slug, name=slug, created_at=uow_now)


def test_deferred_rows_of_several_tables_are_inserted_parents_first(platform: Platform) -> None:
    with platform.uow() as uow, uow.deferred_inserts():
        org = _org(uow.now, f"o-{new_id()[-8:]}")
        # Queued child first: the flush orders tables by their foreign keys.
        uow.add_later(
            TeamRow(id=new_id(), org_id=org.id, name="one", kind="team", created_at=uow.now)
        )
        uow.add_later(org)
        uow.add_later(
            TeamRow(id=new_id(), org_id=org.id, name="two", kind="team", created_at=uow.now)
        )
        uow.commit()
    with platform.read_uow() as uow:
        names = uow.session.scalars(select(TeamRow.name).where(TeamRow.org_id == org.id)).all()
    assert sorted(names) == ["one", "two"]


def test_a_duplicate_among_deferred_rows_fails_the_commit_and_stores_nothing(
    platform: Platform,
) -> None:
    slug = f"dup-{new_id()[-8:]}"
    with pytest.raises(IntegrityError), platform.uow() as uow, uow.deferred_inserts():
        uow.add_later(_org(uow.now, f"{slug}-other"))
        uow.add_later(_org(uow.now, slug))
        uow.add_later(_org(uow.now, slug))  # organisations.slug is unique
        uow.commit()
    with platform.read_uow() as uow:
        stored = uow.session.scalar(
            select(func.count()).where(OrganisationRow.slug.startswith(slug))
        )
    assert stored == 0


def test_changes_to_loaded_rows_are_written_before_the_deferred_rows(platform: Platform) -> None:
    slug = f"chg-{new_id()[-8:]}"
    with platform.uow() as uow:
        org = _org(uow.now, slug)
        uow.session.add(org)
        uow.commit()
        org_id = org.id
    with platform.uow() as uow, uow.deferred_inserts():
        loaded = uow.session.get(OrganisationRow, org_id)
        assert loaded is not None
        loaded.name = "renamed"  # an ORM UPDATE, which checks the rows it matched
        uow.add_later(
            TeamRow(id=new_id(), org_id=org_id, name="t", kind="team", created_at=uow.now)
        )
        uow.commit()
    with platform.read_uow() as uow:
        assert (
            uow.session.scalar(select(OrganisationRow.name).where(OrganisationRow.id == org_id))
            == "renamed"
        )
        assert uow.session.scalar(select(func.count()).where(TeamRow.org_id == org_id)) == 1
