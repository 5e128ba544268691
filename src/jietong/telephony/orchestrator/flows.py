"""Which IVR flow answers a call, and running it (``telephony.ivr``) as the
orchestrator's `IvrRunner`.

The flow of a dialled number is the organisation's flow listing that number, else its
flow named ``default`` (``ivr.service.flow_for_number``), else the demo flow with its
three destinations mapped onto the organisation's call queues by name (billing -> a
queue named like "billing", general and operator -> the first call queue).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from jietong.routing import store as routing_store
from jietong.storage.uow import UnitOfWork
from jietong.telephony.ivr import service as ivr_service
from jietong.telephony.ivr.demo import demo_flow
from jietong.telephony.ivr.interpreter import IvrContext, PromptSource, run_flow
from jietong.telephony.ivr.prompts import PromptLibrary
from jietong.telephony.ivr.schema import Flow
from jietong.telephony.orchestrator import records
from jietong.telephony.orchestrator.contracts import Database, IvrResult, NodeObserver
from jietong.telephony.ports import CallAudio, CallGone, IncomingCall


def flow_for(uow: UnitOfWork, org_id: str, dialled: str, *, always_open: bool) -> Flow:
    """The flow answering `dialled` (see the module docstring)."""
    found = ivr_service.flow_for_number(uow, org_id, dialled)
    if found is not None:
        return found
    return demo_flow(_demo_queues(uow, org_id), always_open=always_open)


def _demo_queues(uow: UnitOfWork, org_id: str) -> dict[str, str]:
    queues = sorted(
        (q for q in routing_store.queues(uow.session, org_id).values() if "call" in q.channels),
        key=lambda q: (q.name, q.id),
    )
    if not queues:
        return {}
    first = queues[0].id
    billing = next((q.id for q in queues if "billing" in q.name.lower()), first)
    general = next((q.id for q in queues if "general" in q.name.lower()), first)
    return {"billing": billing, "general": general, "operator": general}


class FlowIvr:
    """`IvrRunner` over the IVR interpreter."""

    def __init__(
        self,
        db: Database,
        prompts: PromptSource,
        recordings_dir: Path,
        *,
        now: Callable[[], datetime],
        always_open: bool = False,
    ) -> None:
        self.db = db
        self.prompts = prompts
        self.recordings_dir = recordings_dir
        self.now = now
        self.always_open = always_open

    async def __call__(
        self,
        call: IncomingCall,
        audio: CallAudio,
        contact: records.CallContact,
        on_node: NodeObserver,
    ) -> IvrResult:
        flow = await self.db.run(flow_for, call.org_id, call.dialled, always_open=self.always_open)
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        # Uploaded prompts belong to an organisation: the library resolves this call's.
        prompts = (
            self.prompts.for_org(call.org_id)
            if isinstance(self.prompts, PromptLibrary)
            else self.prompts
        )
        context = IvrContext(
            audio=audio,
            prompts=prompts,
            caller=contact.caller_e164 or call.caller.user,
            recordings_dir=self.recordings_dir,
            now=self.now,
            on_node=on_node,
        )
        outcome = await run_flow(flow, context)
        kind = outcome.kind
        if kind == "abandoned":
            raise CallGone("the caller hung up in the IVR")
        if kind == "queue":
            return IvrResult("queue", queue_id=outcome.target, variables=outcome.variables)
        if kind == "voicemail":
            return IvrResult(
                "voicemail",
                queue_id=outcome.queue_id,
                voicemail=outcome.recording,
                variables=outcome.variables,
            )
        if kind in ("callback", "transfer"):
            return IvrResult(
                kind, queue_id=outcome.queue_id, number=outcome.target, variables=outcome.variables
            )
        return IvrResult("hangup", variables=outcome.variables)
