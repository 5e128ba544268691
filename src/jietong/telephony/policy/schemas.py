"""Requests and responses of /api/v1/voice/queues/{queue_id}/recording."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from jietong.telephony.policy.model import RecordMode

PROMPT_NAME = r"^[A-Za-z0-9_.-]{1,100}$"


class RecordingPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record: RecordMode
    consent: bool = True
    consent_prompt: str | None = Field(default=None, pattern=PROMPT_NAME)
    retention_days: int | None = Field(default=None, ge=1, le=3650)


class RecordingPolicyOut(BaseModel):
    """The queue's policy, the site's defaults it falls back on, and the outcome."""

    queue_id: str
    record: RecordMode
    consent: bool
    consent_prompt: str | None
    retention_days: int | None
    site_record_calls: bool
    site_retention_days: int
    records_calls: bool  # what a call of this queue gets now
    keeps_days: int
    updated_at: datetime | None
