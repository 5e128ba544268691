"""Tables of voice (issue 6): calls, legs and their events, call detail records, IVR
flows and prompts.

`voice_leg_events` is the append-only history of every call (leg transitions and
call-level milestones); `voice_cdrs` is its projection, rewritten from that history
after every change (`jietong.telephony.calls.cdr`), one row per call with its legs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jietong.storage.tables import ID, Base, org_fk


class VoiceCallRow(Base):
    __tablename__ = "voice_calls"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    interaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey("customers.id", ondelete="SET NULL")
    )
    direction: Mapped[str] = mapped_column(String(16))
    caller: Mapped[str] = mapped_column(String(200))  # E.164 when known, else as signalled
    dialled: Mapped[str] = mapped_column(String(200))
    trunk_id: Mapped[str | None] = mapped_column(String(64))
    # active until the customer leg ends (then 'ended'); the legs carry the detail.
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # The voice process (its SIP address) carrying the call: after a crash, the process
    # that starts in its place closes its calls, and only its own (several share a
    # database behind Kamailio).
    node: Mapped[str | None] = mapped_column(String(100))


class VoiceLegRow(Base):
    __tablename__ = "voice_call_legs"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    call_id: Mapped[str] = mapped_column(
        ID, ForeignKey("voice_calls.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # customer | agent | external
    party: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(ID, ForeignKey("users.id", ondelete="SET NULL"))
    # The media engine's leg id (MediaProcessLost reports these), unique while in use.
    media_leg_id: Mapped[str | None] = mapped_column(String(100), index=True)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_cause: Mapped[str | None] = mapped_column(String(32))
    # End-of-leg quality from the media engine's RTCP (None: not measured).
    jitter_ms: Mapped[float | None] = mapped_column(Float)  # of what we received
    loss_in: Mapped[float | None] = mapped_column(Float)  # fraction of what we received
    loss_out: Mapped[float | None] = mapped_column(Float)  # of what we sent, per the peer
    rtt_ms: Mapped[float | None] = mapped_column(Float)
    mos: Mapped[float | None] = mapped_column(Float)  # simplified E-model estimate


class VoiceLegEventRow(Base):
    """Append-only: every leg transition and call milestone, in the order accepted."""

    __tablename__ = "voice_leg_events"
    __table_args__ = (Index("ix_voice_leg_events_call_seq", "call_id", "id"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    org_id: Mapped[str] = org_fk()
    call_id: Mapped[str] = mapped_column(ID, ForeignKey("voice_calls.id", ondelete="CASCADE"))
    leg_id: Mapped[str | None] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    trigger: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime]


class VoiceCdrRow(Base):
    """One call's detail record (see telephony/calls/cdr.py for the definitions)."""

    __tablename__ = "voice_cdrs"
    __table_args__ = (Index("ix_voice_cdrs_org_arrived", "org_id", "arrived_at"),)
    call_id: Mapped[str] = mapped_column(
        ID, ForeignKey("voice_calls.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = org_fk()
    interaction_id: Mapped[str] = mapped_column(ID)
    customer_id: Mapped[str | None] = mapped_column(ID)
    team_id: Mapped[str | None] = mapped_column(ID, index=True)  # the interaction's team
    direction: Mapped[str] = mapped_column(String(16))
    caller: Mapped[str] = mapped_column(String(200))
    dialled: Mapped[str] = mapped_column(String(200))
    arrived_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ivr_entered_at: Mapped[datetime | None]
    ivr_left_at: Mapped[datetime | None]
    ivr_s: Mapped[float] = mapped_column(Float)
    ivr_outcome: Mapped[str | None] = mapped_column(String(16))
    queue_id: Mapped[str | None] = mapped_column(ID)
    queue_entered_at: Mapped[datetime | None]
    offers: Mapped[int] = mapped_column(Integer)
    first_offered_at: Mapped[datetime | None]
    agent_answered_at: Mapped[datetime | None]
    agent_user_id: Mapped[str | None] = mapped_column(ID, index=True)
    queue_wait_s: Mapped[float | None] = mapped_column(Float)
    holds: Mapped[int] = mapped_column(Integer)
    hold_s: Mapped[float] = mapped_column(Float)
    transfers: Mapped[int] = mapped_column(Integer)
    transferred_to: Mapped[str | None] = mapped_column(String(200))
    talk_s: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[datetime | None]
    end_cause: Mapped[str | None] = mapped_column(String(32))
    disposition: Mapped[str | None] = mapped_column(String(64))
    abandoned: Mapped[bool] = mapped_column(Boolean)
    abandon_point: Mapped[str | None] = mapped_column(String(16))
    short_abandon: Mapped[bool] = mapped_column(Boolean)
    # Seconds from the abandon point (queue entry, else arrival) to the hang-up.
    abandoned_after_s: Mapped[float | None] = mapped_column(Float)
    legs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class IvrFlowRow(Base):
    """An organisation's IVR flow; `definition` is an `ivr.schema.Flow` as JSON."""

    __tablename__ = "voice_ivr_flows"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    name: Mapped[str] = mapped_column(String(100))
    # The dialled numbers (or extensions) this flow answers; the flow named "default"
    # answers the rest.
    numbers: Mapped[list[str]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IvrFlowVersionRow(Base):
    """Every saved version of a flow (append-only), so a change can be seen and undone."""

    __tablename__ = "voice_ivr_flow_versions"
    flow_id: Mapped[str] = mapped_column(
        ID, ForeignKey("voice_ivr_flows.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    org_id: Mapped[str] = org_fk()
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    saved_by: Mapped[str | None] = mapped_column(ID)
    saved_at: Mapped[datetime]


class VoicePromptRow(Base):
    """An uploaded prompt (converted to 8 kHz mono WAV) that flows refer to by name."""

    __tablename__ = "voice_prompts"
    __table_args__ = (UniqueConstraint("org_id", "name", "language"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    name: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(16))
    blob_key: Mapped[str] = mapped_column(String(200))
    duration_ms: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class VoiceQueuePolicyRow(Base):
    """A queue's recording policy, edited by admins; a queue without a row follows the
    site (``voice_record_calls``, ``voice_recording_retention_days``)."""

    __tablename__ = "voice_queue_policies"
    queue_id: Mapped[str] = mapped_column(
        ID, ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = org_fk()
    record: Mapped[str] = mapped_column(String(8))  # inherit | always | never
    consent: Mapped[bool] = mapped_column(Boolean)  # announce before recording
    # An uploaded prompt's name (voice_prompts) said instead of the built-in sentence.
    consent_prompt: Mapped[str | None] = mapped_column(String(100))
    retention_days: Mapped[int | None] = mapped_column(Integer)  # None: the site's
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(ID)


class VoiceNodeRow(Base):
    """A voice process's heartbeat: the last moment it is known to have been alive
    bounds the end of the calls it left open when it died."""

    __tablename__ = "voice_nodes"
    node: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]
