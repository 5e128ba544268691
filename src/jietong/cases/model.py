"""Case vocabulary and workflow: pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jietong.core.statemachine import StateMachine


class CaseType(StrEnum):
    INQUIRY = "inquiry"
    REQUEST = "request"
    REPAIR = "repair"
    COMPLAINT = "complaint"
    SALES_LEAD = "sales_lead"


class CasePriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class CaseStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class CaseTrigger(StrEnum):
    OPEN = "open"
    AWAIT_CUSTOMER = "await_customer"
    AWAIT_BACK_OFFICE = "await_back_office"
    RESUME = "resume"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    CLOSE = "close"
    CANCEL = "cancel"


S = CaseStatus
T = CaseTrigger

# Two triggers lead to 'pending' so that the history records whom the case waits on.
CASE_WORKFLOW = StateMachine(
    "case",
    {
        (S.NEW, T.OPEN): S.OPEN,
        (S.OPEN, T.AWAIT_CUSTOMER): S.PENDING,
        (S.OPEN, T.AWAIT_BACK_OFFICE): S.PENDING,
        (S.PENDING, T.RESUME): S.OPEN,
        (S.OPEN, T.RESOLVE): S.RESOLVED,
        (S.PENDING, T.RESOLVE): S.RESOLVED,
        (S.RESOLVED, T.REOPEN): S.OPEN,
        (S.RESOLVED, T.CLOSE): S.CLOSED,
        (S.NEW, T.CANCEL): S.CANCELLED,
        (S.OPEN, T.CANCEL): S.CANCELLED,
    },
)
# Finished cases: no moves, no edits.
FINAL_STATUSES = frozenset({S.CLOSED, S.CANCELLED})


@dataclass(frozen=True)
class CaseMilestones:
    """resolved_at: the latest resolution, cleared when the case is reopened (a reopened
    case is not resolved). closed_at: when the case left the workflow, closed or
    cancelled."""

    resolved_at: datetime | None = None
    closed_at: datetime | None = None


def stamp_case(milestones: CaseMilestones, reached: CaseStatus, now: datetime) -> CaseMilestones:
    """The milestones after the case reached `reached` at `now`."""
    if reached is S.RESOLVED:
        return CaseMilestones(resolved_at=now, closed_at=None)
    if reached in FINAL_STATUSES:
        return CaseMilestones(resolved_at=milestones.resolved_at, closed_at=now)
    return CaseMilestones(resolved_at=None, closed_at=None)
