"""Lifecycle moves that leave the commit to the caller.

`interactions.service.transition_interaction` owns its transaction: it commits, which is
right for one move made by one request. The routing engine makes many moves per decision
(one 'offer' per assignment) and wants them to land together, in one commit, so a
decision costs one fsync instead of one per offer (`bench/routing.py --persistence`).
This module fires the same move, with the same checks, history, event and audit entry,
and stops short of the commit. It is built from the service's own steps (lifecycle,
offeree check, assignee, milestones); the event and the audit entry are written as the
service writes them, and a test compares the rows both paths leave behind.
"""

from __future__ import annotations

from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.events.catalogue import InteractionStateChanged
from jietong.interactions.model import Direction, InteractionState, lifecycle_for
from jietong.interactions.service import (
    ENTITY_TYPE,
    _apply,
    _assignee_after,
    _check_offeree,
    record_transition,
    require_interaction,
)
from jietong.storage.tables import InteractionRow
from jietong.storage.uow import UnitOfWork


def transition_interaction_uncommitted(
    uow: UnitOfWork,
    actor: Actor,
    interaction_id: str,
    trigger: str,
    *,
    assigned_user_id: str | None = None,
) -> InteractionRow:
    """`transition_interaction` without the commit: the caller commits (or rolls back)
    this move together with its own changes. Raises as the service does
    (IllegalTransition, InteractionNotFound, InvalidInput, PermissionDenied) before
    changing anything. Returns the changed row."""
    require(actor, Permission.INTERACTIONS_WRITE)
    row = require_interaction(uow, actor, interaction_id, for_update=True)
    move = lifecycle_for(Direction(row.direction)).fire(InteractionState(row.state), trigger)
    _check_offeree(actor, row, move)
    assignee = _assignee_after(uow, actor, row, move, assigned_user_id)
    _apply(uow, row, move, assignee)
    record_transition(uow, actor, ENTITY_TYPE, row.id, move)
    uow.emit(
        InteractionStateChanged(
            org_id=actor.org_id,
            interaction_id=row.id,
            from_state=move.from_state.value,
            trigger=move.trigger,
            to_state=move.to_state.value,
            queue_id=row.queue_id,
            assigned_user_id=row.assigned_user_id,
        )
    )
    uow.audit(
        actor,
        "interaction.transitioned",
        ENTITY_TYPE,
        row.id,
        {
            "from": move.from_state.value,
            "trigger": move.trigger,
            "to": move.to_state.value,
            "assigned_user_id": row.assigned_user_id,
        },
    )
    return row
