"""The event base class, the envelope that travels on the bus, and the catalogue."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from jietong.core.ids import new_id

CATALOGUE: dict[str, type[DomainEvent]] = {}


class DomainEvent(BaseModel):
    """A fact that happened, named in the past tense. Subclasses register themselves in
    CATALOGUE under their class name; every one must carry a docstring saying when it fires."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[str] = ""

    org_id: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.event_type = cls.__name__
        CATALOGUE[cls.__name__] = cls


class Audience(BaseModel):
    """Who may see an event on a live stream, fixed when it is emitted.

    Admins, supervisors and read-only users see every event of their organisation;
    everyone else sees an event when `everyone` is set, or when they are in one of
    `team_ids`, or are one of `user_ids`.
    """

    model_config = ConfigDict(frozen=True)

    everyone: bool = False
    team_ids: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()


PRIVILEGED_ONLY = Audience()


class Envelope(BaseModel):
    """What the bus carries: the event as JSON plus identity and ordering data."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event_type: str
    org_id: str
    occurred_at: datetime
    payload: dict[str, Any]
    seq: int | None = None  # publication order (published_seq), set by the relay
    audience: Audience = PRIVILEGED_ONLY

    @classmethod
    def wrap(
        cls, event: DomainEvent, occurred_at: datetime, audience: Audience = PRIVILEGED_ONLY
    ) -> Envelope:
        return cls(
            event_id=new_id(),
            event_type=event.event_type,
            org_id=event.org_id,
            occurred_at=occurred_at,
            payload=event.model_dump(mode="json"),
            audience=audience,
        )

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, raw: str | bytes) -> Envelope:
        return cls.model_validate_json(raw)

    def event(self) -> DomainEvent:
        """Rebuild the typed event; raises KeyError for a type this build does not know."""
        return CATALOGUE[self.event_type].model_validate(self.payload)
