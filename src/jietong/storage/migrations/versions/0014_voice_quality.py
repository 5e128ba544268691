"""voice quality: end-of-leg jitter, loss both ways, round trip and MOS estimate on
voice_call_legs, from the media engine's RTCP (all nullable: legs without RTP, or ended
before a report, have none)

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_COLUMNS = ("jitter_ms", "loss_in", "loss_out", "rtt_ms", "mos")


def upgrade() -> None:
    for name in _COLUMNS:
        op.add_column("voice_call_legs", sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("voice_call_legs") as batch:
        for name in _COLUMNS:
            batch.drop_column(name)
