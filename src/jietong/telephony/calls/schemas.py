"""Response shapes of call detail records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class CdrLegOut(BaseModel):
    leg_id: str
    kind: str
    party: str
    user_id: str | None
    created_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    end_cause: str | None
    state: str
    talk_s: float
    hold_s: float


class CdrOut(BaseModel):
    call_id: str
    interaction_id: str
    customer_id: str | None
    team_id: str | None
    direction: str
    caller: str
    dialled: str
    arrived_at: datetime
    answered_at: datetime | None
    ivr_entered_at: datetime | None
    ivr_left_at: datetime | None
    ivr_s: float
    ivr_outcome: str | None
    queue_id: str | None
    queue_entered_at: datetime | None
    offers: int
    first_offered_at: datetime | None
    agent_answered_at: datetime | None
    agent_user_id: str | None
    queue_wait_s: float | None
    holds: int
    hold_s: float
    transfers: int
    transferred_to: str | None
    talk_s: float
    ended_at: datetime | None
    end_cause: str | None
    disposition: str | None
    abandoned: bool
    abandon_point: str | None
    short_abandon: bool
    abandoned_after_s: float | None
    legs: list[CdrLegOut]
    variables: dict[str, Any]


class VoiceKpisOut(BaseModel):
    calls: int
    queued: int
    answered: int
    abandoned_ivr: int
    abandoned_queue: int
    abandoned_ringing: int
    short_abandons: int
    ivr_contained: int
    abandon_rate: float | None
    service_level: float | None
    asa_s: float | None
    aht_s: float | None
