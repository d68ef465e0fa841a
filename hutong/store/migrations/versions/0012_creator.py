"""Console: a creator's clip checks (the uploaded clip, its recognition report, decision and timeline).

Revision ID: 0012_creator
Revises: 0011_console
"""

import sqlalchemy as sa
from alembic import op

from hutong.store.models import UTCDateTime

revision = "0012_creator"
down_revision = "0011_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clip_checks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("creator", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("clip_path", sa.String(length=4096), nullable=False),
        sa.Column("clip_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("platform", sa.String(length=100), nullable=False),
        sa.Column("monetised", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("compliant", sa.Boolean(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("timeline", sa.Text(), nullable=False),
        sa.Column("certificate_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_clip_checks_creator", "clip_checks", ["creator"])


def downgrade() -> None:
    op.drop_index("ix_clip_checks_creator", table_name="clip_checks")
    op.drop_table("clip_checks")
