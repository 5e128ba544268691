"""Offers: one interaction to one agent at a time, with a ring deadline.

Exactly one party wins every race over an offer. Each function first locks the agent's
presence row, then ends the offer with a *conditional* UPDATE (``WHERE state =
'pending'``, and for the agent's own moves ``AND agent_id = me AND expires_at > now``):
of an accept and a timeout, or of two clicks, one updates the row and the other finds
nothing to update. The database backs this up: a partial unique index allows one pending
offer per interaction and one per agent, and the interaction's own lifecycle refuses a
second 'accept'. Locks are always taken in the order presence, offer, entry,
interaction, so concurrent moves cannot deadlock.

The interaction's move is made last, through `interactions.service.transition_interaction`
(or its uncommitted form, `transition_interaction_uncommitted`, for offers), and one commit covers
the whole unit of work: offer, entry, presence and interaction change together or not at
all. The engine makes a decision's offers in savepoints of one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from jietong.agents import store as agent_store
from jietong.agents.model import ROUTABLE, AgentState, AgentTrigger, NotReadyReason, TeamRules
from jietong.agents.service import ensure_presence, move_agent
from jietong.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from jietong.core.ids import new_id
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor, system_actor
from jietong.events.routing import (
    CallbackStarted,
    OfferAccepted,
    OfferCreated,
    OfferDeclined,
    OfferExpired,
    OfferRetracted,
)
from jietong.interactions.model import InteractionTrigger
from jietong.interactions.service import transition_interaction, transition_interaction_uncommitted
from jietong.routing import store
from jietong.routing.callbacks import open_conversation
from jietong.routing.entries import record_offer_move
from jietong.routing.model import LIVE_CHANNELS, EntryKind, EntryState, OfferState, OfferTrigger
from jietong.storage.tables_routing import AgentPresenceRow, RoutingEntryRow, RoutingOfferRow
from jietong.storage.uow import UnitOfWork


class OfferNotFound(NotFound):
    pass


class OfferNotPending(Conflict):
    title = "Offer no longer pending"


@dataclass(frozen=True)
class OfferView:
    offer: RoutingOfferRow
    entry: RoutingEntryRow | None


def offer_entry(
    uow: UnitOfWork,
    org_id: str,
    entry_id: str,
    agent_id: str,
    *,
    ring_seconds: int,
    now: datetime,
    actor: Actor | None = None,
    require_routable: bool = True,
    commit: bool = True,
) -> RoutingOfferRow | None:
    """Offer a waiting entry to an agent and commit; None (nothing changed) when the
    moment passed: the agent is no longer routable or already has an offer, the entry
    no longer waits, or the interaction left the queue.

    Without ``commit`` the offer is made inside a savepoint and left for the caller to
    commit with others (the engine commits a whole decision at once); a refused offer
    then rolls back its savepoint only."""
    if commit:
        try:
            made = _make_offer(
                uow, org_id, entry_id, agent_id, ring_seconds, now, actor, require_routable
            )
        except (IllegalTransition, NotFound, InvalidInput, IntegrityError):
            made = None
        if made is None:
            return _nothing(uow)
        uow.commit()
        return made
    savepoint = uow.session.begin_nested()
    try:
        made = _make_offer(
            uow, org_id, entry_id, agent_id, ring_seconds, now, actor, require_routable
        )
    except (IllegalTransition, NotFound, InvalidInput, IntegrityError):
        made = None
    if made is None:
        savepoint.rollback()
        return None
    savepoint.commit()
    return made


def _make_offer(
    uow: UnitOfWork,
    org_id: str,
    entry_id: str,
    agent_id: str,
    ring_seconds: int,
    now: datetime,
    actor: Actor | None,
    require_routable: bool,
) -> RoutingOfferRow | None:
    """The offer's changes, uncommitted; None when it cannot be made (nothing changed
    but what the caller rolls back)."""
    acting = actor or system_actor(org_id)
    presence = agent_store.find_presence(uow.session, org_id, agent_id, for_update=True)
    if presence is None or (require_routable and AgentState(presence.state) not in ROUTABLE):
        return None
    if store.pending_offers(uow.session, org_id, agent_id=agent_id):
        return None
    entry = store.find_entry(uow.session, org_id, entry_id, for_update=True)
    if entry is None or entry.state != EntryState.WAITING.value:
        return None
    offer = RoutingOfferRow(
        id=new_id(),
        org_id=org_id,
        interaction_id=entry.interaction_id,
        entry_id=entry.id,
        agent_id=agent_id,
        queue_id=entry.queue_id,
        channel=entry.channel,
        state=OfferState.PENDING.value,
        created_at=now,
        expires_at=now + timedelta(seconds=ring_seconds),
        ended_at=None,
    )
    uow.session.add(offer)
    entry.state = EntryState.OFFERED.value
    entry.offers += 1
    entry.updated_at = now
    if presence.state == AgentState.AVAILABLE.value:
        move_agent(uow, acting, presence, AgentTrigger.OFFER, now=now)
    uow.emit(
        OfferCreated(
            org_id=org_id,
            offer_id=offer.id,
            interaction_id=offer.interaction_id,
            agent_id=agent_id,
            queue_id=offer.queue_id,
            channel=offer.channel,
            ring_timeout_seconds=ring_seconds,
        )
    )
    transition_interaction_uncommitted(
        uow, acting, entry.interaction_id, InteractionTrigger.OFFER, assigned_user_id=agent_id
    )
    return offer


def _nothing(uow: UnitOfWork) -> RoutingOfferRow | None:
    """Roll back and report that no offer was made."""
    uow.session.rollback()
    return None


def accept_offer(uow: UnitOfWork, actor: Actor, offer_id: str, *, now: datetime) -> OfferView:
    """The offered agent takes the interaction. OfferNotPending (409) if the offer was
    already answered, expired (even by a millisecond) or withdrawn."""
    require(actor, Permission.INTERACTIONS_WRITE)
    offer = _own_offer(uow, actor, offer_id)
    presence = ensure_presence(uow, actor.org_id, actor.user_id, now=now)
    if not store.end_offer(
        uow.session,
        offer.id,
        to_state=OfferState.ACCEPTED.value,
        now=now,
        agent_id=actor.user_id,
        unexpired=True,
    ):
        raise OfferNotPending("the offer is no longer pending")
    entry = _entry_of(uow, offer)
    if entry is not None:
        entry.state = EntryState.SERVED.value
        entry.served_at = now
        entry.ended_at = now
        entry.updated_at = now
    presence.missed_offers = 0
    presence.idle_since = now
    _occupy(uow, actor, presence, now)
    record_offer_move(uow, offer, OfferTrigger.ACCEPT)
    uow.emit(
        OfferAccepted(
            org_id=offer.org_id,
            offer_id=offer.id,
            interaction_id=offer.interaction_id,
            agent_id=offer.agent_id,
            channel=offer.channel,
        )
    )
    callback = entry is not None and entry.kind == EntryKind.CALLBACK.value
    by_voice = callback and entry is not None and _reached_live(entry)
    if by_voice and entry is not None:
        uow.emit(
            CallbackStarted(
                org_id=entry.org_id,
                entry_id=entry.id,
                interaction_id=entry.interaction_id,
                agent_id=offer.agent_id,
                channel=entry.callback_channel or entry.channel,
                to=entry.callback_to,
                conversation_id=entry.interaction_id,
            )
        )
    transition_interaction(uow, actor, offer.interaction_id, InteractionTrigger.ACCEPT)
    if callback and not by_voice and entry is not None:
        # After the accept's commit: a crash in between leaves the agent connected to
        # the callback's interaction, visible, not lost.
        open_conversation(uow, entry, offer.agent_id)
    return OfferView(_reloaded(uow, offer), entry)


def _reached_live(entry: RoutingEntryRow) -> bool:
    return (entry.callback_channel or entry.channel) in LIVE_CHANNELS


def _occupy(uow: UnitOfWork, actor: Actor, presence: AgentPresenceRow, now: datetime) -> None:
    state = AgentState(presence.state)
    if state is AgentState.RINGING:
        move_agent(uow, actor, presence, AgentTrigger.ACCEPT, now=now)
    elif state in (AgentState.AVAILABLE, AgentState.WRAP_UP):
        move_agent(uow, actor, presence, AgentTrigger.OCCUPY, now=now)


def decline_offer(uow: UnitOfWork, actor: Actor, offer_id: str, *, now: datetime) -> OfferView:
    """The offered agent refuses; the interaction goes back to its place in the queue and
    is offered to the next agent (this one is passed over for a while)."""
    require(actor, Permission.INTERACTIONS_WRITE)
    offer = _own_offer(uow, actor, offer_id)
    presence = ensure_presence(uow, actor.org_id, actor.user_id, now=now)
    if not store.end_offer(
        uow.session,
        offer.id,
        to_state=OfferState.DECLINED.value,
        now=now,
        agent_id=actor.user_id,
        unexpired=True,
    ):
        raise OfferNotPending("the offer is no longer pending")
    _requeue(uow, offer, now)
    presence.missed_offers = 0
    if presence.state == AgentState.RINGING.value:
        move_agent(uow, actor, presence, AgentTrigger.DECLINE, now=now)
    record_offer_move(uow, offer, OfferTrigger.DECLINE)
    uow.emit(
        OfferDeclined(
            org_id=offer.org_id,
            offer_id=offer.id,
            interaction_id=offer.interaction_id,
            agent_id=offer.agent_id,
            channel=offer.channel,
        )
    )
    transition_interaction(uow, actor, offer.interaction_id, InteractionTrigger.DECLINE)
    return OfferView(_reloaded(uow, offer), _entry_of(uow, offer))


def expire_offer(
    uow: UnitOfWork, offer_id: str, org_id: str, rules: TeamRules, *, now: datetime
) -> bool:
    """The ring timeout passed: requeue, count the miss, and after ``max_missed_offers``
    in a row put the agent into not ready ('no_answer'). Commits; False if the offer was
    answered meanwhile."""
    offer = store.find_offer(uow.session, org_id, offer_id)
    if offer is None:
        return False
    system = system_actor(org_id)
    presence = ensure_presence(uow, org_id, offer.agent_id, now=now)
    if not store.end_offer(uow.session, offer.id, to_state=OfferState.EXPIRED.value, now=now):
        uow.session.rollback()
        return False
    _requeue(uow, offer, now)
    presence.missed_offers += 1
    state = AgentState(presence.state)
    if presence.missed_offers >= rules.max_missed_offers and state in (
        AgentState.RINGING,
        AgentState.BUSY,
    ):
        move_agent(
            uow, system, presence, AgentTrigger.NO_ANSWER, now=now, reason=NotReadyReason.NO_ANSWER
        )
    elif state is AgentState.RINGING:
        move_agent(uow, system, presence, AgentTrigger.TIMEOUT, now=now)
    record_offer_move(uow, offer, OfferTrigger.EXPIRE)
    uow.emit(
        OfferExpired(
            org_id=org_id,
            offer_id=offer.id,
            interaction_id=offer.interaction_id,
            agent_id=offer.agent_id,
            missed_in_a_row=presence.missed_offers,
            channel=offer.channel,
        )
    )
    return _move_interaction(uow, system, offer, InteractionTrigger.TIMEOUT)


def withdraw_offer(
    uow: UnitOfWork, actor: Actor, offer: RoutingOfferRow, *, now: datetime, commit: bool
) -> bool:
    """End a pending offer without the agent (they paused or logged out, a supervisor
    reassigns or moves the interaction). The caller holds the agent's presence lock and
    moves the agent itself. With ``commit`` the interaction returns to the queue and
    everything commits; without, the caller must do both."""
    if not store.end_offer(uow.session, offer.id, to_state=OfferState.WITHDRAWN.value, now=now):
        return False
    _requeue(uow, offer, now)
    record_offer_move(uow, offer, OfferTrigger.WITHDRAW)
    uow.emit(
        OfferRetracted(
            org_id=offer.org_id,
            offer_id=offer.id,
            interaction_id=offer.interaction_id,
            agent_id=offer.agent_id,
            channel=offer.channel,
        )
    )
    if commit:
        return _move_interaction(uow, actor, offer, InteractionTrigger.DECLINE)
    return True


def requeue_interaction(uow: UnitOfWork, actor: Actor, offer: RoutingOfferRow) -> bool:
    """Second half of a withdrawal made with ``commit=False``: interaction back to the
    queue, and commit."""
    return _move_interaction(uow, actor, offer, InteractionTrigger.DECLINE)


def _move_interaction(
    uow: UnitOfWork, actor: Actor, offer: RoutingOfferRow, trigger: InteractionTrigger
) -> bool:
    try:
        transition_interaction(uow, actor, offer.interaction_id, trigger)
    except (IllegalTransition, NotFound):
        # The interaction moved on (abandoned, accepted through another path): keep the
        # offer's end, let the next sync settle the entry.
        uow.commit()
    return True


def list_my_offers(uow: UnitOfWork, actor: Actor) -> list[OfferView]:
    """The actor's pending offers (at most one), with what is offered."""
    require(actor, Permission.INTERACTIONS_READ)
    offers = store.pending_offers(uow.session, actor.org_id, agent_id=actor.user_id)
    return [OfferView(o, _entry_of(uow, o)) for o in offers]


def get_offer(uow: UnitOfWork, actor: Actor, offer_id: str) -> OfferView:
    """One of the actor's offers (any state); others' offers only for supervisors."""
    require(actor, Permission.INTERACTIONS_READ)
    offer = store.find_offer(uow.session, actor.org_id, offer_id)
    if offer is None or not (actor.sees_whole_organisation or offer.agent_id == actor.user_id):
        raise OfferNotFound(f"offer {offer_id} not found")
    return OfferView(offer, _entry_of(uow, offer))


def _own_offer(uow: UnitOfWork, actor: Actor, offer_id: str) -> RoutingOfferRow:
    offer = store.find_offer(uow.session, actor.org_id, offer_id)
    if offer is None or offer.agent_id != actor.user_id:
        raise OfferNotFound(f"offer {offer_id} not found")
    return offer


def _entry_of(uow: UnitOfWork, offer: RoutingOfferRow) -> RoutingEntryRow | None:
    return store.find_entry(uow.session, offer.org_id, offer.entry_id)


def _requeue(uow: UnitOfWork, offer: RoutingOfferRow, now: datetime) -> None:
    entry = store.find_entry(uow.session, offer.org_id, offer.entry_id, for_update=True)
    if entry is not None and entry.state == EntryState.OFFERED.value:
        entry.state = EntryState.WAITING.value  # keeps enqueued_at: its place in the queue
        entry.updated_at = now


def _reloaded(uow: UnitOfWork, offer: RoutingOfferRow) -> RoutingOfferRow:
    found = store.find_offer(uow.session, offer.org_id, offer.id)
    return found if found is not None else offer
