"""Request and response shapes for organisations, users, teams, skills and queues."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from jietong.core.tenancy import Role
from jietong.core.timezones import known_time_zone

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=150, pattern=r"^[A-Za-z0-9_.@+-]+$"
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
Locale = Annotated[str, StringConstraints(pattern=r"^(zh-CN|en)$")]
# An IANA zone name this machine knows: every screen and report converts times with it.
TimeZoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(known_time_zone)]


class TeamKind(StrEnum):
    TEAM = "team"
    DEPARTMENT = "department"


class SkillKind(StrEnum):
    SKILL = "skill"
    LANGUAGE = "language"


class RoutingPolicy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    BEST_PROFICIENCY = "best_proficiency"
    ROUND_ROBIN = "round_robin"
    LEAST_OCCUPIED = "least_occupied"


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    slug: str
    name: str
    timezone: str
    default_region: str
    locale: str


class OrganisationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    timezone: TimeZoneName | None = None
    locale: Locale | None = None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Username
    display_name: Name
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    password: Password
    role: Role
    locale: Locale | None = None
    timezone: TimeZoneName | None = None
    team_ids: list[Annotated[str, StringConstraints(max_length=32)]] = Field(
        default_factory=list, max_length=50
    )


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: Name | None = None
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    password: Password | None = None
    role: Role | None = None
    locale: Locale | None = None
    timezone: TimeZoneName | None = None
    active: bool | None = None
    team_ids: list[Annotated[str, StringConstraints(max_length=32)]] | None = Field(
        default=None, max_length=50
    )


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    email: str | None
    role: Role
    locale: str | None
    timezone: str | None
    active: bool
    team_ids: list[str]
    skills: dict[str, int]
    created_at: datetime


class SkillLevels(BaseModel):
    """Skill id -> proficiency 1..10 (replaces the user's whole skill set)."""

    model_config = ConfigDict(extra="forbid")
    skills: dict[
        Annotated[str, StringConstraints(max_length=32)], Annotated[int, Field(ge=1, le=10)]
    ] = Field(max_length=100)


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    kind: TeamKind = TeamKind.TEAM


class TeamUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    kind: TeamKind | None = None


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    kind: TeamKind
    created_at: datetime


class SkillCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    kind: SkillKind = SkillKind.SKILL


class SkillUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None
    kind: SkillKind | None = None


class SkillOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    kind: SkillKind
    created_at: datetime


class QueueCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    channels: list[Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,16}$")]] = Field(
        min_length=1, max_length=10
    )
    team_id: Annotated[str, StringConstraints(max_length=32)] | None = None
    policy: RoutingPolicy = RoutingPolicy.LONGEST_IDLE
    priority: int = Field(default=0, ge=-100, le=100)
    required_skills: dict[
        Annotated[str, StringConstraints(max_length=32)], Annotated[int, Field(ge=1, le=10)]
    ] = Field(default_factory=dict, max_length=20)
    target_service_level: float = Field(default=0.8, gt=0, le=1)
    target_answer_seconds: int = Field(default=20, ge=1, le=86_400 * 7)


class QueueUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    channels: list[Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,16}$")]] | None = Field(
        default=None, min_length=1, max_length=10
    )
    team_id: Annotated[str, StringConstraints(max_length=32)] | None = None
    policy: RoutingPolicy | None = None
    priority: int | None = Field(default=None, ge=-100, le=100)
    required_skills: (
        dict[Annotated[str, StringConstraints(max_length=32)], Annotated[int, Field(ge=1, le=10)]]
        | None
    ) = Field(default=None, max_length=20)
    target_service_level: float | None = Field(default=None, gt=0, le=1)
    target_answer_seconds: int | None = Field(default=None, ge=1, le=86_400 * 7)


class QueueOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    channels: list[str]
    team_id: str | None
    policy: RoutingPolicy
    priority: int
    required_skills: dict[str, int]
    target_service_level: float
    target_answer_seconds: int
    created_at: datetime
