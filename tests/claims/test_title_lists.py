"""Title lists (片单), use forms, per-clip length cap, source tag and allowlist: the licence terms that name
them, each rule violated alone, and a title list's change re-deciding the licences granted over it."""

from datetime import UTC, datetime

import pytest

from hutong.compliance.policy import LICENSED, UNLICENSED, MatchedSegment, decide
from hutong.errors import RightsError
from hutong.rights import CreatorRecord, LicenceRecord, LicenceTerms

AT = datetime(2026, 6, 1, tzinfo=UTC)
ALICE = CreatorRecord("alice", "Alice", "individual", None, True)
HOLDER = "Blender Foundation"


def record(**over) -> LicenceRecord:
    t = {"works": [7], "scope": {"kind": "verified"}, "platforms": ["douyin"], "valid_from": "2026-01-01",
         "valid_until": "2027-01-01", **over}  # fmt: skip
    return LicenceRecord(
        "L-7", "H", "active", 1, LicenceTerms.parse(t), AT, AT, None, "", {7: "Nezha"}, {7: 600.0}
    )


SEG = MatchedSegment(7, "Nezha", 12.0, 31.0, 100.0, 119.0)


@pytest.mark.parametrize(
    ("terms", "kw", "rule", "needle"),
    [
        (
            {"use_forms": ["commentary"]},
            {"use_form": "mashup"},
            "use-form",
            "allows commentary only; the clip is a mashup",
        ),
        ({"use_forms": ["commentary", "talk"]}, {}, "use-form", "of no declared form"),
        (
            {"max_clip_seconds": 300},
            {"clip_seconds": 420.0},
            "max-clip",
            "the clip is 420 s long, over the 300 s",
        ),
        ({"source_tag": True}, {}, "source-tag", "requires a source tag naming 《Nezha》"),
        ({"source_tag": True}, {"source_tag": "#film"}, "source-tag", "the tag '#film' does not"),
        (
            {"allowlist": ["bob"], "title_list": "summer"},
            {},
            "allowlist",
            "not on the allowlist of title list 'summer'",
        ),
    ],
)
def test_each_new_rule_refuses_alone(terms, kw, rule, needle):
    d = decide([SEG], [record(**terms)], ALICE, "douyin", at=AT, **kw)
    s = d.segments[0]
    assert (s.verdict, s.rule) == (UNLICENSED, rule)
    assert needle in s.reason


@pytest.mark.parametrize(
    "kw",
    [
        {"use_form": "commentary", "clip_seconds": 299.0, "source_tag": "source: 《Nezha》 ep 1"},
        {"use_form": "commentary", "clip_seconds": 60.0, "source_tag": "work:7"},
    ],
)
def test_all_new_rules_hold(kw):
    lic = record(use_forms=["commentary"], max_clip_seconds=300, source_tag=True, allowlist=["alice"])
    d = decide([SEG], [lic], ALICE, "douyin", at=AT, **kw)
    assert d.segments[0].verdict == LICENSED and d.compliant


def test_terms_need_works_or_a_title_list_and_known_forms():
    base = {
        "scope": {"kind": "verified"},
        "platforms": ["*"],
        "valid_from": "2026-01-01",
        "valid_until": "2027-01-01",
    }
    with pytest.raises(RightsError, match="name the works licensed"):
        LicenceTerms.parse(base)
    with pytest.raises(RightsError, match="use_forms"):
        LicenceTerms.parse({**base, "works": [1], "use_forms": ["parody"]})


def test_licence_over_a_title_list_takes_its_works_and_allowlist(registered):
    registered.creators.add("alice", name="Alice", verified=True)
    registered.creators.add("bob", name="Bob", verified=True)
    lists = registered.title_lists
    lists.set(HOLDER, "2026 summer", [1, 2], ["alice"])
    terms = LicenceTerms.parse({"title_list": "2026 summer", "scope": {"kind": "verified"}, "platforms": ["*"],
                                "valid_from": "2026-01-01", "valid_until": "2030-01-01",
                                "use_forms": ["commentary"], "max_clip_seconds": 300})  # fmt: skip
    lic = registered.licences.grant(HOLDER, terms)
    assert lic.terms.works == [1, 2] and lic.terms.allowlist == ["alice"]
    assert {r.code for r in registered.licences.covering({2})} == {lic.code}

    # the list changes: the licence is amended (a new version, with the reason in its history)
    lists.set(HOLDER, "2026 summer", [1, 2, 3], ["alice", "bob"])
    after = registered.licences.get(lic.code)
    assert (after.version, after.terms.works, after.terms.allowlist) == (2, [1, 2, 3], ["alice", "bob"])
    assert "title list '2026 summer' changed" in registered.licences.history(lic.code)[-1].reason


def test_title_list_bad_input(registered):
    lists = registered.title_lists
    with pytest.raises(RightsError, match="unknown work 99"):
        lists.set(HOLDER, "x", [1, 99], [])
    with pytest.raises(RightsError, match="held by 'Blender Foundation', not 'Other'"):
        lists.set("Other", "x", [1], [])
    with pytest.raises(RightsError, match="no creator @ghost"):
        lists.set(HOLDER, "x", [1], ["ghost"])
    with pytest.raises(RightsError, match="names no work"):
        lists.set(HOLDER, "x", [], [])
    terms = LicenceTerms.parse({"title_list": "nope", "scope": {"kind": "verified"}, "platforms": ["*"],
                                "valid_from": "2026-01-01", "valid_until": "2030-01-01"})  # fmt: skip
    with pytest.raises(RightsError, match="has no title list 'nope'"):
        registered.licences.grant(HOLDER, terms)
    assert registered.licences.list() == [] and lists.list() == []
