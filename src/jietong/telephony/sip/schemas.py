"""Requests and responses of /api/v1/voice/phones and /api/v1/voice/trunks."""

from __future__ import annotations

import ipaddress
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

SIP_USER = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$"
HOST = r"^[A-Za-z0-9.-]{1,255}$"


class PhoneCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=32)
    username: str | None = Field(default=None, pattern=SIP_USER)


class PhoneUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


class PhoneOut(BaseModel):
    id: str
    username: str
    realm: str
    user_id: str | None
    enabled: bool
    registered_contacts: int
    created_at: datetime
    rotated_at: datetime


class PhoneWithPassword(BaseModel):
    """Returned once, when the account is created or its password rotated."""

    phone: PhoneOut
    password: str


def _check_sources(values: list[str]) -> list[str]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"not an IP address or CIDR: {value[:60]}") from None
    return values


class TrunkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    host: str = Field(pattern=HOST)
    port: int = Field(default=5060, ge=1, le=65535)
    allowed_sources: list[str] = Field(default_factory=list, max_length=50)
    username: str | None = Field(default=None, min_length=1, max_length=128)
    password: str | None = Field(default=None, min_length=1, max_length=256)
    registering: bool = False  # we register to the carrier (needs username/password)
    register_expires_s: int = Field(default=3600, ge=60, le=86400)
    is_default: bool = False
    enabled: bool = True
    trusted_edge: bool = False  # Kamailio of ours: its X-Jietong-Phone header is believed

    @field_validator("allowed_sources")
    @classmethod
    def _sources(cls, values: list[str]) -> list[str]:
        return _check_sources(values)


class TrunkUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    host: str | None = Field(default=None, pattern=HOST)
    port: int | None = Field(default=None, ge=1, le=65535)
    allowed_sources: list[str] | None = Field(default=None, max_length=50)
    username: str | None = Field(default=None, min_length=1, max_length=128)
    password: str | None = Field(default=None, min_length=1, max_length=256)
    registering: bool | None = None
    register_expires_s: int | None = Field(default=None, ge=60, le=86400)
    is_default: bool | None = None
    enabled: bool | None = None
    trusted_edge: bool | None = None

    @field_validator("allowed_sources")
    @classmethod
    def _sources(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else _check_sources(values)


class TrunkOut(BaseModel):
    """A trunk; its password is write-only (`has_password` says whether one is set)."""

    id: str
    name: str
    host: str
    port: int
    allowed_sources: list[str]
    username: str | None
    has_password: bool
    registering: bool
    register_expires_s: int
    is_default: bool
    enabled: bool
    trusted_edge: bool
    created_at: datetime
    updated_at: datetime
