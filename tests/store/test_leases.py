"""Taking a job row for one worker (hutong.store.leases.take) on SQLite and on a real PostgreSQL server:
the first take wins, a second one — while the first is still in its transaction (PostgreSQL: passed over
with SKIP LOCKED, not waited for) or after it — gets nothing."""

from __future__ import annotations

import pytest

from hutong.store import Database, RegistrationJob, utcnow
from hutong.store.leases import take
from tests.store.test_postgres import pg_url  # noqa: F401  (the fixture: a temporary PostgreSQL cluster)

QUEUED = [RegistrationJob.state == "queued"]


def job(db: Database) -> int:
    now = utcnow()
    with db.session() as s:
        row = RegistrationJob(batch="b", path="/m/a.mp4", filename="a.mp4", upload=False, title="A", holder="H",
                              check_duplicates=True, size=1, state="queued", error="", attempts=0, claimed_by="",
                              created_at=now, updated_at=now)  # fmt: skip
        s.add(row)
        s.flush()
        return row.id


def claim(who: str) -> dict:
    return {"state": "fingerprinting", "claimed_by": who, "attempts": RegistrationJob.attempts + 1}


def test_a_job_is_taken_once_on_sqlite(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        job_id = job(db)
        with db.session() as s:
            assert take(s, RegistrationJob, job_id, QUEUED, claim("first"))
        with db.session() as s:
            assert not take(s, RegistrationJob, job_id, QUEUED, claim("second"))
            assert not take(s, RegistrationJob, job_id + 1, QUEUED, claim("second"))  # no such job
            row = s.get(RegistrationJob, job_id)
            assert (row.claimed_by, row.attempts) == ("first", 1)
    finally:
        db.dispose()


def test_a_second_worker_passes_over_a_job_being_taken_on_postgres(pg_url):  # noqa: F811
    db = Database(pg_url)
    try:
        job_id = job(db)
        with db.session() as first:
            assert take(first, RegistrationJob, job_id, QUEUED, claim("first"))
            with db.session() as second:  # the first has not committed: its row lock is held
                assert not take(second, RegistrationJob, job_id, QUEUED, claim("second"))
        with db.session() as s:
            assert not take(s, RegistrationJob, job_id, QUEUED, claim("third"))
            row = s.get(RegistrationJob, job_id)
            assert (row.state, row.claimed_by, row.attempts) == ("fingerprinting", "first", 1)
    finally:
        db.dispose()


@pytest.mark.parametrize("where", [[RegistrationJob.state == "done"], [RegistrationJob.holder == "other"]])
def test_a_job_that_does_not_meet_the_conditions_is_not_taken(tmp_path, where):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        job_id = job(db)
        with db.session() as s:
            assert not take(s, RegistrationJob, job_id, where, claim("first"))
            assert s.get(RegistrationJob, job_id).state == "queued"
    finally:
        db.dispose()
