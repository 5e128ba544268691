"""routing engine and agent presence

Agent presence, routing queue entries, offers (with partial unique indexes: one pending
offer per interaction and per agent), per-queue routing settings, per-team capacity
rules and the leader lease (issue 4).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("state = 'pending'")


def _at(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length=32), nullable=nullable)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"],
        ["organisations.id"],
        name=op.f(f"fk_{table}_org_id_organisations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "agent_presence",
        _id("user_id"),
        _id("org_id"),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        _at("state_since"),
        _at("idle_since"),
        _at("logged_in_at", nullable=True),
        sa.Column("busy_seconds", sa.Float(), nullable=False),
        sa.Column("missed_offers", sa.Integer(), nullable=False),
        _org_fk("agent_presence"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_agent_presence_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_agent_presence")),
    )
    with op.batch_alter_table("agent_presence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_presence_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agent_presence_state"), ["state"], unique=False)

    op.create_table(
        "routing_entries",
        _id("id"),
        _id("org_id"),
        _id("interaction_id"),
        _id("queue_id"),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        _at("enqueued_at"),
        _at("queue_entered_at"),
        _at("available_at", nullable=True),
        sa.Column("overflow_stage", sa.Integer(), nullable=False),
        sa.Column("limit_action", sa.String(length=16), nullable=True),
        sa.Column("callback_to", sa.String(length=320), nullable=True),
        sa.Column("callback_channel", sa.String(length=16), nullable=True),
        sa.Column("offers", sa.Integer(), nullable=False),
        _at("served_at", nullable=True),
        _at("ended_at", nullable=True),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_routing_entries_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        _org_fk("routing_entries"),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_routing_entries_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_entries")),
        sa.UniqueConstraint("interaction_id", name=op.f("uq_routing_entries_interaction_id")),
    )
    with op.batch_alter_table("routing_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_entries_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_routing_entries_org_state", ["org_id", "state"], unique=False)
        batch_op.create_index("ix_routing_entries_queue_state", ["queue_id", "state"], unique=False)

    op.create_table(
        "routing_offers",
        _id("id"),
        _id("org_id"),
        _id("interaction_id"),
        _id("entry_id"),
        _id("agent_id"),
        _id("queue_id"),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        _at("created_at"),
        _at("expires_at"),
        _at("ended_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name=op.f("fk_routing_offers_agent_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["routing_entries.id"],
            name=op.f("fk_routing_offers_entry_id_routing_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_routing_offers_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        _org_fk("routing_offers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_offers")),
    )
    with op.batch_alter_table("routing_offers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_offers_interaction_id"), ["interaction_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_routing_offers_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_routing_offers_org_state", ["org_id", "state"], unique=False)
        batch_op.create_index(
            "uq_routing_offers_pending_agent",
            ["agent_id"],
            unique=True,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )
        batch_op.create_index(
            "uq_routing_offers_pending_interaction",
            ["interaction_id"],
            unique=True,
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        )

    op.create_table(
        "routing_queue_settings",
        _id("queue_id"),
        _id("org_id"),
        sa.Column("settings", sa.JSON(), nullable=False),
        _id("rr_cursor", nullable=True),
        _at("updated_at"),
        _org_fk("routing_queue_settings"),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_routing_queue_settings_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", name=op.f("pk_routing_queue_settings")),
    )
    with op.batch_alter_table("routing_queue_settings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_queue_settings_org_id"), ["org_id"], unique=False
        )

    op.create_table(
        "routing_team_rules",
        _id("team_id"),
        _id("org_id"),
        sa.Column("rules", sa.JSON(), nullable=False),
        _at("updated_at"),
        _org_fk("routing_team_rules"),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_routing_team_rules_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_routing_team_rules")),
    )
    with op.batch_alter_table("routing_team_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routing_team_rules_org_id"), ["org_id"], unique=False)

    op.create_table(
        "routing_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        _at("expires_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_routing_leases")),
    )


def downgrade() -> None:
    op.drop_table("routing_leases")
    with op.batch_alter_table("routing_team_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_team_rules_org_id"))
    op.drop_table("routing_team_rules")
    with op.batch_alter_table("routing_queue_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_queue_settings_org_id"))
    op.drop_table("routing_queue_settings")
    with op.batch_alter_table("routing_offers", schema=None) as batch_op:
        batch_op.drop_index("uq_routing_offers_pending_interaction")
        batch_op.drop_index("uq_routing_offers_pending_agent")
        batch_op.drop_index("ix_routing_offers_org_state")
        batch_op.drop_index(batch_op.f("ix_routing_offers_org_id"))
        batch_op.drop_index(batch_op.f("ix_routing_offers_interaction_id"))
    op.drop_table("routing_offers")
    with op.batch_alter_table("routing_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_routing_entries_queue_state")
        batch_op.drop_index("ix_routing_entries_org_state")
        batch_op.drop_index(batch_op.f("ix_routing_entries_org_id"))
    op.drop_table("routing_entries")
    with op.batch_alter_table("agent_presence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_presence_state"))
        batch_op.drop_index(batch_op.f("ix_agent_presence_org_id"))
    op.drop_table("agent_presence")
