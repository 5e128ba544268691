"""Events of routing and agent presence (issue 4).

They feed the agent desktop (offers), the wallboard (queue statistics, agent states) and
the analytics projections (time in state, offers, overflow). Times travel as ISO 8601
strings so that every event round-trips through JSON unchanged.
"""

from __future__ import annotations

from jietong.events.base import DomainEvent


class AgentStateChanged(DomainEvent):
    """An agent moved along the presence state machine (logged in, became available,
    started ringing, went busy, wrapped up, paused with a reason code, logged out)."""

    agent_id: str
    from_state: str
    trigger: str
    to_state: str
    reason: str | None


class WorkQueued(DomainEvent):
    """An interaction entered the routing queues (or came back to them after a decline,
    a ring timeout or a transfer) and waits for an agent."""

    entry_id: str
    interaction_id: str
    queue_id: str
    channel: str
    kind: str
    priority: int


class OfferCreated(DomainEvent):
    """An interaction was offered to one agent, who has `ring_timeout_seconds` to answer."""

    offer_id: str
    interaction_id: str
    agent_id: str
    queue_id: str
    channel: str
    ring_timeout_seconds: int


class OfferAccepted(DomainEvent):
    """The offered agent accepted: the interaction is theirs (and only theirs). Voice
    bridges a call (`channel` "call") to the agent's phone."""

    offer_id: str
    interaction_id: str
    agent_id: str
    channel: str = ""  # empty only in events written before it was carried


class OfferDeclined(DomainEvent):
    """The offered agent declined; the interaction went back to its place in the queue."""

    offer_id: str
    interaction_id: str
    agent_id: str
    channel: str = ""  # empty only in events written before it was carried


class OfferExpired(DomainEvent):
    """The ring timeout passed without an answer; the interaction went back to its
    place in the queue and will be offered to the next agent."""

    offer_id: str
    interaction_id: str
    agent_id: str
    missed_in_a_row: int
    channel: str = ""  # empty only in events written before it was carried


class OfferRetracted(DomainEvent):
    """A pending offer ended without the agent's answer (the customer left, a supervisor
    moved or reassigned the interaction, or the agent logged out or paused)."""

    offer_id: str
    interaction_id: str
    agent_id: str
    channel: str = ""  # empty only in events written before it was carried


class WorkMoved(DomainEvent):
    """A waiting interaction moved to another queue (supervisor, overflow rule, or a queue
    limit), keeping its original arrival time. The interaction's own queue (and its team,
    when the new queue belongs to one) moved with it."""

    entry_id: str
    interaction_id: str
    from_queue_id: str
    to_queue_id: str
    cause: str
    from_team_id: str | None = None
    to_team_id: str | None = None


class OverflowApplied(DomainEvent):
    """A waiting interaction reached the next overflow/escalation step of its queue
    (wider skills, higher priority or another queue)."""

    entry_id: str
    interaction_id: str
    queue_id: str
    stage: int


class QueueLimitReached(DomainEvent):
    """A live contact hit its queue's maximum length or wait, or arrived while the queue
    was closed; `action` (voicemail, callback, message, queue) was taken. The voice and
    messaging channels act on it (play the voicemail prompt, tell the customer)."""

    entry_id: str
    interaction_id: str
    queue_id: str
    reason: str
    action: str


class CallbackRequested(DomainEvent):
    """A customer asked to be called (or messaged) back instead of holding, keeping their
    place in the queue, or at a time they chose (`scheduled_for`, ISO 8601)."""

    entry_id: str
    interaction_id: str
    queue_id: str
    channel: str
    scheduled_for: str | None


class CallbackStarted(DomainEvent):
    """An agent accepted a callback: the customer is now reached at `to` through
    `channel`. For "call" voice acts on it: it dials `to` and bridges the agent
    (`agent_id`, a user id). For a messaging channel (sms, wechat, email) routing has
    opened the outbound conversation `conversation_id`, connected to the agent, in which
    they write to the customer (the interaction of the callback itself when it already
    is on that channel)."""

    entry_id: str
    interaction_id: str
    agent_id: str
    channel: str
    to: str | None
    conversation_id: str | None = None  # None only in events written before it existed


class QueueStatsChanged(DomainEvent):
    """A queue's waiting count or its agents by state changed (for the wallboard);
    `oldest_enqueued_at` (ISO 8601) lets a screen tick the longest wait itself."""

    queue_id: str
    waiting: int
    offered: int
    oldest_enqueued_at: str | None
    agents: dict[str, int]
