"""Distribution: connected accounts on other platforms, publishing jobs (one per clip version and account)
and their timelines.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from hutong.store.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "distribution_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("creator", sa.String(length=64), nullable=False),
        sa.Column("adapter", sa.String(length=50), nullable=False),
        sa.Column("platform_url", sa.String(length=500), nullable=False),
        sa.Column("platform_name", sa.String(length=100), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("client_secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=False),
        sa.Column("scope", sa.String(length=500), nullable=False),
        sa.Column("access_token_enc", sa.LargeBinary(), nullable=False),
        sa.Column("refresh_token_enc", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("pending_state", sa.String(length=100), nullable=False),
        sa.Column("pending_verifier_enc", sa.LargeBinary(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "publish_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_sha256", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("clip_path", sa.String(length=4096), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("certificate_id", sa.String(length=64), nullable=False),
        sa.Column("caption", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("remote_upload_id", sa.String(length=200), nullable=False),
        sa.Column("remote_part_size", sa.Integer(), nullable=False),
        sa.Column("remote_parts_done", sa.Integer(), nullable=False),
        sa.Column("remote_video_id", sa.String(length=200), nullable=False),
        sa.Column("remote_post_id", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["distribution_accounts.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clip_sha256", "account_id"),
    )
    op.create_index("ix_publish_jobs_account_id", "publish_jobs", ["account_id"])
    op.create_index("ix_publish_jobs_state", "publish_jobs", ["state"])
    op.create_table(
        "publish_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["publish_jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_publish_events_job_id", "publish_events", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_publish_events_job_id", table_name="publish_events")
    op.drop_table("publish_events")
    op.drop_index("ix_publish_jobs_state", table_name="publish_jobs")
    op.drop_index("ix_publish_jobs_account_id", table_name="publish_jobs")
    op.drop_table("publish_jobs")
    op.drop_table("distribution_accounts")
