"""Web chat messages: sent through intake, numbered in the visitor's timeline, read back
in order; and what the visitor is told about their wait. No HTTP here.

Sending: the widget gives each message a client id; the message's external id is
`<visitor id>:<client id>`, so a resend after a lost acknowledgement hits intake's
UNIQUE constraint and returns the stored message: sent twice, stored once.

Ordering: every message the visitor may see gets the next number of the visitor's
timeline (`seq`) under a lock on the visitor's row, in the order the numbering finds
them committed. A reconnecting widget asks for everything after the last number it
showed, so nothing is lost at a reconnect and nothing is shown twice. Numbering is lazy
(`sequence`): it runs after each of the visitor's sends and whenever the gateway is
woken for one of the visitor's conversations, so a crash between intake's commit and
the numbering only delays a message until the next call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from jietong.channels.base import InboundAttachment, InboundMessage, Party
from jietong.channels.webchat import store
from jietong.channels.webchat.availability import RoutingView
from jietong.channels.webchat.config import CHANNEL, OfflineWhen, PreChat, WidgetConfig
from jietong.channels.webchat.events import ChatTypingStarted
from jietong.channels.webchat.model import (
    AttachmentInfo,
    ChatContext,
    ConversationStatus,
    Online,
    Posted,
    TimelineItem,
    Visitor,
    VisitorFile,
)
from jietong.channels.webchat.sessions import apply_prechat, stored_prechat
from jietong.core.errors import InvalidInput, NotFound
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.identity.contact_points import ContactKind
from jietong.interactions import intake
from jietong.interactions.attachments import served_content_type
from jietong.interactions.committer import IntakeRequest
from jietong.interactions.model import Direction, InteractionState
from jietong.interactions.service import require_interaction
from jietong.storage.blobs import BlobStore
from jietong.storage.tables import AttachmentRow, MessageRow
from jietong.storage.tables_webchat import WebchatTimelineRow
from jietong.storage.uow import UnitOfWork

MAX_TEXT = 10_000
PAGE = 200
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_WAITING = frozenset({InteractionState.ARRIVED, InteractionState.QUEUED, InteractionState.OFFERED})


# -- messages ---------------------------------------------------------------------------


def post_message(
    ctx: ChatContext,
    widget: WidgetConfig,
    visitor: Visitor,
    *,
    client_id: str,
    text: str,
    attachments: Sequence[InboundAttachment] = (),
    metadata: dict[str, str] | None = None,
    form_answered: bool = False,
    now: datetime,
) -> Posted:
    """Store the visitor's message through the intake committer (committed before this
    returns; a repeated client id returns the stored message) and number it in the
    visitor's timeline."""
    if not _CLIENT_ID.match(client_id):
        raise InvalidInput("client_id must be 8-64 letters, digits, '-' or '_'")
    if "\x00" in text or len(text) > MAX_TEXT:
        raise InvalidInput(f"a chat message is at most {MAX_TEXT} characters, without NUL")
    if not text.strip() and not attachments:
        raise InvalidInput("an empty message")
    if widget.pre_chat is PreChat.REQUIRED and not (form_answered or _introduced(visitor)):
        raise InvalidInput("this chat asks for your name and email or phone first")
    message = _inbound(widget, visitor, client_id, text, attachments, metadata or {}, now)
    prepared = intake.prepare(
        message, blobs=ctx.blobs, max_attachment_bytes=widget.max_attachment_bytes
    )
    # The committer shares its commits among the messages arriving together; the
    # visitor's acknowledgement waits for the one holding this message.
    request = IntakeRequest(prepared, default_region=ctx.default_region, policy=ctx.policy)
    result = ctx.submit(request).result()
    if result.created_customer and (visitor.email or visitor.phone):
        apply_prechat(ctx, visitor, stored_prechat(visitor))
    with ctx.new_uow() as uow:
        numbered = sequence(uow, visitor.org_id, visitor.id)
        seq = numbered.get(result.message_id) or store.seq_of(
            uow.session, visitor.id, result.message_id
        )
    return Posted(result.message_id, result.interaction_id, seq, result.duplicate)


def _introduced(visitor: Visitor) -> bool:
    """Whether the pre-chat form was answered (a site-verified user need not)."""
    return visitor.verified or bool(visitor.name and (visitor.email or visitor.phone))


def _inbound(
    widget: WidgetConfig,
    visitor: Visitor,
    client_id: str,
    text: str,
    attachments: Sequence[InboundAttachment],
    metadata: dict[str, str],
    now: datetime,
) -> InboundMessage:
    return InboundMessage(
        channel=CHANNEL,
        org_id=visitor.org_id,
        external_id=f"{visitor.id}:{client_id}",
        sender=Party(kind=ContactKind.CHAT_VISITOR, address=visitor.id, display_name=visitor.name),
        received_at=now,
        text=text,
        # The visitor is the thread: intake joins their open conversation, follows up a
        # recently resolved one, or opens a new one — and nobody else can name it.
        thread_key=visitor.id,
        attachments=tuple(attachments),
        account_id=widget.key,
        queue_id=widget.queue_id,
        metadata={"widget": widget.key, **metadata},
    )


def sequence(uow: UnitOfWork, org_id: str, visitor_id: str) -> dict[str, int]:
    """Number the visitor's not yet numbered messages (commits); returns the new numbers
    by message id. The visitor's row lock makes numberings of one visitor take turns
    (SQLite's BEGIN IMMEDIATE does the same for every writer)."""
    if store.find_visitor(uow.session, visitor_id, for_update=True) is None:
        return {}
    pending = store.unsequenced(
        uow.session, org_id, visitor_id, store.interactions_of(uow.session, org_id, visitor_id)
    )
    if not pending:
        uow.session.rollback()
        return {}
    seq = store.last_seq(uow.session, visitor_id)
    numbers = {}
    for message in pending:
        seq += 1
        numbers[message.id] = seq
        uow.session.add(
            WebchatTimelineRow(
                visitor_id=visitor_id,
                seq=seq,
                org_id=org_id,
                message_id=message.id,
                interaction_id=message.interaction_id,
                created_at=uow.now,
            )
        )
    try:
        uow.commit()
    except IntegrityError:
        uow.session.rollback()  # another numbering won the race; its numbers stand
        return {}
    return numbers


def timeline(
    uow: UnitOfWork, visitor: Visitor, *, after: int, limit: int = PAGE
) -> list[TimelineItem]:
    """The visitor's messages numbered after `after`, in order (at most `limit`)."""
    rows = store.timeline_after(uow.session, visitor.id, max(after, 0), min(limit, PAGE))
    messages = [m for _t, m in rows]
    names = store.display_names(
        uow.session, visitor.org_id, {m.author_user_id for m in messages if m.author_user_id}
    )
    files = store.attachments_of_messages(uow.session, visitor.org_id, [m.id for m in messages])
    return [_item(t, m, names, files.get(m.id, []), visitor.id) for t, m in rows]


def _item(
    row: WebchatTimelineRow,
    message: MessageRow,
    names: dict[str, str],
    files: list[AttachmentRow],
    visitor_id: str,
) -> TimelineItem:
    inbound = message.direction == Direction.INBOUND.value
    author = "visitor" if inbound else ("agent" if message.author_user_id else "system")
    prefix = f"{visitor_id}:"
    external = message.external_id or ""
    return TimelineItem(
        seq=row.seq,
        message_id=message.id,
        interaction_id=message.interaction_id,
        author=author,
        agent_name=None if inbound else names.get(message.author_user_id or ""),
        text=message.body_text,
        at=message.created_at.astimezone(UTC),
        client_id=external[len(prefix) :] if inbound and external.startswith(prefix) else None,
        attachments=tuple(
            AttachmentInfo(f.id, f.filename, f.content_type, f.size_bytes) for f in files
        ),
    )


def open_attachment(
    uow: UnitOfWork, blobs: BlobStore, visitor: Visitor, attachment_id: str
) -> VisitorFile:
    """A file of a message in the visitor's timeline, with the type it may safely be
    served as; NotFound for any other file (including other visitors' files)."""
    row = store.find_attachment(uow.session, visitor.org_id, attachment_id)
    if (
        row is None
        or row.message_id is None
        or not store.in_timeline(uow.session, visitor.id, row.message_id)
    ):
        raise NotFound(f"attachment {attachment_id} not found")
    try:
        data = blobs.get(row.storage_key)
    except KeyError:
        raise NotFound(f"the content of attachment {attachment_id} is gone") from None
    return VisitorFile(data, served_content_type(row.content_type), row.filename)


# -- what the visitor is told -----------------------------------------------------------


def status(
    uow: UnitOfWork, routing: RoutingView, visitor: Visitor, *, now: datetime
) -> ConversationStatus:
    """The state of the visitor's latest conversation; while it waits, its place in the
    queue and the estimated wait; once an agent has it, the agent's name."""
    row = store.latest_interaction(uow.session, visitor.org_id, visitor.id)
    if row is None:
        return ConversationStatus("none")
    state = InteractionState(row.state)
    if state in _WAITING:
        place = routing.waiting(uow, visitor.org_id, row.id, now=now)
        if place is None:
            return ConversationStatus("waiting", row.id)
        return ConversationStatus(
            "waiting", row.id, place.position, place.ewt_seconds, deferred=place.deferred
        )
    if state is InteractionState.CONNECTED:
        names = store.display_names(uow.session, visitor.org_id, [row.assigned_user_id or ""])
        return ConversationStatus(
            "connected", row.id, agent_name=names.get(row.assigned_user_id or "")
        )
    return ConversationStatus("ended", row.id)


def availability(
    uow: UnitOfWork, routing: RoutingView, widget: WidgetConfig, *, now: datetime
) -> Online:
    """Whether the widget offers a live chat now or the offline form: outside the
    queue's business hours, or (by default) with no agent logged in and not paused."""
    if widget.offline_when is OfflineWhen.NEVER or widget.queue_id is None:
        return Online(True)
    found = routing.availability(uow, widget.org_id, widget.queue_id, now=now)
    if not found.open:
        return Online(False, "closed", found.agents)
    if widget.offline_when is OfflineWhen.NO_AGENTS and found.agents == 0:
        return Online(False, "no_agents", 0)
    return Online(True, None, found.agents)


# -- typing -----------------------------------------------------------------------------


def visitor_typing(ctx: ChatContext, visitor: Visitor) -> str | None:
    """Tell the agents of the visitor's open conversation that the visitor types;
    returns the interaction, or None when there is no open conversation."""
    with ctx.new_uow() as uow:
        row = store.latest_interaction(uow.session, visitor.org_id, visitor.id)
        if row is None or InteractionState(row.state) not in (
            *_WAITING,
            InteractionState.CONNECTED,
        ):
            return None
        uow.emit(
            ChatTypingStarted(
                org_id=visitor.org_id, interaction_id=row.id, who="visitor", agent_id=None
            )
        )
        uow.commit()
        return row.id


def agent_typing(uow: UnitOfWork, actor: Actor, interaction_id: str) -> None:
    """Tell the visitor that this agent types in their chat (404 for an interaction the
    agent may not see, 422 for one that is not a web chat)."""
    require(actor, Permission.INTERACTIONS_WRITE)
    row = require_interaction(uow, actor, interaction_id)
    if row.channel != CHANNEL:
        raise InvalidInput("typing indicators exist only in web chats")
    uow.emit(
        ChatTypingStarted(
            org_id=row.org_id,
            interaction_id=row.id,
            who="agent",
            agent_id=None if actor.user_id == "system" else actor.user_id,
        )
    )
    uow.commit()
