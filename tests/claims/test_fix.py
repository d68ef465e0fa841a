"""Fix and re-check on real media: a check finds an unlicensed work, the holder's policy claims it and says
which seconds to cut; the creator's fixed clip is checked again, the claim is released and the fixed clip
is certified."""

import pytest

from hutong.claims import ClaimError, ClipUse, PolicyRules
from hutong.media.synth import Piece
from hutong.rights import LicenceTerms
from tests.claims.conftest import HOLDER
from tests.conftest import CARS, SINTEL


def test_claim_released_after_fix_and_recheck(desk, two_work_clip, clip_report, clip_factory):
    # Sintel (work 2) is licensed to alice; BBB (work 1) is not, and the holder blocks unlicensed use
    terms = {"works": [2], "scope": {"kind": "verified"}, "platforms": ["douyin"], "valid_from": "2026-01-01",
             "valid_until": "2030-01-01"}  # fmt: skip
    desk.licences.grant(HOLDER, LicenceTerms.parse(terms))
    desk.policies.set(HOLDER, PolicyRules.parse({"default": "block"}))
    result = desk.compliance.check(two_work_clip.path, "alice", "douyin", report=clip_report)
    assert not result.decision.compliant
    (c,) = [x for x in desk.claims.record(ClipUse.of_check(result)) if x["status"] != "tracked"]
    assert {s["work_id"] for s in c["segments"]} == {1} and c["action"] == "block"
    bbb = next(s for s in clip_report.segments if s.work_id == 1)
    (fix,) = c["fix"]
    assert fix["do"] == "trim" and fix["from"] == pytest.approx(bbb.query_start, abs=0.01)

    # the first "fix" still has BBB in it: the claim stays
    still = desk.claims.recheck(c["code"], "alice", ClipUse.of_check(result))
    assert (
        not still["fixed"]
        and still["status"] == "active"
        and still["events"][-1]["action"] == "recheck-failed"
    )
    with pytest.raises(ClaimError, match="not @bob's"):
        desk.claims.recheck(c["code"], "bob", ClipUse.of_check(result))

    fixed = clip_factory("claims_fixed", [Piece(SINTEL, 14.0, 8.0, ("mirror",), seed=11),
                                          Piece(CARS, 2.0, 3.0, from_work=False, seed=12)])  # fmt: skip
    again = desk.compliance.check(fixed.path, "alice", "douyin")
    assert again.decision.compliant
    done = desk.claims.recheck(c["code"], "alice", ClipUse.of_check(again))
    assert done["fixed"] and done["status"] == "released"
    assert again.sha256 in done["release_reason"]
    cert = desk.compliance.certify(again)
    assert cert.claims["sub"] == f"sha256:{again.sha256}"
    with pytest.raises(ClaimError, match="released: nothing to fix"):
        desk.claims.recheck(c["code"], "alice", ClipUse.of_check(again))
