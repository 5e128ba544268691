"""SQL for customers and contact points. No decisions here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from jietong.storage.tables import CaseRow, ContactPointRow, CustomerRow, InteractionRow


def find_customer(session: Session, org_id: str, customer_id: str) -> CustomerRow | None:
    return session.scalar(
        select(CustomerRow).where(
            CustomerRow.org_id == org_id,
            CustomerRow.id == customer_id,
            CustomerRow.merged_into_id.is_(None),
        )
    )


def has_history(session: Session, org_id: str, customer_id: str) -> bool:
    """Whether any interaction or case refers to the customer."""
    for row in (InteractionRow, CaseRow):
        found = session.scalar(
            select(row.id).where(row.org_id == org_id, row.customer_id == customer_id).limit(1)
        )
        if found is not None:
            return True
    return False


def contact_points_of(
    session: Session, org_id: str, customer_ids: Sequence[str]
) -> dict[str, list[ContactPointRow]]:
    result: dict[str, list[ContactPointRow]] = {cid: [] for cid in customer_ids}
    if not customer_ids:
        return result
    rows = session.scalars(
        select(ContactPointRow)
        .where(ContactPointRow.org_id == org_id, ContactPointRow.customer_id.in_(customer_ids))
        .order_by(ContactPointRow.id)
    )
    for row in rows:
        result[row.customer_id].append(row)
    return result


def find_contact_point(
    session: Session, org_id: str, kind: str, value: str
) -> ContactPointRow | None:
    return session.scalar(
        select(ContactPointRow).where(
            ContactPointRow.org_id == org_id,
            ContactPointRow.kind == kind,
            ContactPointRow.value == value,
        )
    )


def search_customers(
    session: Session,
    org_id: str,
    *,
    terms: Sequence[str],
    exact_values: Sequence[str],
    before_id: str | None,
    limit: int,
) -> list[CustomerRow]:
    """Customers newest first; every term must occur in the search text, or the customer
    owns one of `exact_values` as a contact point."""
    query = select(CustomerRow).where(
        CustomerRow.org_id == org_id, CustomerRow.merged_into_id.is_(None)
    )
    if terms or exact_values:
        matches_text = [CustomerRow.search_text.contains(t, autoescape=True) for t in terms]
        owns_value = CustomerRow.id.in_(
            select(ContactPointRow.customer_id).where(
                ContactPointRow.org_id == org_id, ContactPointRow.value.in_(exact_values)
            )
        )
        clauses = []
        if terms:
            clauses.append(and_(*matches_text))
        if exact_values:
            clauses.append(owns_value)
        query = query.where(or_(*clauses))
    if before_id is not None:
        query = query.where(CustomerRow.id < before_id)
    return list(session.scalars(query.order_by(CustomerRow.id.desc()).limit(limit + 1)))
