"""Ingest: one row per received upload part (parallel parts never overwrite each other), the completion
claim (``completing_since``), and 64-bit sizes (uploads reach 2 GiB).

Revision ID: 0006
Revises: 0004
"""

import json

import sqlalchemy as sa
from alembic import op

from hutong.store.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    received = conn.execute(sa.text("SELECT id, parts FROM uploads WHERE completed_at IS NULL")).all()
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("completing_since", UTCDateTime(), nullable=True))
        batch.drop_column("parts")
        if conn.dialect.name != "sqlite":  # SQLite's INTEGER is 64-bit already
            batch.alter_column(
                "size", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False
            )
    if conn.dialect.name != "sqlite":  # (rebuilding videos on SQLite would trip the posts' foreign key)
        op.alter_column(
            "videos", "size", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False
        )
    parts = op.create_table(
        "upload_parts",
        sa.Column("upload_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["upload_id"], ["uploads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("upload_id", "number"),
    )
    rows = [
        {"upload_id": upload_id, "number": int(n), "sha256": digest}
        for upload_id, value in received
        for n, digest in (json.loads(value) if isinstance(value, str) else value or {}).items()
    ]
    if rows:
        op.bulk_insert(parts, rows)


def downgrade() -> None:
    conn = op.get_bind()
    received: dict[str, dict[str, str]] = {}
    for upload_id, number, digest in conn.execute(
        sa.text("SELECT upload_id, number, sha256 FROM upload_parts")
    ):
        received.setdefault(upload_id, {})[str(number)] = digest
    op.drop_table("upload_parts")
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("parts", sa.JSON(), nullable=False, server_default="{}"))
        batch.drop_column("completing_since")
    for upload_id, parts in received.items():
        conn.execute(
            sa.text("UPDATE uploads SET parts = :p WHERE id = :id"), {"p": json.dumps(parts), "id": upload_id}
        )
