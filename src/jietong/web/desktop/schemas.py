"""Shapes of the screens' JSON: the snapshot (the reducer's initial state plus the
directory), interaction cards, and the small desktop resources (canned responses,
wrap-up codes, mentions). Times in the state are integer microseconds since the epoch."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from jietong.interactions.model import ChannelName
from jietong.interactions.schemas import EntityId, no_nul, one_line


class View(StrEnum):
    DESK = "desk"
    WALLBOARD = "wallboard"


class WorkEntry(BaseModel):
    """One open interaction, as far as events can keep it current. Times are those of
    lifecycle moves only (the services stamp them with the event's time); when messages
    came is on the interaction's card."""

    channel: str
    direction: str
    state: str
    queue_id: str | None = Field(description="The queue it arrived in.")
    routed_queue_id: str | None = Field(
        description="The queue routing has it in now (after moves), once routing took it."
    )
    assigned_user_id: str | None
    queued_us: int | None
    answered_us: int | None
    ended_us: int | None
    inbound: int = Field(description="Customer messages (not notes).")
    outbound: int = Field(description="Our messages to the customer (not notes).")
    notes: int = Field(description="Internal notes.")


class Presence(BaseModel):
    state: str
    reason: str | None
    since_us: int


class Offer(BaseModel):
    interaction_id: str
    agent_id: str
    queue_id: str
    channel: str
    ring_timeout_seconds: int
    offered_us: int


class DayOut(BaseModel):
    day_start_us: int
    day_end_us: int
    interval_us: int
    targets: dict[str, int] = Field(description="Queue id -> target answer seconds.")


class ReachOut(BaseModel):
    """An agent's reach: their teams' work. An interaction's team is its queue's when the
    queue has one, so the reducer can tell when work leaves the viewer's reach."""

    team_ids: list[str]
    queue_teams: dict[str, str | None] = Field(description="Queue id -> its team id.")


class StateOut(BaseModel):
    """The reducer's initial state (static/desktop/state.js documents each field)."""

    as_of: int = Field(description="Open the stream with after=as_of.")
    skip: list[str] = Field(description="Event ids already reflected here; ignore them.")
    stale: bool = False
    user_id: str
    reach: ReachOut | None = Field(
        description="What the viewer sees beyond work assigned to them; null when they see "
        "the whole organisation."
    )
    day: DayOut | None
    agents: dict[str, Presence]
    offers: dict[str, Offer]
    work: dict[str, WorkEntry]
    kpi: dict[str, dict[str, list[int]]] | None = Field(
        description="Queue -> interval slot -> [offered, answered, in_sl, abandoned, answer_us]."
    )


class DirectoryUser(BaseModel):
    name: str
    role: str
    team_ids: list[str]


class DirectoryQueue(BaseModel):
    name: str
    team_id: str | None
    channels: list[str]
    target_answer_seconds: int
    target_service_level: float


class DirectoryTeam(BaseModel):
    name: str
    kind: str


class Directory(BaseModel):
    users: dict[str, DirectoryUser]
    queues: dict[str, DirectoryQueue]
    teams: dict[str, DirectoryTeam]


class SnapshotOut(BaseModel):
    view: View
    state: StateOut
    directory: Directory
    server_now_us: int
    timezone: str = Field(description="The viewer's time zone (IANA).")
    org_timezone: str = Field(description="The day of the figures is this zone's day.")


class InteractionCard(BaseModel):
    """What a tab or an offer shows about an interaction beyond the reducer's state."""

    id: str
    channel: str
    direction: str
    subject: str | None
    customer_id: str | None
    customer_name: str | None
    vip_tier: str | None
    queue_id: str | None
    team_id: str | None
    arrived_at: datetime
    last_message_at: datetime | None
    awaiting_since: datetime | None = Field(
        description="The customer's first message after our last reply: waiting since."
    )


# -- desktop resources -----------------------------------------------------------------

Title = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(one_line)]
Shortcut = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
CannedBody = Annotated[
    str, StringConstraints(min_length=1, max_length=10_000), AfterValidator(no_nul)
]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]
NoteText = Annotated[
    str, StringConstraints(min_length=1, max_length=20_000), AfterValidator(no_nul)
]
Disposition = Annotated[str, StringConstraints(max_length=4_000), AfterValidator(no_nul)]


class CannedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title
    body: CannedBody = Field(
        description="Text with {customer.name}, {agent.name}, {org.name}, "
        "{conversation.subject}, {today}; write {{ and }} for literal braces."
    )
    shortcut: Shortcut | None = Field(default=None, description="Typed as /shortcut.")
    channels: list[ChannelName] = Field(
        default_factory=list, max_length=10, description="Empty: every channel."
    )
    team_id: EntityId | None = Field(default=None, description="Empty: the whole organisation.")


class CannedUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title | None = None
    body: CannedBody | None = None
    shortcut: Shortcut | None = None
    clear_shortcut: bool = False
    channels: list[ChannelName] | None = Field(default=None, max_length=10)
    team_id: EntityId | None = None
    clear_team: bool = False


class CannedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    title: str
    body: str
    shortcut: str | None
    channels: list[str]
    team_id: str | None
    updated_at: datetime


class WrapUpCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code
    label: Title
    active: bool = True
    position: int = Field(default=0, ge=0, le=10_000)


class WrapUpCodeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Code | None = None
    label: Title | None = None
    active: bool | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)


class WrapUpCodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    code: str
    label: str
    active: bool
    position: int


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: NoteText
    mention_ids: list[EntityId] = Field(default_factory=list, max_length=20)


class ReplyIn(BaseModel):
    """A reply to the customer. On email: `html` (sanitised on the server; `text` is its
    plain alternative), `cc`, and `attachment_ids` of files uploaded beforehand to the
    interaction (`POST /interactions/{id}/attachments` without a message id)."""

    model_config = ConfigDict(extra="forbid")
    text: Annotated[
        str, StringConstraints(min_length=1, max_length=100_000), AfterValidator(no_nul)
    ]
    html: Annotated[str, StringConstraints(max_length=500_000), AfterValidator(no_nul)] | None = (
        None
    )
    cc: list[Annotated[str, StringConstraints(min_length=3, max_length=320)]] = Field(
        default_factory=list, max_length=20
    )
    attachment_ids: list[EntityId] = Field(default_factory=list, max_length=10)


class ReplyOut(BaseModel):
    message_id: str
    delivery_id: str
    status: str
    cc: list[str]
    attachment_ids: list[str]


class NoteOut(BaseModel):
    message_id: str
    mentioned: list[str]


class WrapUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code_id: EntityId | None = None
    note: Disposition = ""


class WrapUpOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    interaction_id: str
    user_id: str | None
    code_id: str | None
    note: str
    created_at: datetime


class TransferTarget(StrEnum):
    AGENT = "agent"
    QUEUE = "queue"
    DEPARTMENT = "department"


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: TransferTarget
    target_id: EntityId
    note: Disposition = ""


class TransferOut(BaseModel):
    interaction_id: str
    target: TransferTarget
    target_id: str
    case_id: str | None = Field(description="The hand-off case, for a department.")


class MentionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    interaction_id: str
    message_id: str
    author_user_id: str | None
    created_at: datetime
    read_at: datetime | None
