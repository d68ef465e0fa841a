"""Disputes and appeals with deadlines, run by the deadline job on the distribution queue (Huey) under a
controlled clock; every step on the claim's timeline; each holder's accuracy."""

import pytest

from hutong.claims import ANSWER_DAYS, APPEAL_DAYS, DISPUTE_DAYS, ClaimError, PolicyRules
from hutong.claims.deadlines import TASK
from tests.claims.conftest import HOLDER, seg, use


@pytest.fixture
def claimed(desk):
    desk.policies.set(HOLDER, PolicyRules.parse({"default": "monetise"}))
    (c,) = desk.claims.record(use("clip", seg(1, 0, 12)))
    return c["code"]


@pytest.fixture
def job(desk):
    """The deadline job on the same Huey as distribution, run in-process (immediate mode)."""
    j = desk.deadlines
    assert j.huey is desk.distribution.queue.huey
    # a worker starts the chain of runs once: a second start finds the run already waiting on the queue
    assert j.ensure_scheduled() and not j.ensure_scheduled()
    assert [t.name for t in j.huey.pending() + j.huey.scheduled()] == [TASK]
    j.huey.immediate = True
    return j


def test_unanswered_dispute_is_released_by_the_deadline_job(desk, claimed, clock, job):
    d = desk.disputes.open(claimed, "alice", "fair-use", "commentary on the scene")
    assert d["status"] == "disputed" and d["dispute"]["state"] == "open"
    clock.advance(days=ANSWER_DAYS - 1)
    job.enqueue()
    assert desk.claims.get(claimed)["status"] == "disputed"
    clock.advance(days=1, seconds=1)
    job.enqueue()
    got = desk.claims.get(claimed)
    assert got["status"] == "released" and got["dispute"]["state"] == "released"
    assert got["events"][-1] == {"at": clock.now.isoformat(), "actor": "hutong", "action": "released",
                                 "note": f"the holder did not answer the dispute within {ANSWER_DAYS} days"}  # fmt: skip


def test_reinstate_appeal_and_answers(desk, claimed, clock, job):
    desk.disputes.open(claimed, "alice", "licence")
    desk.disputes.answer(claimed, HOLDER, "reinstate", "no licence on file")
    assert desk.claims.get(claimed)["status"] == "reinstated"
    clock.advance(days=APPEAL_DAYS - 1)
    desk.disputes.appeal(claimed, "alice", "here is the licence L-3")
    clock.advance(days=APPEAL_DAYS + 1)
    job.enqueue()  # the holder did not answer the appeal in time
    got = desk.claims.get(claimed)
    assert got["status"] == "released"
    steps = [(e["actor"], e["action"]) for e in got["events"]]
    assert steps == [("hutong", "created"), ("creator:alice", "disputed"), (f"holder:{HOLDER}", "reinstated"),
                     ("creator:alice", "appealed"), ("hutong", "released")]  # fmt: skip


def test_reinstated_and_not_appealed_is_upheld(desk, claimed, clock, job):
    desk.disputes.open(claimed, "alice", "not-a-match")
    desk.disputes.answer(claimed, HOLDER, "reinstate")
    clock.advance(days=APPEAL_DAYS, seconds=1)
    job.enqueue()
    assert desk.claims.get(claimed)["status"] == "upheld"
    with pytest.raises(ClaimError, match="appeal window|nothing to appeal"):
        desk.disputes.appeal(claimed, "alice", "late")


def test_holder_upholds_an_appeal(desk, claimed):
    desk.disputes.open(claimed, "alice", "own-footage")
    desk.disputes.answer(claimed, HOLDER, "reinstate")
    desk.disputes.appeal(claimed, "alice", "I filmed it")
    with pytest.raises(ClaimError, match="uphold or release"):
        desk.disputes.answer(claimed, HOLDER, "reinstate")
    assert desk.disputes.answer(claimed, HOLDER, "uphold")["status"] == "upheld"


def test_dispute_bad_input(desk, claimed, clock):
    with pytest.raises(ClaimError, match="only @alice may dispute it") as e:
        desk.disputes.open(claimed, "bob", "fair-use")
    assert e.value.status == 403
    with pytest.raises(ClaimError, match="reason 'because'"):
        desk.disputes.open(claimed, "alice", "because")
    with pytest.raises(ClaimError, match="has no dispute or appeal waiting"):
        desk.disputes.answer(claimed, HOLDER, "release")
    with pytest.raises(ClaimError, match="nothing to appeal"):
        desk.disputes.appeal(claimed, "alice", "why")
    clock.advance(days=DISPUTE_DAYS, seconds=1)
    with pytest.raises(ClaimError, match=f"disputes are open for {DISPUTE_DAYS} days") as e:
        desk.disputes.open(claimed, "alice", "fair-use")
    assert e.value.status == 409
    assert desk.claims.get(claimed)["dispute"] is None


def test_dispute_twice_and_foreign_answer(desk, claimed):
    desk.disputes.open(claimed, "alice", "fair-use")
    with pytest.raises(ClaimError, match="already disputed on 2026-12-01"):
        desk.disputes.open(claimed, "alice", "fair-use")
    with pytest.raises(ClaimError, match="not 'Studio B''s"):
        desk.disputes.answer(claimed, "Studio B", "release")
    with pytest.raises(ClaimError, match="reinstate or release"):
        desk.disputes.answer(claimed, HOLDER, "uphold")


def test_holder_accuracy(desk):
    desk.policies.set(HOLDER, PolicyRules.parse({"default": "block"}))
    codes = [desk.claims.record(use(f"c{i}", seg(1, 0, 12)))[0]["code"] for i in range(4)]
    for code in codes[:3]:
        desk.disputes.open(code, "alice", "fair-use")
    desk.disputes.answer(codes[0], HOLDER, "release")
    desk.disputes.answer(codes[1], HOLDER, "release")
    desk.disputes.answer(codes[2], HOLDER, "reinstate")
    assert desk.claims.accuracy() == [
        {"holder": HOLDER, "claims": 4, "disputed": 3, "released": 2, "released_share": round(2 / 3, 4)}
    ]
