"""interactions: index on (org_id, channel, external_ref) — intake's thread-key look-up
and the e-mail threading guard read every conversation of the organisation without it

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_interactions_thread_key", "interactions", ["org_id", "channel", "external_ref"]
    )


def downgrade() -> None:
    op.drop_index("ix_interactions_thread_key", table_name="interactions")
