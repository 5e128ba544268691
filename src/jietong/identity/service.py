"""Customer decisions: creation, updates, contact points, search. Transactions and events."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy.exc import IntegrityError

from jietong.core.errors import Conflict, NotFound
from jietong.core.ids import new_id
from jietong.core.pagination import Page, decode_cursor, page_of
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.events.catalogue import (
    ContactPointAdded,
    ContactPointRemoved,
    CustomerCreated,
    CustomerDeleted,
    CustomerUpdated,
)
from jietong.identity import store
from jietong.identity.contact_points import ContactKind, normalise, try_normalise
from jietong.identity.schemas import ContactPointIn, CustomerCreate, CustomerUpdate
from jietong.storage.tables import ContactPointRow, CustomerRow
from jietong.storage.uow import UnitOfWork


class CustomerNotFound(NotFound):
    pass


@dataclass(frozen=True)
class CustomerView:
    customer: CustomerRow
    contact_points: list[ContactPointRow]


def create_customer(
    uow: UnitOfWork, actor: Actor, data: CustomerCreate, *, default_region: str
) -> CustomerView:
    require(actor, Permission.CUSTOMERS_WRITE)
    normalised = [_normalised_point(p, default_region) for p in data.contact_points]
    _refuse_taken_points(uow, actor.org_id, normalised)
    customer = CustomerRow(
        id=new_id(),
        org_id=actor.org_id,
        display_name=data.display_name.strip(),
        company=data.company,
        vip_tier=data.vip_tier.value,
        tags=_clean_tags(data.tags),
        attributes=dict(data.attributes),
        created_at=uow.now,
        updated_at=uow.now,
    )
    uow.session.add(customer)
    uow.session.flush()
    points = [_attach(uow, actor, customer, p) for p in normalised]
    _refresh_search_text(customer, points)
    uow.emit(
        CustomerCreated(
            org_id=actor.org_id, customer_id=customer.id, display_name=customer.display_name
        )
    )
    uow.audit(actor, "customer.created", "customer", customer.id, {"name": customer.display_name})
    _commit_or_conflict(uow)
    return CustomerView(customer, points)


def update_customer(
    uow: UnitOfWork, actor: Actor, customer_id: str, data: CustomerUpdate
) -> CustomerView:
    require(actor, Permission.CUSTOMERS_WRITE)
    customer = _get(uow, actor.org_id, customer_id)
    _apply_update(uow, actor, customer, data)
    points = store.contact_points_of(uow.session, actor.org_id, [customer.id])[customer.id]
    uow.commit()
    return CustomerView(customer, points)


def add_contact_point(
    uow: UnitOfWork, actor: Actor, customer_id: str, data: ContactPointIn, *, default_region: str
) -> ContactPointRow:
    require(actor, Permission.CUSTOMERS_WRITE)
    customer = _get(uow, actor.org_id, customer_id)
    [row] = _add_points(uow, actor, customer, [data], default_region)
    _commit_or_conflict(uow)
    return row


def enrich_customer(
    uow: UnitOfWork,
    actor: Actor,
    customer_id: str,
    *,
    new_points: list[ContactPointIn],
    update: CustomerUpdate | None,
    default_region: str,
) -> CustomerView:
    """Add contact points and change fields in ONE transaction (imports, merges): either
    everything lands or nothing does."""
    require(actor, Permission.CUSTOMERS_WRITE)
    customer = _get(uow, actor.org_id, customer_id)
    _add_points(uow, actor, customer, new_points, default_region)
    if update is not None:
        _apply_update(uow, actor, customer, update)
    points = store.contact_points_of(uow.session, actor.org_id, [customer.id])[customer.id]
    _commit_or_conflict(uow)
    return CustomerView(customer, points)


def _apply_update(
    uow: UnitOfWork, actor: Actor, customer: CustomerRow, data: CustomerUpdate
) -> None:
    changes = _plain(data.model_dump(exclude_unset=True))
    for required in ("display_name", "vip_tier"):
        if changes.get(required, "") is None:
            del changes[required]
    if "tags" in changes:
        changes["tags"] = _clean_tags(changes["tags"] or [])
    if "attributes" in changes and changes["attributes"] is None:
        changes["attributes"] = {}
    before = {key: getattr(customer, key) for key in changes}
    for key, value in changes.items():
        setattr(customer, key, value)
    customer.updated_at = uow.now
    uow.session.flush()
    points = store.contact_points_of(uow.session, actor.org_id, [customer.id])[customer.id]
    _refresh_search_text(customer, points)
    if changes:
        uow.emit(
            CustomerUpdated(org_id=actor.org_id, customer_id=customer.id, changed=sorted(changes))
        )
        uow.audit(
            actor,
            "customer.updated",
            "customer",
            customer.id,
            {"before": before, "after": changes},
        )


def _add_points(
    uow: UnitOfWork,
    actor: Actor,
    customer: CustomerRow,
    points: list[ContactPointIn],
    default_region: str,
) -> list[ContactPointRow]:
    normalised = [_normalised_point(p, default_region) for p in points]
    _refuse_taken_points(uow, actor.org_id, normalised)
    rows = [_attach(uow, actor, customer, p) for p in normalised]
    customer.updated_at = uow.now
    uow.session.flush()
    current = store.contact_points_of(uow.session, actor.org_id, [customer.id])[customer.id]
    _refresh_search_text(customer, current)
    return rows


def remove_contact_point(uow: UnitOfWork, actor: Actor, customer_id: str, point_id: str) -> None:
    require(actor, Permission.CUSTOMERS_WRITE)
    customer = _get(uow, actor.org_id, customer_id)
    points = store.contact_points_of(uow.session, actor.org_id, [customer.id])[customer.id]
    row = next((p for p in points if p.id == point_id), None)
    if row is None:
        raise NotFound("contact point not found on this customer")
    uow.session.delete(row)
    _refresh_search_text(customer, [p for p in points if p.id != point_id])
    customer.updated_at = uow.now
    uow.emit(
        ContactPointRemoved(
            org_id=actor.org_id, customer_id=customer.id, contact_point_id=row.id, kind=row.kind
        )
    )
    uow.audit(
        actor,
        "contact_point.removed",
        "customer",
        customer.id,
        {"kind": row.kind, "value": row.value},
    )
    uow.commit()


def delete_customer(uow: UnitOfWork, actor: Actor, customer_id: str) -> None:
    """Delete a customer that has no interactions or cases (a mistaken entry). A customer
    with history is kept: the timeline and the KPIs refer to it."""
    require(actor, Permission.CUSTOMERS_WRITE)
    customer = _get(uow, actor.org_id, customer_id)
    if store.has_history(uow.session, actor.org_id, customer.id):
        raise Conflict("the customer has interactions or cases and cannot be deleted")
    uow.session.delete(customer)
    uow.emit(CustomerDeleted(org_id=actor.org_id, customer_id=customer.id))
    uow.audit(actor, "customer.deleted", "customer", customer.id, {"name": customer.display_name})
    uow.commit()


def get_customer(uow: UnitOfWork, actor: Actor, customer_id: str) -> CustomerView:
    require(actor, Permission.CUSTOMERS_READ)
    customer = _get(uow, actor.org_id, customer_id)
    points = store.contact_points_of(uow.session, actor.org_id, [customer.id])[customer.id]
    return CustomerView(customer, points)


def list_customers(
    uow: UnitOfWork,
    actor: Actor,
    *,
    query: str | None,
    cursor: str | None,
    limit: int,
    default_region: str,
) -> Page[CustomerView]:
    """Newest first. `query` matches names, companies, tags and contact points; a phone
    number or email in any spelling matches its normalised contact point exactly."""
    require(actor, Permission.CUSTOMERS_READ)
    terms, exact = _search_terms(query, default_region)
    rows = store.search_customers(
        uow.session,
        actor.org_id,
        terms=terms,
        exact_values=exact,
        before_id=decode_cursor(cursor),
        limit=limit,
    )
    page = page_of(rows, limit)
    points = store.contact_points_of(uow.session, actor.org_id, [c.id for c in page.items])
    return Page([CustomerView(c, points[c.id]) for c in page.items], page.next_cursor)


def find_customer_by_contact(
    uow: UnitOfWork, org_id: str, kind: ContactKind, value: str, default_region: str
) -> CustomerRow | None:
    """The customer owning this contact point, or None (used by channel intake, imports)."""
    normalised = try_normalise(kind, value, default_region)
    if normalised is None:
        return None
    point = store.find_contact_point(uow.session, org_id, kind.value, normalised)
    return None if point is None else store.find_customer(uow.session, org_id, point.customer_id)


def require_customer(uow: UnitOfWork, org_id: str, customer_id: str) -> CustomerRow:
    """The live (not merged) customer of this organisation, or CustomerNotFound."""
    return _get(uow, org_id, customer_id)


def _get(uow: UnitOfWork, org_id: str, customer_id: str) -> CustomerRow:
    customer = store.find_customer(uow.session, org_id, customer_id)
    if customer is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    return customer


def _normalised_point(point: ContactPointIn, default_region: str) -> ContactPointIn:
    value = normalise(point.kind, point.value, default_region)
    return ContactPointIn(kind=point.kind, value=value, label=point.label)


def _refuse_taken_points(uow: UnitOfWork, org_id: str, points: list[ContactPointIn]) -> None:
    seen: set[tuple[str, str]] = set()
    for point in points:
        key = (point.kind.value, point.value)
        if key in seen:
            raise Conflict(f"{point.kind.value} {point.value} is given twice")
        seen.add(key)
        owner = store.find_contact_point(uow.session, org_id, *key)
        if owner is not None:
            raise Conflict(
                f"{point.kind.value} {point.value} already belongs to customer {owner.customer_id}"
            )


def _attach(
    uow: UnitOfWork, actor: Actor, customer: CustomerRow, point: ContactPointIn
) -> ContactPointRow:
    row = ContactPointRow(
        id=new_id(),
        org_id=actor.org_id,
        customer_id=customer.id,
        kind=point.kind.value,
        value=point.value,
        label=point.label,
        created_at=uow.now,
    )
    uow.session.add(row)
    uow.emit(
        ContactPointAdded(
            org_id=actor.org_id, customer_id=customer.id, contact_point_id=row.id, kind=row.kind
        )
    )
    uow.audit(
        actor,
        "contact_point.added",
        "customer",
        customer.id,
        {"kind": row.kind, "value": row.value},
    )
    return row


def _clean_tags(tags: list[str]) -> list[str]:
    return sorted({t.strip()[:50] for t in tags if t and t.strip()})


def _refresh_search_text(customer: CustomerRow, points: list[ContactPointRow]) -> None:
    parts = [customer.display_name, customer.company or "", *customer.tags]
    parts.extend(p.value for p in points)
    customer.search_text = " ".join(parts).lower()


def _search_terms(query: str | None, default_region: str) -> tuple[list[str], list[str]]:
    if not query or not query.strip():
        return [], []
    text = query.strip()
    exact = [
        value
        for kind in (ContactKind.PHONE, ContactKind.EMAIL)
        if (value := try_normalise(kind, text, default_region)) is not None
    ]
    return [t.lower() for t in text.split()[:8]], exact


def _commit_or_conflict(uow: UnitOfWork) -> None:
    try:
        uow.commit()
    except IntegrityError:
        # Two writers raced for the same contact point; the UNIQUE constraint decided.
        raise Conflict("a contact point was taken by another customer meanwhile") from None


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Enum members to their values, so changes can be stored and audited as JSON."""
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in values.items()}
