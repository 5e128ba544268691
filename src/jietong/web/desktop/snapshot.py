"""Snapshots of the agent desktop and the wallboard: the reducer's initial state.

Read in one transaction that sees one moment (see store.use_snapshot_isolation), with the
same visibility rules as the REST API and the stream's audiences: an agent's snapshot
holds the open work of their teams and work assigned to them, their own presence and the
offers on that work; a supervisor's holds the whole organisation. `as_of` is the newest
publication number and `skip` the ids of committed events the relay has not published
yet (their effects are already in the snapshot), so a client that opens the stream with
`after=as_of` and ignores `skip` applies every later change exactly once.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from jietong.core.errors import PermissionDenied
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.desktop.visibility import visible
from jietong.interactions.model import Reach, reach_of
from jietong.org import service as org_service
from jietong.storage.outbox import envelope_of
from jietong.storage.tables import InteractionRow, UserRow
from jietong.storage.uow import UnitOfWork
from jietong.web.desktop import kpi, store
from jietong.web.desktop.kpi import micros, micros_or_none
from jietong.web.desktop.schemas import (
    DayOut,
    Directory,
    DirectoryQueue,
    DirectoryTeam,
    DirectoryUser,
    Offer,
    Presence,
    ReachOut,
    SnapshotOut,
    StateOut,
    View,
    WorkEntry,
)

INTERVAL_MINUTES = 15


def build_snapshot(uow: UnitOfWork, actor: Actor, view: View) -> SnapshotOut:
    """The snapshot of `view` for `actor`; the wallboard needs a whole-organisation role."""
    require(actor, Permission.INTERACTIONS_READ)
    if view is View.WALLBOARD and not actor.sees_whole_organisation:
        raise PermissionDenied("the wallboard is for supervisors, admins and read-only users")
    store.use_snapshot_isolation(uow.session)  # before any other read of this transaction
    session, reach = uow.session, reach_of(actor)
    org_tz, user_tz = time_zones(uow, actor)
    as_of = store.position(session)
    pending = store.unpublished(session, actor.org_id)
    skip = [row.event_id for row in pending if visible(envelope_of(row), actor)]
    directory = _directory(uow, actor.org_id)
    day = None
    figures = None
    if view is View.WALLBOARD:
        day = _day(uow.now, org_tz, directory)
        figures = _figures(uow, actor.org_id, reach, day)
    state = StateOut(
        as_of=as_of,
        skip=skip,
        user_id=actor.user_id,
        reach=_reach(actor, directory),
        day=None if day is None else DayOut(**day),
        agents=_agents(uow, actor),
        offers=_offers(uow, actor.org_id, reach),
        work=_work(uow, actor.org_id, reach),
        kpi=figures,
    )
    return SnapshotOut(
        view=view,
        state=state,
        directory=directory,
        server_now_us=micros(uow.now),
        timezone=str(user_tz),
        org_timezone=str(org_tz),
    )


def time_zones(uow: UnitOfWork, actor: Actor) -> tuple[ZoneInfo, ZoneInfo]:
    """The organisation's zone (its day bounds the figures) and the viewer's (display)."""
    org = org_service.get_organisation(uow, actor)
    user = uow.session.get(UserRow, actor.user_id)
    own = user.timezone if user is not None and user.org_id == actor.org_id else None
    return ZoneInfo(org.timezone), ZoneInfo(own or org.timezone)


def work_entry(row: InteractionRow) -> WorkEntry:
    """An open interaction's entry before its messages are counted."""
    return WorkEntry(
        channel=row.channel,
        direction=row.direction,
        state=row.state,
        queue_id=row.queue_id,
        routed_queue_id=None,
        assigned_user_id=row.assigned_user_id,
        queued_us=micros_or_none(row.queued_at),
        answered_us=micros_or_none(row.answered_at),
        ended_us=micros_or_none(row.ended_at),
        inbound=0,
        outbound=0,
        notes=0,
    )


def _work(uow: UnitOfWork, org_id: str, reach: Reach | None) -> dict[str, WorkEntry]:
    session = uow.session
    work = {row.id: work_entry(row) for row in store.open_interactions(session, org_id, reach)}
    for tally in store.message_tallies(session, org_id, reach):
        entry = work.get(tally.interaction_id)
        if entry is None:
            continue
        if tally.internal:
            entry.notes += tally.count
        elif tally.direction == "inbound":
            entry.inbound += tally.count
        else:
            entry.outbound += tally.count
    for interaction_id, queue_id in store.routed_queues(session, org_id, reach).items():
        if interaction_id in work:
            work[interaction_id].routed_queue_id = queue_id
    return work


def _reach(actor: Actor, directory: Directory) -> ReachOut | None:
    if actor.sees_whole_organisation:
        return None
    return ReachOut(
        team_ids=sorted(actor.team_ids),
        queue_teams={qid: q.team_id for qid, q in directory.queues.items()},
    )


def _agents(uow: UnitOfWork, actor: Actor) -> dict[str, Presence]:
    # Presence events name only the agent: others hear them only with a privileged role.
    only = None if actor.sees_whole_organisation else actor.user_id
    return {
        row.user_id: Presence(state=row.state, reason=row.reason, since_us=micros(row.state_since))
        for row in store.presences(uow.session, actor.org_id, only)
    }


def _offers(uow: UnitOfWork, org_id: str, reach: Reach | None) -> dict[str, Offer]:
    return {
        row.id: Offer(
            interaction_id=row.interaction_id,
            agent_id=row.agent_id,
            queue_id=row.queue_id,
            channel=row.channel,
            ring_timeout_seconds=round((row.expires_at - row.created_at).total_seconds()),
            offered_us=micros(row.created_at),
        )
        for row in store.pending_offers(uow.session, org_id, reach)
    }


def _day(now: datetime, org_tz: ZoneInfo, directory: Directory) -> kpi.Day:
    targets = {qid: q.target_answer_seconds for qid, q in directory.queues.items()}
    return kpi.day_of(now, org_tz, INTERVAL_MINUTES, targets)


def _figures(uow: UnitOfWork, org_id: str, reach: Reach | None, day: kpi.Day) -> kpi.Figures:
    start = kpi.EPOCH + day["day_start_us"] * kpi.MICROSECOND
    end = kpi.EPOCH + day["day_end_us"] * kpi.MICROSECOND
    figures: kpi.Figures = {}
    for row, routed_queue_id in store.queued_between(uow.session, org_id, reach, start, end):
        part = kpi.contribution(
            queue_id=routed_queue_id or row.queue_id,
            state=row.state,
            queued_us=micros_or_none(row.queued_at),
            answered_us=micros_or_none(row.answered_at),
            day=day,
        )
        kpi.add(figures, part)
    return figures


def _directory(uow: UnitOfWork, org_id: str) -> Directory:
    session = uow.session
    teams_of = store.memberships(session, org_id)
    return Directory(
        users={
            u.id: DirectoryUser(name=u.display_name, role=u.role, team_ids=teams_of.get(u.id, []))
            for u in store.users(session, org_id)
        },
        queues={
            q.id: DirectoryQueue(
                name=q.name,
                team_id=q.team_id,
                channels=list(q.channels),
                target_answer_seconds=q.target_answer_seconds,
                target_service_level=q.target_service_level,
            )
            for q in store.queues(session, org_id)
        },
        teams={t.id: DirectoryTeam(name=t.name, kind=t.kind) for t in store.teams(session, org_id)},
    )
