"""Compliance: licence decisions, reports, evidence and signed certificates.

Names load on first use (PEP 562), so an offline verifier that imports ``hutong.compliance.certificate``
pulls in no database or recognition code, and the CLI starts fast."""

from __future__ import annotations

import importlib

_WHERE = {
    "CheckResult": "service",
    "ClipDecision": "policy",
    "Compliance": "service",
    "IssuedCertificate": "service",
    "MatchedSegment": "policy",
    "SegmentDecision": "policy",
    "Verification": "certificate",
    "decide": "policy",
    "evidence_html": "report",
    "peek": "certificate",
    "timeline_svg": "report",
    "verify_certificate": "certificate",
    "verify_signed": "certificate",
    "verify_status": "certificate",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"hutong.compliance.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'hutong.compliance' has no attribute {name!r}")
