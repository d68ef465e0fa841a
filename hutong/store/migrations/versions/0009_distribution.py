"""Distribution, finished: a creator signs in as a platform account (``creators.account_id``), so a signed-in
user publishes only their own certified clips (or their organisation's creators'); a job counts the times a
platform asked it to slow down (``publish_jobs.rate_waits``), which are not failed attempts.

Revision ID: 0009_distribution
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_distribution"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("creators") as batch:
        batch.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch.create_index("ix_creators_account_id", ["account_id"])
        batch.create_foreign_key(
            "fk_creators_account_id", "accounts", ["account_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("publish_jobs") as batch:
        batch.add_column(sa.Column("rate_waits", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("publish_jobs") as batch:
        batch.drop_column("rate_waits")
    with op.batch_alter_table("creators") as batch:
        batch.drop_constraint("fk_creators_account_id", type_="foreignkey")
        batch.drop_index("ix_creators_account_id")
        batch.drop_column("account_id")
