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


def test_deferred_updates_reach_the_database_at_commit_and_the_later_values_win(
    platform: Platform,
) -> None:
    slugs = [f"upd-{new_id()[-8:]}", f"upd-{new_id()[-8:]}"]
    with platform.uow() as uow:
        orgs = [_org(uow.now, slug) for slug in slugs]
        uow.session.add_all(orgs)
        uow.commit()
        ids = [org.id for org in orgs]
    with platform.uow() as uow, uow.deferred_inserts():
        first, second = (uow.session.get(OrganisationRow, i) for i in ids)
        assert first is not None and second is not None
        uow.update_later(first, name="first, once")
        uow.update_later(second, name="second, before")
        uow.update_later(second, name="second, after")
        # Read as set, yet not an ORM change (the session would flush it on its own).
        assert (first.name, second.name) == ("first, once", "second, after")
        assert not uow.session.dirty
        # A row inserted in the same batch takes the other statement of the pipeline.
        uow.add_later(
            TeamRow(id=new_id(), org_id=ids[0], name="t", kind="team", created_at=uow.now)
        )
        uow.commit()
    with platform.read_uow() as uow:
        names = dict(
            uow.session.execute(
                select(OrganisationRow.id, OrganisationRow.name).where(OrganisationRow.id.in_(ids))
            ).all()
        )
        teams = uow.session.scalar(select(func.count()).where(TeamRow.org_id == ids[0]))
    assert names == {ids[0]: "first, once", ids[1]: "second, after"}
    assert teams == 1


def test_an_update_outside_deferred_inserts_is_an_ordinary_orm_change(platform: Platform) -> None:
    with platform.uow() as uow:
        org = _org(uow.now, f"orm-{new_id()[-8:]}")
        uow.session.add(org)
        uow.commit()
        org_id = org.id
    with platform.uow() as uow:
        loaded = uow.session.get(OrganisationRow, org_id)
        assert loaded is not None
        uow.update_later(loaded, name="changed")
        assert loaded in uow.session.dirty
        uow.commit()
    with platform.read_uow() as uow:
        name = uow.session.scalar(select(OrganisationRow.name).where(OrganisationRow.id == org_id))
    assert name == "changed"
