"""Recording policies: decisions, transactions, audit.

Admins write (``queues:manage``), supervisors and admins read (``routing:supervise``);
a queue of another organisation is not found. The orchestrator asks, at bridge time,
what a call's queue wants (`for_interaction`); the retention sweep asks how long each
recording is kept (`retention_days_of`).
"""

from __future__ import annotations

from dataclasses import dataclass

from jietong.core.errors import InvalidInput, NotFound
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor
from jietong.routing import store as routing_store
from jietong.storage.tables_voice import VoiceQueuePolicyRow
from jietong.storage.uow import UnitOfWork
from jietong.telephony.ivr import service as ivr_service
from jietong.telephony.policy import store
from jietong.telephony.policy.model import (
    Effective,
    QueuePolicy,
    RecordMode,
    SiteRecording,
    effective,
)
from jietong.telephony.policy.schemas import RecordingPolicyIn


class QueueNotFound(NotFound):
    pass


@dataclass(frozen=True, slots=True)
class PolicyView:
    queue_id: str
    policy: QueuePolicy
    effective: Effective
    row: VoiceQueuePolicyRow | None


def policy_of(row: VoiceQueuePolicyRow | None) -> QueuePolicy | None:
    if row is None:
        return None
    return QueuePolicy(RecordMode(row.record), row.consent, row.consent_prompt, row.retention_days)


def _require_queue(uow: UnitOfWork, org_id: str, queue_id: str) -> None:
    if routing_store.find_queue(uow.session, org_id, queue_id) is None:
        raise QueueNotFound(f"queue {queue_id} not found")


def _view(uow: UnitOfWork, org_id: str, queue_id: str, site: SiteRecording) -> PolicyView:
    row = store.find_policy(uow.session, org_id, queue_id)
    policy = policy_of(row)
    return PolicyView(queue_id, policy or QueuePolicy(), effective(policy, site), row)


def get_policy(uow: UnitOfWork, actor: Actor, queue_id: str, site: SiteRecording) -> PolicyView:
    require(actor, Permission.ROUTING_SUPERVISE)
    _require_queue(uow, actor.org_id, queue_id)
    return _view(uow, actor.org_id, queue_id, site)


def set_policy(
    uow: UnitOfWork, actor: Actor, queue_id: str, data: RecordingPolicyIn, site: SiteRecording
) -> PolicyView:
    """Replace the queue's policy; a consent prompt must be one the organisation
    uploaded (in any language: the caller's is chosen at run time)."""
    require(actor, Permission.QUEUES_MANAGE)
    _require_queue(uow, actor.org_id, queue_id)
    if data.consent_prompt is not None and not _prompt_exists(
        uow, actor.org_id, data.consent_prompt
    ):
        raise InvalidInput(f"consent_prompt: no uploaded prompt named '{data.consent_prompt}'")
    row = store.find_policy(uow.session, actor.org_id, queue_id)
    if row is None:
        row = VoiceQueuePolicyRow(queue_id=queue_id, org_id=actor.org_id)
        uow.session.add(row)
    row.record = data.record.value
    row.consent = data.consent
    row.consent_prompt = data.consent_prompt
    row.retention_days = data.retention_days
    row.updated_at, row.updated_by = uow.now, actor.user_id
    uow.audit(actor, "queue.recording_policy_set", "queue", queue_id, data.model_dump(mode="json"))
    uow.commit()
    return _view(uow, actor.org_id, queue_id, site)


def _prompt_exists(uow: UnitOfWork, org_id: str, name: str) -> bool:
    return any(
        ivr_service.find_prompt(uow, org_id, name, language) is not None
        for language in ("zh-CN", "en")
    )


def for_interaction(
    uow: UnitOfWork, org_id: str, interaction_id: str, site: SiteRecording
) -> Effective:
    """What the call of this interaction gets, by the queue it is in now (a transfer to
    another queue takes that queue's policy); no queue follows the site."""
    queue_id = store.queue_of_interaction(uow.session, org_id, interaction_id)
    row = None if queue_id is None else store.find_policy(uow.session, org_id, queue_id)
    return effective(policy_of(row), site)


def retention_days_of(
    uow: UnitOfWork, org_id: str, interaction_ids: list[str], site_days: int
) -> dict[str, int]:
    """Days each interaction's recordings are kept: its queue's days, else the site's
    (also for interactions that no longer exist)."""
    days = store.retention_of_interactions(uow.session, org_id, interaction_ids)
    return {iid: days.get(iid) or site_days for iid in interaction_ids}
