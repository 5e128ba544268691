"""routing more (no schema change)

A revision reserved for the routing engine's work of 2026-11-23, which needed no table or
column after all (case tasks are interactions). Kept, empty, so that databases already at
a later revision keep their history.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
