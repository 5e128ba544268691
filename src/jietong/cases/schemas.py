"""Request and response shapes for cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, StringConstraints

from jietong.cases.model import CasePriority, CaseStatus, CaseTrigger, CaseType
from jietong.interactions.schemas import EntityId, no_nul, one_line

CaseSubject = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(one_line),
]
Description = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(no_nul)]


def _in_utc(value: datetime) -> datetime:
    # Offsets near the ends of the calendar overflow when converted; refuse, do not crash.
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date out of range") from None
    if not 1970 <= utc.year <= 9000:
        raise ValueError("date out of range")
    return utc


DueAt = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_type: CaseType
    priority: CasePriority = CasePriority.NORMAL
    subject: CaseSubject
    description: Description = ""
    customer_id: EntityId | None = None
    owner_user_id: EntityId | None = None
    department_id: EntityId | None = None
    due_at: DueAt | None = None


class CaseUpdate(BaseModel):
    """Fields to change; an absent field is left alone, null clears owner, department
    and due date (and is ignored for the others)."""

    model_config = ConfigDict(extra="forbid")
    priority: CasePriority | None = None
    subject: CaseSubject | None = None
    description: Description | None = None
    owner_user_id: EntityId | None = None
    department_id: EntityId | None = None
    due_at: DueAt | None = None


class CaseTransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trigger: CaseTrigger


class CaseLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interaction_id: EntityId


class CaseOut(BaseModel):
    id: str
    number: int
    case_type: CaseType
    status: CaseStatus
    priority: CasePriority
    subject: str
    description: str
    customer_id: str | None
    owner_user_id: str | None
    department_id: str | None
    due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    interaction_ids: list[str]
    allowed_triggers: list[str]
