"""Console roles: which platform accounts speak for a rights holder or act as a creator; indexes for a
holder's catalogue sorted by title, length or date.

Revision ID: 0011_console
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from hutong.store.models import UTCDateTime

LIVE = sa.text("removed_at IS NULL")  # live works only: the lists never show removed ones

revision = "0011_console"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "role", "subject"),
    )
    op.create_index("ix_account_roles_account_id", "account_roles", ["account_id"])
    for column in ("title", "duration", "created_at"):
        op.create_index(f"ix_works_holder_{column.split('_')[0]}", "works", ["holder", column],
                        sqlite_where=LIVE, postgresql_where=LIVE)  # fmt: skip


def downgrade() -> None:
    for name in ("title", "duration", "created"):
        op.drop_index(f"ix_works_holder_{name}", table_name="works")
    op.drop_index("ix_account_roles_account_id", table_name="account_roles")
    op.drop_table("account_roles")
