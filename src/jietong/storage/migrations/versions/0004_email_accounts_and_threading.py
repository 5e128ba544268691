"""email accounts and threading

IMAP read positions and quarantined mail of the email channel (issue 3). Email accounts
are rows of `channel_accounts` (0003); threading uses message sources and deliveries.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_mailbox_positions",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_email_mailbox_positions_account_id_channel_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_email_mailbox_positions_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "folder", name=op.f("pk_email_mailbox_positions")),
    )
    with op.batch_alter_table("email_mailbox_positions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_email_mailbox_positions_org_id"), ["org_id"], unique=False
        )

    op.create_table(
        "email_quarantine",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("envelope_from", sa.String(length=320), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=True),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("raw_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_email_quarantine_account_id_channel_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_email_quarantine_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_quarantine")),
    )
    with op.batch_alter_table("email_quarantine", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_quarantine_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("email_quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_quarantine_org_id"))
    op.drop_table("email_quarantine")
    with op.batch_alter_table("email_mailbox_positions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_mailbox_positions_org_id"))
    op.drop_table("email_mailbox_positions")
