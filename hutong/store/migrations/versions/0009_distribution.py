"""Distribution, finished: a job counts the times a platform asked it to slow down
(``publish_jobs.rate_waits``), which are not failed attempts. (Which account acts as which creator is the
console's creator role, ``account_roles``, from 0011_console.)

Revision ID: 0009_distribution
Revises: 0012_holder
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_distribution"
down_revision = "0012_holder"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("publish_jobs") as batch:
        batch.add_column(sa.Column("rate_waits", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("publish_jobs") as batch:
        batch.drop_column("rate_waits")
