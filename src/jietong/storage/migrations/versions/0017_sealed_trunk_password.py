"""sip_trunks.password: 256 to 2048 characters — a trunk password is now stored sealed
(`fernet:` + a Fernet token, ADR 0016): a 256-character password of up to 1024 bytes of
UTF-8 becomes about 1,470 characters

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sip_trunks") as batch:
        batch.alter_column(
            "password",
            existing_type=sa.String(length=256),
            type_=sa.String(length=2048),
            existing_nullable=True,
        )


def downgrade() -> None:
    # Sealed passwords are longer than 256 characters: open them first (there is no
    # command for that; restore the backup taken before upgrading instead).
    with op.batch_alter_table("sip_trunks") as batch:
        batch.alter_column(
            "password",
            existing_type=sa.String(length=2048),
            type_=sa.String(length=256),
            existing_nullable=True,
        )
