"""Case decisions: opening (numbering), editing, the workflow, links to interactions.

Visibility follows the interaction rule with department for team and owner for assignee:
a case the actor may not see is reported as not found (CaseNotFound), never forbidden.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy.exc import IntegrityError

from jietong.cases import store
from jietong.cases.model import (
    CASE_WORKFLOW,
    FINAL_STATUSES,
    CaseMilestones,
    CasePriority,
    CaseStatus,
    CaseType,
    stamp_case,
)
from jietong.cases.schemas import CaseCreate, CaseUpdate
from jietong.core.errors import Conflict, InvalidInput, NotFound
from jietong.core.ids import new_id
from jietong.core.pagination import Page, decode_cursor, page_of
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.events.catalogue import (
    CaseInteractionLinked,
    CaseOpened,
    CaseStatusChanged,
    CaseUpdated,
)
from jietong.identity.service import CustomerNotFound, require_customer
from jietong.interactions.model import Reach, reach_of, within_reach
from jietong.interactions.service import (
    acting_user_id,
    bounded,
    record_transition,
    require_interaction,
    require_user,
    search_text,
)
from jietong.storage.tables import CaseInteractionRow, CaseRow, InteractionRow, TransitionRow
from jietong.storage.uow import UnitOfWork

ENTITY_TYPE = "case"
# Racing openers in one organisation retry this often before giving up with Conflict.
NUMBER_ATTEMPTS = 5
_ID = re.compile(r"^[0-9a-f]{32}$")
_CASE_NUMBER = re.compile(r"^#?(\d{1,9})$")


class CaseNotFound(NotFound):
    pass


@dataclass(frozen=True)
class CaseView:
    case: CaseRow
    # Only the linked interactions the viewer may see: ids of others' work do not leak.
    interaction_ids: list[str] = field(default_factory=list)

    @property
    def allowed_triggers(self) -> list[str]:
        """The triggers legal from the case's current status."""
        return CASE_WORKFLOW.triggers_from(CaseStatus(self.case.status))


def open_case(uow: UnitOfWork, actor: Actor, data: CaseCreate) -> CaseView:
    """Open a case in status 'new' with the organisation's next number. Referenced
    customer, owner and department must be in the organisation (else InvalidInput). With
    neither owner nor department given, the opener owns it, so that they can follow it."""
    require(actor, Permission.CASES_WRITE)
    _check_refs(uow, actor.org_id, data.owner_user_id, data.department_id)
    if data.customer_id is not None:
        _require_customer_ref(uow, actor.org_id, data.customer_id)
    owner = data.owner_user_id
    if owner is None and data.department_id is None:
        owner = acting_user_id(actor)

    def build(number: int) -> CaseRow:
        return CaseRow(
            id=new_id(),
            org_id=actor.org_id,
            number=number,
            customer_id=data.customer_id,
            case_type=data.case_type.value,
            status=CaseStatus.NEW.value,
            priority=data.priority.value,
            subject=data.subject,
            description=data.description,
            owner_user_id=owner,
            department_id=data.department_id,
            due_at=data.due_at,
            created_at=uow.now,
            updated_at=uow.now,
        )

    case = _insert_numbered(uow, actor.org_id, build)
    uow.emit(
        CaseOpened(
            org_id=actor.org_id,
            case_id=case.id,
            number=case.number,
            case_type=case.case_type,
            priority=case.priority,
            customer_id=case.customer_id,
        )
    )
    uow.audit(
        actor, "case.opened", ENTITY_TYPE, case.id, {"number": case.number, "type": case.case_type}
    )
    uow.commit()
    return CaseView(case)


def get_case(uow: UnitOfWork, actor: Actor, case_id: str) -> CaseView:
    require(actor, Permission.CASES_READ)
    return _views(uow, actor, [require_case(uow, actor, case_id)])[0]


def list_cases(
    uow: UnitOfWork,
    actor: Actor,
    *,
    status: CaseStatus | None = None,
    case_type: CaseType | None = None,
    priority: CasePriority | None = None,
    owner_user_id: str | None = None,
    department_id: str | None = None,
    customer_id: str | None = None,
    query: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[CaseView]:
    """The cases the actor may see, newest first. `query` matches the subject, or the
    case number when it is one ("42" or "#42")."""
    require(actor, Permission.CASES_READ)
    text = search_text(query)
    number = _CASE_NUMBER.match(text) if text else None
    where = store.CaseFilter(
        status=_value(status),
        case_type=_value(case_type),
        priority=_value(priority),
        owner_user_id=owner_user_id,
        department_id=department_id,
        customer_id=customer_id,
        text=text,
        number=int(number.group(1)) if number else None,
    )
    limit = bounded(limit)
    rows = store.search_cases(
        uow.session,
        actor.org_id,
        reach=reach_of(actor),
        where=where,
        before_id=decode_cursor(cursor),
        limit=limit,
    )
    page = page_of(rows, limit)
    return Page(_views(uow, actor, page.items), page.next_cursor)


def update_case(uow: UnitOfWork, actor: Actor, case_id: str, data: CaseUpdate) -> CaseView:
    """Change the given fields. Conflict for a closed or cancelled case; InvalidInput for
    an owner or department outside the organisation."""
    require(actor, Permission.CASES_WRITE)
    case = require_case(uow, actor, case_id, for_update=True)
    if CaseStatus(case.status) in FINAL_STATUSES:
        raise Conflict(f"case {case.number} is {case.status} and can no longer be edited")
    changes = _plain(data.model_dump(exclude_unset=True))
    for required in ("priority", "subject", "description"):
        if required in changes and changes[required] is None:
            del changes[required]
    _check_refs(uow, actor.org_id, changes.get("owner_user_id"), changes.get("department_id"))
    before = {key: getattr(case, key) for key in changes}
    changed = {key: value for key, value in changes.items() if before[key] != value}
    for key, value in changed.items():
        setattr(case, key, value)
    if changed:
        case.updated_at = uow.now
        uow.emit(CaseUpdated(org_id=actor.org_id, case_id=case.id, changed=sorted(changed)))
        uow.audit(
            actor,
            "case.updated",
            ENTITY_TYPE,
            case.id,
            {"before": _json({k: before[k] for k in changed}), "after": _json(changed)},
        )
    uow.commit()
    return _views(uow, actor, [case])[0]


def transition_case(uow: UnitOfWork, actor: Actor, case_id: str, trigger: str) -> CaseView:
    """Fire `trigger` on the case workflow; IllegalTransition if it is not allowed from
    the current status. Resolution and closing times follow `stamp_case`."""
    require(actor, Permission.CASES_WRITE)
    case = require_case(uow, actor, case_id, for_update=True)
    move = CASE_WORKFLOW.fire(CaseStatus(case.status), trigger)
    after = stamp_case(CaseMilestones(case.resolved_at, case.closed_at), move.to_state, uow.now)
    case.status = move.to_state.value
    case.resolved_at = after.resolved_at
    case.closed_at = after.closed_at
    case.updated_at = uow.now
    record_transition(uow, actor, ENTITY_TYPE, case.id, move)
    uow.emit(
        CaseStatusChanged(
            org_id=actor.org_id,
            case_id=case.id,
            from_status=move.from_state.value,
            trigger=move.trigger,
            to_status=move.to_state.value,
        )
    )
    uow.audit(
        actor,
        "case.transitioned",
        ENTITY_TYPE,
        case.id,
        {"from": move.from_state.value, "trigger": move.trigger, "to": move.to_state.value},
    )
    uow.commit()
    return _views(uow, actor, [case])[0]


def list_transitions(uow: UnitOfWork, actor: Actor, case_id: str) -> list[TransitionRow]:
    """The case's recorded moves, oldest first."""
    require(actor, Permission.CASES_READ)
    case = require_case(uow, actor, case_id)
    return store.transitions_of(uow.session, actor.org_id, case.id)


def link_interaction(uow: UnitOfWork, actor: Actor, case_id: str, interaction_id: str) -> CaseView:
    """Link an interaction to a case; both must be visible to the actor (else the one
    that is not is reported not found). Linking twice changes nothing."""
    require(actor, Permission.CASES_WRITE)
    require(actor, Permission.INTERACTIONS_READ)
    case = require_case(uow, actor, case_id)
    interaction = require_interaction(uow, actor, interaction_id)
    if store.find_link(uow.session, actor.org_id, case.id, interaction.id) is None:
        _link(uow, actor, case, interaction)
    uow.commit()
    return _views(uow, actor, [case])[0]


def require_case(
    uow: UnitOfWork, actor: Actor, case_id: str, *, for_update: bool = False
) -> CaseRow:
    """The case if it is in the actor's organisation and within their reach (its
    department is one of their teams, or they own it), else CaseNotFound."""
    case = None
    if _ID.match(case_id):
        case = store.find_case(uow.session, actor.org_id, case_id, for_update=for_update)
    if case is None or not within_reach(reach_of(actor), case.department_id, case.owner_user_id):
        raise CaseNotFound(f"case {case_id} not found")
    return case


def _views(uow: UnitOfWork, actor: Actor, cases: list[CaseRow]) -> list[CaseView]:
    reach = reach_of(actor)
    linked = store.linked_interactions(uow.session, actor.org_id, [c.id for c in cases])
    return [CaseView(c, [i.id for i in linked[c.id] if _visible(reach, i)]) for c in cases]


def _visible(reach: Reach | None, interaction: InteractionRow) -> bool:
    return within_reach(reach, interaction.team_id, interaction.assigned_user_id)


def _insert_numbered(uow: UnitOfWork, org_id: str, build: Callable[[int], CaseRow]) -> CaseRow:
    """Insert the case with the next free number (max + 1). Openers in one organisation
    queue on its row lock, so they normally read distinct maxima; should two still read
    the same one, UNIQUE(org_id, number) refuses the second, which reads the new maximum
    and retries. The savepoint keeps the surrounding transaction usable after a refusal."""
    store.lock_case_numbering(uow.session, org_id)
    for _attempt in range(NUMBER_ATTEMPTS):
        case = build(store.highest_case_number(uow.session, org_id) + 1)
        try:
            with uow.session.begin_nested():
                uow.session.add(case)
        except IntegrityError:
            continue
        return case
    raise Conflict("could not allocate a case number, please retry")


def link_rows(uow: UnitOfWork, actor: Actor, case: CaseRow, interaction: InteractionRow) -> None:
    """Link two rows the caller already checked (routing's case tasks), without
    committing; recorded and audited as `link_interaction` does."""
    _link(uow, actor, case, interaction)


def _link(uow: UnitOfWork, actor: Actor, case: CaseRow, interaction: InteractionRow) -> None:
    link = CaseInteractionRow(case_id=case.id, interaction_id=interaction.id, org_id=actor.org_id)
    try:
        with uow.session.begin_nested():
            uow.session.add(link)
    except IntegrityError:
        return  # a concurrent request linked the same pair first
    case.updated_at = uow.now
    uow.emit(
        CaseInteractionLinked(org_id=actor.org_id, case_id=case.id, interaction_id=interaction.id)
    )
    uow.audit(
        actor, "case.interaction_linked", ENTITY_TYPE, case.id, {"interaction_id": interaction.id}
    )


def _check_refs(
    uow: UnitOfWork, org_id: str, owner_user_id: str | None, department_id: str | None
) -> None:
    if owner_user_id is not None:
        require_user(uow, org_id, owner_user_id)
    if (
        department_id is not None
        and store.find_department(uow.session, org_id, department_id) is None
    ):
        raise InvalidInput(f"unknown department {department_id}")


def _require_customer_ref(uow: UnitOfWork, org_id: str, customer_id: str) -> None:
    try:
        require_customer(uow, org_id, customer_id)
    except CustomerNotFound:
        raise InvalidInput(f"unknown customer {customer_id}") from None


def _value(member: Enum | None) -> str | None:
    return None if member is None else str(member.value)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Enum members to their values, as stored."""
    return {k: (v.value if isinstance(v, Enum) else v) for k, v in values.items()}


def _json(values: dict[str, Any]) -> dict[str, Any]:
    """Values the audit log can hold as JSON (datetimes as ISO 8601)."""
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in values.items()}
