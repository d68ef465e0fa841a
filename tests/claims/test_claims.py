"""Claims from findings under the holder's policy, manual claims, the review queue and its expiry, release,
exclusions, "not a copy", the minimum match length and re-deciding after a policy change."""

import pytest

from hutong.claims import REVIEW_DAYS, ClaimError, PolicyRules
from tests.claims.conftest import HOLDER, seg, sha, use


def policy(desk, holder=HOLDER, **doc):
    return desk.policies.set(holder, PolicyRules.parse(doc))


def test_without_a_policy_a_use_is_only_tracked(desk):
    made = desk.claims.record(use("c", seg(1, 0, 12)))
    assert [(c["status"], c["action"]) for c in made] == [("tracked", "track")]
    assert desk.claims.list() == [] and len(desk.claims.list(include_tracked=True)) == 1


def test_claim_carries_segments_evidence_rule_and_fix(desk):
    p = policy(desk, rules=[{"action": "monetise", "when": {"min_seconds": 5}}])
    finding = seg(1, 3, 15, 10, reason="no licence covers it", score=0.9, signals=("audio.bands",))
    made = desk.claims.record(use("c", finding, seg(3, 20, 30)))  # work 3 belongs to Studio B: no policy
    assert sorted((x["holder"], x["status"]) for x in made) == [(HOLDER, "active"), ("Studio B", "tracked")]
    (c,) = [x for x in made if x["holder"] == HOLDER]
    assert (c["holder"], c["creator"], c["status"], c["action"], c["policy"]) == (
        HOLDER, "alice", "active", "monetise", p.ref)  # fmt: skip
    assert c["rule"] == "rule 1: monetise when matched ≥ 5 s"
    s = c["segments"][0]
    assert (s["query_start"], s["query_end"], s["ref_start"], s["ref_end"]) == (3, 15, 10, 22)
    assert c["evidence"]["reasons"] == ["no licence covers it"] and c["evidence"]["work"]["id"] == 1
    assert c["fix"] == [{"from": 3, "to": 15, "do": "mute", "text": "mute 0:03–0:15 of the clip"}]
    # the same clip checked again keeps its claim
    assert [x["code"] for x in desk.claims.record(use("c", finding))] == [c["code"]]
    assert len(desk.claims.list(include_tracked=True)) == 2


def test_review_queue_and_expiry(desk, clock):
    policy(desk, default="review")
    (a,) = desk.claims.record(use("a", seg(1, 0, 10)))
    (b,) = desk.claims.record(use("b", seg(1, 0, 10)))
    assert [c["code"] for c in desk.claims.queue(HOLDER)] == [a["code"], b["code"]]
    desk.claims.review(a["code"], HOLDER, "block", "our trailer")
    assert desk.claims.get(a["code"])["status"] == "active"
    clock.advance(days=REVIEW_DAYS - 1)
    assert desk.disputes.run_deadlines()["expired"] == 0
    clock.advance(days=1, seconds=1)
    assert desk.disputes.run_deadlines()["expired"] == 1
    got = desk.claims.get(b["code"])
    assert got["status"] == "released" and got["release_reason"] == f"not reviewed within {REVIEW_DAYS} days"
    assert [e["action"] for e in got["events"]] == ["created", "expired"]
    assert desk.claims.queue(HOLDER) == []


def test_not_a_copy_suppresses_the_same_match(desk):
    policy(desk, default="review")
    (c,) = desk.claims.record(use("a", seg(1, 0, 10)))
    desk.claims.review(c["code"], HOLDER, "not-a-copy")
    assert desk.claims.record(use("a", seg(1, 0, 10))) == []
    assert len(desk.claims.record(use("other", seg(1, 0, 10)))) == 1  # another clip is still claimed


def test_minimum_match_length(desk):
    policy(desk, default="monetise", min_match_seconds=8)
    assert desk.claims.record(use("short", seg(1, 0, 5))) == []
    assert len(desk.claims.record(use("long", seg(1, 0, 9)))) == 1


def test_manual_claim_needs_timestamps_and_ownership(desk):
    good = [{"query_start": 1, "query_end": 9, "ref_start": 2, "ref_end": 10}]
    c = desk.claims.manual(
        HOLDER, creator="@Bob", clip_sha256=sha("m"), work_id=1, segments=good, action="block"
    )
    assert (c["source"], c["creator"], c["status"], c["segments"][0]["rule"]) == (
        "manual",
        "bob",
        "active",
        "manual",
    )
    bad = [
        ([{"query_start": 1, "query_end": 9}], "timestamps are mandatory"),
        ([{"query_start": 9, "query_end": 1, "ref_start": 0, "ref_end": 1}], "end after it starts"),
        ([{"query_start": 1, "query_end": 2, "ref_start": 0, "ref_end": 999}], "past the end of"),
        ([], "names its segments"),
    ]
    for segments, needle in bad:
        with pytest.raises(ClaimError, match=needle):
            desk.claims.manual(
                HOLDER, creator="bob", clip_sha256=sha("m"), work_id=1, segments=segments, action="block"
            )
    with pytest.raises(ClaimError, match="held by 'Studio B'"):
        desk.claims.manual(
            HOLDER, creator="bob", clip_sha256=sha("m"), work_id=3, segments=good, action="block"
        )
    with pytest.raises(ClaimError, match="SHA-256"):
        desk.claims.manual(HOLDER, creator="bob", clip_sha256="abc", work_id=1, segments=good, action="block")
    with pytest.raises(ClaimError, match="monetise, block or review"):
        desk.claims.manual(
            HOLDER, creator="bob", clip_sha256=sha("m"), work_id=1, segments=good, action="track"
        )
    assert len(desk.claims.list()) == 1


def test_a_holder_cannot_release_another_holders_claim(desk):
    policy(desk, default="block")
    (c,) = desk.claims.record(use("a", seg(1, 0, 10)))
    with pytest.raises(ClaimError, match="is 'Blender Foundation''s, not 'Studio B''s") as e:
        desk.claims.release(c["code"], "Studio B", "mine now")
    assert e.value.status == 403
    with pytest.raises(ClaimError, match="say why"):
        desk.claims.release(c["code"], HOLDER, " ")
    assert desk.claims.get(c["code"])["status"] == "active"
    desk.claims.release(c["code"], HOLDER, "licensed after all")
    with pytest.raises(ClaimError, match="already released") as e:
        desk.claims.release(c["code"], HOLDER, "again")
    assert e.value.status == 409
    with pytest.raises(ClaimError, match="no claim C-99"):
        desk.claims.get("C-99")


def test_exclusions_release_existing_claims_and_prevent_new_ones(desk):
    policy(desk, default="block")
    (inside,) = desk.claims.record(use("a", seg(1, 0, 8, 2)))  # work 2–10 s
    (outside,) = desk.claims.record(use("b", seg(1, 0, 8, 20)))  # work 20–28 s
    done = desk.claims.exclude(HOLDER, 1, 0, 12, "the trailer is public")
    assert done["released"] == [inside["code"]]
    assert desk.claims.get(inside["code"])["status"] == "released"
    assert desk.claims.get(outside["code"])["status"] == "active"
    assert desk.claims.record(use("c", seg(1, 0, 8, 3))) == []
    with pytest.raises(ClaimError, match="past the end of"):
        desk.claims.exclude(HOLDER, 1, 10, 9999, "x")
    with pytest.raises(ClaimError, match="ends before it starts"):
        desk.claims.exclude(HOLDER, 1, 10, 5, "x")
    with pytest.raises(ClaimError, match="held by 'Studio B'"):
        desk.claims.exclude(HOLDER, 3, 0, 5, "x")
    assert len(desk.claims.exclusions(HOLDER)) == 1


def test_policy_change_redecides_stored_matches(desk):
    desk.claims.record(use("a", seg(1, 0, 4)))
    desk.claims.record(use("b", seg(1, 0, 20)))
    assert desk.claims.list() == []
    policy(desk, rules=[{"action": "monetise", "when": {"min_seconds": 10}}])
    assert desk.claims.redecide(HOLDER) == {"holder": HOLDER, "changed": 1, "unchanged": 1}
    (c,) = desk.claims.list()
    assert (c["action"], c["status"], c["policy"]) == ("monetise", "active", "MP-1@v1")
    assert desk.claims.get(c["code"])["events"][-1]["action"] == "redecided"
