"""desktop canned responses, wrap-up codes, wrap-ups and mentions

Tables of the agent desktop (issue 5): reusable answers with variables, the outcome codes
agents pick at the end of a contact and what they recorded, and @mentions in notes.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "desktop_wrapup_codes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_desktop_wrapup_codes_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desktop_wrapup_codes")),
        sa.UniqueConstraint("org_id", "code", name=op.f("uq_desktop_wrapup_codes_org_id")),
    )
    with op.batch_alter_table("desktop_wrapup_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_desktop_wrapup_codes_org_id"), ["org_id"], unique=False
        )

    op.create_table(
        "desktop_canned_responses",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("shortcut", sa.String(length=32), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_desktop_canned_responses_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_desktop_canned_responses_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_desktop_canned_responses_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desktop_canned_responses")),
        sa.UniqueConstraint(
            "shortcut", "org_id", name=op.f("uq_desktop_canned_responses_shortcut")
        ),
        sa.UniqueConstraint("title", "org_id", name=op.f("uq_desktop_canned_responses_title")),
    )
    with op.batch_alter_table("desktop_canned_responses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_desktop_canned_responses_org_id"), ["org_id"], unique=False
        )

    op.create_table(
        "desktop_wrapups",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("interaction_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("code_id", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["code_id"],
            ["desktop_wrapup_codes.id"],
            name=op.f("fk_desktop_wrapups_code_id_desktop_wrapup_codes"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_desktop_wrapups_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_desktop_wrapups_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_desktop_wrapups_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desktop_wrapups")),
        sa.UniqueConstraint(
            "interaction_id", "user_id", name=op.f("uq_desktop_wrapups_interaction_id")
        ),
    )
    with op.batch_alter_table("desktop_wrapups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_desktop_wrapups_interaction_id"), ["interaction_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_desktop_wrapups_org_id"), ["org_id"], unique=False)

    op.create_table(
        "desktop_mentions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("interaction_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("mentioned_user_id", sa.String(length=32), nullable=False),
        sa.Column("author_user_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_desktop_mentions_author_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_desktop_mentions_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mentioned_user_id"],
            ["users.id"],
            name=op.f("fk_desktop_mentions_mentioned_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_desktop_mentions_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_desktop_mentions_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desktop_mentions")),
    )
    with op.batch_alter_table("desktop_mentions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_desktop_mentions_interaction_id"), ["interaction_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_desktop_mentions_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            "ix_desktop_mentions_user_read", ["mentioned_user_id", "read_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("desktop_mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_desktop_mentions_user_read")
        batch_op.drop_index(batch_op.f("ix_desktop_mentions_org_id"))
        batch_op.drop_index(batch_op.f("ix_desktop_mentions_interaction_id"))

    op.drop_table("desktop_mentions")
    with op.batch_alter_table("desktop_wrapups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desktop_wrapups_org_id"))
        batch_op.drop_index(batch_op.f("ix_desktop_wrapups_interaction_id"))

    op.drop_table("desktop_wrapups")
    with op.batch_alter_table("desktop_canned_responses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desktop_canned_responses_org_id"))

    op.drop_table("desktop_canned_responses")
    with op.batch_alter_table("desktop_wrapup_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desktop_wrapup_codes_org_id"))

    op.drop_table("desktop_wrapup_codes")
