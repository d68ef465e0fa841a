"""Each licence rule, violated alone, flips a licensed segment with the rule and a readable reason."""

from datetime import UTC, datetime

import pytest

from hutong.compliance.policy import FORBIDDEN, LICENSED, UNLICENSED, MatchedSegment, decide
from hutong.rights import CreatorRecord, LicenceRecord, LicenceTerms

AT = datetime(2026, 6, 1, tzinfo=UTC)
ALICE = CreatorRecord("alice", "Alice", "individual", "mcn", True)
WORK = 7


def licence(code="L-7", status="active", **over) -> LicenceRecord:
    t = {
        "works": [WORK],
        "scope": {"kind": "verified"},
        "platforms": ["douyin"],
        "valid_from": "2026-01-01",
        "valid_until": "2027-01-01",
        **over,
    }
    revoked = datetime(2026, 5, 1, tzinfo=UTC) if status == "revoked" else None
    return LicenceRecord(
        code, "Holder", status, 1, LicenceTerms.parse(t), AT, AT, revoked, "sold" if revoked else "",
        {WORK: "Nezha"}, {WORK: 600.0},
    )  # fmt: skip


def seg(q0=12.0, q1=31.0, r0=100.0, r1=119.0, work=WORK) -> MatchedSegment:
    return MatchedSegment(work, "Nezha", q0, q1, r0, r1)


def one(segments, licences, creator=ALICE, platform="douyin", **kw):
    return decide(segments, licences, creator, platform, at=kw.pop("at", AT), **kw)


def test_licensed_when_every_rule_holds():
    d = one(
        [seg()], [licence(max_segment_seconds=30, max_total_seconds=60, max_share=0.5, attribution="© N")]
    )
    s = d.segments[0]
    assert (s.verdict, s.rule, s.licence) == (LICENSED, "licensed", "L-7@v1") and d.compliant
    assert d.attribution == {"L-7@v1": "© N"} and d.licences == ["L-7@v1"]


@pytest.mark.parametrize(
    ("lic", "kw", "verdict", "rule", "needle"),
    [
        (licence(max_segment_seconds=15), {}, UNLICENSED, "max-segment",
         "segment 0:12–0:31 of the clip (《Nezha》 1:40–1:59) uses 19.0 s of the work, over the 15 s per-segment limit of licence L-7"),
        (licence(status="revoked"), {}, UNLICENSED, "licence-revoked", "revoked on 2026-05-01 (sold)"),
        (licence(valid_from="2026-07-01"), {}, UNLICENSED, "licence-not-yet-valid", "valid only from 2026-07-01"),
        (licence(valid_until="2026-05-01"), {}, UNLICENSED, "licence-expired", "expired on 2026-05-01"),
        (licence(scope={"kind": "creators", "creators": ["bob"]}), {}, UNLICENSED, "creator-scope", "granted to @bob, not @alice"),
        (licence(scope={"kind": "organisation", "organisation": "other"}), {}, UNLICENSED, "creator-scope", "members of @other"),
        (licence(), {"creator": CreatorRecord("carl", "C", "individual", None, False)}, UNLICENSED, "creator-scope", "not verified"),
        (licence(), {"platform": "Kuaishou"}, UNLICENSED, "platform", "covers douyin, not kuaishou"),
        (licence(), {"monetised": True}, UNLICENSED, "monetisation", "does not allow monetised"),
        (licence(forbidden=[{"work_id": WORK, "start": 110, "end": 200, "label": "finale"}]), {}, FORBIDDEN,
         "forbidden-range", "uses 《Nezha》 1:50–3:20 (finale), which licence L-7 forbids"),
        (licence(forbidden=[{"work_id": WORK, "start": 110, "end": 200, "until": "2026-12-01"}]), {}, FORBIDDEN,
         "embargo", "embargoes until 2026-12-01"),
        (licence(max_total_seconds=10), {}, UNLICENSED, "max-total", "uses 19.0 s of 《Nezha》 in 1 segment, over the 10 s"),
        (licence(max_share=0.02), {}, UNLICENSED, "max-share", "shows 3% of 《Nezha》, over the 2%"),
    ],
)  # fmt: skip
def test_each_rule_flips_the_verdict(lic, kw, verdict, rule, needle):
    d = one([seg()], [lic], **kw)
    s = d.segments[0]
    assert (s.verdict, s.rule) == (verdict, rule) and needle in s.reason
    assert not d.compliant and "not compliant" in d.summary()


def test_tolerance_is_in_the_creators_favour():
    # 15.8 s of work against a 15 s limit is within recognition's boundary error; 16.5 s is not
    assert one([seg(r0=100, r1=115.8)], [licence(max_segment_seconds=15)]).compliant
    assert not one([seg(r0=100, r1=116.5)], [licence(max_segment_seconds=15)]).compliant
    # a forbidden range touched by under a second is not "used"
    touch = licence(forbidden=[{"work_id": WORK, "start": 118.5, "end": 140}])
    assert one([seg()], [touch]).compliant


def test_embargo_lifts_and_totals_count_every_segment():
    lic = licence(forbidden=[{"work_id": WORK, "start": 110, "end": 200, "until": "2026-12-01"}])
    assert one([seg()], [lic], at=datetime(2026, 12, 2, tzinfo=UTC)).compliant
    two = [seg(0, 10, 0, 10), seg(20, 30, 300, 310)]
    d = one(two, [licence(max_total_seconds=15)])
    assert [s.rule for s in d.segments] == ["max-total", "max-total"] and "in 2 segments" in d.segments[
        0
    ].reason
    # the same 10 s shown twice is 20 s of screen time but 10 s of the work's share
    again = [seg(0, 10, 0, 10), seg(20, 30, 0, 10)]
    assert one(again, [licence(max_share=11 / 600)]).compliant


def test_no_licence_and_most_useful_reason_and_fallback_licence():
    other = seg(work=8)
    d = one([other], [licence()])
    assert (d.segments[0].verdict, d.segments[0].rule) == (UNLICENSED, "no-licence")
    # two licences refuse: the reason shown is the one that got furthest (segment limit beats platform)
    d = one([seg()], [licence("L-1", platforms=["bilibili"]), licence("L-2", max_segment_seconds=10)])
    assert d.segments[0].rule == "max-segment" and d.segments[0].licence == "L-2"
    # when one licence refuses and a later one allows, the segment is licensed by the later one
    d = one([seg()], [licence("L-1", max_segment_seconds=10), licence("L-2", platforms=["*"])])
    assert d.compliant and d.segments[0].licence == "L-2@v1"


def test_organisation_members_and_clip_without_works():
    lic = licence(scope={"kind": "organisation", "organisation": "mcn"})
    assert one([seg()], [lic]).compliant  # alice belongs to @mcn
    d = one([], [lic])
    assert d.compliant and "nothing to license" in d.summary()


def test_overlapping_segments_of_one_work_count_once():
    # one use reported twice by recognition (issue 9): clip 0–11 → work 24.9–37.1 and clip 0.5–18.25 →
    # work 25.6–45.1. The sum of the two is 31.7 s; the work time shown is 24.9–45.1, 20.2 s.
    twice = [seg(0, 11, 24.9, 37.1), seg(0.5, 18.25, 25.6, 45.1)]
    d = one(twice, [licence(max_total_seconds=25)])
    assert d.compliant, [s.reason for s in d.segments]
    d = one(twice, [licence(max_total_seconds=15)])
    assert [s.rule for s in d.segments] == ["max-total", "max-total"]
    assert "uses 20.2 s of 《Nezha》" in d.segments[0].reason
    # the share limit counts the same union: 20.2 s of 600 s is 3.4 %
    assert one(twice, [licence(max_share=0.04)]).compliant
    assert not one(twice, [licence(max_share=0.03)]).compliant


def test_a_date_as_an_end_means_the_whole_day():
    lic = licence(valid_from="2026-06-01", valid_until="2026-12-31")
    assert lic.terms.valid_until == datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert lic.terms.valid_from == datetime(2026, 6, 1, tzinfo=UTC)  # a date as a start: its first moment
    assert one([seg()], [lic], at=datetime(2026, 12, 31, 18, tzinfo=UTC)).compliant
    assert one([seg()], [lic], at=datetime(2026, 6, 1, tzinfo=UTC)).compliant
    late = one([seg()], [lic], at=datetime(2027, 1, 1, tzinfo=UTC)).segments[0]
    assert late.rule == "licence-expired" and "expired on 2026-12-31 23:59 UTC" in late.reason
    # a time, or a date with a time, means exactly that moment
    timed = licence(valid_until="2026-12-31T00:00:00+00:00")
    assert not one([seg()], [timed], at=datetime(2026, 12, 31, 18, tzinfo=UTC)).compliant
    # a one-day licence is valid (from and until the same date)
    assert licence(valid_from="2026-06-01", valid_until="2026-06-01").terms.valid_until.day == 1
    # an embargo "until" a date lasts through that day
    emb = licence(forbidden=[{"work_id": WORK, "start": 110, "end": 200, "until": "2026-12-01"}])
    assert not one([seg()], [emb], at=datetime(2026, 12, 1, 20, tzinfo=UTC)).compliant
    assert one([seg()], [emb], at=datetime(2026, 12, 2, tzinfo=UTC)).compliant
