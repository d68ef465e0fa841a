"""References: ownership conflicts between two holders (no claims on either range until resolved, then the
loser's range is excluded) and the quarantine of a reference that suddenly claims a large share of clips."""

import pytest

from hutong.claims import ClaimError, PolicyRules
from hutong.claims.claims import QUARANTINE_MIN_CLIPS
from tests.claims.conftest import HOLDER, seg, use


@pytest.fixture
def both_monetise(desk):
    for holder in (HOLDER, "Studio B"):
        desk.policies.set(holder, PolicyRules.parse({"default": "monetise"}))
    return desk


def active(desk, name, *findings):
    return [c for c in desk.claims.record(use(name, *findings)) if c["status"] != "tracked"]


def test_ownership_conflict_blocks_claims_until_resolved(both_monetise):
    desk = both_monetise
    (before,) = active(desk, "old", seg(3, 0, 8, 6))  # Studio B claims work 3 at 6–14 s
    c = desk.claims.conflict(1, (0.0, 10.0), 3, (5.0, 15.0))
    assert (c["holder_a"], c["holder_b"], c["status"]) == (HOLDER, "Studio B", "open")
    assert desk.claims.conflicts(HOLDER) == desk.claims.conflicts("Studio B") == [c]  # both sides see it
    assert desk.claims.conflict(3, (5.0, 15.0), 1, (0.0, 10.0))["id"] == c["id"]  # the same pair once
    assert active(desk, "a", seg(1, 0, 8, 1)) == []  # inside work 1's side: no claim
    assert active(desk, "b", seg(3, 0, 8, 6)) == []  # inside work 3's side: no claim
    assert len(active(desk, "c", seg(1, 0, 8, 20))) == 1  # outside the conflict: claimed

    with pytest.raises(ClaimError, match="between 'Blender Foundation' and 'Studio B', not 'Studio C'"):
        desk.claims.resolve(c["id"], "Studio C")
    done = desk.claims.resolve(c["id"], HOLDER, "the Foundation made the film")
    assert done["status"] == "resolved" and done["owner"] == HOLDER and done["released"] == [before["code"]]
    assert len(active(desk, "a", seg(1, 0, 8, 1))) == 1  # the owner claims again
    assert active(desk, "b", seg(3, 0, 8, 6)) == []  # the other's range is now excluded
    assert desk.claims.exclusions("Studio B")[0]["reason"].startswith(
        f"ownership conflict {c['id']} resolved"
    )
    with pytest.raises(ClaimError, match="was resolved"):
        desk.claims.resolve(c["id"], HOLDER)
    with pytest.raises(ClaimError, match="no ownership conflict 99"):
        desk.claims.resolve(99, HOLDER)
    assert desk.claims.conflict(1, (0.0, 5.0), 2, (0.0, 5.0)) == {}  # one holder's own works: no conflict


def test_a_reference_flooding_claims_is_quarantined(both_monetise, clock):
    desk = both_monetise
    for i in range(QUARANTINE_MIN_CLIPS):
        assert len(active(desk, f"flood{i}", seg(2, 0, 5))) == 1
    assert (
        desk.claims.quarantined()[0]["work_id"] == 2
        and desk.claims.quarantined()[0]["clips"] == QUARANTINE_MIN_CLIPS
    )
    (c,) = desk.claims.record(use("next", seg(2, 0, 5)))
    assert c["status"] == "tracked" and c["rule"].startswith("reference quarantined since")
    with pytest.raises(ClaimError, match="held by 'Blender Foundation', not 'Studio B'"):
        desk.claims.lift(2, "Studio B")
    assert desk.claims.lift(2, HOLDER) == 1
    with pytest.raises(ClaimError, match="not quarantined"):
        desk.claims.lift(2, HOLDER)
    clock.advance(days=2)  # a new day: the flood is outside the window
    assert len(active(desk, "later", seg(2, 0, 5))) == 1


def test_varied_clips_do_not_quarantine(both_monetise):
    desk = both_monetise
    for i in range(QUARANTINE_MIN_CLIPS * 4):
        desk.claims.record(use(f"v{i}", seg(1 + i % 3, 0, 5)))  # a third of clips each, under the share
    assert desk.claims.quarantined() == []
