"""Whether an actor may see an event on a live stream (pure)."""

from __future__ import annotations

from jietong.core.tenancy import Actor
from jietong.events.base import Audience, Envelope


def admits(audience: Audience, actor: Actor) -> bool:
    if actor.sees_whole_organisation or audience.everyone:
        return True
    return actor.user_id in audience.user_ids or not actor.team_ids.isdisjoint(audience.team_ids)


def visible(envelope: Envelope, actor: Actor) -> bool:
    """Same organisation, and the event's audience admits the actor."""
    return envelope.org_id == actor.org_id and admits(envelope.audience, actor)
