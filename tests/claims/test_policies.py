"""Match policies: conditions, the most specific policy deciding, versions with history, contradictions."""

import pytest

from hutong.claims import ClaimError, PolicyRules
from tests.claims.conftest import HOLDER, seg, use


def rules(*rs, default="track", **kw) -> PolicyRules:
    return PolicyRules.parse({"rules": list(rs), "default": default, **kw})


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        (
            {"rules": [{"action": "block", "when": {"min_seconds": 30, "max_seconds": 10}}]},
            "min_seconds (30) is more than max_seconds (10): the conditions contradict each other",
        ),
        (
            {"rules": [{"action": "block", "when": {"min_clip_share": 0.8, "max_clip_share": 0.2}}]},
            "min_clip_share (0.8) is more than max_clip_share (0.2)",
        ),
        (
            {
                "rules": [
                    {"action": "block", "when": {"platforms": ["douyin"]}},
                    {"action": "monetise", "when": {"platforms": ["douyin"]}},
                ]
            },
            "rules 1 and 2 have the same conditions (on douyin) but different actions (block, monetise)",
        ),
        (
            {"rules": [{"action": "block"}, {"action": "monetise", "when": {"min_seconds": 5}}]},
            "rule 1 applies always, so rule 2 (monetise) could never apply",
        ),
        ({"rules": [{"action": "block", "when": {"territories": ["XX"]}}]}, "unknown territory XX"),
        ({"rules": [{"action": "delete"}]}, "rules.0.action"),
        ({"default": "monetise", "min_match_seconds": -1}, "min_match_seconds"),
    ],
)
def test_contradictory_or_malformed_policies_are_refused(doc, needle):
    with pytest.raises(ClaimError, match="the policy is not valid") as e:
        PolicyRules.parse(doc)
    assert needle in str(e.value)


def test_first_rule_whose_conditions_hold_decides():
    p = rules(
        {"action": "block", "when": {"min_work_share": 0.5}},
        {"action": "monetise", "when": {"min_seconds": 10, "territories": ["CN"]}},
        {"action": "review", "when": {"platforms": ["bilibili"]}},
        default="track",
    )
    assert p.decide(40, 0.5, 0.6, "douyin", "CN")[0] == "block"
    assert p.decide(12, 0.2, 0.1, "douyin", "CN") == (
        "monetise",
        "rule 2: monetise when matched ≥ 10 s and in CN",
    )
    assert p.decide(12, 0.2, 0.1, "bilibili", "US")[0] == "review"
    assert p.decide(12, 0.2, 0.1, "douyin", "US") == ("track", "default: track")


def test_most_specific_policy_decides_and_versions_keep_history(desk):
    desk.title_lists.set(HOLDER, "classics", [2], [])
    everything = desk.policies.set(HOLDER, rules(default="monetise"))
    listed = desk.policies.set(HOLDER, rules(default="review"), title_list="classics")
    one = desk.policies.set(HOLDER, rules(default="block"), work=1)
    made = desk.claims.record(use("c", seg(1, 0, 12), seg(2, 20, 32)))
    assert {c["segments"][0]["work_id"]: (c["action"], c["policy"]) for c in made} == {
        1: ("block", one.ref), 2: ("review", listed.ref)}  # fmt: skip
    assert everything.ref == "MP-1@v1"

    again = desk.policies.set(HOLDER, rules(default="track"), work=1, reason="too strict")
    assert (again.code, again.version) == (one.code, 2)
    history = desk.policies.history(one.code)
    assert [(e["version"], e["action"], e["reason"]) for e in history] == [
        (1, "created", ""), (2, "amended", "too strict")]  # fmt: skip
    assert history[0]["rules"]["default"] == "block"


def test_policy_bad_input(desk):
    with pytest.raises(ClaimError, match="held by 'Studio B', not 'Blender Foundation'"):
        desk.policies.set(HOLDER, rules(), work=3)
    with pytest.raises(ClaimError, match="no work 99"):
        desk.policies.set(HOLDER, rules(), work=99)
    with pytest.raises(ClaimError, match="has no title list 'nope'"):
        desk.policies.set(HOLDER, rules(), title_list="nope")
    with pytest.raises(ClaimError, match="not both"):
        desk.policies.set(HOLDER, rules(), work=1, title_list="x")
    with pytest.raises(ClaimError, match="no policy MP-9"):
        desk.policies.get("MP-9")
    assert desk.policies.list() == []
