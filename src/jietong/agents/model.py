"""Agent vocabulary: the presence state machine, team capacity rules, blending. Pure.

An agent's state combines what the agent chose (offline, available, not ready with a
reason) with what their work makes of it (ringing while an offer waits for an answer,
busy while connected to a contact, wrap_up during after-contact work). The engine moves
an agent along the machine by comparing the state with the facts (`WorkFacts`): the
agent's open interactions and pending offer; `settle` says which triggers bring the state
in line. Every move is recorded (state_transitions, entity_type 'agent') for occupancy,
adherence and time-in-state KPIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from jietong.core.statemachine import StateMachine


class AgentState(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RINGING = "ringing"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    NOT_READY = "not_ready"


class AgentTrigger(StrEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    PAUSE = "pause"  # to not ready, with a reason code
    READY = "ready"
    OFFER = "offer"
    ACCEPT = "accept"
    DECLINE = "decline"
    TIMEOUT = "timeout"
    NO_ANSWER = "no_answer"  # too many missed offers: redirect on no answer
    WITHDRAW = "withdraw"  # the offer ended without the agent (customer hung up)
    OCCUPY = "occupy"  # work arrived without an offer (manual assignment, outbound)
    END = "end"  # the last connected contact ended; after-contact work remains
    RELEASE = "release"  # no open work remains
    WRAP_DONE = "wrap_done"
    WRAP_TIMEOUT = "wrap_timeout"  # the wrap-up limit ran out


class NotReadyReason(StrEnum):
    BREAK = "break"
    LUNCH = "lunch"
    MEETING = "meeting"
    TRAINING = "training"
    BACK_OFFICE = "back_office"
    NO_ANSWER = "no_answer"  # set by the engine after repeated missed offers
    OTHER = "other"


S = AgentState
T = AgentTrigger

_MOVES: dict[tuple[AgentState, str], AgentState] = {
    (S.OFFLINE, T.LOGIN): S.AVAILABLE,
    (S.AVAILABLE, T.LOGOUT): S.OFFLINE,
    (S.NOT_READY, T.LOGOUT): S.OFFLINE,
    (S.WRAP_UP, T.LOGOUT): S.OFFLINE,
    (S.RINGING, T.LOGOUT): S.OFFLINE,
    (S.AVAILABLE, T.PAUSE): S.NOT_READY,
    (S.RINGING, T.PAUSE): S.NOT_READY,
    (S.BUSY, T.PAUSE): S.NOT_READY,
    (S.WRAP_UP, T.PAUSE): S.NOT_READY,
    (S.NOT_READY, T.PAUSE): S.NOT_READY,  # another reason code
    (S.OFFLINE, T.PAUSE): S.NOT_READY,  # log in straight into a reason (e.g. training)
    (S.NOT_READY, T.READY): S.AVAILABLE,
    (S.AVAILABLE, T.OFFER): S.RINGING,
    (S.RINGING, T.ACCEPT): S.BUSY,
    (S.RINGING, T.DECLINE): S.AVAILABLE,
    (S.RINGING, T.TIMEOUT): S.AVAILABLE,
    (S.RINGING, T.WITHDRAW): S.AVAILABLE,
    (S.RINGING, T.NO_ANSWER): S.NOT_READY,
    (S.BUSY, T.NO_ANSWER): S.NOT_READY,
    (S.AVAILABLE, T.OCCUPY): S.BUSY,
    (S.WRAP_UP, T.OCCUPY): S.BUSY,
    (S.AVAILABLE, T.END): S.WRAP_UP,
    (S.BUSY, T.END): S.WRAP_UP,
    (S.BUSY, T.RELEASE): S.AVAILABLE,
    (S.WRAP_UP, T.WRAP_DONE): S.AVAILABLE,
    (S.WRAP_UP, T.WRAP_TIMEOUT): S.AVAILABLE,
}

AGENT_LIFECYCLE = StateMachine("agent", _MOVES)
LOGGED_IN = frozenset(set(AgentState) - {S.OFFLINE})
ROUTABLE = frozenset({S.AVAILABLE, S.BUSY})
"""States in which an agent may receive a new offer (if they have a free slot)."""
WORKING = frozenset({S.RINGING, S.BUSY, S.WRAP_UP})
"""States that count as occupied time."""
CHOSEN_STATES = frozenset({S.AVAILABLE, S.NOT_READY, S.OFFLINE})
"""States an agent (or a supervisor) may ask for; the others follow from work."""


@dataclass(frozen=True)
class WorkFacts:
    """What the agent's work says right now: connected and wrap-up interactions, and
    whether an offer waits for their answer."""

    connected: int = 0
    wrapping: int = 0
    offered: bool = False


def settle(state: AgentState, facts: WorkFacts) -> list[str]:
    """The triggers (possibly none) that bring a logged-in, ready agent's state in line
    with their work. Offline and not-ready agents keep their chosen state: work they still
    hold shows in their load, not their state."""
    target = _target(state, facts)
    if target is state or state in (S.OFFLINE, S.NOT_READY):
        return []
    direct = _DIRECT.get((state, target))
    if direct is not None:
        return [direct]
    if state is S.AVAILABLE:
        return []  # every move out of 'available' is direct; kept for safety
    # No direct move (e.g. ringing -> wrap_up): through 'available'.
    return [*settle(state, WorkFacts()), *settle(S.AVAILABLE, facts)]


def _target(state: AgentState, facts: WorkFacts) -> AgentState:
    if facts.connected > 0:
        return S.BUSY
    if facts.offered:
        return S.RINGING if state in (S.AVAILABLE, S.RINGING) else state
    if facts.wrapping > 0:
        return S.WRAP_UP
    return S.AVAILABLE


_DIRECT: dict[tuple[AgentState, AgentState], str] = {
    (S.AVAILABLE, S.RINGING): T.OFFER,
    (S.AVAILABLE, S.BUSY): T.OCCUPY,
    (S.AVAILABLE, S.WRAP_UP): T.END,
    (S.RINGING, S.BUSY): T.ACCEPT,
    (S.RINGING, S.AVAILABLE): T.WITHDRAW,
    (S.BUSY, S.WRAP_UP): T.END,
    (S.BUSY, S.AVAILABLE): T.RELEASE,
    (S.WRAP_UP, S.BUSY): T.OCCUPY,
    (S.WRAP_UP, S.AVAILABLE): T.WRAP_DONE,
}


# --- capacity and blending ---------------------------------------------------------------

ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,16}$")]
DEFAULT_CAPACITY: dict[str, int] = {
    "call": 1,
    "chat": 3,
    "email": 5,
    "sms": 3,
    "wechat": 3,
    "api": 3,
    "task": 5,  # back-office case tasks (`routing.case_tasks`)
}
_NOT_CALL = sorted(set(DEFAULT_CAPACITY) - {"call"})
DEFAULT_EXCLUDES: dict[str, list[str]] = {"call": _NOT_CALL} | {ch: ["call"] for ch in _NOT_CALL}


class TeamRules(BaseModel):
    """How much concurrent work a team's agents take, and for how long they wrap up.

    ``capacity``: the most open interactions per channel (1 call, or 3 chats, or 5
    emails by default). ``excludes``: while an agent has an open interaction on the key
    channel, they get nothing new on the listed channels (by default a call excludes
    every other channel and the other way round). ``max_total`` caps all channels
    together. ``wrap_up_seconds``: the after-contact-work limit, after which the engine
    closes the wrap-up and makes the agent available (None: no limit).
    ``max_missed_offers``: consecutive unanswered offers that put the agent into not
    ready (reason 'no_answer').
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity: dict[ChannelName, Annotated[int, Field(ge=0, le=50)]] = Field(
        default_factory=lambda: dict(DEFAULT_CAPACITY), max_length=20
    )
    excludes: dict[ChannelName, list[ChannelName]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_EXCLUDES.items()},
        max_length=20,
    )
    max_total: int | None = Field(default=None, ge=1, le=100)
    wrap_up_seconds: int | None = Field(default=60, ge=0, le=86_400)
    max_missed_offers: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _bounded_lists(self) -> TeamRules:
        if any(len(v) > 20 for v in self.excludes.values()):
            raise ValueError("excludes: at most 20 channels per entry")
        return self


DEFAULT_RULES = TeamRules()


def combine_rules(rules: list[TeamRules]) -> TeamRules:
    """The rules of an agent in several teams: the most restrictive of each."""
    if not rules:
        return DEFAULT_RULES
    if len(rules) == 1:
        return rules[0]
    channels = set().union(*(r.capacity for r in rules))
    capacity = {ch: min(r.capacity.get(ch, 0) for r in rules) for ch in channels}
    excludes: dict[str, set[str]] = {}
    for r in rules:
        for ch, others in r.excludes.items():
            excludes.setdefault(ch, set()).update(others)
    totals = [r.max_total for r in rules if r.max_total is not None]
    limits = [r.wrap_up_seconds for r in rules if r.wrap_up_seconds is not None]
    return TeamRules(
        capacity=capacity,
        excludes={ch: sorted(v) for ch, v in excludes.items()},
        max_total=min(totals) if totals else None,
        wrap_up_seconds=min(limits) if limits else None,
        max_missed_offers=min(r.max_missed_offers for r in rules),
    )


def free_slots(rules: TeamRules, load: Mapping[str, int], channel: str) -> int:
    """New interactions the agent could take on ``channel`` given their open ``load``
    (blending included); the same arithmetic as `routing.policies.free_capacity`."""
    for busy_channel, count in load.items():
        if count > 0 and channel in rules.excludes.get(busy_channel, ()):
            return 0
    free = rules.capacity.get(channel, 0) - load.get(channel, 0)
    if rules.max_total is not None:
        free = min(free, rules.max_total - sum(load.values()))
    return max(free, 0)
