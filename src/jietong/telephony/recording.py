"""Call recordings: where they live, who may play them back, and how long they are kept.

The media engine writes the mixed recording of a call's bridge as an 8 kHz 16-bit WAV
under the media root (pause/resume writes silence for the paused span, so card numbers
never reach the file while the timeline stays true). The file's place names its owner:
``recordings/<org>/<yyyy-mm-dd>/<interaction>/<call>.wav``. Playback is authorised
through the interaction: whoever may read the interaction (supervisors and admins, the
agents of its team, the agent it is assigned to) may play its recordings; anyone else is
told it does not exist. The retention sweep deletes recordings older than the policy's
days and audits every deletion.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from jietong.core.errors import NotFound
from jietong.core.permissions import Permission, require
from jietong.core.tenancy import Actor, system_actor
from jietong.interactions.service import require_interaction
from jietong.storage.uow import UnitOfWork

ROOT = "recordings"
_ID = re.compile(r"^[0-9a-f]{32}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}\.wav$")


class RecordingNotFound(NotFound):
    pass


@dataclass(frozen=True)
class RecordingFile:
    interaction_id: str
    name: str
    path: Path
    size_bytes: int
    recorded_on: str  # yyyy-mm-dd


def media_root(data_dir: Path) -> Path:
    """The media engine's root under the data directory (recordings, prompts)."""
    return (data_dir / "voice").resolve()


def recording_path(org_id: str, interaction_id: str, call_key: str, now: datetime) -> str:
    """Where the engine records a call, relative to the media root."""
    safe_call = re.sub(r"[^A-Za-z0-9_-]", "_", call_key)[:80] or "call"
    return f"{ROOT}/{org_id}/{now:%Y-%m-%d}/{interaction_id}/{safe_call}.wav"


def list_recordings(
    uow: UnitOfWork, actor: Actor, media_root: Path, interaction_id: str
) -> list[RecordingFile]:
    """The recordings of an interaction the actor may read (else RecordingNotFound via the
    interaction's own check)."""
    require(actor, Permission.INTERACTIONS_READ)
    _visible(uow, actor, interaction_id)
    return _files(media_root, actor.org_id, interaction_id)


def open_recording(
    uow: UnitOfWork, actor: Actor, media_root: Path, interaction_id: str, name: str
) -> RecordingFile:
    """One recording for playback, or RecordingNotFound (unknown, not visible, or a name
    that is not a plain file name)."""
    require(actor, Permission.INTERACTIONS_READ)
    _visible(uow, actor, interaction_id)
    if not _NAME.match(name):
        raise RecordingNotFound("recording not found")
    for found in _files(media_root, actor.org_id, interaction_id):
        if found.name == name:
            uow.audit(actor, "recording.played", "interaction", interaction_id, {"name": name})
            uow.commit()
            return found
    raise RecordingNotFound("recording not found")


def _visible(uow: UnitOfWork, actor: Actor, interaction_id: str) -> None:
    if not _ID.match(interaction_id):
        raise RecordingNotFound("recording not found")
    try:
        require_interaction(uow, actor, interaction_id)
    except NotFound as exc:
        raise RecordingNotFound("recording not found") from exc


def _files(media_root: Path, org_id: str, interaction_id: str) -> list[RecordingFile]:
    base = media_root / ROOT / org_id
    if not base.is_dir():
        return []
    found = []
    for day in sorted(p for p in base.iterdir() if p.is_dir()):
        folder = day / interaction_id
        if not folder.is_dir():
            continue
        for wav in sorted(folder.glob("*.wav")):
            found.append(RecordingFile(interaction_id, wav.name, wav, wav.stat().st_size, day.name))
    return found


@dataclass(frozen=True)
class SweepResult:
    deleted: int
    kept: int


def sweep_retention(
    uow: UnitOfWork,
    org_id: str,
    media_root: Path,
    *,
    keep_days: int,
    now: datetime,
    days_of: Mapping[str, int] | None = None,
) -> SweepResult:
    """Delete the organisation's recordings older than their retention: ``days_of`` an
    interaction (its queue's policy) where given, else ``keep_days`` (the site's). Each
    deletion is audited (who: the platform; what: the file) and committed together."""
    if keep_days < 1 or any(days < 1 for days in (days_of or {}).values()):
        raise ValueError("keep_days must be at least 1")
    base = media_root / ROOT / org_id
    deleted = kept = 0
    if not base.is_dir():
        return SweepResult(0, 0)
    system = system_actor(org_id)
    for day in sorted(p for p in base.iterdir() if p.is_dir()):
        emptied: set[Path] = set()
        for wav in sorted(day.glob("*/*.wav")):
            interaction_id = wav.parent.name
            days = (days_of or {}).get(interaction_id, keep_days)
            if day.name < (now - timedelta(days=days)).date().isoformat():
                wav.unlink(missing_ok=True)
                emptied.add(wav.parent)
                uow.audit(
                    system,
                    "recording.deleted",
                    "interaction",
                    interaction_id,
                    {"name": wav.name, "day": day.name, "reason": f"retention {days} days"},
                )
                deleted += 1
            else:
                kept += 1
        _remove_empty(day, emptied)
    uow.commit()
    return SweepResult(deleted, kept)


def recorded_interactions(media_root: Path, org_id: str) -> list[str]:
    """The interactions that have recordings on disk (what a sweep will look at)."""
    base = media_root / ROOT / org_id
    if not base.is_dir():
        return []
    found = {p.name for p in base.glob("*/*") if p.is_dir() and _ID.match(p.name)}
    return sorted(found)


def _remove_empty(day: Path, emptied: set[Path]) -> None:
    """Remove the folders the sweep emptied, and their day once nothing is left. Only
    those: a folder made for a recording about to start has no file yet."""
    for folder in emptied:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if emptied and not any(day.iterdir()):
        day.rmdir()
