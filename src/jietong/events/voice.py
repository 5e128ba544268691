"""Events of voice calls (issue 6): the call model, the IVR and call detail records.

Each carries the call's `interaction_id`, so its audience is the interaction's team and
agent (storage.audience), like every other event about an interaction. Times travel as
ISO 8601 strings so that every event round-trips through JSON unchanged.
"""

from __future__ import annotations

from jietong.events.base import DomainEvent


class CallStarted(DomainEvent):
    """A call began: an inbound call arrived (from a trunk or an agent phone) or an
    outbound one was placed."""

    call_id: str
    interaction_id: str
    direction: str
    caller: str
    dialled: str
    customer_id: str | None


class CallLegChanged(DomainEvent):
    """A leg of a call moved along its lifecycle (answered, bridged, held, resumed,
    transferring, ended)."""

    call_id: str
    interaction_id: str
    leg_id: str
    leg_kind: str
    from_state: str
    trigger: str
    to_state: str
    user_id: str | None = None


class CallAnswered(DomainEvent):
    """An agent answered the call: the caller is bridged to them."""

    call_id: str
    interaction_id: str
    agent_id: str
    leg_id: str


class CallIvrFinished(DomainEvent):
    """The caller left the IVR with an outcome (queue, voicemail, callback, transfer,
    hangup, abandoned)."""

    call_id: str
    interaction_id: str
    outcome: str
    target: str | None


class CallTransferred(DomainEvent):
    """A transfer of the call started (to an agent, a queue or an external number)."""

    call_id: str
    interaction_id: str
    target: str
    mode: str


class CallEnded(DomainEvent):
    """The call is over (the customer leg ended); its detail record is final."""

    call_id: str
    interaction_id: str
    cause: str
    disposition: str | None
    abandoned: bool
    abandon_point: str | None


class IvrFlowSaved(DomainEvent):
    """An IVR flow was created or a new version of it saved."""

    flow_id: str
    name: str
    version: int


class IvrFlowDeleted(DomainEvent):
    """An IVR flow was deleted."""

    flow_id: str
    name: str
