"""desktop more

Desktop (issue 5): reply_contents, the HTML and CC of replies sent from the desk.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reply_contents",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("cc", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_reply_contents_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_reply_contents_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_reply_contents")),
    )
    with op.batch_alter_table("reply_contents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reply_contents_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reply_contents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reply_contents_org_id"))
    op.drop_table("reply_contents")
