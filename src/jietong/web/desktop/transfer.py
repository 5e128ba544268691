"""An agent transfers their own conversation: to a back-office department (a hand-off
case), to a queue or to a colleague, with a note for whoever takes it.

This is the agent's own authorised action, not a supervisor's: it needs
`interactions:write` and a connected conversation assigned to the actor (or a role that
sees the whole organisation). Routing's part (move the waiting entry, or offer it to the
colleague) is then done as the platform on the agent's behalf, and the transfer is audited
as `interaction.transferred` under the agent. Routing's supervisor actions (move or assign
any waiting work, `routing:supervise`) are never lent to an agent.
"""

from __future__ import annotations

from dataclasses import dataclass

from jietong.agents import store as agent_store
from jietong.agents.model import AgentState, AgentTrigger
from jietong.agents.service import move_agent
from jietong.cases import service as cases_service
from jietong.cases.model import CaseType
from jietong.cases.schemas import CaseCreate, CaseUpdate
from jietong.core.errors import Conflict, InvalidInput
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor, system_actor
from jietong.interactions import service as interactions_service
from jietong.routing import store as routing_store
from jietong.routing.configuration import settings_of_org
from jietong.routing.entries import move_entry, sync_entries
from jietong.routing.model import DEFAULT_SETTINGS, EntryState
from jietong.routing.offers import offer_entry, requeue_interaction, withdraw_offer
from jietong.storage.tables import InteractionRow
from jietong.storage.tables_routing import RoutingEntryRow, RoutingOfferRow
from jietong.storage.uow import UnitOfWork
from jietong.web.desktop import resource_store as store
from jietong.web.desktop.schemas import NoteIn, TransferIn, TransferTarget
from jietong.web.desktop.work import ENTITY_TYPE, add_note, own_interaction


@dataclass(frozen=True)
class Transfer:
    interaction_id: str
    target: TransferTarget
    target_id: str
    case_id: str | None


def transfer(uow: UnitOfWork, actor: Actor, interaction_id: str, data: TransferIn) -> Transfer:
    """Hand a connected conversation over, with a note:

    - to a department: a case for that back-office team, linked to the conversation, with
      the note as its description (the conversation stays with the agent);
    - to a queue or an agent: the note, then the conversation goes back to routing
      (`transfer`), into that queue or offered to that agent.

    Bad targets are refused before anything changes."""
    require(actor, Permission.INTERACTIONS_WRITE)
    row = own_interaction(uow, actor, interaction_id)
    if row.state != "connected":
        raise Conflict("only a connected conversation can be transferred")
    if data.target is TransferTarget.DEPARTMENT:
        case_id = _hand_to_department(uow, actor, row, data)
        audit = {"target": data.target.value, "target_id": data.target_id, "case_id": case_id}
        uow.audit(actor, "interaction.transferred", ENTITY_TYPE, row.id, audit)
        uow.commit()
        return Transfer(row.id, data.target, data.target_id, case_id)
    _check_target(uow, actor, data)
    _note(uow, actor, row, data.note)
    interactions_service.transition_interaction(uow, actor, row.id, "transfer")
    # The transfer put it back in its queue; routing gives it a place now rather than at
    # the engine's next cycle, so that it can be moved or offered at once.
    sync_entries(uow, actor.org_id, settings_of_org(uow, actor.org_id), now=uow.now)
    _route(uow, actor, row.id, data)
    return Transfer(row.id, data.target, data.target_id, None)


def _check_target(uow: UnitOfWork, actor: Actor, data: TransferIn) -> None:
    if data.target is TransferTarget.QUEUE:
        if routing_store.find_queue(uow.session, actor.org_id, data.target_id) is None:
            raise InvalidInput(f"unknown queue {data.target_id}")
        return
    presence = agent_store.find_presence(uow.session, actor.org_id, data.target_id)
    if not store.active_users(uow.session, actor.org_id, [data.target_id]):
        raise InvalidInput(f"unknown or inactive agent {data.target_id}")
    if data.target_id == actor.user_id:
        raise InvalidInput("transfer to someone else")
    if presence is None or presence.state == "offline":
        raise Conflict("that agent is not logged in")


def _route(uow: UnitOfWork, actor: Actor, interaction_id: str, data: TransferIn) -> None:
    """Routing's part, as the platform: the agent's right to it was checked above, and
    they may no longer see the conversation once it is back in its team's queue."""
    platform = system_actor(actor.org_id)
    entry = _waiting_entry(uow, actor.org_id, interaction_id)
    # The engine may have offered it to someone in the instant since the transfer.
    withdrawn = _withdraw(uow, platform, entry)
    audit = {"target": data.target.value, "target_id": data.target_id}
    if data.target is TransferTarget.QUEUE:
        entry = _waiting_entry(uow, actor.org_id, interaction_id)
        if entry.queue_id != data.target_id:
            move_entry(uow, entry, data.target_id, cause="transfer", now=uow.now)
        uow.audit(actor, "interaction.transferred", ENTITY_TYPE, interaction_id, audit)
        _requeue_or_commit(uow, platform, withdrawn)
        return
    if withdrawn is not None:
        requeue_interaction(uow, platform, withdrawn)
    ring = settings_of_org(uow, actor.org_id).get(entry.queue_id, DEFAULT_SETTINGS)
    uow.audit(actor, "interaction.transferred", ENTITY_TYPE, interaction_id, audit)
    offer = offer_entry(
        uow,
        actor.org_id,
        entry.id,
        data.target_id,
        ring_seconds=ring.ring_timeout_seconds,
        now=uow.now,
        require_routable=False,
    )
    if offer is None:
        raise Conflict("the agent has an offer pending; the conversation waits in its queue")


def _waiting_entry(uow: UnitOfWork, org_id: str, interaction_id: str) -> RoutingEntryRow:
    entry = routing_store.find_entry_of(uow.session, org_id, interaction_id, for_update=True)
    if entry is None or entry.state not in (EntryState.WAITING.value, EntryState.OFFERED.value):
        raise Conflict("the conversation left its queue meanwhile")
    return entry


def _withdraw(uow: UnitOfWork, platform: Actor, entry: RoutingEntryRow) -> RoutingOfferRow | None:
    """Withdraw a pending offer of the entry (the agent's presence locked first, then the
    offer: the lock order of every offer move). Not committed."""
    offer = routing_store.pending_offer_of_entry(uow.session, entry.id)
    if offer is None:
        return None
    presence = agent_store.find_presence(uow.session, offer.org_id, offer.agent_id, for_update=True)
    if not withdraw_offer(uow, platform, offer, now=uow.now, commit=False):
        return None
    if presence is not None and presence.state == AgentState.RINGING.value:
        move_agent(uow, platform, presence, AgentTrigger.WITHDRAW, now=uow.now)
    return offer


def _requeue_or_commit(uow: UnitOfWork, platform: Actor, withdrawn: RoutingOfferRow | None) -> None:
    if withdrawn is not None:
        requeue_interaction(uow, platform, withdrawn)
    else:
        uow.commit()


def _hand_to_department(
    uow: UnitOfWork, actor: Actor, row: InteractionRow, data: TransferIn
) -> str:
    team = store.find_team(uow.session, actor.org_id, data.target_id)
    if team is None or team.kind != "department":
        raise InvalidInput(f"unknown department {data.target_id}")
    subject = (row.subject or "").strip() or f"{row.channel} {row.arrived_at:%Y-%m-%d}"
    # Opened owned by the agent so that they may link it; then the ownership is handed
    # to the department alone.
    case = cases_service.open_case(
        uow,
        actor,
        CaseCreate(
            case_type=CaseType.REQUEST,
            subject=subject[:500],
            description=data.note,
            customer_id=row.customer_id,
            owner_user_id=interactions_service.acting_user_id(actor),
            department_id=team.id,
        ),
    ).case
    cases_service.link_interaction(uow, actor, case.id, row.id)
    cases_service.update_case(uow, actor, case.id, CaseUpdate(owner_user_id=None))
    _note(uow, actor, row, f"→ {team.name} (#{case.number})\n{data.note}".strip())
    return case.id


def _note(uow: UnitOfWork, actor: Actor, row: InteractionRow, text: str) -> None:
    if text.strip():
        add_note(uow, actor, row.id, NoteIn(text=text))
