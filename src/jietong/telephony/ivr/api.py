"""HTTP for IVR flows and uploaded prompts (admins): translation only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status

from jietong.app.deps import ActorDep, PlatformDep, UowDep
from jietong.storage.tables_voice import IvrFlowRow
from jietong.telephony.ivr import service
from jietong.telephony.ivr.schemas import IvrFlowIn, IvrFlowOut, IvrFlowVersionOut, VoicePromptOut

router = APIRouter(prefix="/voice", tags=["voice"])


def to_out(row: IvrFlowRow) -> IvrFlowOut:
    return IvrFlowOut(
        id=row.id, name=row.name, numbers=row.numbers, version=row.version,
        definition=row.definition, created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


def _data(body: IvrFlowIn) -> service.FlowIn:
    return service.FlowIn(body.name, list(body.numbers), body.definition)


@router.get("/ivr-flows", response_model=list[IvrFlowOut])
def list_flows(uow: UowDep, actor: ActorDep) -> list[IvrFlowOut]:
    return [to_out(row) for row in service.list_flows(uow, actor)]


@router.post("/ivr-flows", response_model=IvrFlowOut, status_code=status.HTTP_201_CREATED)
def create_flow(body: IvrFlowIn, uow: UowDep, actor: ActorDep) -> IvrFlowOut:
    return to_out(service.create_flow(uow, actor, _data(body)))


@router.get("/ivr-flows/{flow_id}", response_model=IvrFlowOut)
def get_flow(flow_id: str, uow: UowDep, actor: ActorDep) -> IvrFlowOut:
    return to_out(service.get_flow(uow, actor, flow_id))


@router.put("/ivr-flows/{flow_id}", response_model=IvrFlowOut)
def update_flow(flow_id: str, body: IvrFlowIn, uow: UowDep, actor: ActorDep) -> IvrFlowOut:
    return to_out(service.update_flow(uow, actor, flow_id, _data(body)))


@router.delete("/ivr-flows/{flow_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_flow(flow_id: str, uow: UowDep, actor: ActorDep) -> None:
    service.delete_flow(uow, actor, flow_id)


@router.get("/ivr-flows/{flow_id}/versions", response_model=list[IvrFlowVersionOut])
def list_versions(flow_id: str, uow: UowDep, actor: ActorDep) -> list[IvrFlowVersionOut]:
    return [
        IvrFlowVersionOut(
            version=v.version, definition=v.definition, saved_by=v.saved_by, saved_at=v.saved_at
        )
        for v in service.list_versions(uow, actor, flow_id)
    ]


@router.get("/prompts", response_model=list[VoicePromptOut])
def list_prompts(uow: UowDep, actor: ActorDep) -> list[VoicePromptOut]:
    return [_prompt_out(row) for row in service.list_prompts(uow, actor)]


@router.post("/prompts", response_model=VoicePromptOut, status_code=status.HTTP_201_CREATED)
def upload_prompt(
    file: Annotated[UploadFile, File(description="A PCM WAV file (any rate, mono or stereo).")],
    name: Annotated[str, Form(max_length=100)],
    language: Annotated[str, Form(max_length=16)],
    uow: UowDep,
    actor: ActorDep,
    platform: PlatformDep,
) -> VoicePromptOut:
    # One byte past the limit is enough to know it is too large.
    data = file.file.read(service.MAX_PROMPT_BYTES + 1)
    row = service.upload_prompt(uow, actor, platform.blobs, name=name, language=language, data=data)
    return _prompt_out(row)


def _prompt_out(row: object) -> VoicePromptOut:
    return VoicePromptOut.model_validate(row, from_attributes=True)
