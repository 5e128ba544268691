"""The web chat's vocabulary: what the service takes and returns. Pure, frozen."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from jietong.channels.webchat.availability import RoutingView
from jietong.identity.schemas import ContactPointIn
from jietong.interactions.committer import IntakeRequest
from jietong.interactions.intake import IntakeResult, ThreadingPolicy
from jietong.storage.blobs import BlobStore
from jietong.storage.uow import UnitOfWork


@dataclass(frozen=True)
class ChatContext:
    """What the chat service needs from the platform (built by the runtime). `submit`
    queues a visitor's message with the platform's intake committer; its future
    resolves after the commit that holds it."""

    new_uow: Callable[[], UnitOfWork]
    submit: Callable[[IntakeRequest], Future[IntakeResult]]
    blobs: BlobStore
    token_key: bytes
    default_region: str
    policy: ThreadingPolicy
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
    deferred: bool = False  # waiting as work, not live (see availability.Waiting)


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


@dataclass(frozen=True)
class VisitorFile:
    data: bytes
    served_type: str
    filename: str
