"""web chat visitors and timelines

Visitors of the web chat widget and the numbered timeline of messages each may see
(issue 3). Widgets are rows of `channel_accounts` (channel 'chat', provider 'widget').

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webchat_visitors",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("external_user_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_webchat_visitors_account_id_channel_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_webchat_visitors_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webchat_visitors")),
    )
    with op.batch_alter_table("webchat_visitors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webchat_visitors_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_webchat_visitors_org_id"), ["org_id"], unique=False)

    op.create_table(
        "webchat_timeline",
        sa.Column("visitor_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("interaction_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_webchat_timeline_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_webchat_timeline_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_webchat_timeline_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["webchat_visitors.id"],
            name=op.f("fk_webchat_timeline_visitor_id_webchat_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("visitor_id", "seq", name=op.f("pk_webchat_timeline")),
        sa.UniqueConstraint(
            "visitor_id", "message_id", name=op.f("uq_webchat_timeline_visitor_id")
        ),
    )
    with op.batch_alter_table("webchat_timeline", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webchat_timeline_interaction_id"), ["interaction_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_webchat_timeline_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webchat_timeline", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webchat_timeline_org_id"))
        batch_op.drop_index(batch_op.f("ix_webchat_timeline_interaction_id"))
    op.drop_table("webchat_timeline")
    with op.batch_alter_table("webchat_visitors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webchat_visitors_org_id"))
        batch_op.drop_index(batch_op.f("ix_webchat_visitors_account_id"))
    op.drop_table("webchat_visitors")
