"""Registration jobs: works registered through the job queue, one row per file, claimed by one worker; the
console's clip checks on the same queue (who runs one, and since when).

Revision ID: 0013_registration
Revises: 0010_claims
"""

import sqlalchemy as sa
from alembic import op

from hutong.store.models import UTCDateTime

revision = "0013_registration"
down_revision = "0010_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registration_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=4096), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("upload", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(length=600), nullable=False),
        sa.Column("holder", sa.String(length=500), nullable=False),
        sa.Column("check_duplicates", sa.Boolean(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("work_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,  # ids are never reused: a page left open names one
    )
    op.create_index("ix_registration_jobs_batch", "registration_jobs", ["batch"])
    op.create_index("ix_registration_jobs_holder", "registration_jobs", ["holder"])
    op.create_index("ix_registration_jobs_state", "registration_jobs", ["state"])
    with op.batch_alter_table("clip_checks") as t:
        t.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        t.add_column(sa.Column("claimed_by", sa.String(length=200), nullable=False, server_default=""))
        t.add_column(sa.Column("claimed_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clip_checks") as t:
        for column in ("claimed_at", "claimed_by", "attempts"):
            t.drop_column(column)
    for column in ("state", "holder", "batch"):
        op.drop_index(f"ix_registration_jobs_{column}", table_name="registration_jobs")
    op.drop_table("registration_jobs")
