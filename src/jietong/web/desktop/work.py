"""What an agent does to a conversation from the desk beyond the domain APIs: internal
notes that mention colleagues, the wrap-up (code and disposition note) that closes a
contact, and transfers to an agent, a queue or a back-office department with a note.

Each goes through the domain services (interactions, cases, routing), which check the
actor's permissions and visibility; this module adds the desk's own rules and rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from jietong.agents import store as agent_store
from jietong.cases import service as cases_service
from jietong.cases.model import CaseType
from jietong.cases.schemas import CaseCreate, CaseUpdate
from jietong.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from jietong.core.ids import new_id
from jietong.core.permissions import Permission, has_permission, require
from jietong.core.tenancy import Actor, Role
from jietong.interactions import service as interactions_service
from jietong.interactions.model import AuthorKind, Direction
from jietong.interactions.schemas import MessageCreate
from jietong.routing import store as routing_store
from jietong.routing import supervision
from jietong.routing.configuration import settings_of_org
from jietong.routing.entries import sync_entries
from jietong.storage.tables import InteractionRow, MessageRow
from jietong.storage.tables_desktop import MentionRow, WrapUpRow
from jietong.storage.uow import UnitOfWork
from jietong.web.desktop import resource_store as store
from jietong.web.desktop.events import ColleagueMentioned, WrapUpRecorded
from jietong.web.desktop.resources import require_wrapup_code
from jietong.web.desktop.schemas import NoteIn, TransferIn, TransferTarget, WrapUpIn

ENTITY_TYPE = "interaction"


class MentionNotFound(NotFound):
    pass


@dataclass(frozen=True)
class Note:
    message: MessageRow
    mentioned: list[str]


@dataclass(frozen=True)
class Transfer:
    interaction_id: str
    target: TransferTarget
    target_id: str
    case_id: str | None


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
    row = _own_interaction(uow, actor, interaction_id)
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


def transfer(uow: UnitOfWork, actor: Actor, interaction_id: str, data: TransferIn) -> Transfer:
    """Hand a connected conversation over, with a note for whoever takes it:

    - to a department: a case for that back-office team, linked to the conversation, with
      the note as its description (the conversation stays with the agent);
    - to a queue or an agent: the note, then the conversation goes back to routing
      (`transfer`), into that queue or offered to that agent.
    """
    require(actor, Permission.INTERACTIONS_WRITE)
    row = _own_interaction(uow, actor, interaction_id)
    if row.state != "connected":
        raise Conflict("only a connected conversation can be transferred")
    if data.target is TransferTarget.DEPARTMENT:
        case_id = _hand_to_department(uow, actor, row, data)
        return Transfer(row.id, data.target, data.target_id, case_id)
    _check_target(uow, actor, data)
    _note(uow, actor, row, data.note)
    interactions_service.transition_interaction(uow, actor, row.id, "transfer")
    # The transfer put it back in its queue; routing gives it a place now rather than at
    # the engine's next cycle, so that it can be moved or offered at once.
    sync_entries(uow, actor.org_id, settings_of_org(uow, actor.org_id), now=uow.now)
    router = _routing_on_behalf_of(actor)
    if data.target is TransferTarget.QUEUE:
        supervision.move_interaction(uow, router, row.id, data.target_id, now=uow.now)
    else:
        supervision.assign_interaction(uow, router, row.id, data.target_id, now=uow.now)
    return Transfer(row.id, data.target, data.target_id, None)


def _check_target(uow: UnitOfWork, actor: Actor, data: TransferIn) -> None:
    """Refuse a bad target before anything changes (the conversation stays put)."""
    if data.target is TransferTarget.QUEUE:
        if routing_store.find_queue(uow.session, actor.org_id, data.target_id) is None:
            raise InvalidInput(f"unknown queue {data.target_id}")
        return
    presence = agent_store.find_presence(uow.session, actor.org_id, data.target_id)
    if not store.active_users(uow.session, actor.org_id, [data.target_id]):
        raise InvalidInput(f"unknown or inactive agent {data.target_id}")
    if data.target_id == actor.user_id:
        raise InvalidInput("transfer to someone else")
    if presence is None or presence.state == "offline":
        raise Conflict("that agent is not logged in")


def _routing_on_behalf_of(actor: Actor) -> Actor:
    """The actor for routing's move and assign, which need 'routing:supervise'.

    An agent may hand over their own connected conversation (checked by `transfer`
    before anything changed): the desk grants routing's supervisor step for that one
    interaction, acting under the agent's own user id so that routing's audit names
    them. Never use it for anything the agent did not choose on their own work."""
    if has_permission(actor, Permission.ROUTING_SUPERVISE):
        return actor
    scopes = actor.scopes
    if scopes is not None:  # a token keeps its narrowing, plus this one step
        scopes = scopes | {Permission.ROUTING_SUPERVISE.value}
    return replace(actor, role=Role.SUPERVISOR, scopes=scopes)


def _hand_to_department(
    uow: UnitOfWork, actor: Actor, row: InteractionRow, data: TransferIn
) -> str:
    team = store.find_team(uow.session, actor.org_id, data.target_id)
    if team is None or team.kind != "department":
        raise InvalidInput(f"unknown department {data.target_id}")
    subject = (row.subject or "").strip() or f"{row.channel} {row.arrived_at:%Y-%m-%d}"
    # Opened owned by the agent so that they may link it; then the ownership is handed
    # to the department alone.
    case = cases_service.open_case(
        uow,
        actor,
        CaseCreate(
            case_type=CaseType.REQUEST,
            subject=subject[:500],
            description=data.note,
            customer_id=row.customer_id,
            owner_user_id=interactions_service.acting_user_id(actor),
            department_id=team.id,
        ),
    ).case
    cases_service.link_interaction(uow, actor, case.id, row.id)
    cases_service.update_case(uow, actor, case.id, CaseUpdate(owner_user_id=None))
    _note(uow, actor, row, f"→ {team.name} (#{case.number})\n{data.note}".strip())
    return case.id


def _note(uow: UnitOfWork, actor: Actor, row: InteractionRow, text: str) -> None:
    if text.strip():
        add_note(uow, actor, row.id, NoteIn(text=text))


def _own_interaction(uow: UnitOfWork, actor: Actor, interaction_id: str) -> InteractionRow:
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
