"""Claims: title lists, match policies (with history), claims and their timelines, disputes, revenue reports,
the double-entry ledger, reference exclusions and "not a copy" suppressions.

Revision ID: 0010_claims
Revises: 0009_distribution
"""

import sqlalchemy as sa
from alembic import op

from hutong.store.models import UTCDateTime

revision = "0010_claims"
down_revision = "0009_distribution"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=500), nullable=False),
        sa.Column("creator", sa.String(length=64), nullable=False),
        sa.Column("clip_sha256", sa.String(length=64), nullable=False),
        sa.Column("work_id", sa.Integer(), nullable=True),
        sa.Column("clip_duration", sa.Float(), nullable=False),
        sa.Column("platform", sa.String(length=100), nullable=False),
        sa.Column("territory", sa.String(length=8), nullable=False),
        sa.Column("post_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("fix", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("review_due_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["work_id"], ["works.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_claims_clip_sha256"), "claims", ["clip_sha256"], unique=False)
    op.create_index(op.f("ix_claims_work_id"), "claims", ["work_id"], unique=False)
    op.create_index(op.f("ix_claims_code"), "claims", ["code"], unique=True)
    op.create_index(op.f("ix_claims_creator"), "claims", ["creator"], unique=False)
    op.create_index(op.f("ix_claims_holder"), "claims", ["holder"], unique=False)
    op.create_index(op.f("ix_claims_post_id"), "claims", ["post_id"], unique=False)
    op.create_index(op.f("ix_claims_status"), "claims", ["status"], unique=False)
    op.create_table(
        "match_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=500), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_match_policies_code"), "match_policies", ["code"], unique=True)
    op.create_index(op.f("ix_match_policies_holder"), "match_policies", ["holder"], unique=False)
    op.create_table(
        "revenue_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reporter", sa.String(length=200), nullable=False),
        sa.Column("report_id", sa.String(length=200), nullable=False),
        sa.Column("post_id", sa.String(length=64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("earned_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reporter", "report_id"),
    )
    op.create_index(op.f("ix_revenue_reports_post_id"), "revenue_reports", ["post_id"], unique=False)
    op.create_table(
        "title_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=500), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("works", sa.JSON(), nullable=False),
        sa.Column("creators", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("holder", "name"),
    )
    op.create_table(
        "claim_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=600), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_claim_events_claim_id"), "claim_events", ["claim_id"], unique=False)
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("creator", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("appeal_text", sa.Text(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("claim_id"),
    )
    op.create_index(op.f("ix_disputes_due_at"), "disputes", ["due_at"], unique=False)
    op.create_index(op.f("ix_disputes_state"), "disputes", ["state"], unique=False)
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("txn", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=600), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("claim_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["report_id"], ["revenue_reports.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ledger_entries_account"), "ledger_entries", ["account"], unique=False)
    op.create_index(op.f("ix_ledger_entries_at"), "ledger_entries", ["at"], unique=False)
    op.create_index(op.f("ix_ledger_entries_claim_id"), "ledger_entries", ["claim_id"], unique=False)
    op.create_index(op.f("ix_ledger_entries_txn"), "ledger_entries", ["txn"], unique=False)
    op.create_table(
        "match_policy_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["policy_id"], ["match_policies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_match_policy_events_policy_id"), "match_policy_events", ["policy_id"], unique=False
    )
    op.create_table(
        "match_suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_sha256", sa.String(length=64), nullable=False),
        sa.Column("work_id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["work_id"], ["works.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clip_sha256", "work_id"),
    )
    op.create_index(op.f("ix_match_suppressions_work_id"), "match_suppressions", ["work_id"], unique=False)
    op.create_table(
        "reference_exclusions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=500), nullable=False),
        sa.Column("work_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["work_id"], ["works.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_reference_exclusions_work_id"), "reference_exclusions", ["work_id"], unique=False
    )

    op.create_table(
        "ownership_conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_a", sa.Integer(), nullable=False),
        sa.Column("start_a", sa.Float(), nullable=False),
        sa.Column("end_a", sa.Float(), nullable=False),
        sa.Column("work_b", sa.Integer(), nullable=False),
        sa.Column("start_b", sa.Float(), nullable=False),
        sa.Column("end_b", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=500), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["work_a"], ["works.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["work_b"], ["works.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ownership_conflicts_work_a"), "ownership_conflicts", ["work_a"], unique=False)
    op.create_index(op.f("ix_ownership_conflicts_work_b"), "ownership_conflicts", ["work_b"], unique=False)
    op.create_table(
        "reference_quarantines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_id", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("clips", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("lifted_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["work_id"], ["works.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_reference_quarantines_work_id"), "reference_quarantines", ["work_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_reference_quarantines_work_id"), table_name="reference_quarantines")
    op.drop_table("reference_quarantines")
    op.drop_index(op.f("ix_ownership_conflicts_work_b"), table_name="ownership_conflicts")
    op.drop_index(op.f("ix_ownership_conflicts_work_a"), table_name="ownership_conflicts")
    op.drop_table("ownership_conflicts")
    op.drop_index(op.f("ix_claims_work_id"), table_name="claims")
    op.drop_index(op.f("ix_reference_exclusions_work_id"), table_name="reference_exclusions")
    op.drop_table("reference_exclusions")
    op.drop_index(op.f("ix_match_suppressions_work_id"), table_name="match_suppressions")
    op.drop_table("match_suppressions")
    op.drop_index(op.f("ix_match_policy_events_policy_id"), table_name="match_policy_events")
    op.drop_table("match_policy_events")
    op.drop_index(op.f("ix_ledger_entries_txn"), table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_claim_id"), table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_at"), table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_account"), table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_index(op.f("ix_disputes_state"), table_name="disputes")
    op.drop_index(op.f("ix_disputes_due_at"), table_name="disputes")
    op.drop_table("disputes")
    op.drop_index(op.f("ix_claim_events_claim_id"), table_name="claim_events")
    op.drop_table("claim_events")
    op.drop_table("title_lists")
    op.drop_index(op.f("ix_revenue_reports_post_id"), table_name="revenue_reports")
    op.drop_table("revenue_reports")
    op.drop_index(op.f("ix_match_policies_holder"), table_name="match_policies")
    op.drop_index(op.f("ix_match_policies_code"), table_name="match_policies")
    op.drop_table("match_policies")
    op.drop_index(op.f("ix_claims_status"), table_name="claims")
    op.drop_index(op.f("ix_claims_post_id"), table_name="claims")
    op.drop_index(op.f("ix_claims_holder"), table_name="claims")
    op.drop_index(op.f("ix_claims_creator"), table_name="claims")
    op.drop_index(op.f("ix_claims_code"), table_name="claims")
    op.drop_index(op.f("ix_claims_clip_sha256"), table_name="claims")
    op.drop_table("claims")
