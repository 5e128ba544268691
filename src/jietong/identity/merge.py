"""Customer merges: suggested to agents, applied only by a person, audited, reversible.

Suggestions come from evidence, never from guesses applied silently:
- a phone number written in one customer's messages (an email signature, say) that is
  another customer's phone contact point;
- the same name and the same company.

A merge moves the loser's contact points, interactions (and their customer
participants) and cases to the survivor, marks the loser `merged_into_id`, and records
exactly which rows moved. Unmerge moves back those rows — and only those — and revives
the loser; anything that reached the survivor after the merge stays with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import func, select, update

from jietong.core.errors import Conflict, InvalidInput, NotFound
from jietong.core.ids import new_id
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.events.channels import CustomersMerged, CustomersUnmerged
from jietong.identity import store
from jietong.identity.contact_points import ContactKind
from jietong.identity.service import CustomerNotFound, require_customer
from jietong.interactions.service import acting_user_id
from jietong.storage.tables import (
    CaseRow,
    ContactPointRow,
    CustomerRow,
    InteractionRow,
    MessageRow,
    ParticipantRow,
)
from jietong.storage.tables_channels import CustomerMergeRow, MessageSourceRow
from jietong.storage.uow import UnitOfWork

ENTITY_TYPE = "customer"
_ID = re.compile(r"^[0-9a-f]{32}$")
SCANNED_MESSAGES = 200
MAX_SUGGESTIONS = 20
# What a merge moves: table -> (row class, the column naming the customer).
_MOVABLE: dict[str, tuple[Any, Any]] = {
    "contact_points": (ContactPointRow, ContactPointRow.customer_id),
    "interactions": (InteractionRow, InteractionRow.customer_id),
    "interaction_participants": (ParticipantRow, ParticipantRow.customer_id),
    "cases": (CaseRow, CaseRow.customer_id),
}


class MergeNotFound(NotFound):
    pass


@dataclass(frozen=True)
class MergeSuggestion:
    """Another customer who may be the same person, and why."""

    customer_id: str
    display_name: str
    reason: str  # "phone_in_messages" | "same_name_and_company"
    evidence: str


def suggest_merges(
    uow: UnitOfWork, actor: Actor, customer_id: str, *, default_region: str
) -> list[MergeSuggestion]:
    """Candidates to merge with `customer_id`, strongest evidence first. Read-only."""
    require(actor, Permission.CUSTOMERS_READ)
    customer = _customer(uow, actor, customer_id)
    found = _phones_in_messages(uow, customer, default_region)
    found += _same_name_and_company(uow, customer)
    seen: set[str] = set()
    unique = []
    for suggestion in found:
        if suggestion.customer_id not in seen:
            seen.add(suggestion.customer_id)
            unique.append(suggestion)
    return unique[:MAX_SUGGESTIONS]


def merge_customers(
    uow: UnitOfWork, actor: Actor, survivor_id: str, loser_id: str, *, reason: str | None = None
) -> CustomerMergeRow:
    """Merge `loser_id` into `survivor_id` (both live customers of the actor's
    organisation); InvalidInput for a customer merged into itself."""
    require(actor, Permission.CUSTOMERS_WRITE)
    if survivor_id == loser_id:
        raise InvalidInput("a customer cannot be merged into itself")
    survivor = _customer(uow, actor, survivor_id, lock=True)
    loser = _customer(uow, actor, loser_id, lock=True)
    moved = {name: _move(uow, actor.org_id, name, loser.id, survivor.id) for name in _MOVABLE}
    loser.merged_into_id = survivor.id
    loser.updated_at = uow.now
    survivor.updated_at = uow.now
    _refresh_search_text(uow, survivor)
    row = CustomerMergeRow(
        id=new_id(),
        org_id=actor.org_id,
        survivor_id=survivor.id,
        loser_id=loser.id,
        reason=None if reason is None else reason[:200],
        moved=moved,
        merged_by=acting_user_id(actor),
        merged_at=uow.now,
    )
    uow.session.add(row)
    uow.emit(
        CustomersMerged(
            org_id=actor.org_id, merge_id=row.id, survivor_id=survivor.id, loser_id=loser.id
        )
    )
    counts = {name: len(ids) for name, ids in moved.items()}
    uow.audit(
        actor,
        "customer.merged",
        ENTITY_TYPE,
        survivor.id,
        {"merge_id": row.id, "loser_id": loser.id, "moved": counts, "reason": row.reason},
    )
    uow.commit()
    return row


def unmerge_customers(uow: UnitOfWork, actor: Actor, merge_id: str) -> CustomerMergeRow:
    """Undo a merge: the rows it moved go back to the revived loser. Conflict if it was
    undone already, or if the survivor has since been merged into someone else (undo
    that merge first)."""
    require(actor, Permission.CUSTOMERS_WRITE)
    row = get_merge(uow, actor, merge_id)
    if row.unmerged_at is not None:
        raise Conflict("this merge has already been undone")
    survivor = _live(uow, actor, row.survivor_id)
    if survivor is None:
        raise Conflict("the surviving customer was merged again; undo that merge first")
    loser = uow.session.get(CustomerRow, row.loser_id)
    if loser is None or loser.org_id != actor.org_id or loser.merged_into_id != survivor.id:
        raise Conflict("the merged customer is no longer merged into the survivor")
    for name, ids in row.moved.items():
        _restore(uow, actor.org_id, name, [str(i) for i in ids], survivor.id, loser.id)
    loser.merged_into_id = None
    loser.updated_at = uow.now
    survivor.updated_at = uow.now
    _refresh_search_text(uow, survivor)
    _refresh_search_text(uow, loser)
    row.unmerged_at = uow.now
    row.unmerged_by = acting_user_id(actor)
    uow.emit(
        CustomersUnmerged(
            org_id=actor.org_id, merge_id=row.id, survivor_id=survivor.id, loser_id=loser.id
        )
    )
    uow.audit(actor, "customer.unmerged", ENTITY_TYPE, loser.id, {"merge_id": row.id})
    uow.commit()
    return row


def get_merge(uow: UnitOfWork, actor: Actor, merge_id: str) -> CustomerMergeRow:
    require(actor, Permission.CUSTOMERS_READ)
    row = None
    if _ID.match(merge_id):
        row = uow.session.scalar(
            select(CustomerMergeRow).where(
                CustomerMergeRow.org_id == actor.org_id, CustomerMergeRow.id == merge_id
            )
        )
    if row is None:
        raise MergeNotFound(f"merge {merge_id} not found")
    return row


def list_merges(
    uow: UnitOfWork, actor: Actor, *, customer_id: str | None = None
) -> list[CustomerMergeRow]:
    """The organisation's merges, newest first, optionally those involving a customer."""
    require(actor, Permission.CUSTOMERS_READ)
    query = select(CustomerMergeRow).where(CustomerMergeRow.org_id == actor.org_id)
    if customer_id is not None:
        query = query.where(
            (CustomerMergeRow.survivor_id == customer_id)
            | (CustomerMergeRow.loser_id == customer_id)
        )
    return list(uow.session.scalars(query.order_by(CustomerMergeRow.id.desc()).limit(200)))


def _customer(
    uow: UnitOfWork, actor: Actor, customer_id: str, *, lock: bool = False
) -> CustomerRow:
    """A live customer of the actor's organisation (locked when asked), else
    CustomerNotFound."""
    row = _live(uow, actor, customer_id) if lock else None
    if not lock and _ID.match(customer_id):
        return require_customer(uow, actor.org_id, customer_id)
    if row is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    return row


def _live(uow: UnitOfWork, actor: Actor, customer_id: str) -> CustomerRow | None:
    if not _ID.match(customer_id):
        return None
    return uow.session.scalar(
        select(CustomerRow)
        .where(
            CustomerRow.org_id == actor.org_id,
            CustomerRow.id == customer_id,
            CustomerRow.merged_into_id.is_(None),
        )
        .with_for_update()
    )


def _move(uow: UnitOfWork, org_id: str, name: str, from_id: str, to_id: str) -> list[str]:
    model, column = _MOVABLE[name]
    ids = [
        str(i)
        for i in uow.session.scalars(
            select(model.id).where(model.org_id == org_id, column == from_id).order_by(model.id)
        )
    ]
    if ids:
        uow.session.execute(
            update(model)
            .where(model.org_id == org_id, model.id.in_(ids))
            .values({column.key: to_id})
            .execution_options(synchronize_session=False)
        )
    return ids


def _restore(
    uow: UnitOfWork, org_id: str, name: str, ids: list[str], from_id: str, to_id: str
) -> None:
    if name not in _MOVABLE or not ids:
        return
    model, column = _MOVABLE[name]
    uow.session.execute(
        update(model)
        .where(model.org_id == org_id, model.id.in_(ids), column == from_id)
        .values({column.key: to_id})
        .execution_options(synchronize_session=False)
    )


def _refresh_search_text(uow: UnitOfWork, customer: CustomerRow) -> None:
    uow.session.flush()
    points = store.contact_points_of(uow.session, customer.org_id, [customer.id])[customer.id]
    parts = [customer.display_name, customer.company or "", *customer.tags]
    parts.extend(p.value for p in points)
    customer.search_text = " ".join(parts).lower()


def _phones_in_messages(
    uow: UnitOfWork, customer: CustomerRow, region: str
) -> list[MergeSuggestion]:
    texts = uow.session.execute(
        select(MessageRow.body_text, MessageSourceRow.quoted_text)
        .join(InteractionRow, InteractionRow.id == MessageRow.interaction_id)
        .outerjoin(MessageSourceRow, MessageSourceRow.message_id == MessageRow.id)
        .where(
            MessageRow.org_id == customer.org_id,
            InteractionRow.customer_id == customer.id,
            MessageRow.direction == "inbound",
        )
        .order_by(MessageRow.id.desc())
        .limit(SCANNED_MESSAGES)
    )
    numbers: set[str] = set()
    for body, quoted in texts:
        numbers |= phones_in(f"{body}\n{quoted or ''}", region)
    suggestions = []
    for number in sorted(numbers):
        point = store.find_contact_point(
            uow.session, customer.org_id, ContactKind.PHONE.value, number
        )
        if point is None or point.customer_id == customer.id:
            continue
        other = store.find_customer(uow.session, customer.org_id, point.customer_id)
        if other is not None:
            suggestions.append(
                MergeSuggestion(other.id, other.display_name, "phone_in_messages", number)
            )
    return suggestions


def phones_in(text: str, region: str) -> set[str]:
    """Valid phone numbers written in `text`, as E.164 (pure)."""
    found = set()
    for match in phonenumbers.PhoneNumberMatcher(text[:20_000], region):
        if phonenumbers.is_valid_number(match.number):
            found.add(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164))
    return found


def _same_name_and_company(uow: UnitOfWork, customer: CustomerRow) -> list[MergeSuggestion]:
    name = customer.display_name.strip().lower()
    company = (customer.company or "").strip().lower()
    if not name or not company:
        return []
    others = uow.session.scalars(
        select(CustomerRow)
        .where(
            CustomerRow.org_id == customer.org_id,
            CustomerRow.id != customer.id,
            CustomerRow.merged_into_id.is_(None),
            func.lower(func.trim(CustomerRow.display_name)) == name,
            func.lower(func.trim(CustomerRow.company)) == company,
        )
        .order_by(CustomerRow.id)
        .limit(MAX_SUGGESTIONS)
    )
    return [
        MergeSuggestion(
            o.id, o.display_name, "same_name_and_company", f"{o.display_name} / {o.company}"
        )
        for o in others
    ]
