"""Case tasks: back-office work on a case, queued and routed like any other contact.

Model: a case task is an interaction of channel ``task`` linked to its case, with a
queue entry of kind ``task``. Everything the engine already does for contacts then holds
for tasks without a second code path — skills and policies of the queue, capacity per
channel (``task`` in the team rules), offers with ring time and redirect, atomic accept,
overflow, supervisor moves, position and wait, crash recovery — and the agent completes
the task as any work: accept, then end and close. Its priority is the queue's plus the
case's (low −1 … urgent +2, through the case link, as for any linked interaction) plus
the customer's VIP tier. A task entry is deferred work: no customer holds, so a queue's
live limits (maximum length and wait) do not apply.

Why not an entry that references a case directly: offers, agent load, settling and the
desktop all follow interactions; a second kind of routable thing would double each of
them. The interaction is also the record of who worked the case and for how long.
"""

from __future__ import annotations

from datetime import datetime

from jietong.cases import service as cases
from jietong.cases.model import FINAL_STATUSES, CaseStatus
from jietong.core.errors import Conflict, InvalidInput
from jietong.core.ids import new_id
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor, system_actor
from jietong.events.routing import WorkQueued
from jietong.interactions.model import Direction, InteractionTrigger
from jietong.interactions.schemas import InteractionCreate
from jietong.interactions.service import create_interaction, transition_interaction_uncommitted
from jietong.routing import store
from jietong.routing.configuration import QueueNotFound
from jietong.routing.entries import base_priority
from jietong.routing.model import EntryKind, EntryState
from jietong.storage.tables_routing import RoutingEntryRow
from jietong.storage.uow import UnitOfWork

TASK_CHANNEL = "task"
_SUBJECT_LIMIT = 500


def queue_case_task(
    uow: UnitOfWork, actor: Actor, case_id: str, queue_id: str, *, now: datetime
) -> RoutingEntryRow:
    """Put a case into a queue as a task. The queue must take channel ``task``; the case
    must be visible to the actor, not closed or cancelled, and without a task already
    open (Conflict). Returns the task's entry (its ``interaction_id`` is the task)."""
    require(actor, Permission.CASES_WRITE)
    require(actor, Permission.INTERACTIONS_WRITE)
    case = cases.require_case(uow, actor, case_id)
    if CaseStatus(case.status) in FINAL_STATUSES:
        raise Conflict(f"case {case.number} is {case.status}: it cannot be queued")
    queue = store.find_queue(uow.session, actor.org_id, queue_id)
    if queue is None:
        raise QueueNotFound(f"queue {queue_id} not found")
    if TASK_CHANNEL not in queue.channels:
        raise InvalidInput(f"queue '{queue.name}' does not take case tasks (channel 'task')")
    system = system_actor(actor.org_id)
    found = store.open_case_task(uow.session, actor.org_id, case.id)
    if found is not None and found.state != "arrived":
        raise Conflict(f"case {case.number} already has an open task")
    if found is not None:
        # Created, then the process stopped before it was queued: finish that one.
        return _queue(uow, actor, system, case.id, found.id, now)
    subject = " ".join(f"Case #{case.number}: {case.subject}".split())[:_SUBJECT_LIMIT]
    # Created by the platform: the task belongs to the queue's team, which the back-office
    # actor queuing it need not be part of. The audit entry below names the actor.
    task = create_interaction(
        uow,
        system,
        InteractionCreate(
            channel=TASK_CHANNEL,
            direction=Direction.INBOUND,
            customer_id=case.customer_id,
            queue_id=queue.id,
            subject=subject,
            external_ref=f"case:{case.id}",
        ),
    ).interaction
    return _queue(uow, actor, system, case.id, task.id, now)


def _queue(
    uow: UnitOfWork, actor: Actor, system: Actor, case_id: str, task_id: str, now: datetime
) -> RoutingEntryRow:
    """Link, give the entry and enqueue, in one transaction. (The task's creation is the
    interactions service's own commit before this; a crash in between leaves an
    'arrived' task that the next request for the case picks up.)"""
    case = cases.require_case(uow, system, case_id, for_update=True)
    task = store.find_interaction(uow.session, actor.org_id, task_id)
    assert task is not None  # created just before, never deleted
    if task.queue_id is None:
        raise InvalidInput("the task has no queue")  # not reachable: created with one
    cases.link_rows(uow, actor, case, task)
    uow.session.flush()
    entry = RoutingEntryRow(
        id=new_id(),
        org_id=actor.org_id,
        interaction_id=task.id,
        queue_id=task.queue_id,
        channel=TASK_CHANNEL,
        kind=EntryKind.TASK.value,
        state=EntryState.WAITING.value,
        priority=base_priority(uow, task),
        enqueued_at=now,
        queue_entered_at=now,
        available_at=None,
        overflow_stage=0,
        offers=0,
        updated_at=now,
    )
    uow.session.add(entry)
    uow.session.flush()
    transition_interaction_uncommitted(uow, system, task.id, InteractionTrigger.ENQUEUE)
    uow.emit(
        WorkQueued(
            org_id=entry.org_id,
            entry_id=entry.id,
            interaction_id=task.id,
            queue_id=entry.queue_id,
            channel=TASK_CHANNEL,
            kind=entry.kind,
            priority=entry.priority,
        )
    )
    uow.audit(
        actor,
        "routing.case_task_queued",
        "case",
        case.id,
        {"interaction_id": task.id, "queue_id": entry.queue_id, "priority": entry.priority},
    )
    uow.commit()
    return entry
