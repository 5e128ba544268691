"""voice sip

SIP (issue 6): agent phone credentials, registrations (bindings), trunks.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _org(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"],
        ["organisations.id"],
        name=op.f(f"fk_{table}_org_id_organisations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "sip_phone_accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("realm", sa.String(length=128), nullable=False),
        sa.Column("ha1", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=False),
        _org("sip_phone_accounts"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sip_phone_accounts_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_phone_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_sip_phone_accounts_username")),
    )
    with op.batch_alter_table("sip_phone_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sip_phone_accounts_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sip_phone_accounts_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "sip_bindings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("contact", sa.String(length=500), nullable=False),
        sa.Column("source_host", sa.String(length=64), nullable=False),
        sa.Column("source_port", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sip_call_id", sa.String(length=200), nullable=False),
        sa.Column("cseq", sa.Integer(), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["sip_phone_accounts.id"],
            name=op.f("fk_sip_bindings_account_id_sip_phone_accounts"),
            ondelete="CASCADE",
        ),
        _org("sip_bindings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_bindings")),
        sa.UniqueConstraint("account_id", "contact", name=op.f("uq_sip_bindings_account_id")),
    )
    with op.batch_alter_table("sip_bindings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sip_bindings_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sip_bindings_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sip_bindings_org_id"), ["org_id"], unique=False)

    op.create_table(
        "sip_trunks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("allowed_sources", sa.JSON(), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=True),
        sa.Column("password", sa.String(length=256), nullable=True),
        sa.Column("register", sa.Boolean(), nullable=False),
        sa.Column("register_expires_s", sa.Integer(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _org("sip_trunks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sip_trunks")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_sip_trunks_org_id")),
    )
    with op.batch_alter_table("sip_trunks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sip_trunks_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_table("sip_trunks")
    op.drop_table("sip_bindings")
    op.drop_table("sip_phone_accounts")
