"""voice calls

Voice (issue 6): calls, legs, their events (append-only), call detail records, IVR
flows with their versions, and uploaded prompts.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voice_ivr_flows",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("numbers", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_voice_ivr_flows_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_ivr_flows")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_voice_ivr_flows_org_id")),
    )
    op.create_index(op.f("ix_voice_ivr_flows_org_id"), "voice_ivr_flows", ["org_id"], unique=False)
    op.create_table(
        "voice_prompts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_voice_prompts_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_prompts")),
        sa.UniqueConstraint("org_id", "name", "language", name=op.f("uq_voice_prompts_org_id")),
    )
    op.create_index(op.f("ix_voice_prompts_org_id"), "voice_prompts", ["org_id"], unique=False)
    op.create_table(
        "voice_ivr_flow_versions",
        sa.Column("flow_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("saved_by", sa.String(length=32), nullable=True),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["voice_ivr_flows.id"],
            name=op.f("fk_voice_ivr_flow_versions_flow_id_voice_ivr_flows"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_voice_ivr_flow_versions_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("flow_id", "version", name=op.f("pk_voice_ivr_flow_versions")),
    )
    op.create_index(
        op.f("ix_voice_ivr_flow_versions_org_id"),
        "voice_ivr_flow_versions",
        ["org_id"],
        unique=False,
    )
    op.create_table(
        "voice_calls",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("interaction_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("caller", sa.String(length=200), nullable=False),
        sa.Column("dialled", sa.String(length=200), nullable=False),
        sa.Column("trunk_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_voice_calls_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_voice_calls_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_voice_calls_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_calls")),
    )
    op.create_index(
        op.f("ix_voice_calls_interaction_id"), "voice_calls", ["interaction_id"], unique=False
    )
    op.create_index(op.f("ix_voice_calls_org_id"), "voice_calls", ["org_id"], unique=False)
    op.create_index(op.f("ix_voice_calls_state"), "voice_calls", ["state"], unique=False)
    op.create_table(
        "voice_call_legs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("party", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("media_leg_id", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_cause", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["voice_calls.id"],
            name=op.f("fk_voice_call_legs_call_id_voice_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_voice_call_legs_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_voice_call_legs_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_call_legs")),
    )
    op.create_index(
        op.f("ix_voice_call_legs_call_id"), "voice_call_legs", ["call_id"], unique=False
    )
    op.create_index(
        op.f("ix_voice_call_legs_media_leg_id"), "voice_call_legs", ["media_leg_id"], unique=False
    )
    op.create_index(op.f("ix_voice_call_legs_org_id"), "voice_call_legs", ["org_id"], unique=False)
    op.create_table(
        "voice_cdrs",
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("interaction_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("caller", sa.String(length=200), nullable=False),
        sa.Column("dialled", sa.String(length=200), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ivr_entered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ivr_left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ivr_s", sa.Float(), nullable=False),
        sa.Column("ivr_outcome", sa.String(length=16), nullable=True),
        sa.Column("queue_id", sa.String(length=32), nullable=True),
        sa.Column("queue_entered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("offers", sa.Integer(), nullable=False),
        sa.Column("first_offered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_user_id", sa.String(length=32), nullable=True),
        sa.Column("queue_wait_s", sa.Float(), nullable=True),
        sa.Column("holds", sa.Integer(), nullable=False),
        sa.Column("hold_s", sa.Float(), nullable=False),
        sa.Column("transfers", sa.Integer(), nullable=False),
        sa.Column("transferred_to", sa.String(length=200), nullable=True),
        sa.Column("talk_s", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_cause", sa.String(length=32), nullable=True),
        sa.Column("disposition", sa.String(length=64), nullable=True),
        sa.Column("abandoned", sa.Boolean(), nullable=False),
        sa.Column("abandon_point", sa.String(length=16), nullable=True),
        sa.Column("short_abandon", sa.Boolean(), nullable=False),
        sa.Column("abandoned_after_s", sa.Float(), nullable=True),
        sa.Column("legs", sa.JSON(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["voice_calls.id"],
            name=op.f("fk_voice_cdrs_call_id_voice_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_voice_cdrs_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_voice_cdrs")),
    )
    op.create_index(
        op.f("ix_voice_cdrs_agent_user_id"), "voice_cdrs", ["agent_user_id"], unique=False
    )
    op.create_index(
        "ix_voice_cdrs_org_arrived", "voice_cdrs", ["org_id", "arrived_at"], unique=False
    )
    op.create_index(op.f("ix_voice_cdrs_org_id"), "voice_cdrs", ["org_id"], unique=False)
    op.create_index(op.f("ix_voice_cdrs_team_id"), "voice_cdrs", ["team_id"], unique=False)
    op.create_table(
        "voice_leg_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("leg_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("trigger", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["voice_calls.id"],
            name=op.f("fk_voice_leg_events_call_id_voice_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_voice_leg_events_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_leg_events")),
    )
    op.create_index(
        "ix_voice_leg_events_call_seq", "voice_leg_events", ["call_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_voice_leg_events_org_id"), "voice_leg_events", ["org_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_voice_leg_events_org_id"), table_name="voice_leg_events")
    op.drop_index("ix_voice_leg_events_call_seq", table_name="voice_leg_events")
    op.drop_table("voice_leg_events")
    op.drop_index(op.f("ix_voice_cdrs_team_id"), table_name="voice_cdrs")
    op.drop_index(op.f("ix_voice_cdrs_org_id"), table_name="voice_cdrs")
    op.drop_index("ix_voice_cdrs_org_arrived", table_name="voice_cdrs")
    op.drop_index(op.f("ix_voice_cdrs_agent_user_id"), table_name="voice_cdrs")
    op.drop_table("voice_cdrs")
    op.drop_index(op.f("ix_voice_call_legs_org_id"), table_name="voice_call_legs")
    op.drop_index(op.f("ix_voice_call_legs_media_leg_id"), table_name="voice_call_legs")
    op.drop_index(op.f("ix_voice_call_legs_call_id"), table_name="voice_call_legs")
    op.drop_table("voice_call_legs")
    op.drop_index(op.f("ix_voice_calls_state"), table_name="voice_calls")
    op.drop_index(op.f("ix_voice_calls_org_id"), table_name="voice_calls")
    op.drop_index(op.f("ix_voice_calls_interaction_id"), table_name="voice_calls")
    op.drop_table("voice_calls")
    op.drop_index(op.f("ix_voice_ivr_flow_versions_org_id"), table_name="voice_ivr_flow_versions")
    op.drop_table("voice_ivr_flow_versions")
    op.drop_index(op.f("ix_voice_prompts_org_id"), table_name="voice_prompts")
    op.drop_table("voice_prompts")
    op.drop_index(op.f("ix_voice_ivr_flows_org_id"), table_name="voice_ivr_flows")
    op.drop_table("voice_ivr_flows")
