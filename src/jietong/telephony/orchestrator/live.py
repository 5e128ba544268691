"""The orchestrator's in-memory view of the calls it is carrying right now.

A `LiveCall` is one customer call: the caller's leg, whatever legs joined it (the
agent's phone, a transfer target, a supervisor), its bridge and its recording. The
`CallTable` indexes them by every id that events arrive with: our signaling call id of
any leg, the media leg id, the interaction id. It lives in one orchestrator object (never
a module global) and is touched only from the orchestrator's event loop, so it needs no
locks. What must survive a restart is in the database (interaction, routing entry, CDR);
this table only knows what is on the wire right now.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from jietong.telephony.ports import Codec, MediaEndpoint

if TYPE_CHECKING:
    from jietong.telephony.media.client import MediaClient
    from jietong.telephony.orchestrator.records import CallContact


class LegRole(StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    EXTERNAL = "external"  # a number reached through a trunk (transfer, callback)
    SUPERVISOR = "supervisor"


class Phase(StrEnum):
    """Where the caller is. Moves only forward, except queued <-> ringing (an offer that
    was not answered returns the caller to waiting)."""

    ARRIVING = "arriving"
    IVR = "ivr"
    QUEUED = "queued"
    RINGING = "ringing"  # an agent's phone rings for this call
    BRIDGED = "bridged"
    ENDED = "ended"


class Mode(StrEnum):
    """How a supervisor's leg takes part."""

    LISTEN = "listen"  # hears everyone, nobody hears them
    WHISPER = "whisper"  # hears everyone, only the agent hears them
    BARGE = "barge"  # a full participant


@dataclass
class Leg:
    call_id: str  # our signaling call id of this leg
    leg_id: str  # its media leg
    role: LegRole
    codec: Codec = "PCMU"
    user_id: str | None = None  # agent or supervisor on this leg
    answered: bool = False
    held: bool = False
    muted: bool = False
    mode: Mode | None = None  # supervisors only
    offer_id: str | None = None  # the routing offer this leg rings for (agents)
    accepted: bool = False  # the offer was accepted already (on the desk, or a callback)
    cdr_leg: str | None = None  # the call model's leg id


@dataclass
class LiveCall:
    key: str  # the caller's signaling call id
    org_id: str
    caller: Leg
    media: MediaClient
    contact: CallContact | None = None
    dialled: str = ""
    phase: Phase = Phase.ARRIVING
    queue_id: str | None = None
    agent: Leg | None = None  # the agent connected (or being rung)
    others: list[Leg] = field(default_factory=list)  # transfer targets, supervisors
    bridge_id: str | None = None
    whisper_bridge_id: str | None = None
    recording_path: str | None = None  # relative to the media root
    recording_paused: bool = False
    digits: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    end_cause: str | None = None
    outbound: bool = False  # a callback: we call the customer, after the agent answered
    callback_to: str | None = None
    connections: int = 0  # bridges so far (a transfer back to the queue starts another)
    pending_answer: MediaEndpoint | None = None  # an agent's own call: their phone's 200 OK
    language: str | None = None  # chosen in the IVR; prompts after it speak it
    # Held while the call is taken apart for the queue or put together with an agent:
    # a transfer's "music on" must not land after the next agent's "music off".
    moving: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def interaction_id(self) -> str | None:
        return None if self.contact is None else self.contact.interaction_id

    def legs(self) -> list[Leg]:
        found = [self.caller]
        if self.agent is not None:
            found.append(self.agent)
        return found + self.others


class CallTable:
    """Live calls by caller key, by any leg's signaling call id, by media leg id and by
    interaction id."""

    def __init__(self) -> None:
        self._calls: dict[str, LiveCall] = {}
        self._by_leg_call: dict[str, tuple[LiveCall, Leg]] = {}
        self._by_media_leg: dict[str, tuple[LiveCall, Leg]] = {}
        self._by_interaction: dict[str, LiveCall] = {}

    def add(self, call: LiveCall) -> None:
        self._calls[call.key] = call
        self.add_leg(call, call.caller)

    def add_leg(self, call: LiveCall, leg: Leg) -> None:
        self._by_leg_call[leg.call_id] = (call, leg)
        self._by_media_leg[leg.leg_id] = (call, leg)

    def drop_leg(self, leg: Leg) -> None:
        self._by_leg_call.pop(leg.call_id, None)
        self._by_media_leg.pop(leg.leg_id, None)

    def set_interaction(self, call: LiveCall) -> None:
        if call.interaction_id is not None:
            self._by_interaction[call.interaction_id] = call

    def remove(self, call: LiveCall) -> None:
        self._calls.pop(call.key, None)
        for leg in call.legs():
            self.drop_leg(leg)
        if call.interaction_id is not None:
            self._by_interaction.pop(call.interaction_id, None)

    def by_key(self, key: str) -> LiveCall | None:
        return self._calls.get(key)

    def by_leg_call(self, call_id: str) -> tuple[LiveCall, Leg] | None:
        return self._by_leg_call.get(call_id)

    def by_media_leg(self, leg_id: str) -> tuple[LiveCall, Leg] | None:
        return self._by_media_leg.get(leg_id)

    def by_interaction(self, interaction_id: str) -> LiveCall | None:
        return self._by_interaction.get(interaction_id)

    def on_media(self, media: MediaClient) -> list[LiveCall]:
        return [c for c in self._calls.values() if c.media is media]

    def all(self) -> list[LiveCall]:
        return list(self._calls.values())

    def __len__(self) -> int:
        return len(self._calls)
