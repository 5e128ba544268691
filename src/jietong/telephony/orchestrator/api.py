"""HTTP for live calls and recordings: translation only (`control.CallControl` decides).

``/api/v1/voice/calls/{interaction_id}/...`` drives the call of an interaction; calls
are addressed by their interaction, which is what the desk knows. Transfers to a queue
or an agent use the desk's transfer (routing), which voice follows.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from jietong.app.deps import ActorDep, PlatformDep, UowDep
from jietong.core.errors import Conflict
from jietong.interactions.api import download_headers
from jietong.interactions.schemas import ID_PATTERN
from jietong.telephony import recording
from jietong.telephony.orchestrator.control import CallControl, CallView
from jietong.telephony.orchestrator.live import Mode

router = APIRouter(prefix="/voice", tags=["voice"])
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]
NamePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,100}\.wav$")]
_WAV = {"content": {"audio/wav": {}}, "description": "The recording (WAV)."}


class CallOut(BaseModel):
    interaction_id: str
    phase: str
    agent_id: str | None
    held: bool
    muted: bool
    recording: bool
    recording_paused: bool
    parties: int
    supervisors: list[str]


class OnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: bool


class PausedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paused: bool


class DigitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    digits: str = Field(min_length=1, max_length=32, pattern=r"^[0-9*#A-D]+$")


class NumberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=2, max_length=32, pattern=r"^\+?[0-9 ()-]+$")
    mode: Literal["blind", "attended"] = "blind"


class ConferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=2, max_length=32, pattern=r"^\+?[0-9 ()-]+$")


class SuperviseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Mode


class RecordingOut(BaseModel):
    name: str
    size_bytes: int
    recorded_on: str
    url: str


def _control(request: Request) -> CallControl:
    control: CallControl | None = getattr(request.app.state, "voice_control", None)
    if control is None:
        raise Conflict("voice is not running in this server (voice_enabled is off)")
    return control


def _out(view: CallView) -> CallOut:
    return CallOut(**view.__dict__)


@router.get("/calls", response_model=list[CallOut])
async def list_calls(request: Request, actor: ActorDep) -> list[CallOut]:
    control: CallControl | None = getattr(request.app.state, "voice_control", None)
    if control is None:
        return []
    return [_out(v) for v in await control.list(actor)]


@router.get("/calls/{interaction_id}", response_model=CallOut)
async def get_call(interaction_id: IdPath, request: Request, actor: ActorDep) -> CallOut:
    return _out(await _control(request).get(actor, interaction_id))


@router.post("/calls/{interaction_id}/hold", response_model=CallOut)
async def hold(interaction_id: IdPath, body: OnIn, request: Request, actor: ActorDep) -> CallOut:
    return _out(await _control(request).hold(actor, interaction_id, body.on))


@router.post("/calls/{interaction_id}/mute", response_model=CallOut)
async def mute(interaction_id: IdPath, body: OnIn, request: Request, actor: ActorDep) -> CallOut:
    return _out(await _control(request).mute(actor, interaction_id, body.on))


@router.post("/calls/{interaction_id}/dtmf", response_model=CallOut)
async def dtmf(
    interaction_id: IdPath, body: DigitsIn, request: Request, actor: ActorDep
) -> CallOut:
    return _out(await _control(request).dtmf(actor, interaction_id, body.digits))


@router.post("/calls/{interaction_id}/hangup", status_code=status.HTTP_204_NO_CONTENT)
async def hangup(interaction_id: IdPath, request: Request, actor: ActorDep) -> Response:
    await _control(request).hangup(actor, interaction_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/calls/{interaction_id}/recording", response_model=CallOut)
async def pause_recording(
    interaction_id: IdPath, body: PausedIn, request: Request, actor: ActorDep
) -> CallOut:
    return _out(await _control(request).recording(actor, interaction_id, body.paused))


@router.post("/calls/{interaction_id}/transfer", response_model=CallOut)
async def transfer(
    interaction_id: IdPath, body: NumberIn, request: Request, actor: ActorDep
) -> CallOut:
    control = _control(request)
    attended = body.mode == "attended"
    return _out(
        await control.transfer_to_number(actor, interaction_id, body.number, attended=attended)
    )


@router.post("/calls/{interaction_id}/transfer/complete", response_model=CallOut)
async def complete_transfer(interaction_id: IdPath, request: Request, actor: ActorDep) -> CallOut:
    return _out(await _control(request).complete_transfer(actor, interaction_id))


@router.post("/calls/{interaction_id}/transfer/cancel", response_model=CallOut)
async def cancel_transfer(interaction_id: IdPath, request: Request, actor: ActorDep) -> CallOut:
    return _out(await _control(request).cancel_transfer(actor, interaction_id))


@router.post("/calls/{interaction_id}/conference", response_model=CallOut)
async def conference(
    interaction_id: IdPath, body: ConferenceIn, request: Request, actor: ActorDep
) -> CallOut:
    return _out(await _control(request).conference(actor, interaction_id, body.number))


@router.post("/calls/{interaction_id}/supervise", response_model=CallOut)
async def supervise(
    interaction_id: IdPath, body: SuperviseIn, request: Request, actor: ActorDep
) -> CallOut:
    return _out(await _control(request).supervise(actor, interaction_id, body.mode))


@router.get("/recordings/{interaction_id}", response_model=list[RecordingOut])
def list_recordings(
    interaction_id: IdPath, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> list[RecordingOut]:
    root = recording.media_root(platform.settings.data_dir)
    return [
        RecordingOut(
            name=f.name,
            size_bytes=f.size_bytes,
            recorded_on=f.recorded_on,
            url=f"/api/v1/voice/recordings/{interaction_id}/{f.name}",
        )
        for f in recording.list_recordings(uow, actor, root, interaction_id)
    ]


@router.get("/recordings/{interaction_id}/{name}", response_class=Response, responses={200: _WAV})
def play_recording(
    interaction_id: IdPath, name: NamePath, uow: UowDep, actor: ActorDep, platform: PlatformDep
) -> Response:
    """The recording's bytes, for authorised users only, with the attachments' safe
    headers (always a download, never sniffed, sandboxed, not cached)."""
    root = recording.media_root(platform.settings.data_dir)
    found = recording.open_recording(uow, actor, root, interaction_id, name)
    return Response(found.path.read_bytes(), media_type="audio/wav", headers=download_headers(name))
