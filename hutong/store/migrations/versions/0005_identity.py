"""Legal-representative data kept after deletion can no longer be matched to an ID cheaply; deposit attempts
are counted in a column of their own.

- ``legal_rep_id_hmac`` (a fast keyed HMAC) becomes ``legal_rep_tag``: the same HMAC stretched by Argon2id
  (:func:`hutong.platform.vault.stretch`), computed here from the stored HMAC, so the ID is not needed and
  duplicate detection keeps working. Rejected developers count for nothing and lose theirs.
- Masked IDs keep their last two characters only; masked names their first character only.
- ``deposit_attempts`` starts at 0 (the old count lived in the ``evidence`` JSON).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from hutong.platform.ids import mask_name
from hutong.platform.vault import stretch

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

developers = sa.table(
    "developers",
    sa.column("id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("legal_rep_id_hmac", sa.String),
    sa.column("legal_rep_tag", sa.String),
    sa.column("legal_rep_id_masked", sa.String),
    sa.column("legal_rep_name_masked", sa.String),
)


def upgrade() -> None:
    # plain ALTER TABLE (SQLite >= 3.35), not a batch copy: dropping and recreating ``developers`` with
    # foreign keys on would cascade-delete its review decisions and apps
    op.add_column("developers", sa.Column("legal_rep_tag", sa.String(length=64), nullable=True))
    op.add_column(
        "developers", sa.Column("deposit_attempts", sa.Integer(), nullable=False, server_default="0")
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            developers.c.id,
            developers.c.status,
            developers.c.legal_rep_id_hmac,
            developers.c.legal_rep_id_masked,
            developers.c.legal_rep_name_masked,
        )
    ).all()
    for id_, status, fast, id_masked, name_masked in rows:
        conn.execute(
            developers.update()
            .where(developers.c.id == id_)
            .values(
                legal_rep_tag=stretch(bytes.fromhex(fast)) if fast and status != "rejected" else None,
                legal_rep_id_masked="*" * (len(id_masked) - 2) + id_masked[-2:] if id_masked else "",
                legal_rep_name_masked=mask_name(name_masked),
            )
        )
    op.drop_index(op.f("ix_developers_legal_rep_id_hmac"), table_name="developers")
    op.execute("ALTER TABLE developers DROP COLUMN legal_rep_id_hmac")
    op.create_index(op.f("ix_developers_legal_rep_tag"), "developers", ["legal_rep_tag"], unique=False)


def downgrade() -> None:
    # the fast HMACs cannot come back (that is the point): duplicate detection restarts empty
    op.drop_index(op.f("ix_developers_legal_rep_tag"), table_name="developers")
    op.execute("ALTER TABLE developers DROP COLUMN legal_rep_tag")
    op.execute("ALTER TABLE developers DROP COLUMN deposit_attempts")
    op.add_column("developers", sa.Column("legal_rep_id_hmac", sa.String(length=64), nullable=True))
    op.create_index(
        op.f("ix_developers_legal_rep_id_hmac"), "developers", ["legal_rep_id_hmac"], unique=False
    )
