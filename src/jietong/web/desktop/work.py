"""What an agent does to a conversation from the desk beyond the domain APIs: internal
notes that mention colleagues and the wrap-up (code and disposition note) that closes a
contact (transfers: `transfer`).

Each goes through the domain services (interactions, cases, routing), which check the
actor's permissions and visibility; this module adds the desk's own rules and rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from jietong.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from jietong.core.ids import new_id
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.interactions import service as interactions_service
from jietong.interactions.model import AuthorKind, Direction
from jietong.interactions.schemas import MessageCreate
from jietong.storage.tables import InteractionRow, MessageRow
from jietong.storage.tables_desktop import MentionRow, WrapUpRow
from jietong.storage.uow import UnitOfWork
from jietong.web.desktop import resource_store as store
from jietong.web.desktop.events import ColleagueMentioned, WrapUpRecorded
from jietong.web.desktop.resources import require_wrapup_code
from jietong.web.desktop.schemas import NoteIn, WrapUpIn

ENTITY_TYPE = "interaction"


class MentionNotFound(NotFound):
    pass


@dataclass(frozen=True)
class Note:
    message: MessageRow
    mentioned: list[str]


def add_note(uow: UnitOfWork, actor: Actor, interaction_id: str, data: NoteIn) -> Note:
    """Store an internal note (never sent to the customer) and tell each mentioned
    colleague. The note commits first: should the second step fail, the note stays and
    only the notification is lost."""
    mentioned = store.active_users(uow.session, actor.org_id, set(data.mention_ids))
    if len(mentioned) != len(set(data.mention_ids)):
        raise InvalidInput("mention_ids must be active users of the organisation")
    added = interactions_service.add_message(
        uow,
        actor,
        interaction_id,
        MessageCreate(
            body_text=data.text,
            internal=True,
            direction=Direction.OUTBOUND,
            author_kind=AuthorKind.AGENT,
        ),
    )
    message = added.message
    author = interactions_service.acting_user_id(actor)
    for user_id in sorted(set(mentioned) - {author or ""}):
        uow.session.add(
            MentionRow(
                id=new_id(),
                org_id=actor.org_id,
                interaction_id=message.interaction_id,
                message_id=message.id,
                mentioned_user_id=user_id,
                author_user_id=author,
                created_at=uow.now,
                read_at=None,
            )
        )
        uow.emit(
            ColleagueMentioned(
                org_id=actor.org_id,
                interaction_id=message.interaction_id,
                message_id=message.id,
                user_id=user_id,
                author_user_id=author,
            )
        )
    uow.commit()
    return Note(message, sorted(mentioned))


def record_wrapup(uow: UnitOfWork, actor: Actor, interaction_id: str, data: WrapUpIn) -> WrapUpRow:
    """Record the outcome of a contact in wrap-up and close it, in one transaction. Only
    its agent (or someone who sees the whole organisation) may; once per agent."""
    require(actor, Permission.INTERACTIONS_WRITE)
    row = own_interaction(uow, actor, interaction_id)
    code = None if data.code_id is None else require_wrapup_code(uow, actor, data.code_id)
    author = interactions_service.acting_user_id(actor)
    if store.find_wrapup(uow.session, row.id, author) is not None:
        raise Conflict("you have recorded the wrap-up of this contact already")
    wrapup = WrapUpRow(
        id=new_id(),
        org_id=actor.org_id,
        interaction_id=row.id,
        user_id=author,
        code_id=None if code is None else code.id,
        note=data.note,
        created_at=uow.now,
    )
    uow.session.add(wrapup)
    uow.emit(
        WrapUpRecorded(
            org_id=actor.org_id,
            interaction_id=row.id,
            user_id=author,
            code=None if code is None else code.code,
        )
    )
    uow.audit(actor, "interaction.wrapped_up", ENTITY_TYPE, row.id, {"code": code and code.code})
    # The close commits the wrap-up with it; an illegal close (not in wrap-up) rolls
    # everything back.
    interactions_service.transition_interaction(uow, actor, row.id, "close")
    return wrapup


def list_wrapups(uow: UnitOfWork, actor: Actor, interaction_id: str) -> list[WrapUpRow]:
    require(actor, Permission.INTERACTIONS_READ)
    row = interactions_service.require_interaction(uow, actor, interaction_id)
    return store.wrapups_of(uow.session, actor.org_id, row.id)


def own_interaction(uow: UnitOfWork, actor: Actor, interaction_id: str) -> InteractionRow:
    """The interaction, which must be the actor's own unless they see the whole org."""
    row = interactions_service.require_interaction(uow, actor, interaction_id)
    if row.assigned_user_id != actor.user_id and not actor.sees_whole_organisation:
        raise PermissionDenied("this conversation is assigned to someone else")
    return row


def list_mentions(uow: UnitOfWork, actor: Actor, *, unread: bool) -> list[MentionRow]:
    """Mentions of the actor whose notes they may still see, newest first."""
    require(actor, Permission.INTERACTIONS_READ)
    rows = store.mentions_of(uow.session, actor.org_id, actor.user_id, unread=unread)
    return [m for m in rows if _visible(uow, actor, m.interaction_id)]


def mark_mention_read(uow: UnitOfWork, actor: Actor, mention_id: str) -> MentionRow:
    require(actor, Permission.INTERACTIONS_READ)
    row = store.find_mention(uow.session, actor.org_id, mention_id)
    if row is None or row.mentioned_user_id != actor.user_id:
        raise MentionNotFound(f"mention {mention_id} not found")
    if row.read_at is None:
        row.read_at = uow.now
        uow.commit()
    return row


def _visible(uow: UnitOfWork, actor: Actor, interaction_id: str) -> bool:
    try:
        interactions_service.require_interaction(uow, actor, interaction_id)
    except NotFound:
        return False
    return True
