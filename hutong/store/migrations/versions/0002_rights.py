"""Creators, licences (with history) and issued certificates.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from hutong.store.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "creators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("handle", sa.String(64), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("organisation_id", sa.Integer, sa.ForeignKey("creators.id", ondelete="RESTRICT")),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_creators_handle", "creators", ["handle"], unique=True)
    op.create_table(
        "licences",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("terms", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("revoke_reason", sa.Text, nullable=False),
    )
    op.create_index("ix_licences_code", "licences", ["code"], unique=True)
    op.create_table(
        "licence_works",
        sa.Column(
            "licence_id", sa.Integer, sa.ForeignKey("licences.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("work_id", sa.Integer, sa.ForeignKey("works.id", ondelete="RESTRICT"), primary_key=True),
    )
    op.create_index("ix_licence_works_work_id", "licence_works", ["work_id"])
    op.create_table(
        "licence_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("licence_id", sa.Integer, sa.ForeignKey("licences.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("terms", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_licence_events_licence_id", "licence_events", ["licence_id"])
    op.create_table(
        "certificates",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("clip_sha256", sa.String(64), nullable=False),
        sa.Column("creator", sa.String(64), nullable=False),
        sa.Column("platforms", sa.JSON, nullable=False),
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("revoke_reason", sa.Text, nullable=False),
        sa.Column("token", sa.Text, nullable=False),
    )
    op.create_index("ix_certificates_clip_sha256", "certificates", ["clip_sha256"])
    op.create_table(
        "certificate_licences",
        sa.Column(
            "certificate_id",
            sa.String(64),
            sa.ForeignKey("certificates.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "licence_id", sa.Integer, sa.ForeignKey("licences.id", ondelete="RESTRICT"), primary_key=True
        ),
    )
    op.create_index("ix_certificate_licences_licence_id", "certificate_licences", ["licence_id"])


def downgrade() -> None:
    for table in (
        "certificate_licences",
        "certificates",
        "licence_events",
        "licence_works",
        "licences",
        "creators",
    ):
        op.drop_table(table)
