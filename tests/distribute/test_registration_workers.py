"""Registration jobs on Redis: a real ``redis-server`` on loopback and separate ``hutong worker`` processes
sharing one database and media folder. A folder split into per-file jobs is registered by two workers with
every file registered once (a non-media file fails with the catalogue's reason, the others succeed); a
worker killed with SIGKILL mid-job leaves a row that housekeeping queues again, and it is registered once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hutong.app import Hutong
from hutong.config import installation_settings
from hutong.errors import CatalogueError
from hutong.rights.registration import UnknownBatch
from hutong.store import RegistrationJob, Work, utcnow
from tests.conftest import SAMPLES, interrupt
from tests.distribute.conftest import LOOPBACK_ENV
from tests.distribute.test_redis_queue import redis_url  # noqa: F401  (the fixture: a real redis-server)

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="Debian's redis-server is not installed (./run test installs it)",
)
pytest.importorskip("redis", reason="the redis client is in the test extra")

LEASE = "3"  # seconds without a heartbeat before a registration is taken over


def env_for(home: Path, url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
    return env | LOOPBACK_ENV | {"HUTONG_HOME": str(home), "HUTONG_REDIS_URL": url,
                                 "HUTONG_REGISTRATION_LEASE_SECONDS": LEASE}  # fmt: skip


def start_worker(home: Path, url: str, log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hutong", "worker", "--workers", "1"],
                                env=env_for(home, url), stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 60
    while "publishing worker:" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(10)
            raise RuntimeError(f"hutong worker did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    return proc


@pytest.fixture(scope="module")
def place(tmp_path_factory, redis_url):  # noqa: F811
    tmp = tmp_path_factory.mktemp("registration")
    home, folder = tmp / "home", tmp / "media"
    folder.mkdir()
    for name in ("bbb_30s.mp4", "cars_unregistered.mp4", "chaplin_unregistered.mp4"):
        shutil.copy(SAMPLES / name, folder / name)
    (folder / "notes.mp4").write_text("minutes of the meeting, not a film\n" * 40)
    h = Hutong.create(installation_settings(home=home, redis_url=redis_url,
                                            registration_lease_seconds=float(LEASE)))  # fmt: skip
    yield {"h": h, "home": home, "folder": folder, "url": redis_url, "tmp": tmp}
    h.close()


def works_with(h, sha_of: Path | None = None) -> int:
    """Live works (of that file's content)."""
    from hutong.media import sha256_file

    with h.db.session() as s:
        q = select(func.count(Work.id)).where(Work.removed_at.is_(None))
        if sha_of is not None:
            q = q.where(Work.sha256 == sha256_file(sha_of))
        return s.execute(q).scalar_one()


def wait_batch(h, batch: str, seconds: float = 180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        b = h.registration_jobs.batch(batch)
        if not b.running:
            return b
        time.sleep(0.2)
    raise AssertionError(f"batch {batch} did not finish: {h.registration_jobs.batch(batch).counts}")


def test_a_folder_is_registered_by_two_workers_each_file_once(place):
    h, tmp = place["h"], place["tmp"]
    logs = [tmp / "w1.log", tmp / "w2.log"]
    workers = [start_worker(place["home"], place["url"], log) for log in logs]
    try:
        # the CLI splits the folder into per-file jobs (queued by default: HUTONG_REDIS_URL is set) and follows
        # the batch until it has finished
        r = subprocess.run([sys.executable, "-m", "hutong", "works", "add", str(place["folder"]), "--holder",
                            "Studio", "--json"], env=env_for(place["home"], place["url"]), capture_output=True,
                           text=True, timeout=240)  # fmt: skip
        assert r.returncode == 1, r.stderr  # one file refused, the others added
        out = json.loads(r.stdout)
        assert sorted(w["title"] for w in out["works"]) == [
            "bbb_30s",
            "cars_unregistered",
            "chaplin_unregistered",
        ]
        assert [f["path"] for f in out["failed"]] == [str(place["folder"] / "notes.mp4")]
        assert "not a media file FFmpeg can read" in out["failed"][0]["reason"]
        batch = h.registration_jobs.batch(out["batch"])
        assert batch.counts == {"done": 3, "failed": 1}
        assert all(j.attempts == 1 for j in batch.jobs)  # each job run once
        with h.db.session() as s:
            by = set(
                s.execute(
                    select(RegistrationJob.claimed_by).where(RegistrationJob.batch == batch.id)
                ).scalars()
            )
        pids = {f":{w.pid}" for w in workers}
        assert {p for p in pids if any(b.endswith(p) for b in by)} == pids  # both workers took jobs
        for name in ("bbb_30s.mp4", "cars_unregistered.mp4", "chaplin_unregistered.mp4"):
            assert works_with(h, place["folder"] / name) == 1
        # the same folder again: the catalogue refuses every file, nothing registered twice
        again = h.registration_jobs.submit(sorted(place["folder"].glob("*.mp4")), holder="Studio")
        done = wait_batch(h, again.id)
        assert done.counts == {"failed": 4}
        assert sum("already registered as work" in j.error for j in done.jobs) == 3
        assert works_with(h) == 3
    finally:
        interrupt(*workers, within=20)


def test_a_worker_killed_mid_job_is_replaced_and_the_file_registered_once(place):
    h, tmp = place["h"], place["tmp"]
    film = place["folder"] / "tears.mp4"
    shutil.copy(SAMPLES / "tears_of_steel_battle.mp4", film)
    log = tmp / "killed.log"
    first = start_worker(place["home"], place["url"], log)
    try:
        batch = h.registration_jobs.submit([film], holder="Studio")
        job = batch.jobs[0]
        deadline = time.monotonic() + 60
        while h.registration_jobs.get(job.id, ["Studio"]).state != "fingerprinting":
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert h.registration_jobs.get(job.id, ["Studio"]).state == "fingerprinting"  # left behind
        second = start_worker(place["home"], place["url"], tmp / "second.log")
        try:
            done = wait_batch(h, batch.id)
        finally:
            interrupt(second, within=20)
        assert done.jobs[0].state == "done" and done.jobs[0].attempts == 2, done.jobs[0]
        assert works_with(h, film) == 1
    finally:
        interrupt(first, within=20)


def test_a_job_run_again_after_its_work_was_stored_makes_no_second_work(place):
    """The worker died between storing the work and marking the job done: the next run finds that work."""
    h = place["h"]
    film = place["folder"] / "chaplin again.mp4"
    shutil.copy(SAMPLES / "chaplin_unregistered.mp4", film)
    h.catalogue.remove(next(w.work_id for w in h.catalogue.list() if w.title == "chaplin_unregistered"))
    batch = h.registration_jobs.submit([film], holder="Studio")
    job_id = int(batch.jobs[0].id)
    # what the dead worker did: claimed it, stored the work, and died before marking the job done
    stored = h.catalogue.add_one(film, title="chaplin again", holder="Studio", check_duplicates=False)
    with h.db.session() as s:
        j = s.get(RegistrationJob, job_id)
        j.state, j.attempts, j.claimed_by = "fingerprinting", 1, "gone:1"
        j.claimed_at = utcnow() - timedelta(seconds=10)  # its heartbeat stopped longer than a lease ago
    assert job_id in h.registration_jobs.recover(stale_only=True)
    assert h.registration_jobs.get(str(job_id), ["Studio"]).state == "queued"
    assert h.registration_jobs.run(job_id) == "done"
    again = h.registration_jobs.get(str(job_id), ["Studio"])
    assert again.work_id == stored.work_id and again.attempts == 2
    assert works_with(h, film) == 1
    assert h.registration_jobs.run(job_id) is None  # a repeated queue message changes nothing


def test_bad_inputs_get_clear_errors_and_queue_nothing(place, tmp_path):
    h = place["h"]
    before = len(h.registration_jobs.batches())
    with pytest.raises(UnknownBatch, match="no registration batch 'nope'"):
        h.registration_jobs.batch("nope")
    with pytest.raises(CatalogueError, match="no such file"):
        h.registration_jobs.submit([tmp_path / "missing.mp4"], holder="Studio")
    with pytest.raises(CatalogueError, match="exactly one file"):
        h.registration_jobs.submit(list(place["folder"].glob("*.mp4"))[:2], holder="Studio", title="One")
    with pytest.raises(CatalogueError, match="empty"):
        h.registration_jobs.submit([place["folder"] / "notes.mp4"], holder="Studio", title="《》")
    with pytest.raises(CatalogueError, match="no media files"):
        h.registration_jobs.submit([], holder="Studio")
    assert len(h.registration_jobs.batches()) == before
    r = subprocess.run([sys.executable, "-m", "hutong", "works", "jobs", "nope"], capture_output=True, text=True,
                       env=env_for(place["home"], place["url"]), timeout=60)  # fmt: skip
    assert r.returncode == 2 and "no registration batch 'nope'" in r.stderr and "Traceback" not in r.stderr
