"""HTTP for recording policies: translation only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from jietong.app.deps import ActorDep, PlatformDep, UowDep
from jietong.interactions.schemas import ID_PATTERN
from jietong.telephony.policy import service
from jietong.telephony.policy.model import SiteRecording
from jietong.telephony.policy.schemas import RecordingPolicyIn, RecordingPolicyOut

router = APIRouter(prefix="/voice", tags=["voice"])
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]


def site_of(platform: PlatformDep) -> SiteRecording:
    s = platform.settings
    return SiteRecording(s.voice_record_calls, s.voice_recording_retention_days)


def policy_out(view: service.PolicyView, site: SiteRecording) -> RecordingPolicyOut:
    p = view.policy
    return RecordingPolicyOut(
        queue_id=view.queue_id,
        record=p.record,
        consent=p.consent,
        consent_prompt=p.consent_prompt,
        retention_days=p.retention_days,
        site_record_calls=site.record_calls,
        site_retention_days=site.retention_days,
        records_calls=view.effective.record,
        keeps_days=view.effective.retention_days,
        updated_at=None if view.row is None else view.row.updated_at,
    )


@router.get("/queues/{queue_id}/recording", response_model=RecordingPolicyOut)
def get_recording_policy(
    queue_id: IdPath, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> RecordingPolicyOut:
    site = site_of(platform)
    return policy_out(service.get_policy(uow, actor, queue_id, site), site)


@router.put("/queues/{queue_id}/recording", response_model=RecordingPolicyOut)
def set_recording_policy(
    queue_id: IdPath, body: RecordingPolicyIn, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> RecordingPolicyOut:
    site = site_of(platform)
    return policy_out(service.set_policy(uow, actor, queue_id, body, site), site)
