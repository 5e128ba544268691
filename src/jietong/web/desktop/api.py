"""HTTP for the screens (under /api/v1/desktop): snapshots, interaction cards, canned
responses, wrap-up codes, and the desk's conversation actions (replies with rich text,
CC and files; notes with mentions; wrap-up; transfer).
Translation only; the decisions live in snapshot.py, cards.py and service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from jietong.app.deps import ActorDep, PlatformDep, UowDep
from jietong.channels import deliveries
from jietong.channels.reply_contents import ReplyParts
from jietong.interactions.schemas import ID_PATTERN
from jietong.web.desktop import cards, resources, snapshot, work
from jietong.web.desktop import transfer as transfer_service
from jietong.web.desktop.schemas import (
    CannedIn,
    CannedOut,
    CannedUpdate,
    InteractionCard,
    MentionOut,
    NoteIn,
    NoteOut,
    ReplyIn,
    ReplyOut,
    SnapshotOut,
    TransferIn,
    TransferOut,
    View,
    WrapUpCodeIn,
    WrapUpCodeOut,
    WrapUpCodeUpdate,
    WrapUpIn,
    WrapUpOut,
)

router = APIRouter(prefix="/desktop", tags=["desktop"])

IdPath = Annotated[str, Path(pattern=ID_PATTERN)]

IdList = Annotated[
    list[Annotated[str, Query(pattern=ID_PATTERN)]],
    Query(max_length=cards.MAX_CARDS, description="Interaction ids (repeat the parameter)."),
]


@router.get("/snapshot", response_model=SnapshotOut)
def get_snapshot(uow: UowDep, actor: ActorDep, view: View = View.DESK) -> SnapshotOut:
    """The reducer's initial state for the desk or the wallboard: open the event stream
    with `after=state.as_of` and ignore the events listed in `state.skip`."""
    return snapshot.build_snapshot(uow, actor, view)


@router.get("/interaction-cards", response_model=list[InteractionCard])
def get_interaction_cards(uow: UowDep, actor: ActorDep, ids: IdList) -> list[InteractionCard]:
    """Cards of the given interactions the caller may see (others are left out)."""
    return cards.interaction_cards(uow, actor, ids)


# -- canned responses and wrap-up codes ---------------------------------------------------


@router.get("/canned-responses", response_model=list[CannedOut])
def list_canned(uow: UowDep, actor: ActorDep) -> list[CannedOut]:
    return [CannedOut.model_validate(r) for r in resources.list_canned(uow, actor)]


@router.post("/canned-responses", status_code=status.HTTP_201_CREATED, response_model=CannedOut)
def create_canned(body: CannedIn, uow: UowDep, actor: ActorDep) -> CannedOut:
    return CannedOut.model_validate(resources.create_canned(uow, actor, body))


@router.patch("/canned-responses/{canned_id}", response_model=CannedOut)
def update_canned(canned_id: IdPath, body: CannedUpdate, uow: UowDep, actor: ActorDep) -> CannedOut:
    return CannedOut.model_validate(resources.update_canned(uow, actor, canned_id, body))


@router.delete("/canned-responses/{canned_id}", status_code=204)
def delete_canned(canned_id: IdPath, uow: UowDep, actor: ActorDep) -> Response:
    resources.delete_canned(uow, actor, canned_id)
    return Response(status_code=204)


@router.get("/wrap-up-codes", response_model=list[WrapUpCodeOut])
def list_wrapup_codes(uow: UowDep, actor: ActorDep) -> list[WrapUpCodeOut]:
    return [WrapUpCodeOut.model_validate(r) for r in resources.list_wrapup_codes(uow, actor)]


@router.post("/wrap-up-codes", status_code=status.HTTP_201_CREATED, response_model=WrapUpCodeOut)
def create_wrapup_code(body: WrapUpCodeIn, uow: UowDep, actor: ActorDep) -> WrapUpCodeOut:
    return WrapUpCodeOut.model_validate(resources.create_wrapup_code(uow, actor, body))


@router.patch("/wrap-up-codes/{code_id}", response_model=WrapUpCodeOut)
def update_wrapup_code(
    code_id: IdPath, body: WrapUpCodeUpdate, uow: UowDep, actor: ActorDep
) -> WrapUpCodeOut:
    return WrapUpCodeOut.model_validate(resources.update_wrapup_code(uow, actor, code_id, body))


@router.delete("/wrap-up-codes/{code_id}", status_code=204)
def delete_wrapup_code(code_id: IdPath, uow: UowDep, actor: ActorDep) -> Response:
    resources.delete_wrapup_code(uow, actor, code_id)
    return Response(status_code=204)


# -- conversation actions ------------------------------------------------------------------


@router.post(
    "/interactions/{interaction_id}/notes",
    status_code=status.HTTP_201_CREATED,
    response_model=NoteOut,
)
def add_note(interaction_id: IdPath, body: NoteIn, uow: UowDep, actor: ActorDep) -> NoteOut:
    """An internal note (staff only); each colleague in `mention_ids` is told."""
    note = work.add_note(uow, actor, interaction_id, body)
    return NoteOut(message_id=note.message.id, mentioned=note.mentioned)


@router.post(
    "/interactions/{interaction_id}/wrap-up",
    status_code=status.HTTP_201_CREATED,
    response_model=WrapUpOut,
)
def wrap_up(interaction_id: IdPath, body: WrapUpIn, uow: UowDep, actor: ActorDep) -> WrapUpOut:
    """Record the wrap-up code and disposition note, and close the contact."""
    return WrapUpOut.model_validate(work.record_wrapup(uow, actor, interaction_id, body))


@router.get("/interactions/{interaction_id}/wrap-ups", response_model=list[WrapUpOut])
def list_wrapups(interaction_id: IdPath, uow: UowDep, actor: ActorDep) -> list[WrapUpOut]:
    return [WrapUpOut.model_validate(r) for r in work.list_wrapups(uow, actor, interaction_id)]


@router.post(
    "/interactions/{interaction_id}/replies",
    status_code=status.HTTP_201_CREATED,
    response_model=ReplyOut,
)
def reply(
    interaction_id: IdPath, body: ReplyIn, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> ReplyOut:
    """Reply to the customer through the delivery outbox; on email with rich text, CC and
    files (422 on another channel, 413 when the files together pass the size limit)."""
    parts = ReplyParts(body.html, tuple(body.cc), tuple(body.attachment_ids))
    sent = deliveries.send_reply(
        uow,
        actor,
        platform.channels,
        interaction_id,
        body.text,
        now=uow.now,
        parts=parts,
        max_attachment_bytes=platform.settings.max_attachment_bytes,
    )
    return ReplyOut(
        message_id=sent.message.id,
        delivery_id=sent.delivery.id,
        status=sent.delivery.status,
        cc=list(sent.parts.cc),
        attachment_ids=list(sent.parts.attachment_ids),
    )


@router.post("/interactions/{interaction_id}/transfer", response_model=TransferOut)
def transfer(interaction_id: IdPath, body: TransferIn, uow: UowDep, actor: ActorDep) -> TransferOut:
    """Transfer to an agent, a queue or a department (a hand-off case), with a note."""
    done = transfer_service.transfer(uow, actor, interaction_id, body)
    return TransferOut(
        interaction_id=done.interaction_id,
        target=done.target,
        target_id=done.target_id,
        case_id=done.case_id,
    )


@router.get("/mentions", response_model=list[MentionOut])
def list_mentions(uow: UowDep, actor: ActorDep, unread: bool = True) -> list[MentionOut]:
    """Notes that mention the caller, newest first."""
    return [MentionOut.model_validate(m) for m in work.list_mentions(uow, actor, unread=unread)]


@router.post("/mentions/{mention_id}/read", response_model=MentionOut)
def read_mention(mention_id: IdPath, uow: UowDep, actor: ActorDep) -> MentionOut:
    return MentionOut.model_validate(work.mark_mention_read(uow, actor, mention_id))
