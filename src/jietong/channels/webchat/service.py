"""Web chat decisions: visitor sessions, messages through intake, the visitor's timeline,
and what the visitor is told about their wait. No HTTP here.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from jietong.channels.accounts import find_webhook_account
from jietong.channels.base import InboundAttachment, InboundMessage, Party
from jietong.channels.webchat import store, tokens
from jietong.channels.webchat.availability import RoutingView
from jietong.channels.webchat.config import (
    CHANNEL,
    PROVIDER,
    OfflineWhen,
    WidgetConfig,
    widget_config,
)
from jietong.channels.webchat.events import ChatTypingStarted
from jietong.core.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor, system_actor
from jietong.identity import service as identity_service
from jietong.identity import store as identity_store
from jietong.identity.contact_points import ContactKind, normalise
from jietong.identity.schemas import ContactPointIn
from jietong.interactions import intake
from jietong.interactions.attachments import served_content_type
from jietong.interactions.model import Direction, InteractionState
from jietong.interactions.service import require_interaction
from jietong.storage.blobs import BlobStore
from jietong.storage.tables import AttachmentRow, MessageRow
from jietong.storage.tables_webchat import WebchatTimelineRow, WebchatVisitorRow
from jietong.storage.uow import UnitOfWork

MAX_TEXT = 10_000
PAGE = 200
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_WAITING = frozenset({InteractionState.ARRIVED, InteractionState.QUEUED, InteractionState.OFFERED})


@dataclass(frozen=True)
class ChatContext:
    """What the chat service needs from the platform (built by the runtime)."""

    new_uow: Callable[[], UnitOfWork]
    blobs: BlobStore
    token_key: bytes
    default_region: str
    policy: intake.ThreadingPolicy
    routing: RoutingView


@dataclass(frozen=True)
class Visitor:
    id: str
    org_id: str
    widget_key: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    verified: bool = False


@dataclass(frozen=True)
class SessionRequest:
    """What the widget sends to start (or resume) a session; all optional."""

    token: str | None = None
    user_id: str | None = None
    user_hash: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str | None = None


@dataclass(frozen=True)
class SessionStarted:
    visitor: Visitor
    token: str
    expires_at: int
    last_seq: int


@dataclass(frozen=True)
class Posted:
    message_id: str
    interaction_id: str
    seq: int | None  # None only if the numbering lost a race; the next pull shows it
    duplicate: bool


@dataclass(frozen=True)
class AttachmentInfo:
    id: str
    filename: str
    content_type: str
    size_bytes: int


@dataclass(frozen=True)
class TimelineItem:
    seq: int
    message_id: str
    interaction_id: str
    author: str  # visitor | agent | system
    agent_name: str | None
    text: str
    at: datetime
    client_id: str | None
    attachments: tuple[AttachmentInfo, ...] = ()


@dataclass(frozen=True)
class ConversationStatus:
    """What the widget shows about the visitor's latest conversation."""

    state: str  # none | waiting | connected | ended
    interaction_id: str | None = None
    position: int | None = None
    ewt_seconds: float | None = None
    agent_name: str | None = None


@dataclass(frozen=True)
class Online:
    online: bool
    reason: str | None = None  # closed | no_agents, when offline
    agents: int | None = None


@dataclass(frozen=True)
class Prechat:
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    points: tuple[ContactPointIn, ...] = field(default_factory=tuple)


# -- sessions ---------------------------------------------------------------------------


def find_widget(uow: UnitOfWork, key: str) -> WidgetConfig | None:
    """The enabled widget with this key (its channel account id), or None."""
    found = find_webhook_account(uow, key, CHANNEL)
    if found is None or found.account.provider != PROVIDER:
        return None
    return widget_config(found.org_id, found.queue_id, found.account)


def start_session(
    ctx: ChatContext, widget: WidgetConfig, request: SessionRequest, *, now: datetime
) -> SessionStarted:
    """Start or resume a visitor's session and issue a fresh token. A user id needs the
    host site's HMAC (else 403); a token must be ours, for this widget, unexpired and of
    a known, unblocked visitor (else 401); without either, a new anonymous visitor."""
    visitor_id, external_user = _claimed_visitor(ctx, widget, request, now)
    prechat = prechat_of(request.name, request.email, request.phone, ctx.default_region)
    with ctx.new_uow() as uow:
        row = _visitor_row(uow, widget, visitor_id, external_user, request, now)
        _remember(row, prechat, request.locale, now)
        visitor = _view(row)
        last = store.last_seq(uow.session, visitor.id)
        _commit_visitor(uow)
    if prechat.points:
        apply_prechat(ctx, visitor, prechat)
    token, expires = tokens.issue(ctx.token_key, visitor.id, widget.key, now=now)
    return SessionStarted(visitor, token, expires, last)


def authenticate(ctx: ChatContext, widget: WidgetConfig, token: str, *, now: datetime) -> Visitor:
    """The visitor a token names, for this widget; AuthenticationFailed (401) for a bad,
    expired or foreign token, PermissionDenied (403) for a blocked visitor."""
    try:
        claims = tokens.verify(ctx.token_key, token, widget_key=widget.key, now=now)
    except tokens.InvalidToken:
        raise AuthenticationFailed("invalid or expired visitor token") from None
    with ctx.new_uow() as uow:
        row = store.find_visitor(uow.session, claims.visitor_id)
        if row is None or row.account_id != widget.key or row.org_id != widget.org_id:
            raise AuthenticationFailed("invalid or expired visitor token")
        if row.blocked_at is not None:
            raise PermissionDenied("this visitor may not chat")
        return _view(row)


def _claimed_visitor(
    ctx: ChatContext, widget: WidgetConfig, request: SessionRequest, now: datetime
) -> tuple[str, str | None]:
    if request.user_id is not None:
        try:
            tokens.check_identity(widget.identity_secret, request.user_id, request.user_hash or "")
        except tokens.IdentityRefused as exc:
            raise PermissionDenied(f"identity not verified: {exc}") from None
        return tokens.verified_visitor_id(widget.key, request.user_id), request.user_id
    if widget.identity_required:
        raise PermissionDenied("this chat is for signed-in users of the site only")
    if request.token:
        try:
            claims = tokens.verify(ctx.token_key, request.token, widget_key=widget.key, now=now)
        except tokens.InvalidToken:
            raise AuthenticationFailed("invalid or expired visitor token") from None
        if claims.visitor_id.startswith("u-"):
            # A verified visitor proves who they are each time, not with an old token.
            raise AuthenticationFailed("a signed-in visitor must send user_id and user_hash")
        return claims.visitor_id, None
    return tokens.anonymous_visitor_id(), None


def _visitor_row(
    uow: UnitOfWork,
    widget: WidgetConfig,
    visitor_id: str,
    external_user: str | None,
    request: SessionRequest,
    now: datetime,
) -> WebchatVisitorRow:
    row = store.find_visitor(uow.session, visitor_id, for_update=True)
    if row is not None:
        if row.account_id != widget.key or row.org_id != widget.org_id:
            raise AuthenticationFailed("invalid or expired visitor token")
        if row.blocked_at is not None:
            raise PermissionDenied("this visitor may not chat")
        return row
    if request.token and external_user is None:
        # Our signature, but a visitor we do not know (deleted with their widget).
        raise AuthenticationFailed("invalid or expired visitor token")
    row = WebchatVisitorRow(
        id=visitor_id,
        org_id=widget.org_id,
        account_id=widget.key,
        external_user_id=external_user,
        created_at=now,
        last_seen_at=now,
    )
    uow.session.add(row)
    return row


def _remember(row: WebchatVisitorRow, prechat: Prechat, locale: str | None, now: datetime) -> None:
    row.last_seen_at = now
    row.name = prechat.name or row.name
    row.email = prechat.email or row.email
    row.phone = prechat.phone or row.phone
    if locale in ("zh-CN", "en"):
        row.locale = locale


def _commit_visitor(uow: UnitOfWork) -> None:
    try:
        uow.commit()
    except IntegrityError:
        # Two first sessions of one verified user: the other created the row; retry.
        raise Conflict("the visitor was being created concurrently; retry") from None


def _view(row: WebchatVisitorRow) -> Visitor:
    return Visitor(
        id=row.id,
        org_id=row.org_id,
        widget_key=row.account_id,
        name=row.name,
        email=row.email,
        phone=row.phone,
        verified=row.external_user_id is not None,
    )


# -- pre-chat answers -------------------------------------------------------------------


def prechat_of(
    name: str | None, email: str | None, phone: str | None, default_region: str
) -> Prechat:
    """Validated pre-chat answers (InvalidInput for an unreadable email or phone)."""
    clean_name = " ".join((name or "").split())[:200] or None
    points = []
    clean_email = clean_phone = None
    if email and email.strip():
        clean_email = normalise(ContactKind.EMAIL, email)
        points.append(ContactPointIn(kind=ContactKind.EMAIL, value=clean_email))
    if phone and phone.strip():
        clean_phone = normalise(ContactKind.PHONE, phone, default_region)
        points.append(ContactPointIn(kind=ContactKind.PHONE, value=clean_phone))
    return Prechat(clean_name, clean_email, clean_phone, tuple(points))


def apply_prechat(ctx: ChatContext, visitor: Visitor, prechat: Prechat) -> None:
    """Give the visitor's customer the email and phone they typed, when nobody has them
    yet. What another customer already has is NOT attached and does NOT move the visitor
    to that customer: typing someone's email must not open their history. Agents see the
    answers on the conversation and can merge (suggested merges) once they are sure."""
    with ctx.new_uow() as uow:
        customer_id = customer_of(uow, visitor)
        if customer_id is None:
            return
        free = [
            p
            for p in prechat.points
            if identity_store.find_contact_point(uow.session, visitor.org_id, p.kind, p.value)
            is None
        ]
        if not free:
            return
        try:
            identity_service.enrich_customer(
                uow,
                system_actor(visitor.org_id),
                customer_id,
                new_points=free,
                update=None,
                default_region=ctx.default_region,
            )
        except Conflict:
            return  # taken meanwhile by someone else: left for a merge suggestion


def _stored_prechat(visitor: Visitor) -> Prechat:
    """The answers kept on the visitor (normalised when they were given)."""
    points = [
        ContactPointIn(kind=kind, value=value)
        for kind, value in ((ContactKind.EMAIL, visitor.email), (ContactKind.PHONE, visitor.phone))
        if value
    ]
    return Prechat(visitor.name, visitor.email, visitor.phone, tuple(points))


def customer_of(uow: UnitOfWork, visitor: Visitor) -> str | None:
    point = identity_store.find_contact_point(
        uow.session, visitor.org_id, ContactKind.CHAT_VISITOR.value, visitor.id
    )
    return None if point is None else point.customer_id


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
    now: datetime,
) -> Posted:
    """Store the visitor's message through intake (one transaction; a repeated client id
    returns the stored message) and number it in the visitor's timeline."""
    if not _CLIENT_ID.match(client_id):
        raise InvalidInput("client_id must be 8-64 letters, digits, '-' or '_'")
    if "\x00" in text or len(text) > MAX_TEXT:
        raise InvalidInput(f"a chat message is at most {MAX_TEXT} characters, without NUL")
    if not text.strip() and not attachments:
        raise InvalidInput("an empty message")
    message = _inbound(widget, visitor, client_id, text, attachments, metadata or {}, now)
    with ctx.new_uow() as uow:
        result = intake.receive(
            uow,
            message,
            default_region=ctx.default_region,
            now=now,
            blobs=ctx.blobs,
            max_attachment_bytes=widget.max_attachment_bytes,
            policy=ctx.policy,
        )
    if result.created_customer and (visitor.email or visitor.phone):
        apply_prechat(ctx, visitor, _stored_prechat(visitor))
    with ctx.new_uow() as uow:
        numbered = sequence(uow, visitor.org_id, visitor.id)
        seq = numbered.get(result.message_id) or store.seq_of(
            uow.session, visitor.id, result.message_id
        )
    return Posted(result.message_id, result.interaction_id, seq, result.duplicate)


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


@dataclass(frozen=True)
class VisitorFile:
    data: bytes
    served_type: str
    filename: str


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
        return ConversationStatus(
            "waiting",
            row.id,
            None if place is None else place.position,
            None if place is None else place.ewt_seconds,
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
