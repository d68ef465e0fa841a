"""Compliance: licence decisions, reports, evidence and signed certificates."""
