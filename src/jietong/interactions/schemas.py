"""Request and response shapes for interactions, messages and attachments.

Every string is bounded and free of NUL characters (PostgreSQL refuses them in text, and
a fuzzer will send them); ids must look like ids, so malformed ones never reach a query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from jietong.interactions.model import (
    AuthorKind,
    ChannelName,
    Direction,
    InteractionState,
    InteractionTrigger,
    ParticipantRole,
)

ID_PATTERN = r"^[0-9a-f]{32}$"


def no_nul(value: str) -> str:
    """Refuse NUL characters (PostgreSQL cannot store them in text)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def one_line(value: str) -> str:
    """Refuse control characters in single-line fields (subjects, references)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


EntityId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Subject = Annotated[str, StringConstraints(max_length=500), AfterValidator(one_line)]
ExternalRef = Annotated[
    str, StringConstraints(min_length=1, max_length=500), AfterValidator(one_line)
]
Body = Annotated[str, StringConstraints(max_length=100_000), AfterValidator(no_nul)]


class InteractionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: ChannelName
    direction: Direction = Direction.INBOUND
    customer_id: EntityId | None = None
    queue_id: EntityId | None = None
    team_id: EntityId | None = Field(
        default=None, description="Owning team; defaults to the queue's team."
    )
    assigned_user_id: EntityId | None = None
    subject: Subject | None = None
    external_ref: ExternalRef | None = Field(
        default=None, description="The channel's id for the whole episode (call id, thread id)."
    )


class InteractionTransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trigger: InteractionTrigger
    assigned_user_id: EntityId | None = Field(
        default=None, description="The agent offered (required for 'offer'), or dialling."
    )


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body_text: Body = ""
    internal: bool = Field(default=False, description="An internal note, never sent out.")
    direction: Direction = Direction.OUTBOUND
    author_kind: AuthorKind = AuthorKind.AGENT
    external_id: ExternalRef | None = Field(
        default=None, description="The channel's message id; a repeat returns the first."
    )


class ParticipantOut(BaseModel):
    id: str
    role: ParticipantRole
    user_id: str | None
    customer_id: str | None
    joined_at: datetime
    left_at: datetime | None


class InteractionOut(BaseModel):
    id: str
    channel: ChannelName
    direction: Direction
    state: InteractionState
    customer_id: str | None
    queue_id: str | None
    team_id: str | None
    assigned_user_id: str | None
    subject: str | None
    external_ref: str | None
    arrived_at: datetime
    queued_at: datetime | None
    offered_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wrapup_ended_at: datetime | None
    updated_at: datetime
    participants: list[ParticipantOut]
    allowed_triggers: list[str]


class TransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    from_state: str
    trigger: str
    to_state: str
    actor_id: str | None
    at: datetime


class MessageOut(BaseModel):
    id: str
    interaction_id: str
    channel: ChannelName
    external_id: str | None
    direction: Direction
    author_kind: AuthorKind
    author_user_id: str | None
    internal: bool
    body_text: str
    created_at: datetime


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    interaction_id: str | None
    message_id: str | None
    filename: str
    declared_content_type: str | None
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str | None
    created_at: datetime
