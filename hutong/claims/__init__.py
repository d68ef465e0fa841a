"""Claims (capability 6): match policies for uses no licence covers, claims with their evidence, disputes
and appeals with deadlines, fix and re-check, reference exclusions, and the revenue ledger with statements.
See docs/claims.md."""

from hutong.claims.claims import REVIEW_DAYS, Claims, ClipUse, Finding
from hutong.claims.deadlines import DeadlineJob
from hutong.claims.disputes import ANSWER_DAYS, APPEAL_DAYS, DISPUTE_DAYS, REASONS, Disputes
from hutong.claims.ledger import Ledger, money, split
from hutong.claims.policies import ACTIONS, ClaimError, Policies, PolicyRecord, PolicyRules

__all__ = [
    "ACTIONS",
    "ANSWER_DAYS",
    "APPEAL_DAYS",
    "DISPUTE_DAYS",
    "REASONS",
    "REVIEW_DAYS",
    "ClaimError",
    "Claims",
    "ClipUse",
    "DeadlineJob",
    "Disputes",
    "Finding",
    "Ledger",
    "Policies",
    "PolicyRecord",
    "PolicyRules",
    "money",
    "split",
]
