"""The console's checks (hutong.compliance.checks) on a real clip: recorded, recognised, decided again for
another platform without a second recognition, what to change, ownership, and a clip that cannot be read."""

import shutil
from datetime import timedelta

import pytest

from hutong.compliance.checks import CheckError, UnknownCheck
from hutong.store import ClipCheck, utcnow
from hutong.store.paging import ListQuery
from tests.compliance.conftest import grant


@pytest.fixture
def stored(two_work_clip, tmp_path):
    path = tmp_path / "stored_clip"  # named by hash where the console keeps it: no suffix
    shutil.copy(two_work_clip.path, path)
    return path


def test_a_check_is_recorded_run_and_decided_again_with_what_to_change(rights, stored):
    grant(rights, max_segment_seconds=4)
    c = rights.checks.start(stored, name="remix.mp4", creator="alice", platform="Douyin", monetised=False,
                            account_id=1)  # fmt: skip
    assert (c.state, c.platform, c.compliant) == ("checking", "douyin", None)
    rights.checks.run(c.id)
    c = rights.checks.get(c.id, ["alice"])
    assert c.state == "done" and c.compliant is False and {s["rule"] for s in c.segments} == {"max-segment"}
    fixes = rights.checks.fixes(c)
    assert [(f.action, f.keep) for f in fixes] == [("trim", 4), ("trim", 4)]
    assert [(f.start, f.end) for f in fixes] == [(s["query_start"], s["query_end"]) for s in c.segments]
    assert "remix.mp4" in rights.checks.timeline(c.id, ["alice"])  # the picture names the uploaded file

    other = rights.checks.again(c.id, ["alice"], "kuaishou", account_id=1)  # no licence covers kuaishou
    assert (
        other.id != c.id and other.report == c.report and {s["rule"] for s in other.segments} == {"platform"}
    )
    assert {f.action for f in rights.checks.fixes(other)} == {"licence"}
    with pytest.raises(CheckError, match=r"^remix.mp4: not compliant"):
        rights.checks.certify(other.id, ["alice"])
    png = rights.checks.frame(c.id, ["alice"], 0, "work")
    assert png[:4] == b"\x89PNG"
    page = rights.checks.page(["alice"], ListQuery(filters={"platform": "kuaishou"}))
    assert [x.id for x in page.items] == [other.id]


def test_another_creators_check_is_no_check(rights, stored):
    c = rights.checks.start(stored, name="remix.mp4", creator="alice", platform="douyin", monetised=False,
                            account_id=1)  # fmt: skip
    for call in (lambda: rights.checks.get(c.id, ["bob"]), lambda: rights.checks.timeline(c.id, ["bob"]),
                 lambda: rights.checks.frame(c.id, ["bob"], 0, "clip"),
                 lambda: rights.checks.certify(c.id, ["bob"])):  # fmt: skip
        with pytest.raises(UnknownCheck):
            call()
    assert rights.checks.page(["bob"], ListQuery()).total == 0


def test_bad_clips_are_refused_or_fail_with_the_reason(rights, stored, tmp_path):
    text = tmp_path / "notes"
    text.write_text("not a film")
    with pytest.raises(CheckError, match="notes.mp4 is not a video"):
        rights.checks.start(text, name="notes.mp4", creator="alice", platform="douyin", monetised=False,
                            account_id=1)  # fmt: skip
    with pytest.raises(CheckError, match="choose the platform"):
        rights.checks.start(
            stored, name="a.mp4", creator="alice", platform=" ", monetised=False, account_id=1
        )
    assert rights.checks.page(["alice"], ListQuery()).total == 0
    c = rights.checks.start(stored, name="gone.mp4", creator="alice", platform="douyin", monetised=False,
                            account_id=1)  # fmt: skip
    stored.unlink()  # the file went away before recognition ran
    rights.checks.run(c.id)
    c = rights.checks.get(c.id, ["alice"])
    assert c.state == "failed" and "gone.mp4" in c.reason and str(stored) not in c.reason


def test_a_check_cut_off_by_a_stopped_server_says_so(rights, stored):
    c = rights.checks.start(stored, name="remix.mp4", creator="alice", platform="douyin", monetised=False,
                            account_id=1)  # fmt: skip
    assert rights.checks.get(c.id, ["alice"]).state == "checking"
    with rights.db.session() as s:  # as if its server stopped an hour ago, mid-recognition
        s.get(ClipCheck, c.id).updated_at = utcnow() - timedelta(hours=1)
    c = rights.checks.get(c.id, ["alice"])
    assert c.state == "failed" and "upload the clip again" in c.reason


def test_a_check_left_by_a_dead_worker_is_taken_over_once_and_given_up_after_three(rights, stored):
    """Checks run on the job queue: a worker that died mid-recognition stops signing its check, and
    housekeeping queues it again; a repeated queue message changes nothing; a clip that kills its worker
    every time is failed with the reason instead of going round for ever."""
    grant(rights)
    c = rights.checks.start(stored, name="remix.mp4", creator="alice", platform="douyin", monetised=False,
                            account_id=1)  # fmt: skip
    with rights.db.session() as s:  # taken by a worker that was killed a while ago
        row = s.get(ClipCheck, c.id)
        row.claimed_at, row.claimed_by, row.attempts = utcnow() - timedelta(hours=1), "gone:1", 1
    rights.checks.run(c.id)  # another worker's message while the dead one still holds it: nothing
    assert rights.checks.get(c.id, ["alice"]).state == "checking"
    assert rights.checks.recover(stale_only=True) == [c.id]
    rights.checks.run(c.id)
    done = rights.checks.get(c.id, ["alice"])
    assert done.state == "done" and done.compliant is True
    with rights.db.session() as s:
        assert s.get(ClipCheck, c.id).attempts == 2
    rights.checks.run(c.id)  # once done, a late message changes nothing
    assert rights.checks.get(c.id, ["alice"]).report == done.report

    again = rights.checks.start(stored, name="killer.mp4", creator="alice", platform="douyin", monetised=False,
                                account_id=1)  # fmt: skip
    with rights.db.session() as s:
        row = s.get(ClipCheck, again.id)
        row.claimed_at, row.attempts = utcnow() - timedelta(hours=1), 3
    assert rights.checks.recover(stale_only=True) == []
    failed = rights.checks.get(again.id, ["alice"])
    assert failed.state == "failed" and "stopped 3 times" in failed.reason
