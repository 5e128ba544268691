"""voice queue policies (slot: per-queue recording policy )

Per-queue recording policy (record inherit/always/never, consent announcement and its
prompt, retention days); the trunk flag ``trusted_edge`` (a Kamailio in front whose
``X-Jietong-Phone`` header names the agent phone that placed a call); the voice process
carrying each call (``voice_calls.node``) and the processes' heartbeats
(``voice_nodes``), so a restarted process closes the calls its predecessor left open.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voice_queue_policies",
        sa.Column("queue_id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("record", sa.String(length=8), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("consent_prompt", sa.String(length=100), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_voice_queue_policies_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_voice_queue_policies_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", name=op.f("pk_voice_queue_policies")),
    )
    op.create_index(
        op.f("ix_voice_queue_policies_org_id"), "voice_queue_policies", ["org_id"], unique=False
    )
    op.add_column(
        "sip_trunks",
        sa.Column("trusted_edge", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("voice_calls", sa.Column("node", sa.String(length=100), nullable=True))
    op.create_table(
        "voice_nodes",
        sa.Column("node", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_voice_nodes")),
    )


def downgrade() -> None:
    op.drop_table("voice_nodes")
    op.drop_column("voice_calls", "node")
    op.drop_column("sip_trunks", "trusted_edge")
    op.drop_index(op.f("ix_voice_queue_policies_org_id"), table_name="voice_queue_policies")
    op.drop_table("voice_queue_policies")
