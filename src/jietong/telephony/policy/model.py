"""The recording policy of a queue and how it combines with the site's settings. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RecordMode(StrEnum):
    INHERIT = "inherit"  # the site's `voice_record_calls`
    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class SiteRecording:
    """The site's defaults (settings): what a queue without its own policy follows."""

    record_calls: bool
    retention_days: int


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    record: RecordMode = RecordMode.INHERIT
    consent: bool = True
    consent_prompt: str | None = None  # an uploaded prompt's name; None: the built-in text
    retention_days: int | None = None  # None: the site's


DEFAULT_POLICY = QueuePolicy()


@dataclass(frozen=True, slots=True)
class Effective:
    """What happens to one call (or one recording) under a queue's policy."""

    record: bool
    consent: bool  # announce before recording (only meaningful when `record`)
    consent_prompt: str | None
    retention_days: int


def effective(policy: QueuePolicy | None, site: SiteRecording) -> Effective:
    """The queue's choice where it made one, the site's otherwise. A call outside any
    queue (an agent dialling out) passes None and follows the site."""
    chosen = policy or DEFAULT_POLICY
    record = {
        RecordMode.ALWAYS: True,
        RecordMode.NEVER: False,
        RecordMode.INHERIT: site.record_calls,
    }[chosen.record]
    return Effective(
        record=record,
        consent=record and chosen.consent,
        consent_prompt=chosen.consent_prompt if record and chosen.consent else None,
        retention_days=chosen.retention_days or site.retention_days,
    )
