"""HTTP for customer merges: suggestions, merge, unmerge (identity/merge.py decides)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from jietong.app.deps import ActorDep, PlatformDep, UowDep
from jietong.identity import merge
from jietong.interactions.schemas import ID_PATTERN

router = APIRouter(tags=["customers"])
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class MergeSuggestionOut(BaseModel):
    customer_id: str
    display_name: str
    reason: str
    evidence: str


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    survivor_id: Id = Field(description="The customer that stays.")
    loser_id: Id = Field(description="The customer merged into the survivor.")
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None


class MergeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    survivor_id: str
    loser_id: str
    reason: str | None
    moved: dict[str, Any] = Field(description="Table name -> ids of the rows moved.")
    merged_by: str | None
    merged_at: datetime
    unmerged_by: str | None
    unmerged_at: datetime | None


@router.get("/customers/{customer_id}/merge-suggestions", response_model=list[MergeSuggestionOut])
def merge_suggestions(
    customer_id: str, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> list[MergeSuggestionOut]:
    found = merge.suggest_merges(
        uow, actor, customer_id, default_region=platform.settings.default_region
    )
    return [MergeSuggestionOut(**vars(s)) for s in found]


@router.post("/customer-merges", status_code=status.HTTP_201_CREATED, response_model=MergeOut)
def merge_customers(body: MergeIn, uow: UowDep, actor: ActorDep) -> MergeOut:
    row = merge.merge_customers(uow, actor, body.survivor_id, body.loser_id, reason=body.reason)
    return MergeOut.model_validate(row)


@router.get("/customer-merges", response_model=list[MergeOut])
def list_merges(
    uow: UowDep,
    actor: ActorDep,
    customer_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> list[MergeOut]:
    rows = merge.list_merges(uow, actor, customer_id=customer_id)
    return [MergeOut.model_validate(r) for r in rows]


@router.get("/customer-merges/{merge_id}", response_model=MergeOut)
def get_merge(merge_id: str, uow: UowDep, actor: ActorDep) -> MergeOut:
    return MergeOut.model_validate(merge.get_merge(uow, actor, merge_id))


@router.post("/customer-merges/{merge_id}/unmerge", response_model=MergeOut)
def unmerge(merge_id: str, uow: UowDep, actor: ActorDep) -> MergeOut:
    return MergeOut.model_validate(merge.unmerge_customers(uow, actor, merge_id))
