"""HTTP for the email channel's admin views (quarantined mail): translation only.

Email accounts are channel accounts, managed at /channel-accounts (channel "email")."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict

from jietong.app.deps import ActorDep, CursorQuery, LimitQuery, PlatformDep, UowDep
from jietong.app.email_runtime import mail_context
from jietong.channels.email import quarantine
from jietong.core.schemas import PageOut
from jietong.interactions.api import download_headers

router = APIRouter(prefix="/email", tags=["email"])
_RAW = {"description": "The mail as received (RFC 5322)", "content": {"message/rfc822": {}}}


class QuarantinedMailOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    account_id: str | None
    reason: str
    envelope_from: str | None
    recipient: str
    sender: str | None
    subject: str | None
    size_bytes: int
    sha256: str
    received_at: datetime


@router.get("/quarantine", response_model=PageOut[QuarantinedMailOut])
def list_quarantined_mail(
    uow: UowDep, actor: ActorDep, cursor: CursorQuery = None, limit: LimitQuery = 50
) -> PageOut[QuarantinedMailOut]:
    page = quarantine.list_quarantined(uow, actor, cursor=cursor, limit=limit)
    items = [QuarantinedMailOut.model_validate(row) for row in page.items]
    return PageOut(items=items, next_cursor=page.next_cursor)


@router.get("/quarantine/{item_id}", response_model=QuarantinedMailOut)
def get_quarantined_mail(item_id: str, uow: UowDep, actor: ActorDep) -> QuarantinedMailOut:
    return QuarantinedMailOut.model_validate(quarantine.get_quarantined(uow, actor, item_id))


@router.get("/quarantine/{item_id}/raw", response_class=Response, responses={200: _RAW})
def download_quarantined_mail(
    item_id: str, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> Response:
    data = quarantine.raw_of(uow, actor, platform.blobs, item_id)
    # Served as bytes to save, never rendered: the mail is the hostile part here.
    return Response(
        data,
        media_type="application/octet-stream",
        headers=download_headers(f"quarantined-{item_id}.eml"),
    )


class RetriedMailOut(BaseModel):
    outcome: str  # stored | duplicate | quarantined
    message_id: str | None
    interaction_id: str | None
    reason: str | None  # why it is held again


@router.post("/quarantine/{item_id}/retry", response_model=RetriedMailOut)
def retry_quarantined_mail(
    item_id: str, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> RetriedMailOut:
    """Take the mail through intake again; a mail held again gets a new quarantine entry."""
    outcome = quarantine.retry(uow, actor, mail_context(platform), item_id)
    return RetriedMailOut(
        outcome=outcome.kind,
        message_id=outcome.message_id,
        interaction_id=outcome.interaction_id,
        reason=outcome.reason,
    )


@router.delete("/quarantine/{item_id}", status_code=204)
def discard_quarantined_mail(item_id: str, uow: UowDep, actor: ActorDep) -> Response:
    quarantine.discard(uow, actor, item_id)
    return Response(status_code=204)
