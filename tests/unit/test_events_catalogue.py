"""Every event is documented, past tense, and survives a JSON round trip."""

from __future__ import annotations

import re
import typing
from datetime import UTC, datetime

import pytest

import jietong.events.catalogue  # noqa: F401  (registers the events)
from jietong.events.base import CATALOGUE, DomainEvent, Envelope

PAST_TENSE = re.compile(r"(ed|Opened|Sent|Left|Taken|Given|Made|Done)$")


def sample(cls: type[DomainEvent]) -> DomainEvent:
    values: dict[str, object] = {}
    for name, field in cls.model_fields.items():
        annotation = field.annotation
        origin = typing.get_origin(annotation)
        if annotation is bool:
            values[name] = True
        elif annotation is int:
            values[name] = 7
        elif origin is list or annotation is list:
            values[name] = ["x"]
        elif origin is dict:
            values[name] = {"k": 1}
        else:
            values[name] = f"{name}-值"
    return cls.model_validate(values)


def test_catalogue_is_not_empty() -> None:
    assert len(CATALOGUE) >= 15


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_event_is_documented_and_past_tense(name: str) -> None:
    cls = CATALOGUE[name]
    assert cls.__doc__ and len(cls.__doc__.strip()) > 10, f"{name} needs a docstring"
    assert PAST_TENSE.search(name), f"{name} is not named in the past tense"


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_event_round_trips_through_json(name: str) -> None:
    event = sample(CATALOGUE[name])
    envelope = Envelope.wrap(event, datetime(2026, 11, 22, 8, 0, tzinfo=UTC))
    again = Envelope.from_json(envelope.to_json())
    assert again == envelope
    assert again.event() == event
