"""What a call does to the contact center's records: the interaction of channel "call",
the customer behind the caller id, its place in routing, the offer to an agent, the
voicemail message.

Synchronous on purpose: each function is one unit of work through the domain services
(interactions, identity, routing), run from the orchestrator in a worker thread. No
decision about audio is made here, and no SQL is written here either: rows change only
through the services, except for the two attributes (queue, team) that the interactions
service has no verb for before the 'enqueue' move.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from jietong.core.errors import Conflict, IllegalTransition, NotFound
from jietong.core.ids import new_id
from jietong.core.tenancy import Actor, Role, system_actor
from jietong.identity import service as identity_service
from jietong.identity.contact_points import ContactKind, try_normalise
from jietong.identity.schemas import ContactPointIn, CustomerCreate
from jietong.interactions import attachments
from jietong.interactions import service as interactions
from jietong.interactions.model import (
    AuthorKind,
    Channel,
    Direction,
    InteractionState,
    InteractionTrigger,
)
from jietong.interactions.schemas import MessageCreate
from jietong.org import store as org_store
from jietong.routing import callbacks, offers, stats
from jietong.routing import store as routing_store
from jietong.routing.model import EntryKind, EntryState
from jietong.storage.blobs import BlobStore
from jietong.storage.tables import InteractionRow
from jietong.storage.tables_routing import RoutingEntryRow
from jietong.storage.uow import UnitOfWork
from jietong.telephony.calls import service as calls_service
from jietong.telephony.calls.model import CallDirection
from jietong.telephony.orchestrator import recovery
from jietong.telephony.policy import service as recording_policies
from jietong.telephony.policy.model import Effective, SiteRecording

NewUow = Callable[[], UnitOfWork]
S = InteractionState
T = InteractionTrigger
CALL = Channel.CALL.value


@dataclass(frozen=True)
class CallContact:
    """The interaction a call became, and who the caller is (the screen pop)."""

    interaction_id: str
    customer_id: str | None
    caller_e164: str | None
    customer_name: str | None
    known_customer: bool
    cdr_call_id: str | None = None  # the call model's call (telephony.calls)
    cdr_customer_leg: str | None = None


@dataclass(frozen=True)
class QueuePosition:
    position: int
    ahead: int
    wait_seconds: float | None


def normalise_caller(raw: str, region: str) -> str | None:
    """The caller id as E.164, or None when it is no phone number (anonymous, an
    extension, a SIP URI user of letters)."""
    return try_normalise(ContactKind.PHONE, raw, region)


def open_inbound(
    uow: UnitOfWork,
    org_id: str,
    *,
    caller: str,
    display_name: str | None,
    dialled: str,
    region: str,
    media_leg_id: str | None = None,
    trunk_id: str | None = None,
    node: str | None = None,
) -> CallContact:
    """Create the inbound interaction of a call and match (or create) its customer.

    A caller id that is a phone number finds the customer owning it; an unknown number
    becomes a new customer with that number, as a first message does on other channels,
    so that a callback or a later call finds them again. Withheld numbers stay
    anonymous."""
    system = system_actor(org_id)
    e164 = normalise_caller(caller, region)
    customer, known = _customer_for(uow, system, e164, display_name, region)
    # The call model opens the call and its interaction (channel "call") together.
    view = calls_service.open_call(
        uow,
        org_id,
        direction=CallDirection.INBOUND,
        caller=(e164 or _printable(caller, 200) or "anonymous"),
        dialled=_printable(dialled, 200),
        customer_id=None if customer is None else customer[0],
        trunk_id=trunk_id,
        media_leg_id=media_leg_id,
    )
    if node is not None:
        recovery.claim(uow, view.call.id, node)
    return CallContact(
        interaction_id=view.call.interaction_id,
        customer_id=None if customer is None else customer[0],
        caller_e164=e164,
        customer_name=None if customer is None else customer[1],
        known_customer=known,
        cdr_call_id=view.call.id,
        cdr_customer_leg=view.customer_leg.id,
    )


def open_outbound(
    uow: UnitOfWork,
    org_id: str,
    *,
    agent_id: str,
    number: str,
    phone: str,
    region: str,
    media_leg_id: str | None = None,
    node: str | None = None,
) -> CallContact:
    """An agent's call to `number`: an outbound interaction assigned to them, matched to
    the customer owning the number (none is created for a number merely dialled)."""
    found = identity_service.find_customer_by_contact(
        uow, org_id, ContactKind.PHONE, number, region
    )
    view = calls_service.open_call(
        uow,
        org_id,
        direction=CallDirection.OUTBOUND,
        caller=_printable(phone, 200),
        dialled=number,
        customer_id=None if found is None else found.id,
        media_leg_id=media_leg_id,
        agent_user_id=agent_id,
    )
    if node is not None:
        recovery.claim(uow, view.call.id, node)
    return CallContact(
        interaction_id=view.call.interaction_id,
        customer_id=None if found is None else found.id,
        caller_e164=number,
        customer_name=None if found is None else found.display_name,
        known_customer=found is not None,
        cdr_call_id=view.call.id,
        cdr_customer_leg=view.customer_leg.id,
    )


def dialled(uow: UnitOfWork, org_id: str, interaction_id: str, agent_id: str) -> None:
    """The number an agent called answered: their interaction is connected ('dial')."""
    try:
        interactions.transition_interaction(
            uow, system_actor(org_id), interaction_id, T.DIAL, assigned_user_id=agent_id
        )
    except (IllegalTransition, NotFound):
        uow.session.rollback()


def _customer_for(
    uow: UnitOfWork, system: Actor, e164: str | None, name: str | None, region: str
) -> tuple[tuple[str, str] | None, bool]:
    if e164 is None:
        return None, False
    found = identity_service.find_customer_by_contact(
        uow, system.org_id, ContactKind.PHONE, e164, region
    )
    if found is not None:
        return (found.id, found.display_name), True
    display = _clean_name(name) or e164
    try:
        view = identity_service.create_customer(
            uow,
            system,
            CustomerCreate(
                display_name=display,
                contact_points=[ContactPointIn(kind=ContactKind.PHONE, value=e164)],
            ),
            default_region=region,
        )
    except Conflict:
        # Two first calls from one new number: the other created the customer.
        uow.session.rollback()
        again = identity_service.find_customer_by_contact(
            uow, system.org_id, ContactKind.PHONE, e164, region
        )
        if again is None:
            raise
        return (again.id, again.display_name), True
    return (view.customer.id, view.customer.display_name), False


def _clean_name(name: str | None) -> str:
    text = " ".join((name or "").split())
    return "".join(c for c in text if c.isprintable())[:200]


def _printable(text: str, limit: int) -> str:
    return "".join(c for c in text if c.isprintable())[:limit]


def default_call_queue(uow: UnitOfWork, org_id: str) -> str | None:
    """The organisation's first queue (by name) that takes calls: where a call goes when
    no IVR flow names one."""
    queues = routing_store.queues(uow.session, org_id)
    for queue in sorted(queues.values(), key=lambda q: (q.name, q.id)):
        if CALL in queue.channels:
            return queue.id
    return None


def queue_call(uow: UnitOfWork, org_id: str, interaction_id: str, queue_id: str) -> bool:
    """Put a call's interaction into routing's queue `queue_id` (state 'queued'); the
    engine gives it its entry and offers it. False if the queue does not exist or the
    interaction is no longer waiting to be queued (the caller hung up meanwhile)."""
    system = system_actor(org_id)
    queue = routing_store.find_queue(uow.session, org_id, queue_id)
    row = interactions.require_interaction(uow, system, interaction_id, for_update=True)
    if queue is None or row.state != S.ARRIVED.value:
        uow.session.rollback()
        return False
    row.queue_id = queue.id
    row.team_id = queue.team_id
    interactions.transition_interaction(uow, system, interaction_id, T.ENQUEUE)
    return True


def position_of(uow: UnitOfWork, org_id: str, interaction_id: str, now: datetime) -> QueuePosition:
    """Where a waiting caller stands (for the announcements); NotFound when no longer
    waiting."""
    found = stats.get_position(uow, system_actor(org_id), interaction_id, now=now)
    wait = (
        found.expected_wait_seconds
        if found.expected_wait_seconds is not None
        else found.ewt_seconds
    )
    return QueuePosition(found.position, found.ahead, wait)


def request_callback(
    uow: UnitOfWork, org_id: str, interaction_id: str, number: str | None, now: datetime
) -> bool:
    """The caller pressed 1: called back when their turn comes, keeping their place.
    False when they are no longer waiting (or being offered right now)."""
    try:
        callbacks.request_callback(
            uow, system_actor(org_id), interaction_id, channel=CALL, to=number, at=None, now=now
        )
    except (NotFound, Conflict):
        uow.session.rollback()
        return False
    return True


def agent_actor(uow: UnitOfWork, org_id: str, user_id: str) -> Actor | None:
    """The agent as an actor (role and teams from the database), or None if not an active
    user of the organisation."""
    user = org_store.find_user(uow.session, org_id, user_id)
    if user is None or not user.active:
        return None
    teams = frozenset(org_store.team_ids_of(uow.session, org_id, [user_id]).get(user_id, []))
    return Actor(org_id=org_id, user_id=user_id, role=Role(user.role), team_ids=teams)


def accept_offer(uow: UnitOfWork, org_id: str, agent_id: str, offer_id: str, now: datetime) -> bool:
    """The agent's phone answered: accept the offer for them (routing's atomic accept).
    False when the offer is no longer pending (expired a moment ago, retracted)."""
    actor = agent_actor(uow, org_id, agent_id)
    if actor is None:
        return False
    try:
        offers.accept_offer(uow, actor, offer_id, now=now)
    except (NotFound, Conflict, IllegalTransition):
        uow.session.rollback()
        return False
    return True


def decline_offer(
    uow: UnitOfWork, org_id: str, agent_id: str, offer_id: str, now: datetime
) -> bool:
    """The agent's phone refused the call (busy, declined): routing re-offers it."""
    actor = agent_actor(uow, org_id, agent_id)
    if actor is None:
        return False
    try:
        offers.decline_offer(uow, actor, offer_id, now=now)
    except (NotFound, Conflict, IllegalTransition):
        uow.session.rollback()
        return False
    return True


@dataclass(frozen=True)
class PendingOffer:
    offer_id: str
    interaction_id: str
    agent_id: str
    ring_seconds: float


def pending_call_offers(
    uow: UnitOfWork, org_id: str, interaction_ids: list[str], now: datetime
) -> list[PendingOffer]:
    """Routing's pending offers of these interactions, with the ring time left."""
    wanted = set(interaction_ids)
    return [
        PendingOffer(o.id, o.interaction_id, o.agent_id, (o.expires_at - now).total_seconds())
        for o in routing_store.pending_offers(uow.session, org_id)
        if o.interaction_id in wanted and o.expires_at > now
    ]


def recording_policy(
    uow: UnitOfWork, org_id: str, interaction_id: str, record_calls: bool
) -> Effective:
    """Whether the call of this interaction is recorded, and with which consent
    announcement, under its queue's policy and the site's `record_calls`. (Retention is
    the sweep's business: the site's days are not needed at the bridge.)"""
    site = SiteRecording(record_calls, retention_days=1)
    return recording_policies.for_interaction(uow, org_id, interaction_id, site)


def offer_is_pending(uow: UnitOfWork, org_id: str, offer_id: str) -> bool:
    offer = routing_store.find_offer(uow.session, org_id, offer_id)
    return offer is not None and offer.state == "pending"


def end_call(uow: UnitOfWork, org_id: str, interaction_id: str) -> str | None:
    """The call is over: a connected interaction goes to wrap-up, one still in the IVR,
    the queue or ringing an agent is abandoned; anything else is left alone (already
    ended, or a voicemail/callback that lives on). Returns the trigger fired, if any."""
    system = system_actor(org_id)
    try:
        row = interactions.require_interaction(uow, system, interaction_id)
    except NotFound:
        return None
    state = S(row.state)
    trigger: T | None = None
    if state is S.CONNECTED:
        trigger = T.END
    elif state is S.ARRIVED or (state in (S.QUEUED, S.OFFERED) and _holds_live(uow, row)):
        trigger = T.ABANDON
    if trigger is None:
        uow.session.rollback()
        return None
    try:
        interactions.transition_interaction(uow, system, interaction_id, trigger)
    except IllegalTransition:
        uow.session.rollback()
        return None
    return trigger.value


def _holds_live(uow: UnitOfWork, row: InteractionRow) -> bool:
    """Whether a queued call still holds the line: not a callback or a voicemail, which
    outlive the call. No entry yet (the engine has not run since the 'enqueue') means
    the caller was holding."""
    entry = routing_store.find_entry_of(uow.session, row.org_id, row.id)
    return entry is None or entry.kind == EntryKind.LIVE.value


def leave_voicemail(
    uow: UnitOfWork,
    org_id: str,
    interaction_id: str,
    *,
    blobs: BlobStore,
    wav: bytes,
    seconds: float,
    queue_id: str | None,
    max_bytes: int,
) -> str:
    """The caller left a voicemail: an inbound message on the interaction with the WAV
    attached, and the interaction queued as deferred work (entry kind 'voicemail') so an
    agent listens and calls back. Returns the message id."""
    system = system_actor(org_id)
    added = interactions.add_message(
        uow,
        system,
        interaction_id,
        MessageCreate(
            body_text=f"Voicemail ({seconds:.0f} s)",
            direction=Direction.INBOUND,
            author_kind=AuthorKind.CUSTOMER,
            external_id=f"voicemail:{interaction_id}",
        ),
    )
    attachments.store_attachment(
        uow,
        system,
        blobs,
        interaction_id,
        filename="voicemail.wav",
        data=wav,
        declared_content_type="audio/wav",
        message_id=added.message.id,
        max_bytes=max_bytes,
    )
    if queue_id is not None:
        _queue_deferred(uow, system, interaction_id, queue_id, EntryKind.VOICEMAIL)
    return added.message.id


def _queue_deferred(
    uow: UnitOfWork, system: Actor, interaction_id: str, queue_id: str, kind: EntryKind
) -> None:
    """Queue an interaction as deferred work: its entry (of `kind`) and the 'enqueue'
    move commit together, as routing's scheduled callbacks do."""
    queue = routing_store.find_queue(uow.session, system.org_id, queue_id)
    row = interactions.require_interaction(uow, system, interaction_id, for_update=True)
    if queue is None or row.state != S.ARRIVED.value:
        uow.session.rollback()
        return
    row.queue_id = queue.id
    row.team_id = queue.team_id
    uow.session.add(
        RoutingEntryRow(
            id=new_id(),
            org_id=system.org_id,
            interaction_id=interaction_id,
            queue_id=queue.id,
            channel=row.channel,
            kind=kind.value,
            state=EntryState.WAITING.value,
            priority=queue.priority,
            enqueued_at=uow.now,
            queue_entered_at=uow.now,
            available_at=None,
            overflow_stage=0,
            offers=0,
            updated_at=uow.now,
        )
    )
    uow.session.flush()
    interactions.transition_interaction(uow, system, interaction_id, T.ENQUEUE)
