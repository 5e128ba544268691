"""Request and response shapes for channel accounts, replies and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from jietong.interactions.schemas import ID_PATTERN, no_nul, one_line

Line = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(one_line)]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Value = Annotated[str, StringConstraints(max_length=2000), AfterValidator(one_line)]
ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,15}$")]


class ChannelAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: ChannelName = Field(description="sms, wechat, api, ...")
    provider: Key = Field(description="sms: twilio | generic; wechat: official_account; api: app")
    name: Line | None = None
    address: Line | None = Field(
        default=None, description="Our number / WeChat original id on the channel."
    )
    queue_id: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = None
    settings: dict[Key, Value] = Field(default_factory=dict, max_length=20)
    secrets: dict[Key, Value] = Field(
        default_factory=dict, max_length=10, description="Write-only: never shown in full."
    )
    enabled: bool = True


class ChannelAccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Line | None = None
    address: Line | None = None
    queue_id: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = None
    clear_queue: bool = False
    settings: dict[Key, Value] | None = Field(default=None, max_length=20)
    secrets: dict[Key, Value] | None = Field(default=None, max_length=10)
    enabled: bool | None = None


class ChannelAccountOut(BaseModel):
    id: str
    channel: str
    provider: str
    name: str
    address: str | None
    queue_id: str | None
    settings: dict[str, str]
    secrets: dict[str, str] = Field(description="Masked: the last four characters at most.")
    enabled: bool
    webhook_paths: list[str]
    created_at: datetime
    updated_at: datetime


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[
        str, StringConstraints(min_length=1, max_length=100_000), AfterValidator(no_nul)
    ]


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    channel: str
    interaction_id: str
    message_id: str
    recipient_kind: str
    recipient_address: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    provider_message_id: str | None
    provider_status: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


class ReplyOut(BaseModel):
    message_id: str
    delivery: DeliveryOut
