"""Request and response shapes for customers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jietong.identity.contact_points import ContactKind
from jietong.identity.model import VipTier

Tag = Field(min_length=1, max_length=50)


class ContactPointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ContactKind
    value: str = Field(min_length=1, max_length=320)
    label: str | None = Field(default=None, max_length=64)


class ContactPointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: ContactKind
    value: str
    label: str | None


class CustomerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str = Field(min_length=1, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    vip_tier: VipTier = VipTier.NONE
    tags: list[str] = Field(default_factory=list, max_length=50)
    attributes: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, max_length=100
    )
    contact_points: list[ContactPointIn] = Field(default_factory=list, max_length=50)


class CustomerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    vip_tier: VipTier | None = None
    tags: list[str] | None = Field(default=None, max_length=50)
    attributes: dict[str, str | int | float | bool | None] | None = Field(
        default=None, max_length=100
    )


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    display_name: str
    company: str | None
    vip_tier: VipTier
    tags: list[str]
    attributes: dict[str, Any]
    contact_points: list[ContactPointOut]
    created_at: datetime
    updated_at: datetime
