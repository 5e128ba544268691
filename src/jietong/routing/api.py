"""HTTP for agent presence, offers, queue status, position and estimated wait, supervisor
actions and callbacks: translation only, a few lines per endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from jietong.agents.model import AgentState, TeamRules
from jietong.app.deps import ActorDep, UowDep
from jietong.interactions.schemas import ID_PATTERN
from jietong.routing import (
    callbacks,
    case_tasks,
    configuration,
    offers,
    presence,
    stats,
    supervision,
)
from jietong.routing.model import QueueSettings
from jietong.routing.schemas import (
    AssignIn,
    CallbackCreate,
    CallbackIn,
    CaseTaskIn,
    EntryOut,
    MoveIn,
    OfferOut,
    PositionOut,
    PresenceIn,
    PresenceOut,
    QueueStatusOut,
)

IdPath = Annotated[str, Path(pattern=ID_PATTERN)]

agents_router = APIRouter(prefix="/agents", tags=["agents"])
offers_router = APIRouter(prefix="/offers", tags=["offers"])
router = APIRouter(prefix="/routing", tags=["routing"])


def presence_out(view: presence.PresenceView) -> PresenceOut:
    return PresenceOut(
        user_id=view.user_id,
        state=view.state,
        reason=view.reason,
        state_since=view.state_since,
        logged_in_at=view.logged_in_at,
        missed_offers=view.missed_offers,
        occupancy=view.occupancy,
        load=view.load,
        free=view.free,
    )


def offer_out(view: offers.OfferView) -> OfferOut:
    o, e = view.offer, view.entry
    return OfferOut(
        id=o.id,
        interaction_id=o.interaction_id,
        agent_id=o.agent_id,
        queue_id=o.queue_id,
        channel=o.channel,
        state=o.state,
        created_at=o.created_at,
        expires_at=o.expires_at,
        ended_at=o.ended_at,
        kind=None if e is None else e.kind,
        callback_to=None if e is None else e.callback_to,
        callback_channel=None if e is None else e.callback_channel,
    )


# --- presence ------------------------------------------------------------------------------


@agents_router.get("/me/presence", response_model=PresenceOut)
def get_my_presence(uow: UowDep, actor: ActorDep) -> PresenceOut:
    return presence_out(presence.get_presence(uow, actor, actor.user_id, now=uow.now))


@agents_router.put("/me/presence", response_model=PresenceOut)
def set_my_presence(body: PresenceIn, uow: UowDep, actor: ActorDep) -> PresenceOut:
    view = presence.set_presence(
        uow, actor, actor.user_id, AgentState(body.state), reason=body.reason, now=uow.now
    )
    return presence_out(view)


@agents_router.get("/presence", response_model=list[PresenceOut])
def list_presence(uow: UowDep, actor: ActorDep) -> list[PresenceOut]:
    return [presence_out(v) for v in presence.list_presence(uow, actor, now=uow.now)]


@agents_router.get("/{user_id}/presence", response_model=PresenceOut)
def get_presence(user_id: IdPath, uow: UowDep, actor: ActorDep) -> PresenceOut:
    return presence_out(presence.get_presence(uow, actor, user_id, now=uow.now))


@agents_router.put("/{user_id}/presence", response_model=PresenceOut)
def set_presence(user_id: IdPath, body: PresenceIn, uow: UowDep, actor: ActorDep) -> PresenceOut:
    view = presence.set_presence(
        uow, actor, user_id, AgentState(body.state), reason=body.reason, now=uow.now
    )
    return presence_out(view)


# --- offers --------------------------------------------------------------------------------


@offers_router.get("", response_model=list[OfferOut])
def list_my_offers(uow: UowDep, actor: ActorDep) -> list[OfferOut]:
    return [offer_out(v) for v in offers.list_my_offers(uow, actor)]


@offers_router.get("/{offer_id}", response_model=OfferOut)
def get_offer(offer_id: IdPath, uow: UowDep, actor: ActorDep) -> OfferOut:
    return offer_out(offers.get_offer(uow, actor, offer_id))


@offers_router.post("/{offer_id}/accept", response_model=OfferOut)
def accept_offer(offer_id: IdPath, uow: UowDep, actor: ActorDep) -> OfferOut:
    return offer_out(offers.accept_offer(uow, actor, offer_id, now=uow.now))


@offers_router.post("/{offer_id}/decline", response_model=OfferOut)
def decline_offer(offer_id: IdPath, uow: UowDep, actor: ActorDep) -> OfferOut:
    return offer_out(offers.decline_offer(uow, actor, offer_id, now=uow.now))


# --- queues --------------------------------------------------------------------------------


@router.get("/queues", response_model=list[QueueStatusOut])
def list_queue_status(uow: UowDep, actor: ActorDep) -> list[QueueStatusOut]:
    return [
        QueueStatusOut.model_validate(s, from_attributes=True)
        for s in stats.list_queue_status(uow, actor, now=uow.now)
    ]


@router.get("/queues/{queue_id}", response_model=QueueStatusOut)
def get_queue_status(queue_id: IdPath, uow: UowDep, actor: ActorDep) -> QueueStatusOut:
    found = stats.get_queue_status(uow, actor, queue_id, now=uow.now)
    return QueueStatusOut.model_validate(found, from_attributes=True)


@router.get("/queues/{queue_id}/entries", response_model=list[EntryOut])
def list_queue_entries(queue_id: IdPath, uow: UowDep, actor: ActorDep) -> list[EntryOut]:
    rows = stats.list_entries(uow, actor, queue_id, now=uow.now)
    return [EntryOut.model_validate(r) for r in rows]


@router.get("/queues/{queue_id}/settings", response_model=QueueSettings)
def get_queue_settings(queue_id: IdPath, uow: UowDep, actor: ActorDep) -> QueueSettings:
    return configuration.get_queue_settings(uow, actor, queue_id)


@router.put("/queues/{queue_id}/settings", response_model=QueueSettings)
def set_queue_settings(
    queue_id: IdPath, body: QueueSettings, uow: UowDep, actor: ActorDep
) -> QueueSettings:
    return configuration.set_queue_settings(uow, actor, queue_id, body, now=uow.now)


@router.get("/teams/{team_id}/rules", response_model=TeamRules)
def get_team_rules(team_id: IdPath, uow: UowDep, actor: ActorDep) -> TeamRules:
    return configuration.get_team_rules(uow, actor, team_id)


@router.put("/teams/{team_id}/rules", response_model=TeamRules)
def set_team_rules(team_id: IdPath, body: TeamRules, uow: UowDep, actor: ActorDep) -> TeamRules:
    return configuration.set_team_rules(uow, actor, team_id, body, now=uow.now)


# --- interactions in queue -------------------------------------------------------------------


@router.get("/interactions/{interaction_id}/position", response_model=PositionOut)
def get_position(interaction_id: IdPath, uow: UowDep, actor: ActorDep) -> PositionOut:
    found = stats.get_position(uow, actor, interaction_id, now=uow.now)
    return PositionOut.model_validate(found, from_attributes=True)


@router.post("/interactions/{interaction_id}/move", response_model=EntryOut)
def move_interaction(
    interaction_id: IdPath, body: MoveIn, uow: UowDep, actor: ActorDep
) -> EntryOut:
    entry = supervision.move_interaction(uow, actor, interaction_id, body.queue_id, now=uow.now)
    return EntryOut.model_validate(entry)


@router.post("/interactions/{interaction_id}/assign", response_model=OfferOut)
def assign_interaction(
    interaction_id: IdPath, body: AssignIn, uow: UowDep, actor: ActorDep
) -> OfferOut:
    view = supervision.assign_interaction(uow, actor, interaction_id, body.agent_id, now=uow.now)
    return offer_out(view)


@router.post("/interactions/{interaction_id}/pull", response_model=OfferOut)
def pull_interaction(interaction_id: IdPath, uow: UowDep, actor: ActorDep) -> OfferOut:
    return offer_out(supervision.pull_interaction(uow, actor, interaction_id, now=uow.now))


@router.post("/interactions/{interaction_id}/callback", response_model=EntryOut)
def request_callback(
    interaction_id: IdPath, body: CallbackIn, uow: UowDep, actor: ActorDep
) -> EntryOut:
    entry = callbacks.request_callback(
        uow,
        actor,
        interaction_id,
        channel=body.channel.value,
        to=body.to,
        at=body.at,
        now=uow.now,
    )
    return EntryOut.model_validate(entry)


@router.post("/callbacks", status_code=status.HTTP_201_CREATED, response_model=EntryOut)
def schedule_callback(body: CallbackCreate, uow: UowDep, actor: ActorDep) -> EntryOut:
    entry = callbacks.schedule_callback(
        uow,
        actor,
        queue_id=body.queue_id,
        channel=body.channel.value,
        customer_id=body.customer_id,
        to=body.to,
        at=body.at,
        subject=body.subject,
        now=uow.now,
    )
    return EntryOut.model_validate(entry)


@router.post("/cases/{case_id}/task", status_code=status.HTTP_201_CREATED, response_model=EntryOut)
def queue_case_task(case_id: IdPath, body: CaseTaskIn, uow: UowDep, actor: ActorDep) -> EntryOut:
    entry = case_tasks.queue_case_task(uow, actor, case_id, body.queue_id, now=uow.now)
    return EntryOut.model_validate(entry)
