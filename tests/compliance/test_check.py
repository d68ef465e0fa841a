"""Licence rules decided on real matches, and the pictures and evidence a check produces."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from hutong.compliance.report import evidence_html, timeline_svg
from hutong.errors import RightsError
from tests.compliance.conftest import grant


@pytest.mark.parametrize(
    ("over", "call", "rule", "needle"),
    [
        ({}, {}, "licensed", "licensed by L-1"),
        ({"max_segment_seconds": 4}, {}, "max-segment", "per-segment limit of licence L-1"),
        ({"max_total_seconds": 5}, {}, "max-total", "per clip allowed by licence L-1"),
        ({"max_share": 0.05}, {}, "max-share", "allowed by licence L-1"),
        ({"platforms": ["bilibili"]}, {}, "platform", "covers bilibili, not douyin"),
        ({"scope": {"kind": "creators", "creators": ["bob"]}}, {}, "creator-scope", "not @alice"),
        ({}, {"creator": "bob"}, "creator-scope", "@bob is not verified"),
        (
            {"scope": {"kind": "organisation", "organisation": "mcn"}},
            {"creator": "bob"},
            "licensed",
            "licensed",
        ),
        ({}, {"monetised": True}, "monetisation", "monetised"),
        ({}, {"at": datetime(2031, 1, 1, tzinfo=UTC)}, "licence-expired", "expired on 2030-01-01"),
        ({"valid_from": "2029-01-01"}, {}, "licence-not-yet-valid", "valid only from 2029-01-01"),
    ],
)
def test_rules_on_a_real_match(rights, two_work_clip, clip_report, over, call, rule, needle):
    grant(rights, **over)
    kw = {"creator": "alice", "platform": "douyin", **call}
    result = rights.compliance.check(
        two_work_clip.path, kw.pop("creator"), kw.pop("platform"), report=clip_report, **kw
    )
    rules = {s.rule for s in result.decision.segments}
    assert rules == {rule}, result.decision.as_dict()
    assert all(needle in s.reason for s in result.decision.segments)
    assert result.decision.compliant == (rule == "licensed")


def test_forbidden_range_and_embargo_on_the_work_timeline(rights, two_work_clip, clip_report):
    sintel = next(s for s in clip_report.segments if s.work_id == 2)
    mid = (sintel.ref_start + sintel.ref_end) / 2
    grant(rights, forbidden=[{"work_id": 2, "start": mid - 2, "end": mid + 2, "label": "reveal"}])
    d = rights.compliance.check(two_work_clip.path, "alice", "douyin", report=clip_report).decision
    verdicts = {s.segment.work_id: (s.verdict, s.rule) for s in d.segments}
    assert verdicts == {2: ("forbidden", "forbidden-range"), 1: ("licensed", "licensed")}
    assert "(reveal), which licence L-1 forbids" in next(
        s.reason for s in d.segments if s.segment.work_id == 2
    )

    rights.licences.amend(
        "L-1",
        rights.licences.get("L-1").terms.model_copy(
            update={"forbidden": [], "valid_from": datetime(2026, 1, 1, tzinfo=UTC)}
        ),
    )
    assert rights.compliance.check(
        two_work_clip.path, "alice", "douyin", report=clip_report
    ).decision.compliant


def test_unknown_creator_or_platform_is_an_error(rights, two_work_clip, clip_report):
    with pytest.raises(RightsError, match="no creator @zed"):
        rights.compliance.check(two_work_clip.path, "zed", "douyin", report=clip_report)
    from hutong.errors import CertificateError

    with pytest.raises(CertificateError, match="platform"):
        rights.compliance.check(two_work_clip.path, "alice", " ", report=clip_report)


def test_allowed_platforms_are_exactly_where_it_is_compliant(rights, two_work_clip, clip_report):
    grant(rights, works=[1], platforms=["douyin", "bilibili", "kuaishou"])
    grant(rights, works=[2], platforms=["douyin", "kuaishou"])
    result = rights.compliance.check(two_work_clip.path, "alice", "douyin", report=clip_report)
    assert result.decision.compliant
    assert rights.compliance.allowed_platforms(result) == ["douyin", "kuaishou"]


def test_timeline_svg_shows_each_segment_by_verdict(rights, two_work_clip, clip_report):
    grant(rights, works=[1], forbidden=[{"work_id": 1, "start": 0, "end": 3, "label": "opening"}])
    result = rights.compliance.check(two_work_clip.path, "alice", "douyin", report=clip_report)
    svg = timeline_svg(result, rights.db)
    root = ET.fromstring(svg)  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    classes = [r.get("class") for r in root.iter(f"{ns}rect") if r.get("class")]
    # each segment appears twice (on the clip and on its work): Sintel unlicensed, BBB licensed
    assert sorted(classes) == ["segment licensed"] * 2 + ["segment unlicensed"] * 2
    hatched = [
        r
        for r in root.iter(f"{ns}rect")
        if r.get("fill") == "url(#hatch)" and r.find(f"{ns}title") is not None
    ]
    assert len(hatched) == 1 and "opening" in hatched[0].find(f"{ns}title").text


def test_evidence_sheet_pairs_clip_and_source_frames(rights, two_work_clip, clip_report, tmp_path):
    grant(rights, works=[1])  # Sintel (work 2) is unlicensed
    result = rights.compliance.check(two_work_clip.path, "alice", "douyin", report=clip_report)
    html = evidence_html(result, rights.db, issuer=rights.settings.issuer)
    assert html.count("<section>") == 1 and "sintel_trailer" in html and "no licence covers" in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 6  # three moments, clip and source side by side
    assert result.sha256 in html
    # the work's source file moved away: the sheet still renders and says so
    with rights.db.session() as s:
        from hutong.store import Work

        s.get(Work, 2).source_path = str(tmp_path / "gone.mp4")
    html = evidence_html(result, rights.db, issuer="x")
    assert html.count("source file not available") == 3


def test_evidence_sheet_heading_matches_the_verdict(rights, two_work_clip, clip_report):
    grant(rights, works=[1])
    bad = rights.compliance.check(two_work_clip.path, "alice", "douyin", report=clip_report)
    assert "<h1>Unlicensed use of registered works in" in evidence_html(bad, rights.db, issuer="x")
    grant(rights, works=[2])
    good = rights.compliance.check(two_work_clip.path, "alice", "douyin", report=clip_report)
    html = evidence_html(good, rights.db, issuer="x")
    assert good.decision.compliant and "Unlicensed" not in html
    assert "<h1>Licensed use of registered works in" in html


def test_certificate_platforms_after_a_revocation(rights, two_work_clip, clip_report):
    from hutong.compliance.certificate import verify_certificate
    from hutong.store import utcnow

    first = grant(rights, platforms=["douyin", "bilibili", "kuaishou"])
    rights.licences.revoke(first.code, reason="sold")
    grant(rights, platforms=["*"])
    result = rights.compliance.check(two_work_clip.path, "alice", "douyin", report=clip_report)
    assert result.decision.compliant
    # the revoked licence's platforms are not offered; '*' stands alone for any platform
    assert rights.compliance.allowed_platforms(result) == ["*"]
    cert = rights.compliance.certify(result)
    assert cert.claims["platforms"] == ["*"]
    v = verify_certificate(cert.token, rights.compliance.jwks(), now=utcnow(), clip=two_work_clip.path)
    assert v.code == "valid" and "may publish it on any platform under" in v.reason
