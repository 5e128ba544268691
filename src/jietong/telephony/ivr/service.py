"""IVR flows and uploaded prompts of an organisation: decisions and transactions.

Flows are configuration of the voice channel, managed by admins (the channels-manage
permission, like channel accounts). Every save is a new version kept in
``voice_ivr_flow_versions`` and audited; the flow row holds the current one.
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from jietong.core.errors import Conflict, InvalidInput, NotFound
from jietong.core.ids import new_id
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import SYSTEM_USER_ID, Actor, system_actor
from jietong.events.voice import IvrFlowDeleted, IvrFlowSaved
from jietong.storage.blobs import BlobStore
from jietong.storage.tables_voice import IvrFlowRow, IvrFlowVersionRow, VoicePromptRow
from jietong.storage.uow import UnitOfWork
from jietong.telephony.ivr.demo import demo_flow
from jietong.telephony.ivr.prompts import convert_to_8k_mono
from jietong.telephony.ivr.schema import Flow, prompts_of
from jietong.telephony.media.prompts import PromptError

ENTITY = "ivr_flow"
DEFAULT_FLOW = "default"
MAX_PROMPT_BYTES = 10 * 1024 * 1024
MAX_PROMPT_SECONDS = 300.0
_ID = re.compile(r"^[0-9a-f]{32}$")


class FlowNotFound(NotFound):
    pass


@dataclass(frozen=True)
class FlowIn:
    name: str
    numbers: list[str]
    definition: Flow


def create_flow(uow: UnitOfWork, actor: Actor, data: FlowIn) -> IvrFlowRow:
    """A new flow, version 1. Conflict if the name or one of the numbers is taken."""
    require(actor, Permission.CHANNELS_MANAGE)
    _check(uow, actor.org_id, data, None)
    now = uow.now
    row = IvrFlowRow(
        id=new_id(), org_id=actor.org_id, name=data.name, numbers=sorted(set(data.numbers)),
        version=0, definition={}, created_at=now, updated_at=now,
    )  # fmt: skip
    uow.session.add(row)
    try:
        uow.session.flush()  # the version row refers to it
    except IntegrityError:
        uow.session.rollback()
        raise Conflict(f"an IVR flow named {data.name!r} exists") from None
    return _save(uow, actor, row, data)


def update_flow(uow: UnitOfWork, actor: Actor, flow_id: str, data: FlowIn) -> IvrFlowRow:
    """Save a new version of the flow (name, numbers and definition as given)."""
    require(actor, Permission.CHANNELS_MANAGE)
    row = _require(uow, actor.org_id, flow_id, for_update=True)
    _check(uow, actor.org_id, data, row.id)
    row.name, row.numbers = data.name, sorted(set(data.numbers))
    return _save(uow, actor, row, data)


def delete_flow(uow: UnitOfWork, actor: Actor, flow_id: str) -> None:
    require(actor, Permission.CHANNELS_MANAGE)
    row = _require(uow, actor.org_id, flow_id, for_update=True)
    uow.emit(IvrFlowDeleted(org_id=actor.org_id, flow_id=row.id, name=row.name))
    uow.audit(actor, "ivr_flow.deleted", ENTITY, row.id, {"name": row.name, "version": row.version})
    uow.session.delete(row)
    uow.commit()


def get_flow(uow: UnitOfWork, actor: Actor, flow_id: str) -> IvrFlowRow:
    require(actor, Permission.CHANNELS_MANAGE)
    return _require(uow, actor.org_id, flow_id)


def list_flows(uow: UnitOfWork, actor: Actor) -> list[IvrFlowRow]:
    require(actor, Permission.CHANNELS_MANAGE)
    query = select(IvrFlowRow).where(IvrFlowRow.org_id == actor.org_id).order_by(IvrFlowRow.name)
    return list(uow.session.scalars(query))


def list_versions(uow: UnitOfWork, actor: Actor, flow_id: str) -> list[IvrFlowVersionRow]:
    """Every saved version, newest first."""
    row = get_flow(uow, actor, flow_id)
    query = (
        select(IvrFlowVersionRow)
        .where(IvrFlowVersionRow.flow_id == row.id)
        .order_by(IvrFlowVersionRow.version.desc())
    )
    return list(uow.session.scalars(query))


def flow_for_number(uow: UnitOfWork, org_id: str, dialled: str) -> Flow | None:
    """The flow answering ``dialled``: the one listing it, else the flow named
    "default", else None. Stored definitions were validated when saved."""
    rows = list(uow.session.scalars(select(IvrFlowRow).where(IvrFlowRow.org_id == org_id)))
    chosen = next((r for r in rows if dialled in (r.numbers or [])), None)
    chosen = chosen or next((r for r in rows if r.name == DEFAULT_FLOW), None)
    return Flow.model_validate(chosen.definition) if chosen is not None else None


def ensure_demo_flow(uow: UnitOfWork, org_id: str, queues: dict[str, str]) -> IvrFlowRow:
    """The demo flow as the organisation's "default" flow, unless it has one."""
    existing = uow.session.scalars(
        select(IvrFlowRow).where(IvrFlowRow.org_id == org_id, IvrFlowRow.name == DEFAULT_FLOW)
    ).first()
    if existing is not None:
        return existing
    data = FlowIn(DEFAULT_FLOW, [], demo_flow(queues))
    return create_flow(uow, system_actor(org_id), data)


# -- prompts -------------------------------------------------------------------------------


def upload_prompt(
    uow: UnitOfWork, actor: Actor, blobs: BlobStore, *, name: str, language: str, data: bytes
) -> VoicePromptRow:
    """Store a WAV prompt converted to 8 kHz mono (replacing one of the same name and
    language). InvalidInput for anything that is not a PCM WAV file or is too long."""
    require(actor, Permission.CHANNELS_MANAGE)
    if not re.fullmatch(r"[A-Za-z0-9_\-.]{1,100}", name):
        raise InvalidInput("name: 1-100 letters, digits, '_', '-' or '.'")
    if language not in ("zh-CN", "en"):
        raise InvalidInput("language: zh-CN or en")
    if len(data) > MAX_PROMPT_BYTES:
        raise InvalidInput(f"a prompt is at most {MAX_PROMPT_BYTES // (1024 * 1024)} MiB")
    converted, seconds = _converted(data)
    existing = uow.session.scalars(
        select(VoicePromptRow).where(
            VoicePromptRow.org_id == actor.org_id,
            VoicePromptRow.name == name,
            VoicePromptRow.language == language,
        )
    ).first()
    row = existing or VoicePromptRow(id=new_id(), org_id=actor.org_id, name=name, language=language)
    row.blob_key, row.duration_ms = blobs.put(converted), round(seconds * 1000)
    row.sha256, row.created_at = hashlib.sha256(converted).hexdigest(), uow.now
    if existing is None:
        uow.session.add(row)
    uow.audit(
        actor, "voice_prompt.uploaded", "voice_prompt", row.id, {"name": name, "language": language}
    )
    uow.commit()
    return row


def list_prompts(uow: UnitOfWork, actor: Actor) -> list[VoicePromptRow]:
    require(actor, Permission.CHANNELS_MANAGE)
    query = select(VoicePromptRow).where(VoicePromptRow.org_id == actor.org_id)
    return list(uow.session.scalars(query.order_by(VoicePromptRow.name, VoicePromptRow.language)))


def find_prompt(uow: UnitOfWork, org_id: str, name: str, language: str) -> VoicePromptRow | None:
    query = select(VoicePromptRow).where(
        VoicePromptRow.org_id == org_id,
        VoicePromptRow.name == name,
        VoicePromptRow.language == language,
    )
    return uow.session.scalars(query).first()


def materialise_prompt(
    uow: UnitOfWork, blobs: BlobStore, org_id: str, name: str, language: str, cache_dir: Path
) -> Path | None:
    """The uploaded prompt as a file under ``cache_dir/uploads`` (inside the media root,
    where the engine loads from), written once per content; None if there is none."""
    row = find_prompt(uow, org_id, name, language)
    if row is None:
        return None
    target = cache_dir / "uploads" / f"{row.sha256}.wav"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".tmp") as tmp:
            tmp.write(blobs.get(row.blob_key))
        Path(tmp.name).replace(target)  # atomic: a reader sees no file or all of it
    return target


def _converted(data: bytes) -> tuple[bytes, float]:
    with tempfile.TemporaryDirectory() as work:
        source, target = Path(work) / "in.wav", Path(work) / "out.wav"
        source.write_bytes(data)
        try:
            seconds = convert_to_8k_mono(source, target)
        except (PromptError, ValueError) as exc:
            raise InvalidInput(f"not a PCM WAV file: {exc}") from None
        if seconds <= 0 or seconds > MAX_PROMPT_SECONDS:
            raise InvalidInput(f"a prompt lasts more than 0 and at most {MAX_PROMPT_SECONDS:.0f} s")
        converted = target.read_bytes()
    with wave.open(io.BytesIO(converted)) as check:  # what we stored is what the engine reads
        assert (check.getframerate(), check.getnchannels()) == (8000, 1)
    return converted, seconds


# -- internals -------------------------------------------------------------------------------


def _require(uow: UnitOfWork, org_id: str, flow_id: str, *, for_update: bool = False) -> IvrFlowRow:
    row = None
    if _ID.match(flow_id):
        query = select(IvrFlowRow).where(IvrFlowRow.org_id == org_id, IvrFlowRow.id == flow_id)
        row = uow.session.scalars(query.with_for_update() if for_update else query).first()
    if row is None:
        raise FlowNotFound(f"IVR flow {flow_id} not found")
    return row


def _check(uow: UnitOfWork, org_id: str, data: FlowIn, own_id: str | None) -> None:
    """Names and numbers are unique in the organisation; uploaded prompts must exist."""
    others = [
        r
        for r in uow.session.scalars(select(IvrFlowRow).where(IvrFlowRow.org_id == org_id))
        if r.id != own_id
    ]
    if any(r.name == data.name for r in others):
        raise Conflict(f"an IVR flow named {data.name!r} exists")
    taken = sorted({n for r in others for n in (r.numbers or [])} & set(data.numbers))
    if taken:
        raise Conflict(f"numbers already answered by another flow: {', '.join(taken)}")
    for node_id, step in data.definition.nodes.items():
        for where, prompt in prompts_of(step):
            for language, name in prompt.file.items():
                if find_prompt(uow, org_id, name, language) is None:
                    raise InvalidInput(
                        f"node '{node_id}': {where} uses prompt file {name!r} ({language}), "
                        "which was not uploaded"
                    )


def _save(uow: UnitOfWork, actor: Actor, row: IvrFlowRow, data: FlowIn) -> IvrFlowRow:
    row.version += 1
    row.definition = data.definition.model_dump(mode="json")
    row.updated_at = uow.now
    uow.session.add(
        IvrFlowVersionRow(
            flow_id=row.id, version=row.version, org_id=row.org_id, definition=row.definition,
            saved_by=None if actor.user_id == SYSTEM_USER_ID else actor.user_id, saved_at=uow.now,
        )
    )  # fmt: skip
    uow.emit(IvrFlowSaved(org_id=row.org_id, flow_id=row.id, name=row.name, version=row.version))
    uow.audit(actor, "ivr_flow.saved", ENTITY, row.id, {"name": row.name, "version": row.version})
    try:
        uow.commit()
    except IntegrityError:
        uow.session.rollback()
        raise Conflict(f"an IVR flow named {data.name!r} exists") from None
    return row
