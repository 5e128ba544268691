"""Who may see an event live: decided once, when it is emitted, from what it is about.

The rules follow the read permissions (core.permissions and the visibility rules of
interactions and cases), so a live stream never shows what the REST API would hide:

- about an interaction (`interaction_id`): its team and its assigned agent;
- about a case (`case_id`): its department and its owner;
- about an API token (`token_id`): only the token's user;
- about a customer only (`customer_id`): every member of staff (customers are org-wide);
- anything else: supervisors, admins and read-only users only (the safe default).

Any user id named in the event (`agent_id`, `user_id`, `assigned_user_id`, `offered_to`)
is added, so an agent always hears about their own offers and state; so is any team named
as `from_team_id`/`to_team_id` (work moved between teams reaches the team it left).
Privileged roles see everything of their organisation whatever the audience says.

The audience is computed after the change, so work handed away (a transfer, a decline, a
reassignment) would no longer reach the agent it left, and their desk would keep a stale
row. The service that changes hands calls `remember_former_assignee` first; the next
event about that interaction in the same transaction also reaches them (once: later
events of the transaction are not theirs any more).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from jietong.events.base import PRIVILEGED_ONLY, Audience, DomainEvent
from jietong.storage.tables import CaseRow, InteractionRow

USER_FIELDS = ("agent_id", "user_id", "assigned_user_id", "offered_to", "owner_user_id")
# Work moving between teams names both: the team it leaves hears it leave.
TEAM_FIELDS = ("from_team_id", "to_team_id")
# Session.info key: interaction id -> user ids that held it before this transaction's change.
_FORMER = "jietong.audience.former_assignees"


def remember_former_assignee(session: Session, interaction_id: str, user_id: str | None) -> None:
    """Call before `interaction_id` changes hands: the next event emitted about it in
    this session also reaches `user_id` (the agent it leaves)."""
    if user_id:
        former: dict[str, set[str]] = session.info.setdefault(_FORMER, {})
        former.setdefault(interaction_id, set()).add(user_id)


def _former_assignees(session: Session, interaction_id: str) -> set[str]:
    former: dict[str, set[str]] = session.info.get(_FORMER, {})
    return former.pop(interaction_id, set())


def resolve_audience(session: Session, event: DomainEvent) -> Audience:
    fields = event.model_dump()
    users = {v for k in USER_FIELDS if isinstance(v := fields.get(k), str) and v}
    teams = {v for k in TEAM_FIELDS if isinstance(v := fields.get(k), str) and v}
    if isinstance(interaction_id := fields.get("interaction_id"), str):
        row = session.get(InteractionRow, interaction_id)
        if row is not None and row.org_id == event.org_id:
            teams.update(filter(None, [row.team_id]))
            users.update(filter(None, [row.assigned_user_id]))
        users.update(_former_assignees(session, interaction_id))
    elif isinstance(case_id := fields.get("case_id"), str):
        case = session.get(CaseRow, case_id)
        if case is not None and case.org_id == event.org_id:
            teams.update(filter(None, [case.department_id]))
            users.update(filter(None, [case.owner_user_id]))
    elif "token_id" in fields:
        return Audience(user_ids=tuple(sorted(users)))
    elif isinstance(fields.get("customer_id"), str):
        return Audience(everyone=True)
    if not teams and not users:
        return PRIVILEGED_ONLY
    return Audience(team_ids=tuple(sorted(teams)), user_ids=tuple(sorted(users)))
