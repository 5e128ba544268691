"""Supervisor actions on the queues: move a waiting interaction to another queue, assign
it to a chosen agent, or pull it to oneself. Each needs 'routing:supervise' and is
audited. (Agents' skills are changed through the organisation API, their states through
`routing.presence.set_presence`; both are audited too.)
"""

from __future__ import annotations

from datetime import datetime

from jietong.agents import store as agent_store
from jietong.agents.model import AgentState, AgentTrigger
from jietong.agents.service import ensure_presence, move_agent
from jietong.core.errors import Conflict, InvalidInput
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.interactions.service import require_interaction
from jietong.routing import store
from jietong.routing.configuration import QueueNotFound, settings_of_org
from jietong.routing.entries import move_entry
from jietong.routing.model import DEFAULT_SETTINGS, EntryState
from jietong.routing.offers import (
    OfferView,
    accept_offer,
    offer_entry,
    requeue_interaction,
    withdraw_offer,
)
from jietong.routing.stats import NotQueued
from jietong.storage.tables_routing import RoutingEntryRow, RoutingOfferRow
from jietong.storage.uow import UnitOfWork


def move_interaction(
    uow: UnitOfWork, actor: Actor, interaction_id: str, queue_id: str, *, now: datetime
) -> RoutingEntryRow:
    """Move a waiting (or ringing) interaction to another queue of the organisation,
    keeping its original arrival time; a pending offer is withdrawn."""
    require(actor, Permission.ROUTING_SUPERVISE)
    entry = _active_entry(uow, actor, interaction_id)
    if store.find_queue(uow.session, actor.org_id, queue_id) is None:
        raise QueueNotFound(f"queue {queue_id} not found")
    withdrawn = _withdraw(uow, actor, entry, now)
    entry = _active_entry(uow, actor, interaction_id, for_update=True)
    if entry.queue_id != queue_id:
        move_entry(uow, entry, queue_id, cause="supervisor", now=now, actor=actor)
    _commit(uow, actor, withdrawn)
    return entry


def assign_interaction(
    uow: UnitOfWork, actor: Actor, interaction_id: str, agent_id: str, *, now: datetime
) -> OfferView:
    """Offer a waiting interaction to a chosen logged-in agent, whatever the policy and
    skills say (the supervisor decides); any pending offer is withdrawn first."""
    require(actor, Permission.ROUTING_SUPERVISE)
    entry = _active_entry(uow, actor, interaction_id)
    presence = agent_store.find_presence(uow.session, actor.org_id, agent_id)
    user = agent_store.find_user(uow.session, actor.org_id, agent_id)
    if user is None or not user.active:
        raise InvalidInput(f"unknown or inactive agent {agent_id}")
    if presence is None or presence.state in (AgentState.OFFLINE.value,):
        raise Conflict("the agent is not logged in")
    withdrawn = _withdraw(uow, actor, entry, now)
    if withdrawn is not None:
        requeue_interaction(uow, actor, withdrawn)
    ring = settings_of_org(uow, actor.org_id).get(entry.queue_id, DEFAULT_SETTINGS)
    uow.audit(actor, "routing.assigned", "interaction", interaction_id, {"agent_id": agent_id})
    offer = offer_entry(
        uow,
        actor.org_id,
        entry.id,
        agent_id,
        ring_seconds=ring.ring_timeout_seconds,
        now=now,
        actor=actor,
        require_routable=False,
    )
    if offer is None:
        raise Conflict("the agent already has an offer or the interaction left the queue")
    return OfferView(offer, store.find_entry(uow.session, actor.org_id, offer.entry_id))


def pull_interaction(
    uow: UnitOfWork, actor: Actor, interaction_id: str, *, now: datetime
) -> OfferView:
    """Take a waiting interaction oneself: offered and accepted at once."""
    require(actor, Permission.ROUTING_SUPERVISE)
    entry = _active_entry(uow, actor, interaction_id)
    withdrawn = _withdraw(uow, actor, entry, now)
    if withdrawn is not None:
        requeue_interaction(uow, actor, withdrawn)
    ensure_presence(uow, actor.org_id, actor.user_id, now=now)
    uow.audit(actor, "routing.pulled", "interaction", interaction_id, {})
    offer = offer_entry(
        uow,
        actor.org_id,
        entry.id,
        actor.user_id,
        ring_seconds=60,
        now=now,
        actor=actor,
        require_routable=False,
    )
    if offer is None:
        raise Conflict("you already have an offer pending, or the interaction left the queue")
    return accept_offer(uow, actor, offer.id, now=now)


def _active_entry(
    uow: UnitOfWork, actor: Actor, interaction_id: str, *, for_update: bool = False
) -> RoutingEntryRow:
    row = require_interaction(uow, actor, interaction_id)
    entry = store.find_entry_of(uow.session, actor.org_id, row.id, for_update=for_update)
    if entry is None or entry.state not in (EntryState.WAITING.value, EntryState.OFFERED.value):
        raise NotQueued(f"interaction {interaction_id} is not waiting in a queue")
    return entry


def _withdraw(
    uow: UnitOfWork, actor: Actor, entry: RoutingEntryRow, now: datetime
) -> RoutingOfferRow | None:
    """Withdraw the entry's pending offer (agent's presence locked first, then the
    offer: the lock order of every offer move). Not committed."""
    offer = store.pending_offer_of_entry(uow.session, entry.id)
    if offer is None:
        return None
    presence = agent_store.find_presence(uow.session, offer.org_id, offer.agent_id, for_update=True)
    if not withdraw_offer(uow, actor, offer, now=now, commit=False):
        return None
    if presence is not None and presence.state == AgentState.RINGING.value:
        move_agent(uow, actor, presence, AgentTrigger.WITHDRAW, now=now)
    return offer


def _commit(uow: UnitOfWork, actor: Actor, withdrawn: RoutingOfferRow | None) -> None:
    if withdrawn is not None:
        requeue_interaction(uow, actor, withdrawn)
    else:
        uow.commit()
