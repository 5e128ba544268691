"""Reading CDRs: authorised like interactions (agents see their teams' calls and the
calls they answered; supervisors, admins and read-only users the whole organisation),
CSV export for supervisors."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime

from jietong.core.errors import NotFound
from jietong.core.pagination import MAX_LIMIT, Page, decode_cursor, encode_cursor
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.interactions.model import reach_of, within_reach
from jietong.storage.tables_voice import VoiceCdrRow
from jietong.storage.uow import UnitOfWork
from jietong.telephony.calls import kpis, store
from jietong.telephony.calls.store import CdrFilter

_ID = re.compile(r"^[0-9a-f]{32}$")
CSV_COLUMNS = (
    "call_id", "interaction_id", "customer_id", "team_id", "direction", "caller", "dialled",
    "arrived_at", "answered_at", "ivr_entered_at", "ivr_left_at", "ivr_s", "ivr_outcome",
    "queue_id", "queue_entered_at", "offers", "first_offered_at", "agent_answered_at",
    "agent_user_id", "queue_wait_s", "holds", "hold_s", "transfers", "transferred_to",
    "talk_s", "ended_at", "end_cause", "disposition", "abandoned", "abandon_point",
    "short_abandon", "abandoned_after_s",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CdrNotFound(NotFound):
    pass


def list_cdrs(
    uow: UnitOfWork, actor: Actor, where: CdrFilter, *, cursor: str | None, limit: int
) -> Page[VoiceCdrRow]:
    """CDRs the actor may see, newest first."""
    require(actor, Permission.INTERACTIONS_READ)
    limit = max(1, min(limit, MAX_LIMIT))
    rows = store.search_cdrs(
        uow.session, actor.org_id, reach_of(actor), where,
        before_id=decode_cursor(cursor), limit=limit + 1,
    )  # fmt: skip
    items = rows[:limit]
    more = len(rows) > limit and items
    return Page(items, encode_cursor(items[-1].call_id) if more else None)


def get_cdr(uow: UnitOfWork, actor: Actor, call_id: str) -> VoiceCdrRow:
    """The CDR, or CdrNotFound also when it is outside the actor's reach (no id leaks)."""
    require(actor, Permission.INTERACTIONS_READ)
    row = uow.session.get(VoiceCdrRow, call_id) if _ID.match(call_id) else None
    if (
        row is None
        or row.org_id != actor.org_id
        or not within_reach(reach_of(actor), row.team_id, row.agent_user_id)
    ):
        raise CdrNotFound(f"call {call_id} not found")
    return row


def summary(
    uow: UnitOfWork,
    actor: Actor,
    where: CdrFilter,
    *,
    short_abandon_s: float = 5.0,
    service_level_s: float = 20.0,
) -> kpis.VoiceKpis:
    """KPIs of the CDRs the actor may see (see calls/kpis.py for the definitions)."""
    require(actor, Permission.INTERACTIONS_READ)
    rows = store.search_cdrs(
        uow.session, actor.org_id, reach_of(actor), where, before_id=None, limit=None
    )
    return kpis.summarise(rows, short_abandon_s=short_abandon_s, service_level_s=service_level_s)


def export_csv(uow: UnitOfWork, actor: Actor, where: CdrFilter) -> Iterator[str]:
    """Every matching CDR as CSV lines (header first), for supervisors and admins.
    Cells that a spreadsheet would run as a formula are prefixed with a quote."""
    require(actor, Permission.ROUTING_SUPERVISE)
    rows = store.search_cdrs(uow.session, actor.org_id, None, where, before_id=None, limit=None)
    yield _line(CSV_COLUMNS)
    for row in rows:
        yield _line(tuple(_cell(getattr(row, name)) for name in CSV_COLUMNS))


def _line(values: tuple[str, ...]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # Caller ids come from the network: "+86…" is a number, anything else starting like
    # a formula is neutralised (CSV injection).
    if text.startswith(_FORMULA_START) and not re.fullmatch(r"[+-]?[0-9.]+", text):
        return "'" + text
    return text
