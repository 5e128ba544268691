"""After a crash: closing the calls a dead voice process left open.

Live call state is in the orchestrator's memory and the media processes exit with the
server, so when a voice process dies (kill -9, power, OOM) its calls are gone from the
wire while their records still say "active". The process that starts in its place (same
node: its SIP address) closes them before it takes a call: every leg ended with cause
``media_lost``, disposition ``lost``, the interaction settled as for any ended call.

The end time is the best the database knows, never the restart time (which may be hours
later): the later of the call's last recorded fact and the node's last heartbeat
(`beat`, every few seconds while it ran), and never after now. Only the node's own calls
are closed (several voice processes share a database behind Kamailio); calls with no
node (recorded before nodes were) are closed by whichever process starts first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from jietong.core.errors import IllegalTransition, NotFound
from jietong.storage.tables_voice import VoiceCallRow, VoiceLegRow, VoiceNodeRow
from jietong.storage.uow import UnitOfWork
from jietong.telephony.calls import service as calls_service
from jietong.telephony.calls.model import EndCause

LOST = "lost"


@dataclass(frozen=True, slots=True)
class ClosedCall:
    call_id: str
    org_id: str
    ended_at: datetime


def end_time(last_fact: datetime, last_seen: datetime | None, now: datetime) -> datetime:
    """When a call left open by a dead process ended, as well as it can be known: not
    before its last fact, at the node's last heartbeat if that is later, never after
    now."""
    end = max(last_fact, last_seen) if last_seen is not None else last_fact
    return min(end, max(now, last_fact))


def claim(uow: UnitOfWork, call_id: str, node: str) -> None:
    """Mark a call as carried by `node` (right after it is opened)."""
    row = uow.session.get(VoiceCallRow, call_id)
    if row is not None:
        row.node = node
        uow.commit()


def beat(uow: UnitOfWork, node: str, *, starting: bool = False) -> None:
    """The node is alive at ``uow.now``."""
    row = uow.session.get(VoiceNodeRow, node)
    if row is None:
        uow.session.add(VoiceNodeRow(node=node, started_at=uow.now, seen_at=uow.now))
    else:
        row.seen_at = uow.now
        if starting:
            row.started_at = uow.now
    uow.commit()


def close_left_open(
    new_uow: Callable[[datetime], UnitOfWork], node: str, now: datetime
) -> list[ClosedCall]:
    """Close every call `node` (or no node) left active; one transaction per call, timed
    at its end (so the CDR, the leg history and the interaction agree on it)."""
    with new_uow(now) as uow:
        seen = uow.session.get(VoiceNodeRow, node)
        last_seen = None if seen is None else seen.seen_at
        rows = uow.session.execute(
            select(VoiceCallRow.id, VoiceCallRow.org_id, func.max(VoiceLegRow.last_at))
            .join(VoiceLegRow, VoiceLegRow.call_id == VoiceCallRow.id)
            .where(
                VoiceCallRow.state != "ended",
                or_(VoiceCallRow.node == node, VoiceCallRow.node.is_(None)),
            )
            .group_by(VoiceCallRow.id, VoiceCallRow.org_id)
            .order_by(VoiceCallRow.id)
        ).all()
    closed = []
    for call_id, org_id, last_fact in rows:
        ended_at = end_time(last_fact, last_seen, now)
        with new_uow(ended_at) as uow:
            try:
                calls_service.end_call(uow, org_id, call_id, EndCause.MEDIA_LOST, disposition=LOST)
            except (NotFound, IllegalTransition):
                continue  # ended meanwhile (another process closing the unowned ones)
        closed.append(ClosedCall(call_id, org_id, ended_at))
    return closed
