"""SQL for queue entries, offers, queue settings and the leader lease. No decisions here;
other domains' rows (interactions, customers, cases, queues) are only read."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jietong.interactions.model import Reach
from jietong.routing.model import LIVE_CHANNELS
from jietong.storage.tables import (
    CaseInteractionRow,
    CaseRow,
    ContactPointRow,
    CustomerRow,
    InteractionRow,
    MessageRow,
    OrganisationRow,
    QueueRow,
    SkillRow,
    TransitionRow,
)
from jietong.storage.tables_routing import (
    AgentPresenceRow,
    QueueRoutingRow,
    RoutingEntryRow,
    RoutingLeaseRow,
    RoutingOfferRow,
)

ACTIVE = ("waiting", "offered")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- entries ---------------------------------------------------------------------------


def find_entry(
    session: Session, org_id: str, entry_id: str, *, for_update: bool = False
) -> RoutingEntryRow | None:
    query = select(RoutingEntryRow).where(
        RoutingEntryRow.org_id == org_id, RoutingEntryRow.id == entry_id
    )
    return session.scalar(query.with_for_update() if for_update else query)


def find_entry_of(
    session: Session, org_id: str, interaction_id: str, *, for_update: bool = False
) -> RoutingEntryRow | None:
    query = select(RoutingEntryRow).where(
        RoutingEntryRow.org_id == org_id, RoutingEntryRow.interaction_id == interaction_id
    )
    return session.scalar(query.with_for_update() if for_update else query)


def entries(
    session: Session,
    org_id: str,
    *,
    states: Collection[str] = ACTIVE,
    queue_id: str | None = None,
    queue_ids: Collection[str] | None = None,
) -> list[RoutingEntryRow]:
    query = select(RoutingEntryRow).where(
        RoutingEntryRow.org_id == org_id, RoutingEntryRow.state.in_(sorted(states))
    )
    if queue_id is not None:
        query = query.where(RoutingEntryRow.queue_id == queue_id)
    if queue_ids is not None:
        query = query.where(RoutingEntryRow.queue_id.in_(sorted(queue_ids)))
    return list(session.scalars(query.order_by(RoutingEntryRow.enqueued_at, RoutingEntryRow.id)))


def queue_figures(session: Session, org_id: str) -> dict[str, tuple[int, int, datetime | None]]:
    """Per queue with active entries: (waiting, all active, oldest enqueued_at) — the
    wallboard's figures in one aggregate query instead of loading every entry."""
    rows = session.execute(
        select(
            RoutingEntryRow.queue_id,
            func.count().filter(RoutingEntryRow.state == "waiting"),
            func.count(),
            func.min(RoutingEntryRow.enqueued_at),
        )
        .where(RoutingEntryRow.org_id == org_id, RoutingEntryRow.state.in_(ACTIVE))
        .group_by(RoutingEntryRow.queue_id)
    ).all()
    return {
        queue_id: (waiting, active, _aware(oldest)) for queue_id, waiting, active, oldest in rows
    }


def _aware(moment: datetime | str | None) -> datetime | None:
    """MIN() over a timestamp column comes back without the column's type processing on
    SQLite (text); make it the UTC datetime every other read returns."""
    if moment is None or isinstance(moment, datetime):
        return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(moment)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def arrivals(
    session: Session,
    org_id: str,
    live_channels: Collection[str] = LIVE_CHANNELS,
    *,
    for_update: bool = False,
) -> list[InteractionRow]:
    """Inbound interactions with a queue, not queued yet, in which the customer has
    written (what the channel intake creates), or on a live channel (a call is there
    from its first moment: one created naming a queue waits in it). A call still in the
    IVR has no queue yet; voice names it when the caller chose. `for_update` locks them
    (PostgreSQL re-checks the conditions under the lock, so one that moved on meanwhile
    is left out)."""
    spoke = (
        select(MessageRow.id)
        .where(
            MessageRow.interaction_id == InteractionRow.id,
            MessageRow.direction == "inbound",
            MessageRow.internal.is_(False),
        )
        .exists()
    )
    query = (
        select(InteractionRow)
        .where(
            InteractionRow.org_id == org_id,
            InteractionRow.state == "arrived",
            InteractionRow.direction == "inbound",
            InteractionRow.queue_id.is_not(None),
            or_(spoke, InteractionRow.channel.in_(sorted(live_channels))),
        )
        .order_by(InteractionRow.arrived_at, InteractionRow.id)
    )
    if for_update:
        query = query.with_for_update(of=InteractionRow)
    return list(session.scalars(query))


def queued_without_entry(
    session: Session, org_id: str
) -> list[tuple[InteractionRow, RoutingEntryRow | None]]:
    """Queued interactions (with a queue) that have no active entry: new arrivals,
    transfers, and anything queued while the engine was down."""
    rows = session.execute(
        select(InteractionRow, RoutingEntryRow)
        .outerjoin(RoutingEntryRow, RoutingEntryRow.interaction_id == InteractionRow.id)
        .where(
            InteractionRow.org_id == org_id,
            InteractionRow.state == "queued",
            InteractionRow.queue_id.is_not(None),
            or_(RoutingEntryRow.id.is_(None), RoutingEntryRow.state.not_in(ACTIVE)),
        )
        .order_by(InteractionRow.queued_at, InteractionRow.id)
    )
    return [(i, e) for i, e in rows]


def entries_out_of_step(
    session: Session, org_id: str
) -> list[tuple[RoutingEntryRow, str, str | None]]:
    """Active entries whose interaction moved on without the engine (answered, abandoned,
    offered or requeued by another path): entry, interaction state, assignee."""
    in_step = or_(
        and_(RoutingEntryRow.state == "waiting", InteractionRow.state == "queued"),
        and_(RoutingEntryRow.state == "offered", InteractionRow.state == "offered"),
    )
    rows = session.execute(
        select(RoutingEntryRow, InteractionRow.state, InteractionRow.assigned_user_id)
        .join(InteractionRow, InteractionRow.id == RoutingEntryRow.interaction_id)
        .where(
            RoutingEntryRow.org_id == org_id,
            RoutingEntryRow.state.in_(ACTIVE),
            not_(in_step),
        )
        .with_for_update(of=RoutingEntryRow)
    )
    return [(e, state, assignee) for e, state, assignee in rows]


def count_live_waiting(
    session: Session, org_id: str, queue_id: str, excluding: Collection[str] = ()
) -> int:
    """Active live entries of the queue, but for the entry ids `excluding`."""
    query = select(func.count()).where(
        RoutingEntryRow.org_id == org_id,
        RoutingEntryRow.queue_id == queue_id,
        RoutingEntryRow.state.in_(ACTIVE),
        RoutingEntryRow.kind == "live",
    )
    if excluding:
        query = query.where(RoutingEntryRow.id.not_in(sorted(excluding)))
    return session.scalar(query) or 0


def finished_entries(
    session: Session, org_id: str, queue_ids: Collection[str], since: datetime
) -> list[RoutingEntryRow]:
    """Entries served or removed since ``since`` (wait statistics for EWT)."""
    if not queue_ids:
        return []
    return list(
        session.scalars(
            select(RoutingEntryRow).where(
                RoutingEntryRow.org_id == org_id,
                RoutingEntryRow.queue_id.in_(sorted(queue_ids)),
                RoutingEntryRow.state.in_(("served", "removed")),
                RoutingEntryRow.ended_at >= since,
            )
        )
    )


def handle_seconds(
    session: Session, org_id: str, queue_ids: Collection[str], since: datetime, limit: int = 500
) -> dict[str, list[float]]:
    """Handle times (answer to end of wrap-up) of recently closed interactions per queue."""
    result: dict[str, list[float]] = {q: [] for q in queue_ids}
    if not queue_ids:
        return result
    rows = session.execute(
        select(RoutingEntryRow.queue_id, InteractionRow.answered_at, InteractionRow.wrapup_ended_at)
        .join(InteractionRow, InteractionRow.id == RoutingEntryRow.interaction_id)
        .where(
            RoutingEntryRow.org_id == org_id,
            RoutingEntryRow.queue_id.in_(sorted(queue_ids)),
            InteractionRow.state == "closed",
            InteractionRow.wrapup_ended_at >= since,
        )
        .order_by(InteractionRow.wrapup_ended_at.desc())
        .limit(limit)
    )
    for queue_id, answered, ended in rows:
        if answered is not None and ended is not None:
            result[queue_id].append(max((ended - answered).total_seconds(), 0.0))
    return result


# --- offers ----------------------------------------------------------------------------


def find_offer(session: Session, org_id: str, offer_id: str) -> RoutingOfferRow | None:
    return session.scalar(
        select(RoutingOfferRow).where(
            RoutingOfferRow.org_id == org_id, RoutingOfferRow.id == offer_id
        )
    )


def pending_offer_of_entry(session: Session, entry_id: str) -> RoutingOfferRow | None:
    return session.scalar(
        select(RoutingOfferRow).where(
            RoutingOfferRow.entry_id == entry_id, RoutingOfferRow.state == "pending"
        )
    )


def pending_offers(
    session: Session, org_id: str, *, agent_id: str | None = None
) -> list[RoutingOfferRow]:
    query = select(RoutingOfferRow).where(
        RoutingOfferRow.org_id == org_id, RoutingOfferRow.state == "pending"
    )
    if agent_id is not None:
        query = query.where(RoutingOfferRow.agent_id == agent_id)
    return list(session.scalars(query.order_by(RoutingOfferRow.created_at)))


def due_offers(session: Session, org_id: str, now: datetime) -> list[RoutingOfferRow]:
    return list(
        session.scalars(
            select(RoutingOfferRow).where(
                RoutingOfferRow.org_id == org_id,
                RoutingOfferRow.state == "pending",
                RoutingOfferRow.expires_at <= now,
            )
        )
    )


def offers_out_of_step(
    session: Session, org_id: str
) -> list[tuple[RoutingOfferRow, str, str | None]]:
    """Pending offers whose interaction is no longer offered to their agent."""
    rows = session.execute(
        select(RoutingOfferRow, InteractionRow.state, InteractionRow.assigned_user_id)
        .join(InteractionRow, InteractionRow.id == RoutingOfferRow.interaction_id)
        .where(
            RoutingOfferRow.org_id == org_id,
            RoutingOfferRow.state == "pending",
            or_(
                InteractionRow.state != "offered",
                InteractionRow.assigned_user_id.is_(None),
                InteractionRow.assigned_user_id != RoutingOfferRow.agent_id,
            ),
        )
        .with_for_update(of=RoutingOfferRow)
    )
    return [(o, state, assignee) for o, state, assignee in rows]


def end_offer(
    session: Session,
    offer_id: str,
    *,
    to_state: str,
    now: datetime,
    agent_id: str | None = None,
    unexpired: bool = False,
) -> bool:
    """Move a *pending* offer to ``to_state``: a conditional UPDATE, so of two racing
    callers exactly one succeeds. ``agent_id`` and ``unexpired`` add conditions."""
    conditions = [RoutingOfferRow.id == offer_id, RoutingOfferRow.state == "pending"]
    if agent_id is not None:
        conditions.append(RoutingOfferRow.agent_id == agent_id)
    if unexpired:
        conditions.append(RoutingOfferRow.expires_at > now)
    result = session.execute(
        update(RoutingOfferRow)
        .where(*conditions)
        .values(state=to_state, ended_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def recent_refusals(session: Session, org_id: str, since: datetime) -> dict[str, set[str]]:
    """Per entry, the agents who declined it or let it ring out since ``since``."""
    rows = session.execute(
        select(RoutingOfferRow.entry_id, RoutingOfferRow.agent_id).where(
            RoutingOfferRow.org_id == org_id,
            RoutingOfferRow.state.in_(("declined", "expired")),
            RoutingOfferRow.ended_at >= since,
        )
    )
    result: dict[str, set[str]] = {}
    for entry_id, agent_id in rows:
        result.setdefault(entry_id, set()).add(agent_id)
    return result


# --- queues, customers, cases ------------------------------------------------------------


def queues(session: Session, org_id: str) -> dict[str, QueueRow]:
    rows = session.scalars(select(QueueRow).where(QueueRow.org_id == org_id))
    return {row.id: row for row in rows}


def find_queue(session: Session, org_id: str, queue_id: str) -> QueueRow | None:
    return session.scalar(
        select(QueueRow).where(QueueRow.org_id == org_id, QueueRow.id == queue_id)
    )


def queue_settings(session: Session, org_id: str) -> dict[str, QueueRoutingRow]:
    rows = session.scalars(select(QueueRoutingRow).where(QueueRoutingRow.org_id == org_id))
    return {row.queue_id: row for row in rows}


def find_queue_settings(session: Session, org_id: str, queue_id: str) -> QueueRoutingRow | None:
    return session.scalar(
        select(QueueRoutingRow).where(
            QueueRoutingRow.org_id == org_id, QueueRoutingRow.queue_id == queue_id
        )
    )


def set_cursor(session: Session, org_id: str, queue_id: str, agent_id: str, now: datetime) -> None:
    row = find_queue_settings(session, org_id, queue_id)
    if row is None:
        session.add(
            QueueRoutingRow(
                queue_id=queue_id, org_id=org_id, settings={}, rr_cursor=agent_id, updated_at=now
            )
        )
    else:
        row.rr_cursor = agent_id


def skill_ids(session: Session, org_id: str, ids: Collection[str]) -> set[str]:
    if not ids:
        return set()
    return set(
        session.scalars(
            select(SkillRow.id).where(SkillRow.org_id == org_id, SkillRow.id.in_(sorted(ids)))
        )
    )


def vip_tier(session: Session, org_id: str, customer_id: str | None) -> str | None:
    if customer_id is None:
        return None
    return session.scalar(
        select(CustomerRow.vip_tier).where(
            CustomerRow.org_id == org_id, CustomerRow.id == customer_id
        )
    )


def vip_tiers(session: Session, org_id: str, customer_ids: Collection[str]) -> dict[str, str]:
    """The VIP tier of each of these customers."""
    if not customer_ids:
        return {}
    rows = session.execute(
        select(CustomerRow.id, CustomerRow.vip_tier).where(
            CustomerRow.org_id == org_id,
            CustomerRow.id.in_(sorted(customer_ids)),
        )
    )
    return {customer_id: tier for customer_id, tier in rows}


def open_case_priorities(
    session: Session, org_id: str, interaction_ids: Collection[str]
) -> dict[str, list[str]]:
    """Priorities of the open cases linked to each of these interactions (those linked
    to none are absent)."""
    if not interaction_ids:
        return {}
    rows = session.execute(
        select(CaseInteractionRow.interaction_id, CaseRow.priority)
        .join(CaseRow, CaseInteractionRow.case_id == CaseRow.id)
        .where(
            CaseInteractionRow.org_id == org_id,
            CaseInteractionRow.interaction_id.in_(sorted(interaction_ids)),
            CaseRow.status.not_in(("resolved", "closed", "cancelled")),
        )
    )
    result: dict[str, list[str]] = {}
    for interaction_id, priority in rows:
        result.setdefault(interaction_id, []).append(priority)
    return result


def case_priorities(session: Session, org_id: str, interaction_id: str) -> list[str]:
    """Priorities of the open cases linked to the interaction."""
    return list(
        session.scalars(
            select(CaseRow.priority)
            .join(CaseInteractionRow, CaseInteractionRow.case_id == CaseRow.id)
            .where(
                CaseInteractionRow.org_id == org_id,
                CaseInteractionRow.interaction_id == interaction_id,
                CaseRow.status.not_in(("resolved", "closed", "cancelled")),
            )
        )
    )


def first_contact_point(
    session: Session, org_id: str, customer_id: str | None, kind: str
) -> str | None:
    if customer_id is None:
        return None
    return session.scalar(
        select(ContactPointRow.value)
        .where(
            ContactPointRow.org_id == org_id,
            ContactPointRow.customer_id == customer_id,
            ContactPointRow.kind == kind,
        )
        .order_by(ContactPointRow.created_at)
        .limit(1)
    )


def interactions_within(
    session: Session, org_id: str, ids: Collection[str], reach: Reach
) -> set[str]:
    """Those of the interactions whose team is in the reach or that are assigned to it."""
    if not ids:
        return set()
    return set(
        session.scalars(
            select(InteractionRow.id).where(
                InteractionRow.org_id == org_id,
                InteractionRow.id.in_(sorted(ids)),
                or_(
                    InteractionRow.team_id.in_(sorted(reach.team_ids)),
                    InteractionRow.assigned_user_id == reach.user_id,
                ),
            )
        )
    )


def find_interaction(session: Session, org_id: str, interaction_id: str) -> InteractionRow | None:
    return session.scalar(
        select(InteractionRow).where(
            InteractionRow.org_id == org_id, InteractionRow.id == interaction_id
        )
    )


def open_case_task(session: Session, org_id: str, case_id: str) -> InteractionRow | None:
    """The case's task interaction that is not finished (closed or abandoned), if any;
    a task names its case in ``external_ref`` ('case:<id>')."""
    return session.scalar(
        select(InteractionRow).where(
            InteractionRow.org_id == org_id,
            InteractionRow.channel == "task",
            InteractionRow.external_ref == f"case:{case_id}",
            InteractionRow.state.not_in(("closed", "abandoned")),
        )
    )


def agent_moves(session: Session, org_id: str, since: datetime) -> list[TransitionRow]:
    """Agents' state changes since ``since``, in order (staffing history for EWT)."""
    return list(
        session.scalars(
            select(TransitionRow)
            .where(
                TransitionRow.org_id == org_id,
                TransitionRow.entity_type == "agent",
                TransitionRow.at >= since,
            )
            .order_by(TransitionRow.at, TransitionRow.id)
        )
    )


# --- orgs with work, the lease ------------------------------------------------------------


def orgs_with_work(session: Session) -> list[str]:
    """Organisations with anything the engine may have to act on.

    One EXISTS per organisation and kind, each an index probe that stops at the first
    row: a DISTINCT over the rows themselves read every waiting entry and queued
    interaction, every cycle (with thousands waiting, most of an idle engine's time)."""
    org = OrganisationRow.id
    work = (
        select(AgentPresenceRow.org_id).where(
            AgentPresenceRow.org_id == org, AgentPresenceRow.state != "offline"
        ),
        select(RoutingEntryRow.org_id).where(
            RoutingEntryRow.org_id == org, RoutingEntryRow.state.in_(ACTIVE)
        ),
        select(RoutingOfferRow.org_id).where(
            RoutingOfferRow.org_id == org, RoutingOfferRow.state == "pending"
        ),
        select(InteractionRow.org_id).where(
            InteractionRow.org_id == org,
            InteractionRow.state.in_(("arrived", "queued")),
            InteractionRow.queue_id.is_not(None),
        ),
    )
    query = select(org).where(or_(*(q.exists() for q in work))).order_by(org)
    return list(session.scalars(query))


def take_lease(session: Session, name: str, holder: str, now: datetime, until: datetime) -> bool:
    """Hold the lease ``name`` until ``until`` if it is free, expired or already ours."""
    result = session.execute(
        update(RoutingLeaseRow)
        .where(
            RoutingLeaseRow.name == name,
            or_(RoutingLeaseRow.holder == holder, RoutingLeaseRow.expires_at < now),
        )
        .values(holder=holder, expires_at=until)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return True
    exists = session.scalar(select(RoutingLeaseRow.name).where(RoutingLeaseRow.name == name))
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(RoutingLeaseRow(name=name, holder=holder, expires_at=until))
    except IntegrityError:
        return False
    return True


def lease_holder(session: Session, name: str) -> str | None:
    return session.scalar(select(RoutingLeaseRow.holder).where(RoutingLeaseRow.name == name))


def take_over_lease(session: Session, name: str, stale: str, holder: str, until: datetime) -> bool:
    """Take the lease from ``stale`` (known dead); False if it changed hands meanwhile."""
    result = session.execute(
        update(RoutingLeaseRow)
        .where(RoutingLeaseRow.name == name, RoutingLeaseRow.holder == stale)
        .values(holder=holder, expires_at=until)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release_lease(session: Session, name: str, holder: str) -> None:
    session.execute(
        update(RoutingLeaseRow)
        .where(RoutingLeaseRow.name == name, RoutingLeaseRow.holder == holder)
        .values(expires_at=EPOCH)
    )


def as_dict(row: QueueRoutingRow | None) -> dict[str, Any]:
    return {} if row is None else dict(row.settings)
