"""Works: soft removal (``removed_at``), ids never reused (SQLite AUTOINCREMENT), the same file unique
among live works only, and titles without surrounding book-title marks 《》 (displays add them).

Revision ID: 0007
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from hutong.store.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LIVE = sa.text("removed_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_works_sha256", table_name="works")
    # SQLite can only add AUTOINCREMENT by rebuilding the table (hutong.store.db.migrate turns foreign
    # keys off around migrations, so the rebuild cascades nothing); other databases never reuse ids
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        "works", recreate="always" if sqlite else "never", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.add_column(sa.Column("removed_at", UTCDateTime(), nullable=True))
    op.create_index(
        "ix_works_sha256", "works", ["sha256"], unique=True, sqlite_where=LIVE, postgresql_where=LIVE
    )
    works = sa.table("works", sa.column("id", sa.Integer), sa.column("title", sa.String))
    bind = op.get_bind()
    for wid, title in bind.execute(sa.select(works.c.id, works.c.title)).all():
        bare = title.strip()
        while len(bare) > 2 and bare.startswith("《") and bare.endswith("》"):
            bare = bare[1:-1].strip()
        if bare != title:
            bind.execute(works.update().where(works.c.id == wid).values(title=bare))


def downgrade() -> None:
    op.drop_index("ix_works_sha256", table_name="works")
    with op.batch_alter_table(
        "works", recreate="always" if op.get_bind().dialect.name == "sqlite" else "never"
    ) as b:
        b.drop_column("removed_at")
    op.create_index("ix_works_sha256", "works", ["sha256"], unique=True)
