"""Request and response shapes of the widget's HTTP API (bounded, one-line where it
matters, no NUL) and the JSON frames of its WebSocket."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from jietong.channels.webchat import model
from jietong.interactions.schemas import no_nul, one_line

Line = Annotated[str, StringConstraints(max_length=200), AfterValidator(one_line)]
ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Text = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(no_nul)]
Token = Annotated[str, StringConstraints(max_length=1000), AfterValidator(one_line)]
Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(one_line)]
Phone = Annotated[str, StringConstraints(max_length=64), AfterValidator(one_line)]
Locale = Annotated[str, StringConstraints(pattern=r"^(zh-CN|en)$")]


class SessionIn(BaseModel):
    """Start a chat session, or resume one with the token the widget kept."""

    model_config = ConfigDict(extra="forbid")
    visitor_token: Token | None = Field(default=None, description="From an earlier session.")
    user_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, description="The host site's id of its signed-in user."
    )
    user_hash: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        default=None, description="hex HMAC-SHA256(identity secret, user_id), from the site."
    )
    name: Line | None = None
    email: Email | None = None
    phone: Phone | None = None
    locale: Locale | None = None


class SessionOut(BaseModel):
    visitor_token: str
    visitor_id: str
    expires_at: int = Field(description="Unix seconds.")
    last_seq: int = Field(description="The newest message number of the visitor's timeline.")
    verified: bool
    name: str | None
    email: str | None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: ClientId = Field(description="The widget's id for this message: resend safely.")
    text: Text


class PostedOut(BaseModel):
    message_id: str
    interaction_id: str
    seq: int | None
    duplicate: bool


class AttachmentOut(BaseModel):
    id: str
    filename: str
    content_type: str
    size_bytes: int


class ChatMessageOut(BaseModel):
    seq: int
    id: str
    author: str = Field(description="visitor | agent | system")
    agent_name: str | None
    text: str
    at: datetime
    client_id: str | None
    attachments: list[AttachmentOut]


class StatusOut(BaseModel):
    state: str = Field(description="none | waiting | connected | ended")
    position: int | None = None
    ewt_seconds: float | None = None
    agent_name: str | None = None
    deferred: bool = Field(
        default=False, description="No agent will take it live now; it waits to be answered."
    )


class TimelineOut(BaseModel):
    items: list[ChatMessageOut]
    status: StatusOut


class WidgetOut(BaseModel):
    title: str | None
    locale: str
    pre_chat: str
    identity_required: bool
    online: bool
    offline_reason: str | None
    max_attachment_bytes: int
    strings: dict[str, str]


class OfflineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: ClientId
    name: Line | None = None
    email: Email
    text: Annotated[str, StringConstraints(min_length=1, max_length=10_000), AfterValidator(no_nul)]


class OfflineOut(BaseModel):
    message_id: str
    seq: int | None
    case_number: int | None


class TranscriptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email | None = Field(default=None, description="Default: the pre-chat email.")
    locale: Locale | None = None


class TranscriptOut(BaseModel):
    emailed: bool
    delivery_id: str | None = None
    download_path: str = Field(description="GET it with the visitor token for a text file.")


def message_frame(item: model.TimelineItem) -> dict[str, Any]:
    return message_out(item).model_dump(mode="json") | {"type": "message"}


def message_out(item: model.TimelineItem) -> ChatMessageOut:
    return ChatMessageOut(
        seq=item.seq,
        id=item.message_id,
        author=item.author,
        agent_name=item.agent_name,
        text=item.text,
        at=item.at,
        client_id=item.client_id,
        attachments=[
            AttachmentOut(
                id=a.id, filename=a.filename, content_type=a.content_type, size_bytes=a.size_bytes
            )
            for a in item.attachments
        ],
    )


def status_out(found: model.ConversationStatus) -> StatusOut:
    return StatusOut(
        state=found.state,
        position=found.position,
        ewt_seconds=None if found.ewt_seconds is None else round(found.ewt_seconds, 1),
        agent_name=found.agent_name,
        deferred=found.deferred,
    )
