"""interactions: index on (org_id, state) — the routing engine asks every cycle whether an
organisation has an arrival or a queued interaction; without it that probe read every
interaction of the organisation when none was waiting

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_interactions_org_state", "interactions", ["org_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_interactions_org_state", table_name="interactions")
