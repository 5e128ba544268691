"""intake speed

Intake (issue 3): a small raw payload is stored in its message_sources row
(`raw_inline`) instead of a blob file, so storing a message needs one fsync, not two.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("message_sources", sa.Column("raw_inline", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message_sources") as batch:
        batch.drop_column("raw_inline")
