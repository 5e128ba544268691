"""Interaction cards: what a tab or an offer shows beyond the reducer's state (subject,
customer name, VIP tier). Every id goes through the interactions service's own
visibility check; ids the actor may not see are left out, never reported."""

from __future__ import annotations

from jietong.core.errors import NotFound
from jietong.core.permissions import Permission, has_permission, require
from jietong.core.tenancy import Actor
from jietong.identity import service as identity_service
from jietong.interactions import service as interactions_service
from jietong.storage.uow import UnitOfWork
from jietong.web.desktop import store
from jietong.web.desktop.schemas import InteractionCard

MAX_CARDS = 100


def interaction_cards(uow: UnitOfWork, actor: Actor, ids: list[str]) -> list[InteractionCard]:
    """Cards of the interactions among `ids` that the actor may see, in the given order."""
    require(actor, Permission.INTERACTIONS_READ)
    names = has_permission(actor, Permission.CUSTOMERS_READ)
    rows = []
    for interaction_id in list(dict.fromkeys(ids))[:MAX_CARDS]:
        try:
            rows.append(interactions_service.require_interaction(uow, actor, interaction_id))
        except NotFound:
            continue
    seen = [row.id for row in rows]
    latest = store.last_messages(uow.session, actor.org_id, seen)
    waiting = store.awaiting_since(uow.session, actor.org_id, seen)
    cards = []
    for row in rows:
        name, tier = None, None
        if names and row.customer_id is not None:
            try:
                customer = identity_service.require_customer(uow, actor.org_id, row.customer_id)
                name, tier = customer.display_name, customer.vip_tier
            except NotFound:
                pass  # merged away since: the timeline shows the survivor
        cards.append(
            InteractionCard(
                id=row.id,
                channel=row.channel,
                direction=row.direction,
                subject=row.subject,
                customer_id=row.customer_id,
                customer_name=name,
                vip_tier=tier,
                queue_id=row.queue_id,
                team_id=row.team_id,
                arrived_at=row.arrived_at,
                last_message_at=latest.get(row.id),
                awaiting_since=waiting.get(row.id),
            )
        )
    return cards
