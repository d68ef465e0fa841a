"""Licences on a real catalogue: validation of every bad input, history, revocation, nothing half-written."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hutong.errors import CatalogueError, RightsError
from hutong.rights import LicenceTerms
from hutong.store import Licence, LicenceEvent

HOLDER = "Blender Foundation"


def terms(**over) -> LicenceTerms:
    base = {
        "works": [1],
        "scope": {"kind": "verified"},
        "platforms": ["douyin"],
        "valid_from": "2026-01-01",
        "valid_until": "2027-01-01",
    }
    return LicenceTerms.parse({**base, **over})


def counts(app) -> tuple[int, int]:
    with app.db.session() as s:
        return (
            s.execute(select(func.count(Licence.id))).scalar_one(),
            s.execute(select(func.count(LicenceEvent.id))).scalar_one(),
        )


@pytest.fixture
def rights(registered):
    registered.creators.add("alice", verified=True)
    registered.creators.add("mcn", kind="organisation")
    registered.creators.add("bob", organisation="mcn")
    return registered


def test_grant_amend_revoke_keeps_history(rights):
    lic = rights.licences.grant(HOLDER, terms(max_segment_seconds=15))
    assert (lic.code, lic.version, lic.ref) == ("L-1", 1, "L-1@v1")
    assert lic.terms.valid_from == datetime(2026, 1, 1, tzinfo=UTC)  # dates without offset are UTC
    amended = rights.licences.amend("l-1", terms(max_segment_seconds=30), reason="more generous")
    assert amended.version == 2 and amended.terms.max_segment_seconds == 30
    revoked, n = rights.licences.revoke("L-1", reason="catalogue sold")
    assert revoked.status == "revoked" and n == 0
    history = rights.licences.history("L-1")
    assert [(e.version, e.action) for e in history] == [(1, "created"), (2, "amended"), (2, "revoked")]
    assert history[0].terms["max_segment_seconds"] == 15 and history[1].reason == "more generous"
    with pytest.raises(RightsError, match="already revoked"):
        rights.licences.revoke("L-1", reason="again")
    with pytest.raises(RightsError, match="was revoked"):
        rights.licences.amend("L-1", terms())


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"valid_from": "2027-02-01", "valid_until": "2027-01-01"}, "wrong order"),
        ({"works": []}, "works"),
        ({"works": [1, 1]}, "listed twice"),
        ({"platforms": []}, "platforms"),
        ({"platforms": ["*", "douyin"]}, "cannot be combined"),
        ({"scope": {"kind": "creators"}}, "at least one creator"),
        ({"scope": {"kind": "anyone"}}, "scope.kind"),
        ({"scope": {"kind": "verified", "organisation": "mcn"}}, "takes no organisation"),
        ({"max_share": 1.5}, "max_share"),
        ({"max_segment_seconds": -3}, "max_segment_seconds"),
        ({"max_segment_seconds": 40, "max_total_seconds": 20}, "contradict"),
        ({"forbidden": [{"work_id": 1, "start": 20, "end": 10}]}, "before it starts"),
        ({"forbidden": [{"work_id": 2, "start": 1, "end": 10}]}, "does not cover"),
        ({"surprise": True}, "surprise"),
        ({"valid_until": "next tuesday"}, "valid_until"),
    ],
)
def test_bad_terms_are_refused_with_the_cause(over, needle):
    with pytest.raises(RightsError, match=needle):
        terms(**over)


@pytest.mark.parametrize(
    ("over", "holder", "needle"),
    [
        ({"works": [1, 99]}, HOLDER, "unknown work 99"),
        ({}, "Someone Else", "held by 'Blender Foundation'"),
        ({"forbidden": [{"work_id": 1, "start": 500, "end": 600}]}, HOLDER, "after the end"),
        (
            {"forbidden": [{"work_id": 1, "start": 0, "end": 20}, {"work_id": 1, "start": 19, "end": 31}]},
            HOLDER,
            "cover all",
        ),
        ({"scope": {"kind": "creators", "creators": ["nobody"]}}, HOLDER, "no creator @nobody"),
        ({"scope": {"kind": "organisation", "organisation": "alice"}}, HOLDER, "not an organisation"),
        ({}, "  ", "rights holder"),
    ],
)
def test_refused_grant_changes_nothing(rights, over, holder, needle):
    rights.licences.grant(HOLDER, terms(works=[2]))
    before = counts(rights)
    with pytest.raises(RightsError, match=needle):
        rights.licences.grant(holder, terms(**over))
    assert counts(rights) == before


def test_overlapping_licences_are_refused_unless_allowed(rights):
    rights.licences.grant(HOLDER, terms(works=[1, 2]))
    before = counts(rights)
    with pytest.raises(RightsError, match="overlaps licence L-1"):
        rights.licences.grant(HOLDER, terms(works=[2], scope={"kind": "creators", "creators": ["alice"]}))
    assert counts(rights) == before
    # disjoint platforms, or dates, or works do not overlap
    rights.licences.grant(HOLDER, terms(platforms=["bilibili"]))
    # (a licence "until 2027-01-01" covers that whole day, so the next one starts on the 2nd)
    rights.licences.grant(HOLDER, terms(valid_from="2027-01-02", valid_until="2028-01-01"))
    rights.licences.grant(HOLDER, terms(works=[3]))
    special = rights.licences.grant(
        HOLDER, terms(works=[2], scope={"kind": "creators", "creators": ["alice"]}), allow_overlap=True
    )
    assert special.code == "L-5"
    # an amendment that would create an overlap is refused too, and the licence stays as it was
    with pytest.raises(RightsError, match="overlaps"):
        rights.licences.amend("L-4", terms(works=[1]))
    assert rights.licences.get("L-4").version == 1


def test_terms_files(tmp_path: Path, rights):
    good = tmp_path / "l.toml"
    good.write_text(
        'works = [1]\nplatforms = ["douyin"]\nvalid_from = 2026-01-01T00:00:00+08:00\n'
        'valid_until = 2026-12-31T00:00:00+08:00\nmax_segment_seconds = 15\n[scope]\nkind = "verified"\n'
        '[[forbidden]]\nwork_id = 1\nstart = 20\nend = 25\nlabel = "ending"\n'
    )
    t = LicenceTerms.load(good)
    assert t.valid_from == datetime(2025, 12, 31, 16, tzinfo=UTC) and t.forbidden[0].label == "ending"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(RightsError, match="not valid JSON"):
        LicenceTerms.load(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(RightsError, match="must be an object"):
        LicenceTerms.load(bad)
    with pytest.raises(RightsError, match="cannot read"):
        LicenceTerms.load(tmp_path / "missing.json")


def test_licensed_work_cannot_be_removed(rights):
    rights.licences.grant(HOLDER, terms())
    with pytest.raises(CatalogueError, match="named by licence L-1"):
        rights.catalogue.remove(1)
    assert rights.catalogue.get(1).work_id == 1


def test_unknown_licence(rights):
    for call in (lambda: rights.licences.get("L-9"), lambda: rights.licences.revoke("L-9", reason="x")):
        with pytest.raises(RightsError, match="no licence L-9"):
            call()
    rights.licences.grant(HOLDER, terms())
    with pytest.raises(RightsError, match="say why"):
        rights.licences.revoke("L-1", reason=" ")


def test_the_documented_terms_example_parses():
    import re
    import tomllib

    doc = (Path(__file__).resolve().parents[2] / "docs" / "licences.md").read_text()
    block = re.search(r"```toml\n(.*?)```", doc, re.S).group(1)
    t = LicenceTerms.parse(tomllib.loads(block))
    assert t.works == [2, 3] and t.scope.kind == "verified" and [r.label for r in t.forbidden][0] == "finale"
    assert t.forbidden[1].until == datetime(2026, 12, 8, 23, 59, 59, 999999, tzinfo=UTC)  # through that day
