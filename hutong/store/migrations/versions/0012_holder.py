"""Which works each certificate covers, for the rights holder's "where are my works used"; filled in for
certificates issued before from the works their tokens name.

Revision ID: 0012_holder
Revises: 0012_creator
"""

import base64
import json

import sqlalchemy as sa
from alembic import op

revision = "0012_holder"
down_revision = "0012_creator"
branch_labels = None
depends_on = None


def _works_named(token: str) -> list[int]:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return sorted({int(w["id"]) for w in claims.get("works", [])})
    except (IndexError, ValueError, KeyError, TypeError):
        return []  # not a token this installation can read: nothing to fill in


def upgrade() -> None:
    table = op.create_table(
        "certificate_works",
        sa.Column("certificate_id", sa.String(length=64), nullable=False),
        sa.Column("work_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["work_id"], ["works.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("certificate_id", "work_id"),
    )
    op.create_index("ix_certificate_works_work_id", "certificate_works", ["work_id"])
    bind = op.get_bind()
    works = {row[0] for row in bind.execute(sa.text("SELECT id FROM works"))}
    rows = [
        {"certificate_id": cid, "work_id": w}
        for cid, token in bind.execute(sa.text("SELECT id, token FROM certificates"))
        for w in _works_named(token)
        if w in works
    ]
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index("ix_certificate_works_work_id", table_name="certificate_works")
    op.drop_table("certificate_works")
