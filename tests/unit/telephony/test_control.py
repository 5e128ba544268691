"""The control protocol: every command survives encoding; bad input is refused."""

from __future__ import annotations

import dataclasses
import json
import types
import typing

import pytest

from jietong.telephony.media import control as c


def sample(cls):
    values = {}
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        if f.default is not dataclasses.MISSING:
            continue
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None: an X
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        values[f.name] = {str: "x", bool: True, float: 1.5, int: 3}.get(hint, ("a", "b"))
    return cls(**values)


@pytest.mark.parametrize("cls", list(c.COMMANDS.values()), ids=list(c.COMMANDS))
def test_every_command_round_trips(cls):
    command = sample(cls)
    request_id, decoded = c.decode_request(c.encode_request(9, command))
    assert (request_id, decoded) == (9, command)


def test_events_round_trip_including_nested_stats():
    report = c.StatsReport(
        c.EngineStats(2, 1, 1, 100, 0, 0.5, 1.0, 2.0), (c.LegStats("a", *range(13)),)
    )
    line = json.loads(c.encode_event(report))
    assert c.decode_event(line["event"], line["data"]) == report


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"not json", "bad_request"),
        (b'{"op": "ping"}', "bad_request"),  # no id
        (b'{"id": 1, "op": "explode"}', "unknown_op"),
        (
            b'{"id": 1, "op": "set_remote", "args": {"leg_id": "a", "host": "h", "port": "1"}}',
            "bad_request",
        ),
        (b'{"id": 1, "op": "set_mute", "args": {"leg_id": "a", "muted": 1}}', "bad_request"),
        (b'{"id": 1, "op": "destroy_leg", "args": {}}', "bad_request"),
        (b'{"id": 1, "op": "destroy_leg", "args": {"leg_id": "a", "x": 1}}', "bad_request"),
        (
            b'{"id": 1, "op": "create_bridge", "args": {"bridge_id": "b", "legs": "ab"}}',
            "bad_request",
        ),
    ],
)
def test_malformed_requests_are_refused(line, code):
    with pytest.raises(c.ProtocolError) as info:
        c.decode_request(line)
    assert info.value.code == code


def test_ints_are_accepted_where_floats_are_expected():
    _, command = c.decode_request(b'{"id": 1, "op": "subscribe", "args": {"stats_interval_s": 2}}')
    assert command == c.Subscribe(2.0)
