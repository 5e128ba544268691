"""Interaction vocabulary and lifecycle: pure, no I/O.

An interaction is one contact episode on one channel. Its lifecycle is an explicit state
machine; `stamp` says which KPI timestamp a move sets. Both are pure so that property
tests can drive them with random trigger sequences.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

from jietong.core.statemachine import StateMachine
from jietong.core.tenancy import Actor

ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
"""A channel as the registry names it. Which names exist is decided at start-up by the
channel registry (app/channels_runtime.py), never by a list in core code."""


class Channel(StrEnum):
    """Names of the channels Jietong ships, for code that creates their interactions.
    Not a closed list: a plugin channel registers any other `ChannelName`."""

    CALL = "call"
    CHAT = "chat"
    EMAIL = "email"
    SMS = "sms"
    WECHAT = "wechat"
    API = "api"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class AuthorKind(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"


class ParticipantRole(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    BOT = "bot"


class InteractionState(StrEnum):
    ARRIVED = "arrived"
    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTED = "connected"
    WRAP_UP = "wrap_up"
    CLOSED = "closed"
    ABANDONED = "abandoned"


class InteractionTrigger(StrEnum):
    ENQUEUE = "enqueue"
    OFFER = "offer"
    ACCEPT = "accept"
    DECLINE = "decline"
    TIMEOUT = "timeout"
    TRANSFER = "transfer"
    END = "end"
    CLOSE = "close"
    ABANDON = "abandon"
    DIAL = "dial"  # outbound call answered by the customer
    CONNECT = "connect"  # outbound message conversation started by an agent


S = InteractionState
T = InteractionTrigger

_INBOUND_MOVES: dict[tuple[InteractionState, str], InteractionState] = {
    (S.ARRIVED, T.ENQUEUE): S.QUEUED,
    (S.QUEUED, T.OFFER): S.OFFERED,
    (S.OFFERED, T.ACCEPT): S.CONNECTED,
    (S.OFFERED, T.DECLINE): S.QUEUED,
    (S.OFFERED, T.TIMEOUT): S.QUEUED,
    (S.CONNECTED, T.TRANSFER): S.QUEUED,
    (S.CONNECTED, T.END): S.WRAP_UP,
    (S.WRAP_UP, T.CLOSE): S.CLOSED,
    (S.ARRIVED, T.ABANDON): S.ABANDONED,
    (S.QUEUED, T.ABANDON): S.ABANDONED,
    (S.OFFERED, T.ABANDON): S.ABANDONED,
}
# Outbound contacts may skip the queue: the agent who starts them is already connected.
_OUTBOUND_MOVES = _INBOUND_MOVES | {
    (S.ARRIVED, T.DIAL): S.CONNECTED,
    (S.ARRIVED, T.CONNECT): S.CONNECTED,
}

INBOUND_LIFECYCLE = StateMachine("interaction", _INBOUND_MOVES)
OUTBOUND_LIFECYCLE = StateMachine("interaction", _OUTBOUND_MOVES)
TERMINAL_STATES = frozenset({S.CLOSED, S.ABANDONED})
# Triggers that put a named agent on the interaction (assigned_user_id applies to these).
ASSIGNING_TRIGGERS = frozenset({T.OFFER, T.DIAL, T.CONNECT})
# Triggers that hand the interaction back to the queue, releasing its agent.
REQUEUE_TRIGGERS = frozenset({T.DECLINE, T.TIMEOUT, T.TRANSFER})
# Triggers only the offered agent (or someone who sees the whole organisation) may fire.
OFFEREE_TRIGGERS = frozenset({T.ACCEPT, T.DECLINE})


def lifecycle_for(direction: Direction) -> StateMachine[InteractionState]:
    """The state machine governing interactions of this direction."""
    return OUTBOUND_LIFECYCLE if direction is Direction.OUTBOUND else INBOUND_LIFECYCLE


@dataclass(frozen=True)
class Milestones:
    """The KPI timestamps of one interaction. Each is set the first time the interaction
    reaches its milestone and never changed afterwards, so queue and answer times measure
    the customer's first wait even after declines and transfers."""

    arrived_at: datetime
    queued_at: datetime | None = None
    offered_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wrapup_ended_at: datetime | None = None


_MILESTONE_OF: dict[InteractionState, str] = {
    S.QUEUED: "queued_at",
    S.OFFERED: "offered_at",
    S.CONNECTED: "answered_at",
    S.WRAP_UP: "ended_at",
    S.ABANDONED: "ended_at",
    S.CLOSED: "wrapup_ended_at",
}


def stamp(milestones: Milestones, reached: InteractionState, now: datetime) -> Milestones:
    """The milestones after reaching state `reached` at `now`."""
    name = _MILESTONE_OF.get(reached)
    if name is None or getattr(milestones, name) is not None:
        return milestones
    return replace(milestones, **{name: now})


@dataclass(frozen=True)
class Reach:
    """What a restricted actor may see: work of these teams, and work assigned to them.

    `None` in place of a Reach means the whole organisation. Cases reuse it: a case's
    department plays the team, its owner the assignee.
    """

    team_ids: frozenset[str]
    user_id: str


def reach_of(actor: Actor) -> Reach | None:
    """The actor's reach, or None when they see the whole organisation."""
    if actor.sees_whole_organisation:
        return None
    return Reach(team_ids=actor.team_ids, user_id=actor.user_id)


def within_reach(reach: Reach | None, team_id: str | None, user_id: str | None) -> bool:
    """Whether work owned by `team_id` and assigned to `user_id` is within `reach`."""
    if reach is None:
        return True
    return (team_id is not None and team_id in reach.team_ids) or user_id == reach.user_id
