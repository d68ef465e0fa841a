"""The holder's console services on a real catalogue: licence terms from form fields (the CLI's model and
errors), uploads that leave nothing partial, background registration, thumbnails, ownership."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest

from hutong.errors import CatalogueError, RightsError
from hutong.rights.holdings import LicenceForm, NotYours, parse_range
from hutong.store import RegistrationJob

HOLDER = "Blender Foundation"


def form(**over) -> LicenceForm:
    return LicenceForm(
        **{"works": ["1"], "platforms": "douyin, bilibili", "valid_until": "2027-01-01", **over}
    )


def test_form_fields_make_the_same_terms_as_the_cli():
    t = form(scope="creators", creators="@Alice，bob", max_segment="10", forbid="1 0:10-0:20 intro",
             embargo="1 1:00-1:30 2026-12-31 finale", monetisation=True).terms()  # fmt: skip
    assert t.works == [1] and t.platforms == ["bilibili", "douyin"] and t.scope.creators == ["alice", "bob"]
    assert t.max_segment_seconds == 10 and t.monetisation
    assert [(r.start, r.end, r.label, r.until is not None) for r in t.forbidden] == [
        (10, 20, "intro", False), (60, 90, "finale", True)]  # fmt: skip
    assert parse_range("3 2:40-3:10 finale", embargo=False) == {
        "work_id": 3, "start": 160.0, "end": 190.0, "label": "finale", "until": None}  # fmt: skip


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"works": []}, "choose at least one work"),
        ({"works": ["x"]}, "choose works from your catalogue"),
        ({"platforms": " "}, "name at least one platform"),
        ({"valid_until": ""}, "say until when"),
        ({"valid_from": "2028-01-01"}, "the dates are in the wrong order"),
        ({"max_total": "ten"}, "max_total_seconds: 'ten' is not a number"),
        ({"max_share": "1.5"}, "max_share"),
        ({"scope": "creators"}, "scope 'creators' needs at least one creator handle"),
        ({"forbid": "1 10"}, "write the range as 'WORK START-END [LABEL]'"),
        ({"embargo": "1 0-10 finale"}, "licence terms are not valid"),
    ],
)
def test_bad_form_fields_get_the_clis_readable_errors(over, message):
    with pytest.raises(RightsError, match=None) as e:
        form(**over).terms()
    assert message in str(e.value)


def test_an_upload_over_the_limit_or_empty_leaves_nothing(registered, tmp_path):
    regs = registered.registrations
    regs.max_bytes = 10
    w = regs.writer("a.mp4")
    w.write(b"12345")
    with pytest.raises(CatalogueError, match="over 10 bytes"):
        w.write(b"123456")
    empty = regs.writer("b.mp4")
    with pytest.raises(CatalogueError, match="empty"):
        empty.finish()
    assert list(regs.folder.iterdir()) == []


def wait(regs, job, holders):
    for _ in range(400):
        if not regs.get(job.id, holders).running:
            return regs.get(job.id, holders)
        time.sleep(0.05)
    raise AssertionError("registration never finished")


def test_registration_runs_on_the_queue_and_a_refusal_removes_the_upload(registered):
    regs = registered.registrations
    from tests.conftest import WORK_FILES

    w = regs.writer("same.mp4")
    w.write(WORK_FILES[0].read_bytes())
    job = regs.start(w.finish(), title="", holder=HOLDER, filename="same.mp4")
    assert job.state == "queued"  # nothing runs it until a consumer of the queue does
    with registered.distribution.worker(1):
        done = wait(regs, job, [HOLDER])
        assert (
            done.state == "failed"
            and "already registered as work" in done.error
            and "“same.mp4”" in done.error
        )
        assert list(regs.folder.iterdir()) == []
        with pytest.raises(NotYours):
            regs.get(job.id, ["Someone Else"])
        with registered.db.session() as s:  # a day after it finished, a new registration forgets it
            s.get(RegistrationJob, int(job.id)).finished_at -= timedelta(days=2)
        w = regs.writer("again.mp4")
        w.write(WORK_FILES[0].read_bytes())
        wait(regs, regs.start(w.finish(), title="Again", holder=HOLDER, filename="again.mp4"), [HOLDER])
    with pytest.raises(NotYours):
        regs.get(job.id, [HOLDER])
    for bad in ("x", "0", "-1", str(2**70), ""):
        with pytest.raises(NotYours):
            regs.get(bad, [HOLDER])
    w = regs.writer("x.mp4")
    w.write(b"1")
    with pytest.raises(CatalogueError, match="empty"):
        regs.start(w.finish(), title="《》", holder=HOLDER, filename="《》.mp4")
    assert list(regs.folder.iterdir()) == []


def test_thumbnails_are_decoded_once_and_another_holders_work_is_not_found(registered):
    holdings = registered.holdings
    work = holdings.work([HOLDER], 1)
    first = holdings.thumbnail(work, 0)
    assert first.read_bytes()[:4] == b"\x89PNG"
    mtime = first.stat().st_mtime_ns
    assert holdings.thumbnail(work, 0).stat().st_mtime_ns == mtime
    with pytest.raises(NotYours):
        holdings.thumbnail(work, 6)
    with pytest.raises(NotYours, match="no work with id 1 in your catalogue"):
        holdings.work(["Another Studio"], 1)
    with pytest.raises(NotYours):
        holdings.work([HOLDER], 2**70)


def test_the_sweep_removes_only_uploads_nothing_writes_to_any_more(registered, tmp_path):
    """Several API processes share the folder: a process that starts must not delete another's upload."""

    from hutong.rights.holdings import Registrations

    regs = Registrations(registered.registration_jobs, tmp_path / "works", max_bytes=1024)
    regs.folder.mkdir()
    live, dead = regs.folder / ".upload-live.mp4", regs.folder / ".upload-dead.mp4"
    live.write_bytes(b"being received")
    dead.write_bytes(b"left by a killed process")
    old = time.time() - 3600
    os.utime(dead, (old, old))
    whole = regs.folder / "kept.mp4"
    whole.write_bytes(b"a whole upload")
    os.utime(whole, (old, old))
    assert regs.sweep() == 1
    assert live.exists() and not dead.exists() and whole.exists()
    assert regs.sweep(idle_seconds=0) == 1 and not live.exists()
