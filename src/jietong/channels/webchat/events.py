"""Events of the web chat channel. Importing this module registers them in the catalogue."""

from __future__ import annotations

from jietong.events.base import DomainEvent


class ChatTypingStarted(DomainEvent):
    """Someone started typing in a web chat: the visitor (the interaction's agents see it
    on their stream) or an agent (the visitor's widget shows it with the agent's name).
    Sent at most once every few seconds per person while they type; a screen shows the
    indicator for a few seconds after the last one."""

    interaction_id: str
    who: str  # visitor | agent
    agent_id: str | None
