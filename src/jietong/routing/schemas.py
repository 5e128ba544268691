"""Request and response shapes of the routing and presence API. Bodies are closed
(``extra="forbid"``) and every string and list is bounded."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from jietong.agents.model import AgentState, NotReadyReason
from jietong.interactions.schemas import ID_PATTERN, one_line

EntityId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Address = Annotated[str, StringConstraints(min_length=1, max_length=320), AfterValidator(one_line)]


class ChosenState(StrEnum):
    """The states an agent (or a supervisor) may ask for."""

    AVAILABLE = "available"
    NOT_READY = "not_ready"
    OFFLINE = "offline"


class CallbackChannel(StrEnum):
    CALL = "call"
    SMS = "sms"
    WECHAT = "wechat"
    EMAIL = "email"


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: ChosenState
    reason: NotReadyReason | None = Field(
        default=None, description="Reason code when not ready (break, lunch, meeting…)."
    )


class PresenceOut(BaseModel):
    user_id: str
    state: AgentState
    reason: str | None
    state_since: datetime
    logged_in_at: datetime | None
    missed_offers: int
    occupancy: float
    load: dict[str, int]
    free: dict[str, int]


class OfferOut(BaseModel):
    id: str
    interaction_id: str
    agent_id: str
    queue_id: str
    channel: str
    state: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    kind: str | None = Field(description="live, callback, voicemail or message.")
    callback_to: str | None
    callback_channel: str | None


class QueueStatusOut(BaseModel):
    queue_id: str
    name: str
    waiting: int
    offered: int
    callbacks: int
    oldest_enqueued_at: datetime | None
    longest_wait_seconds: float
    agents: dict[str, int]
    open: bool
    ewt_seconds: float | None = Field(
        description="Estimated wait (median) of a contact arriving now."
    )


class PositionOut(BaseModel):
    interaction_id: str
    queue_id: str
    state: str
    kind: str
    position: int = Field(description="1 = next to be offered.")
    ahead: int
    enqueued_at: datetime
    ewt_seconds: float | None = Field(
        description="Estimated seconds until offered: the median (half wait less); null "
        "when unknown (nobody staffed and no history)."
    )
    expected_wait_seconds: float | None = Field(description="The mean of the same estimate.")


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    interaction_id: str
    queue_id: str
    channel: str
    kind: str
    state: str
    priority: int
    enqueued_at: datetime
    queue_entered_at: datetime
    available_at: datetime | None
    overflow_stage: int
    limit_action: str | None
    callback_to: str | None
    callback_channel: str | None
    offers: int


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queue_id: EntityId


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: EntityId


class CaseTaskIn(BaseModel):
    """Queue a case as a back-office task."""

    model_config = ConfigDict(extra="forbid")
    queue_id: EntityId = Field(description="A queue whose channels include 'task'.")


class CallbackIn(BaseModel):
    """Turn a waiting interaction into a callback (virtual hold, or at a chosen time)."""

    model_config = ConfigDict(extra="forbid")
    channel: CallbackChannel = CallbackChannel.CALL
    to: Address | None = Field(default=None, description="Defaults to the customer's.")
    at: AwareDatetime | None = Field(default=None, description="Omit to keep the place in queue.")


class CallbackCreate(BaseModel):
    """A new callback request (web, IVR, API)."""

    model_config = ConfigDict(extra="forbid")
    queue_id: EntityId
    channel: CallbackChannel = CallbackChannel.CALL
    customer_id: EntityId | None = None
    to: Address | None = None
    at: AwareDatetime | None = None
    subject: Annotated[str, StringConstraints(max_length=500), AfterValidator(one_line)] | None = (
        None
    )
