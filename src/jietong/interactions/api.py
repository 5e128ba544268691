"""HTTP for interactions, messages, attachments and the customer timeline: translation
only, a few lines per endpoint."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from jietong.app.deps import ActorDep, CursorQuery, LimitQuery, PlatformDep, SearchQuery, UowDep
from jietong.core.errors import InvalidInput
from jietong.core.schemas import PageOut
from jietong.interactions import attachments, service
from jietong.interactions.model import (
    AuthorKind,
    ChannelName,
    Direction,
    InteractionState,
    ParticipantRole,
)
from jietong.interactions.schemas import (
    ID_PATTERN,
    AttachmentOut,
    InteractionCreate,
    InteractionOut,
    InteractionTransitionIn,
    MessageCreate,
    MessageOut,
    ParticipantOut,
    TransitionOut,
)
from jietong.storage.tables import MessageRow

router = APIRouter(prefix="/interactions", tags=["interactions"])
timeline_router = APIRouter(tags=["interactions"])

IdQuery = Annotated[str | None, Query(pattern=ID_PATTERN)]
_BINARY = {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}


def to_out(view: service.InteractionView) -> InteractionOut:
    i = view.interaction
    return InteractionOut(
        id=i.id,
        channel=i.channel,
        direction=Direction(i.direction),
        state=InteractionState(i.state),
        customer_id=i.customer_id,
        queue_id=i.queue_id,
        team_id=i.team_id,
        assigned_user_id=i.assigned_user_id,
        subject=i.subject,
        external_ref=i.external_ref,
        arrived_at=i.arrived_at,
        queued_at=i.queued_at,
        offered_at=i.offered_at,
        answered_at=i.answered_at,
        ended_at=i.ended_at,
        wrapup_ended_at=i.wrapup_ended_at,
        updated_at=i.updated_at,
        participants=[
            ParticipantOut(
                id=p.id,
                role=ParticipantRole(p.role),
                user_id=p.user_id,
                customer_id=p.customer_id,
                joined_at=p.joined_at,
                left_at=p.left_at,
            )
            for p in view.participants
        ],
        allowed_triggers=view.allowed_triggers,
    )


def message_out(m: MessageRow) -> MessageOut:
    return MessageOut(
        id=m.id,
        interaction_id=m.interaction_id,
        channel=m.channel,
        external_id=m.external_id,
        direction=Direction(m.direction),
        author_kind=AuthorKind(m.author_kind),
        author_user_id=m.author_user_id,
        internal=m.internal,
        body_text=m.body_text,
        created_at=m.created_at,
    )


@router.get("", response_model=PageOut[InteractionOut])
def list_interactions(
    uow: UowDep,
    actor: ActorDep,
    state: InteractionState | None = None,
    channel: ChannelName | None = None,
    customer_id: IdQuery = None,
    queue_id: IdQuery = None,
    assigned_user_id: IdQuery = None,
    q: SearchQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[InteractionOut]:
    page = service.list_interactions(
        uow,
        actor,
        state=state,
        channel=channel,
        customer_id=customer_id,
        queue_id=queue_id,
        assigned_user_id=assigned_user_id,
        query=q,
        cursor=cursor,
        limit=limit,
    )
    return PageOut(items=[to_out(v) for v in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=InteractionOut)
def create_interaction(
    body: InteractionCreate, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> InteractionOut:
    channels = platform.channels.interaction_channels()
    if body.channel not in channels:
        known = ", ".join(sorted(channels))
        raise InvalidInput(f"channel: unknown channel '{body.channel}' (known: {known})")
    return to_out(service.create_interaction(uow, actor, body))


@router.get("/{interaction_id}", response_model=InteractionOut)
def get_interaction(interaction_id: str, uow: UowDep, actor: ActorDep) -> InteractionOut:
    return to_out(service.get_interaction(uow, actor, interaction_id))


@router.get("/{interaction_id}/transitions", response_model=list[TransitionOut])
def list_transitions(interaction_id: str, uow: UowDep, actor: ActorDep) -> list[TransitionOut]:
    rows = service.list_transitions(uow, actor, interaction_id)
    return [TransitionOut.model_validate(r) for r in rows]


@router.post("/{interaction_id}/transitions", response_model=InteractionOut)
def transition_interaction(
    interaction_id: str, body: InteractionTransitionIn, uow: UowDep, actor: ActorDep
) -> InteractionOut:
    view = service.transition_interaction(
        uow, actor, interaction_id, body.trigger, assigned_user_id=body.assigned_user_id
    )
    return to_out(view)


@router.get("/{interaction_id}/messages", response_model=PageOut[MessageOut])
def list_messages(
    interaction_id: str,
    uow: UowDep,
    actor: ActorDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[MessageOut]:
    page = service.list_messages(uow, actor, interaction_id, cursor=cursor, limit=limit)
    return PageOut(items=[message_out(m) for m in page.items], next_cursor=page.next_cursor)


@router.post(
    "/{interaction_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageOut,
    responses={200: {"model": MessageOut, "description": "A repeated external_id."}},
)
def add_message(
    interaction_id: str, body: MessageCreate, response: Response, uow: UowDep, actor: ActorDep
) -> MessageOut:
    added = service.add_message(uow, actor, interaction_id, body)
    if not added.created:
        response.status_code = status.HTTP_200_OK
    return message_out(added.message)


@router.get("/{interaction_id}/attachments", response_model=list[AttachmentOut])
def list_attachments(interaction_id: str, uow: UowDep, actor: ActorDep) -> list[AttachmentOut]:
    rows = attachments.list_attachments(uow, actor, interaction_id)
    return [AttachmentOut.model_validate(r) for r in rows]


@router.post(
    "/{interaction_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentOut,
)
def upload_attachment(
    interaction_id: str,
    file: Annotated[UploadFile, File(description="The file; its type is sniffed.")],
    uow: UowDep,
    actor: ActorDep,
    platform: PlatformDep,
    message_id: Annotated[str | None, Form(pattern=ID_PATTERN)] = None,
) -> AttachmentOut:
    limit = platform.settings.max_attachment_bytes
    # One byte past the limit is enough to know it is too large.
    data = file.file.read(limit + 1)
    row = attachments.store_attachment(
        uow,
        actor,
        platform.blobs,
        interaction_id,
        filename=file.filename or "",
        data=data,
        declared_content_type=file.content_type,
        message_id=message_id,
        max_bytes=limit,
    )
    return AttachmentOut.model_validate(row)


@router.get(
    "/{interaction_id}/attachments/{attachment_id}",
    response_model=AttachmentOut,
)
def get_attachment(
    interaction_id: str, attachment_id: str, uow: UowDep, actor: ActorDep
) -> AttachmentOut:
    row = attachments.get_attachment(uow, actor, attachment_id, interaction_id=interaction_id)
    return AttachmentOut.model_validate(row)


@router.get(
    "/{interaction_id}/attachments/{attachment_id}/content",
    response_class=Response,
    responses={200: _BINARY},
)
def download_attachment(
    interaction_id: str, attachment_id: str, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> Response:
    content = attachments.open_attachment(
        uow, actor, platform.blobs, attachment_id, interaction_id=interaction_id
    )
    return Response(
        content.data,
        media_type=content.served_type,
        headers=download_headers(content.attachment.filename),
    )


def download_headers(filename: str) -> dict[str, str]:
    """Always a download, never rendered: RFC 5987 filename (any script, e.g. Chinese),
    no MIME sniffing, and a sandbox in case a browser renders it anyway."""
    return {
        "Content-Disposition": "attachment; filename*=UTF-8''" + quote(filename, safe=""),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, no-store",
    }


@timeline_router.get("/customers/{customer_id}/timeline", response_model=PageOut[InteractionOut])
def customer_timeline(
    customer_id: str,
    uow: UowDep,
    actor: ActorDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> PageOut[InteractionOut]:
    page = service.customer_timeline(uow, actor, customer_id, cursor=cursor, limit=limit)
    return PageOut(items=[to_out(v) for v in page.items], next_cursor=page.next_cursor)
