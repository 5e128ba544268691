"""Tables of the routing engine and agent presence (issue 4).

The routing engine keeps no queue in memory that the database does not also hold: a
waiting contact is a `RoutingEntryRow` in state 'waiting' with its original arrival time,
so a restarted engine rebuilds every queue, in order, from these rows. Two partial unique
indexes make the most important invariants hold in the database itself, whatever the
number of engine processes: an interaction has at most one pending offer, and an agent
is offered at most one interaction at a time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from jietong.storage.tables import ID, Base, org_fk

PENDING = text("state = 'pending'")


class AgentPresenceRow(Base):
    """An agent's current state (offline, available, ringing, busy, wrap_up, not_ready).

    Every change is also appended to `state_transitions` (entity_type 'agent').
    ``idle_since`` is the clock of longest-idle routing (last assignment or release);
    ``busy_seconds`` accumulates time spent working since ``logged_in_at`` (occupancy).
    """

    __tablename__ = "agent_presence"
    user_id: Mapped[str] = mapped_column(
        ID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = org_fk()
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(32))
    state_since: Mapped[datetime]
    idle_since: Mapped[datetime]
    logged_in_at: Mapped[datetime | None]
    busy_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    missed_offers: Mapped[int] = mapped_column(Integer, default=0)


class RoutingEntryRow(Base):
    """One interaction's place in the routing queues (one row per interaction, reused
    when it returns to a queue after a decline, a timeout or a transfer).

    ``enqueued_at`` is the original arrival time that orders the queue; it survives
    declines, timeouts, restarts, moves between queues and conversion to a callback.
    ``queue_entered_at`` is when it entered its current queue (overflow timers).
    ``available_at`` delays a scheduled callback until the customer's chosen time.
    """

    __tablename__ = "routing_entries"
    __table_args__ = (
        Index("ix_routing_entries_org_state", "org_id", "state"),
        Index("ix_routing_entries_queue_state", "queue_id", "state"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    interaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("interactions.id", ondelete="CASCADE"), unique=True
    )
    queue_id: Mapped[str] = mapped_column(ID, ForeignKey("queues.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # live | callback | voicemail | message
    state: Mapped[str] = mapped_column(String(16))  # waiting | offered | served | removed
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[datetime]
    queue_entered_at: Mapped[datetime]
    available_at: Mapped[datetime | None]
    overflow_stage: Mapped[int] = mapped_column(Integer, default=0)
    limit_action: Mapped[str | None] = mapped_column(String(16))
    callback_to: Mapped[str | None] = mapped_column(String(320))
    callback_channel: Mapped[str | None] = mapped_column(String(16))
    offers: Mapped[int] = mapped_column(Integer, default=0)
    served_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class RoutingOfferRow(Base):
    """An offer of one interaction to one agent, with its ring deadline.

    States: pending -> accepted | declined | expired | withdrawn. The partial unique
    indexes allow one pending offer per interaction and one per agent.
    """

    __tablename__ = "routing_offers"
    __table_args__ = (
        Index(
            "uq_routing_offers_pending_interaction",
            "interaction_id",
            unique=True,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        ),
        Index(
            "uq_routing_offers_pending_agent",
            "agent_id",
            unique=True,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        ),
        Index("ix_routing_offers_org_state", "org_id", "state"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = org_fk()
    interaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("interactions.id", ondelete="CASCADE"), index=True
    )
    entry_id: Mapped[str] = mapped_column(ID, ForeignKey("routing_entries.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    queue_id: Mapped[str] = mapped_column(ID)
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class QueueRoutingRow(Base):
    """Routing settings of one queue (ring timeout, overflow, limits, business hours) as
    validated JSON, plus the round-robin cursor."""

    __tablename__ = "routing_queue_settings"
    queue_id: Mapped[str] = mapped_column(
        ID, ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = org_fk()
    settings: Mapped[dict[str, Any]]
    rr_cursor: Mapped[str | None] = mapped_column(ID)
    updated_at: Mapped[datetime]


class TeamRoutingRow(Base):
    """Capacity, blending, wrap-up limit and missed-offer rules of one team, as JSON."""

    __tablename__ = "routing_team_rules"
    team_id: Mapped[str] = mapped_column(
        ID, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = org_fk()
    rules: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class RoutingLeaseRow(Base):
    """A named lease: the process holding an unexpired lease leads (runs the engine)."""

    __tablename__ = "routing_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
