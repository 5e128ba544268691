"""Shapes of the screens' JSON: the snapshot (the reducer's initial state plus the
directory), interaction cards, and the small desktop resources (canned responses,
wrap-up codes, mentions). Times in the state are integer microseconds since the epoch."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class View(StrEnum):
    DESK = "desk"
    WALLBOARD = "wallboard"


class WorkEntry(BaseModel):
    """One open interaction, as far as events can keep it current."""

    channel: str
    direction: str
    state: str
    queue_id: str | None
    assigned_user_id: str | None
    arrived_us: int
    queued_us: int | None
    answered_us: int | None
    ended_us: int | None
    inbound: int = Field(description="Customer messages (not notes).")
    outbound: int = Field(description="Our messages to the customer (not notes).")
    notes: int = Field(description="Internal notes.")
    last_message_us: int | None
    last_outbound_us: int | None
    awaiting_us: int | None = Field(description="First customer message after our last reply.")


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


class StateOut(BaseModel):
    """The reducer's initial state (static/desktop/state.js documents each field)."""

    as_of: int = Field(description="Open the stream with after=as_of.")
    skip: list[str] = Field(description="Event ids already reflected here; ignore them.")
    stale: bool = False
    user_id: str
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
