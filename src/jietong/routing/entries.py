"""Queue entries: the routing engine's persistent queues.

The interaction's lifecycle is the source of truth for *whether* it waits (state
'queued'); the entry adds *how* it waits: its original arrival time, priority, current
queue, overflow stage, and whether the customer still holds or will be called back.
`sync_entries` keeps the two in step whatever moved the interaction (the intake, an
agent through the interactions API, a crash between two commits), so restarting the
engine loses and duplicates nothing: the UNIQUE interaction id allows one entry each.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from jietong.cases import service as cases
from jietong.cases import store as cases_store
from jietong.cases.model import CaseType
from jietong.cases.schemas import CaseCreate
from jietong.core.errors import IllegalTransition, NotFound
from jietong.core.ids import new_id
from jietong.core.tenancy import Actor, system_actor
from jietong.events.routing import (
    CallbackRequested,
    OfferAccepted,
    OfferRetracted,
    OverflowApplied,
    QueueLimitReached,
    WorkMoved,
    WorkQueued,
)
from jietong.identity.model import VipTier
from jietong.interactions import store as interaction_store
from jietong.interactions.model import InteractionTrigger
from jietong.interactions.service import (
    record_transition,
    transition_locked_uncommitted,
)
from jietong.routing import store
from jietong.routing.hours import calendar_for, is_open
from jietong.routing.model import (
    DEFAULT_SETTINGS,
    OFFER_LIFECYCLE,
    EntryKind,
    EntryState,
    LimitAction,
    LimitReason,
    OfferState,
    OfferTrigger,
    QueueSettings,
    entry_priority,
    first_move,
    overflow_stage,
)
from jietong.storage.tables import InteractionRow, QueueRow
from jietong.storage.tables_routing import RoutingEntryRow, RoutingOfferRow
from jietong.storage.uow import UnitOfWork

OFFER_ENTITY = "offer"
_ADDRESS_KINDS = {"call": "phone", "sms": "phone", "wechat": "wechat_openid", "email": "email"}
"""Where a callback on each channel reaches the customer (their contact point kind)."""
_SERVED_STATES = frozenset({"connected", "wrap_up", "closed"})
_VIP_TIERS = frozenset(tier.value for tier in VipTier)


def sync_entries(
    uow: UnitOfWork, org_id: str, settings: Mapping[str, QueueSettings], *, now: datetime
) -> int:
    """Bring entries and pending offers in step with their interactions; commit.
    Returns the number of rows changed.

    It first looks in a read-only transaction: most cycles find nothing to do, and on
    SQLite a look inside a write transaction would hold the one write lock (and the
    intake committer behind it) for nothing."""
    uow.begin_read()
    arriving = any(
        settings.get(row.queue_id or "", DEFAULT_SETTINGS).auto_enqueue
        for row in store.arrivals(uow.session, org_id)
    )
    unqueued = arriving or bool(store.queued_without_entry(uow.session, org_id))
    entries_behind = bool(store.entries_out_of_step(uow.session, org_id))
    offers_behind = bool(store.offers_out_of_step(uow.session, org_id))
    uow.session.rollback()
    changed = 0
    if unqueued:
        # Arrivals become queued and get their entries in one transaction (one commit
        # for a burst of new conversations, not one per arrival).
        with uow.deferred_inserts():  # events, audit and transition rows: one INSERT each
            changed += enqueue_arrivals(uow, org_id, settings)
            waiting = store.queued_without_entry(uow.session, org_id)
            changed += enqueue(uow, org_id, waiting, settings, now=now)
        uow.commit()
    # Entries and offers in separate transactions: each holds one kind of lock only, so
    # it cannot deadlock with an accept (which locks the offer, then the entry).
    if entries_behind:
        for entry, state, _assignee in store.entries_out_of_step(uow.session, org_id):
            follow_interaction(entry, state, now=now)
            changed += 1
        uow.commit()
    if offers_behind:
        for offer, state, assignee in store.offers_out_of_step(uow.session, org_id):
            resolve_offer(uow, offer, state, assignee, now=now)
            changed += 1
        uow.commit()
    return changed


def enqueue_arrivals(uow: UnitOfWork, org_id: str, settings: Mapping[str, QueueSettings]) -> int:
    """Queue inbound arrivals that name a queue (the channel intake leaves them
    'arrived'), uncommitted, locked with one query; one that moved on meanwhile is left
    out (the move refuses before it changes anything). Returns how many were queued."""
    system = system_actor(org_id)
    queued = 0
    for row in store.arrivals(uow.session, org_id, for_update=True):
        if not settings.get(row.queue_id or "", DEFAULT_SETTINGS).auto_enqueue:
            continue
        try:
            transition_locked_uncommitted(uow, system, row, InteractionTrigger.ENQUEUE)
            queued += 1
        except (IllegalTransition, NotFound):
            pass  # moved on meanwhile
    return queued


def enqueue(
    uow: UnitOfWork,
    org_id: str,
    waiting: Sequence[tuple[InteractionRow, RoutingEntryRow | None]],
    settings: Mapping[str, QueueSettings],
    *,
    now: datetime,
) -> int:
    """Give queued interactions their place: a new entry at its queueing time, or, for an
    entry that was served (a transfer), a new wait from now. Their priorities are read
    with three queries and the new entries inserted together, whatever the burst's size.
    Returns how many got their place (one that another engine process queued a moment
    ago is left out)."""
    if not waiting:
        return 0
    priorities = base_priorities(uow, org_id, [interaction for interaction, _ in waiting])
    fresh = [interaction for interaction, entry in waiting if entry is None]
    inserted = _insert_entries(uow, fresh, priorities, now)
    # A queue's length limit counts the entries ahead of each arrival: those of this
    # burst behind it are already inserted, so they are left out of its count.
    behind = {entry.id for entry in inserted.values()}
    placed = 0
    for interaction, entry in waiting:
        assert interaction.queue_id is not None
        if entry is None:
            entry = inserted.get(interaction.id)
            if entry is None:
                continue  # another engine process queued it a moment ago
            behind.discard(entry.id)
        else:
            _restart(entry, interaction.queue_id, priorities[interaction.id], now)
        uow.emit(
            WorkQueued(
                org_id=entry.org_id,
                entry_id=entry.id,
                interaction_id=entry.interaction_id,
                queue_id=entry.queue_id,
                channel=entry.channel,
                kind=entry.kind,
                priority=entry.priority,
            )
        )
        queue_settings = settings.get(entry.queue_id, DEFAULT_SETTINGS)
        _check_arrival(uow, entry, interaction, queue_settings, now, behind)
        placed += 1
    return placed


def _insert_entries(
    uow: UnitOfWork,
    interactions: Sequence[InteractionRow],
    priorities: Mapping[str, int],
    now: datetime,
) -> dict[str, RoutingEntryRow]:
    """New waiting entries for these interactions, by interaction id: inserted together
    in one savepoint; if another engine process (a lease changing hands) inserted one of
    them meanwhile, the UNIQUE interaction id refuses the lot and they go one savepoint
    each, leaving out those already there."""
    if not interactions:
        return {}
    try:
        with uow.session.begin_nested():
            batch = {i.id: _new_entry(i, priorities[i.id], now) for i in interactions}
            uow.session.add_all(batch.values())
        return batch
    except IntegrityError:
        pass
    placed: dict[str, RoutingEntryRow] = {}
    for interaction in interactions:
        try:
            with uow.session.begin_nested():
                entry = _new_entry(interaction, priorities[interaction.id], now)
                uow.session.add(entry)
            placed[interaction.id] = entry
        except IntegrityError:
            pass
    return placed


def _new_entry(interaction: InteractionRow, priority: int, now: datetime) -> RoutingEntryRow:
    assert interaction.queue_id is not None
    since = interaction.queued_at or now
    return RoutingEntryRow(
        id=new_id(),
        org_id=interaction.org_id,
        interaction_id=interaction.id,
        queue_id=interaction.queue_id,
        channel=interaction.channel,
        kind=EntryKind.LIVE.value,
        state=EntryState.WAITING.value,
        priority=priority,
        enqueued_at=since,
        queue_entered_at=since,
        available_at=None,
        overflow_stage=0,
        offers=0,
        updated_at=now,
    )


def _restart(entry: RoutingEntryRow, queue_id: str, priority: int, now: datetime) -> None:
    entry.queue_id = queue_id
    entry.kind = EntryKind.LIVE.value
    entry.state = EntryState.WAITING.value
    entry.priority = priority
    entry.enqueued_at = now
    entry.queue_entered_at = now
    entry.available_at = None
    entry.overflow_stage = 0
    entry.limit_action = None
    entry.callback_to = None
    entry.callback_channel = None
    entry.served_at = None
    entry.ended_at = None
    entry.updated_at = now


def base_priority(uow: UnitOfWork, interaction: InteractionRow) -> int:
    """Queue priority + VIP tier + most urgent open linked case."""
    return base_priorities(uow, interaction.org_id, [interaction])[interaction.id]


def base_priorities(
    uow: UnitOfWork, org_id: str, interactions: Sequence[InteractionRow]
) -> dict[str, int]:
    """`base_priority` of each interaction, by id, with three queries for all of them."""
    queues = store.queues(uow.session, org_id)
    tiers = store.vip_tiers(
        uow.session, org_id, {i.customer_id for i in interactions if i.customer_id is not None}
    )
    cases = store.open_case_priorities(uow.session, org_id, [i.id for i in interactions])
    result: dict[str, int] = {}
    for interaction in interactions:
        queue = queues.get(interaction.queue_id or "")
        tier = tiers.get(interaction.customer_id or "")
        vip = VipTier(tier).routing_priority if tier in _VIP_TIERS else 0
        result[interaction.id] = entry_priority(
            queue.priority if queue is not None else 0, vip, cases.get(interaction.id, [])
        )
    return result


def _check_arrival(
    uow: UnitOfWork,
    entry: RoutingEntryRow,
    interaction: InteractionRow,
    settings: QueueSettings,
    now: datetime,
    behind: Collection[str] = (),
) -> None:
    """A live arrival at a closed or full queue gets the queue's action; `behind` are
    entries already inserted that arrived after it (not counted as ahead of it)."""
    if settings.hours is not None and settings.closed_action is not None:
        calendar = calendar_for(settings.hours, range(now.year - 1, now.year + 2))
        if not is_open(settings.hours, calendar, now):
            take_limit_action(uow, entry, settings, LimitReason.CLOSED, now=now)
            return
    limit = settings.max_queue_length
    if limit is not None:
        others = store.count_live_waiting(uow.session, entry.org_id, entry.queue_id, behind) - 1
        if others >= limit:
            take_limit_action(uow, entry, settings, LimitReason.QUEUE_LENGTH, now=now)


def follow_interaction(entry: RoutingEntryRow, interaction_state: str, *, now: datetime) -> None:
    """Move an entry to the state its interaction implies."""
    if interaction_state == "queued":
        entry.state = EntryState.WAITING.value  # requeued by another path: keeps its place
    elif interaction_state == "offered":
        entry.state = EntryState.OFFERED.value  # offered by hand through the interactions API
    elif interaction_state in _SERVED_STATES:
        entry.state = EntryState.SERVED.value
        entry.served_at = entry.served_at or now
        entry.ended_at = now
    else:
        entry.state = EntryState.REMOVED.value
        entry.ended_at = now
    entry.updated_at = now


def resolve_offer(
    uow: UnitOfWork,
    offer: RoutingOfferRow,
    interaction_state: str,
    assignee: str | None,
    *,
    now: datetime,
) -> None:
    """End a pending offer whose interaction moved on: accepted if its agent got the
    interaction (accepted through the interactions API), else withdrawn."""
    accepted = interaction_state in _SERVED_STATES and assignee == offer.agent_id
    trigger = OfferTrigger.ACCEPT if accepted else OfferTrigger.WITHDRAW
    if not store.end_offer(uow.session, offer.id, to_state=_target(trigger).value, now=now):
        return
    record_offer_move(uow, offer, trigger)
    event = OfferAccepted if accepted else OfferRetracted
    uow.emit(
        event(
            org_id=offer.org_id,
            offer_id=offer.id,
            interaction_id=offer.interaction_id,
            agent_id=offer.agent_id,
            channel=offer.channel,
        )
    )


def record_offer_move(uow: UnitOfWork, offer: RoutingOfferRow, trigger: OfferTrigger) -> None:
    move = OFFER_LIFECYCLE.fire(OfferState.PENDING, trigger)
    record_transition(uow, system_actor(offer.org_id), OFFER_ENTITY, offer.id, move)


def _target(trigger: OfferTrigger) -> OfferState:
    return OFFER_LIFECYCLE.fire(OfferState.PENDING, trigger).to_state


# --- overflow, limits, moves ----------------------------------------------------------------


def apply_timers(
    uow: UnitOfWork, org_id: str, settings: Mapping[str, QueueSettings], *, now: datetime
) -> int:
    """Overflow steps and maximum waits that came due; commit. Returns entries changed.
    Looks read-only first (see `sync_entries`); writes only if a timer is due. Only
    queues with overflow steps or a maximum wait have timers (the defaults have none)."""
    timed = sorted(
        queue_id
        for queue_id, queue_settings in settings.items()
        if queue_settings.overflow or queue_settings.max_wait_seconds is not None
    )
    if not timed:
        return 0
    waiting = (EntryState.WAITING.value,)
    uow.begin_read()
    due = [
        entry.id
        for entry in store.entries(uow.session, org_id, states=waiting, queue_ids=timed)
        if _timer_due(entry, settings[entry.queue_id], now)
    ]
    uow.session.rollback()
    if not due:
        return 0
    changed = 0
    for entry in store.entries(uow.session, org_id, states=waiting, queue_ids=timed):
        queue_settings = settings.get(entry.queue_id, DEFAULT_SETTINGS)
        if _overflow(uow, entry, queue_settings, settings, now) or _max_wait(
            uow, entry, queue_settings, now
        ):
            changed += 1
    if changed:
        uow.commit()
    return changed


def _timer_due(entry: RoutingEntryRow, queue_settings: QueueSettings, now: datetime) -> bool:
    """Whether `_overflow` or `_max_wait` would change this entry at `now`."""
    waited = (now - entry.queue_entered_at).total_seconds()
    if overflow_stage(queue_settings.overflow, waited) > entry.overflow_stage:
        return True
    limit = queue_settings.max_wait_seconds
    return (
        limit is not None
        and entry.kind == EntryKind.LIVE.value
        and entry.limit_action is None
        and now - entry.enqueued_at >= timedelta(seconds=limit)
    )


def _overflow(
    uow: UnitOfWork,
    entry: RoutingEntryRow,
    queue_settings: QueueSettings,
    settings: Mapping[str, QueueSettings],
    now: datetime,
) -> bool:
    steps = queue_settings.overflow
    waited = (now - entry.queue_entered_at).total_seconds()
    stage = overflow_stage(steps, waited)
    if stage <= entry.overflow_stage:
        return False
    applied_before = entry.overflow_stage
    entry.overflow_stage = stage
    entry.updated_at = now
    uow.emit(
        OverflowApplied(
            org_id=entry.org_id,
            entry_id=entry.id,
            interaction_id=entry.interaction_id,
            queue_id=entry.queue_id,
            stage=stage,
        )
    )
    target = first_move(steps[applied_before:], stage - applied_before)
    if target is not None and store.find_queue(uow.session, entry.org_id, target) is not None:
        move_entry(uow, entry, target, cause="overflow", now=now)
    return True


def _max_wait(
    uow: UnitOfWork, entry: RoutingEntryRow, queue_settings: QueueSettings, now: datetime
) -> bool:
    limit = queue_settings.max_wait_seconds
    if limit is None or entry.kind != EntryKind.LIVE.value or entry.limit_action is not None:
        return False
    if now - entry.enqueued_at < timedelta(seconds=limit):
        return False
    take_limit_action(uow, entry, queue_settings, LimitReason.MAX_WAIT, now=now)
    return True


def take_limit_action(
    uow: UnitOfWork,
    entry: RoutingEntryRow,
    settings: QueueSettings,
    reason: LimitReason,
    *,
    now: datetime,
) -> None:
    """Apply the queue's action to a live entry; it keeps its original arrival time."""
    action = settings.closed_action if reason is LimitReason.CLOSED else settings.limit_action
    action = action or settings.limit_action
    entry.limit_action = action.value
    entry.updated_at = now
    uow.emit(
        QueueLimitReached(
            org_id=entry.org_id,
            entry_id=entry.id,
            interaction_id=entry.interaction_id,
            queue_id=entry.queue_id,
            reason=reason.value,
            action=action.value,
        )
    )
    if action is LimitAction.QUEUE:
        target = settings.limit_queue_id
        if target is not None and store.find_queue(uow.session, entry.org_id, target) is not None:
            move_entry(uow, entry, target, cause=reason.value, now=now)
    elif action is LimitAction.CALLBACK:
        to_callback(uow, entry, channel="call", to=None, at=None, now=now)
    else:
        entry.kind = EntryKind(action.value).value
        record_as_case(uow, entry, action)


def record_as_case(uow: UnitOfWork, entry: RoutingEntryRow, action: LimitAction) -> None:
    """A customer who was told to leave a message (voicemail, or a message on a chat or
    messaging queue) is not served live: besides its entry, which waits as work for the
    next free agent, a case linked to the interaction keeps it in sight of the back
    office, even if the customer leaves and the interaction ends before an agent is free.
    Commits (the case's number is allocated under a lock)."""
    system = system_actor(entry.org_id)
    interaction = store.find_interaction(uow.session, entry.org_id, entry.interaction_id)
    queue = store.find_queue(uow.session, entry.org_id, entry.queue_id)
    if interaction is None:
        return
    what = "Voicemail" if action is LimitAction.VOICEMAIL else "Message"
    where = queue.name if queue is not None else "a queue"
    view = cases.open_case(
        uow,
        system,
        CaseCreate(
            case_type=CaseType.INQUIRY,
            subject=_one_line(f"{what} left in {where}: {interaction.subject or ''}")[:500],
            description=(
                f"The customer could not be served live ({action.value} action of the "
                f"queue's limits) on {interaction.channel}; see the linked interaction."
            ),
            customer_id=interaction.customer_id,
            department_id=_department(uow, entry.org_id, queue),
        ),
    )
    cases.link_rows(uow, system, view.case, interaction)


def _department(uow: UnitOfWork, org_id: str, queue: QueueRow | None) -> str | None:
    """The queue's team when it is a department (cases belong to departments); else
    none, and the case is seen by those who see the whole organisation."""
    if queue is None or queue.team_id is None:
        return None
    found = cases_store.find_department(uow.session, org_id, queue.team_id)
    return None if found is None else found.id


def _one_line(text: str) -> str:
    return " ".join(text.replace("\x00", " ").split()).rstrip(":")


def to_callback(
    uow: UnitOfWork,
    entry: RoutingEntryRow,
    *,
    channel: str,
    to: str | None,
    at: datetime | None,
    now: datetime,
) -> None:
    """Turn an entry into a callback: the customer stops holding but keeps their place
    (``at`` None: virtual hold) or is reached at the time they chose."""
    interaction = store.find_interaction(uow.session, entry.org_id, entry.interaction_id)
    customer_id = None if interaction is None else interaction.customer_id
    kind = _ADDRESS_KINDS.get(channel, "phone")
    entry.kind = EntryKind.CALLBACK.value
    entry.callback_channel = channel
    entry.callback_to = to or store.first_contact_point(
        uow.session, entry.org_id, customer_id, kind
    )
    entry.available_at = at
    entry.updated_at = now
    uow.emit(
        CallbackRequested(
            org_id=entry.org_id,
            entry_id=entry.id,
            interaction_id=entry.interaction_id,
            queue_id=entry.queue_id,
            channel=channel,
            scheduled_for=None if at is None else at.isoformat(),
        )
    )


def move_entry(
    uow: UnitOfWork,
    entry: RoutingEntryRow,
    queue_id: str,
    *,
    cause: str,
    now: datetime,
    actor: Actor | None = None,
) -> None:
    """Move an entry to another queue: new overflow clock, same original arrival. The
    interaction follows: its queue, and its team when the new queue belongs to one (who
    may see it follows the work). Audited (``actor``: the platform by default)."""
    before = entry.queue_id
    entry.queue_id = queue_id
    entry.queue_entered_at = now
    entry.overflow_stage = 0
    entry.updated_at = now
    interaction = interaction_store.find_interaction(
        uow.session, entry.org_id, entry.interaction_id, for_update=True
    )
    queue = store.find_queue(uow.session, entry.org_id, queue_id)
    from_team = to_team = None
    if interaction is not None:
        from_team = to_team = interaction.team_id
        interaction.queue_id = queue_id
        if queue is not None and queue.team_id is not None:
            to_team = interaction.team_id = queue.team_id
        interaction.updated_at = now
    uow.audit(
        actor or system_actor(entry.org_id),
        "routing.moved",
        "interaction",
        entry.interaction_id,
        {
            "from_queue_id": before,
            "to_queue_id": queue_id,
            "from_team_id": from_team,
            "to_team_id": to_team,
            "cause": cause,
        },
    )
    uow.emit(
        WorkMoved(
            org_id=entry.org_id,
            entry_id=entry.id,
            interaction_id=entry.interaction_id,
            from_queue_id=before,
            to_queue_id=queue_id,
            cause=cause,
            from_team_id=from_team,
            to_team_id=to_team,
        )
    )
