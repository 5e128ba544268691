"""Request and response shapes of IVR flows and prompts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from jietong.telephony.ivr.schema import Flow

FlowName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-. ]{1,100}$")]
Number = Annotated[str, StringConstraints(pattern=r"^\+?[0-9A-Za-z*#_\-.]{1,64}$")]


class IvrFlowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: FlowName
    numbers: list[Number] = Field(default_factory=list, max_length=100)
    definition: Flow


class IvrFlowOut(BaseModel):
    id: str
    name: str
    numbers: list[str]
    version: int
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class IvrFlowVersionOut(BaseModel):
    version: int
    definition: dict[str, Any]
    saved_by: str | None
    saved_at: datetime


class VoicePromptOut(BaseModel):
    id: str
    name: str
    language: str
    duration_ms: int
    sha256: str
    created_at: datetime
