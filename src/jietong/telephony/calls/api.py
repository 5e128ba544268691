"""HTTP for call detail records: translation only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from jietong.app.deps import ActorDep, CursorQuery, LimitQuery, UowDep
from jietong.core.schemas import PageOut
from jietong.interactions.schemas import ID_PATTERN
from jietong.storage.tables_voice import VoiceCdrRow
from jietong.telephony.calls import reports
from jietong.telephony.calls.schemas import CdrOut, VoiceKpisOut
from jietong.telephony.calls.store import CdrFilter

router = APIRouter(prefix="/voice/cdrs", tags=["voice"])
IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN)]


def to_out(row: VoiceCdrRow) -> CdrOut:
    fields = {name: getattr(row, name) for name in CdrOut.model_fields}
    return CdrOut.model_validate(fields)


def _filter(
    since: AwareDatetime | None, until: AwareDatetime | None, queue_id: str | None,
    agent_user_id: str | None, abandoned: bool | None,
) -> CdrFilter:  # fmt: skip
    return CdrFilter(since, until, queue_id, agent_user_id, abandoned)


@router.get("", response_model=PageOut[CdrOut])
def list_cdrs(
    uow: UowDep,
    actor: ActorDep,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    queue_id: IdQuery = None,
    agent_user_id: IdQuery = None,
    abandoned: bool | None = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[CdrOut]:
    where = _filter(since, until, queue_id, agent_user_id, abandoned)
    page = reports.list_cdrs(uow, actor, where, cursor=cursor, limit=limit)
    return PageOut(items=[to_out(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/export.csv", response_class=StreamingResponse)
def export_cdrs(
    uow: UowDep,
    actor: ActorDep,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    queue_id: IdQuery = None,
    agent_user_id: IdQuery = None,
    abandoned: bool | None = None,
) -> StreamingResponse:
    where = _filter(since, until, queue_id, agent_user_id, abandoned)
    # Materialised before the response starts: the unit of work closes with the request.
    lines = list(reports.export_csv(uow, actor, where))
    headers = {"Content-Disposition": 'attachment; filename="cdrs.csv"'}
    return StreamingResponse(iter(lines), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/summary", response_model=VoiceKpisOut)
def cdr_summary(
    uow: UowDep,
    actor: ActorDep,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    queue_id: IdQuery = None,
    agent_user_id: IdQuery = None,
    short_abandon_s: Annotated[float, Query(ge=0, le=600)] = 5.0,
    service_level_s: Annotated[float, Query(ge=0, le=3600)] = 20.0,
) -> VoiceKpisOut:
    where = _filter(since, until, queue_id, agent_user_id, None)
    figures = reports.summary(
        uow, actor, where, short_abandon_s=short_abandon_s, service_level_s=service_level_s
    )
    return VoiceKpisOut.model_validate(figures, from_attributes=True)


@router.get("/{call_id}", response_model=CdrOut)
def get_cdr(call_id: str, uow: UowDep, actor: ActorDep) -> CdrOut:
    return to_out(reports.get_cdr(uow, actor, call_id))
