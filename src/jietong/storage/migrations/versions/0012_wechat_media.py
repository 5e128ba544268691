"""wechat media fetches

The WeChat channel's to-do of media (images, voice, video) to fetch through
/cgi-bin/media/get after a push was acknowledged.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wechat_media_fetches",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("interaction_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("media_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attachment_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_wechat_media_fetches_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_wechat_media_fetches_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_wechat_media_fetches_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_wechat_media_fetches")),
    )
    op.create_index(
        "ix_wechat_media_fetches_due", "wechat_media_fetches", ["state", "next_attempt_at"]
    )
    op.create_index(
        op.f("ix_wechat_media_fetches_org_id"), "wechat_media_fetches", ["org_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_wechat_media_fetches_org_id"), table_name="wechat_media_fetches")
    op.drop_index("ix_wechat_media_fetches_due", table_name="wechat_media_fetches")
    op.drop_table("wechat_media_fetches")
