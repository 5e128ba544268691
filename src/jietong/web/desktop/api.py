"""HTTP for the screens (under /api/v1/desktop): snapshots and interaction cards.
Translation only; the decisions live in snapshot.py, cards.py and service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from jietong.app.deps import ActorDep, UowDep
from jietong.interactions.schemas import ID_PATTERN
from jietong.web.desktop import cards, snapshot
from jietong.web.desktop.schemas import InteractionCard, SnapshotOut, View

router = APIRouter(prefix="/desktop", tags=["desktop"])

IdList = Annotated[
    list[Annotated[str, Query(pattern=ID_PATTERN)]],
    Query(max_length=cards.MAX_CARDS, description="Interaction ids (repeat the parameter)."),
]


@router.get("/snapshot", response_model=SnapshotOut)
def get_snapshot(uow: UowDep, actor: ActorDep, view: View = View.DESK) -> SnapshotOut:
    """The reducer's initial state for the desk or the wallboard: open the event stream
    with `after=state.as_of` and ignore the events listed in `state.skip`."""
    return snapshot.build_snapshot(uow, actor, view)


@router.get("/interaction-cards", response_model=list[InteractionCard])
def get_interaction_cards(uow: UowDep, actor: ActorDep, ids: IdList) -> list[InteractionCard]:
    """Cards of the given interactions the caller may see (others are left out)."""
    return cards.interaction_cards(uow, actor, ids)
