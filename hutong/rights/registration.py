"""Registering works as queue jobs: one row per file in the database (the source of truth), its id on the
job queue, run by whichever worker claims it — `hutong worker` processes on any machine sharing the
database and the media store, or the consumer embedded in `hutong serve`. A folder given to
`hutong works add --queue` is one batch of per-file jobs; a console upload is a batch of one.

States: queued → fingerprinting → done (with the work) | failed (the catalogue's reason). A claim is one
conditional UPDATE (:func:`hutong.store.leases.take`), so two workers never register the same file; the
worker signs ``claimed_at`` while it fingerprints, and a row whose worker stopped signing (killed) is queued
again by the queue's housekeeping, like a publishing job whose lease ran out. A job run again after its
work was stored (the worker died between the two writes) finds that work and does not make a second."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import delete, func, or_, select, update

from hutong.errors import CatalogueError, HutongError
from hutong.media import sha256_file
from hutong.rights.catalogue import Catalogue, clean_title
from hutong.store import Database, RegistrationJob, Work, utcnow
from hutong.store.leases import take

TASK = "hutong.register"
STATES = ("queued", "fingerprinting", "done", "failed")
MAX_ATTEMPTS = (
    3  # a file whose worker dies this often (a decoder crash, out of memory) is failed, not retried
)
KEEP_FINISHED = timedelta(
    days=1
)  # finished jobs are kept this long (a page left open still reads its answer)
log = structlog.get_logger("hutong.rights")


class UnknownBatch(HutongError):
    """No registration batch or job with that id (or not one of these holders': the same answer)."""


@dataclass
class Registration:
    """One file's registration, as the console and `hutong works jobs` show it."""

    id: str
    batch: str
    holder: str
    title: str
    filename: str
    size: int
    started_at: datetime
    state: str = "queued"
    work_id: int | None = None
    error: str = ""
    finished_at: datetime | None = None
    duration: float = 0.0
    attempts: int = 0
    path: str = ""  # on the media store

    @classmethod
    def of(cls, j: RegistrationJob) -> Registration:
        return cls(str(j.id), j.batch, j.holder, j.title, j.filename, j.size, j.created_at, j.state, j.work_id,
                   j.error, j.finished_at, j.duration, j.attempts, j.path)  # fmt: skip

    @property
    def running(self) -> bool:
        return self.state in ("queued", "fingerprinting")

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["id"] = int(self.id)
        d["started_at"] = self.started_at.isoformat()
        d["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return d


@dataclass
class Batch:
    """A batch's progress: how many of its files are in each state, and the files."""

    id: str
    counts: dict[str, int]
    jobs: list[Registration] = field(default_factory=list)
    started_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return self.counts.get("done", 0) + self.counts.get("failed", 0)

    @property
    def running(self) -> bool:
        return self.finished < self.total

    def as_dict(self, *, jobs: bool = True) -> dict:
        d = {"batch": self.id, "total": self.total, "finished": self.finished,
             "counts": {s: self.counts.get(s, 0) for s in STATES},
             "started_at": self.started_at.isoformat() if self.started_at else None}  # fmt: skip
        if jobs:
            d["jobs"] = [j.as_dict() for j in self.jobs]
        return d


class RegistrationJobs:
    """Registration jobs in the database, their ids on the queue. ``connect`` builds the queue on first use
    (it calls :meth:`attach`); ``lease`` is how long a worker may go without signing before its job is
    taken over."""

    def __init__(
        self, db: Database, catalogue: Catalogue, *, lease: timedelta, connect: Callable[[], object]
    ) -> None:
        self.db, self.catalogue, self.lease, self._connect = db, catalogue, lease, connect
        self._send: Callable[[int], None] | None = None
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"

    def attach(self, send: Callable[[int], None]) -> None:
        """The queue's enqueue for this kind of job (the queue registers :meth:`run` as its task)."""
        self._send = send

    def _enqueue(self, job_id: int) -> None:
        if self._send is None:
            self._connect()  # builds the queue, which attaches us
        assert self._send is not None, "the queue did not attach the registration jobs"
        self._send(job_id)

    # -- submitting --------------------------------------------------------------------------------

    def submit(
        self,
        files: Iterable[Path],
        *,
        holder: str,
        title: str | None = None,
        check_duplicates: bool = True,
        upload: bool = False,
        filename: str | None = None,
    ) -> Batch:
        """One job per file, all in one new batch, each queued. ``title`` names one file's work (default:
        the file's name); ``upload`` marks files of ours (console uploads), removed when refused."""
        files = [Path(f).expanduser().resolve() for f in files]
        if not files:
            raise CatalogueError("no media files to register")
        if title is not None and len(files) != 1:
            raise CatalogueError("--title names one work: give exactly one file with it")
        for f in files:
            if not f.is_file():
                raise CatalogueError(f"{f}: no such file")
        names = [
            clean_title(title if title is not None else f.stem) for f in files
        ]  # refused before queueing
        batch = secrets.token_hex(6)
        now = utcnow()
        with self.db.session() as s:
            self._forget_old(s, now)
            rows = [RegistrationJob(batch=batch, path=str(f), filename=(filename or f.name)[:300], upload=upload,
                                    title=name, holder=holder, check_duplicates=check_duplicates,
                                    size=f.stat().st_size, state="queued", error="", attempts=0, claimed_by="",
                                    created_at=now, updated_at=now) for f, name in zip(files, names, strict=True)]  # fmt: skip
            s.add_all(rows)
            s.flush()
            ids = [r.id for r in rows]
        for job_id in ids:
            self._enqueue(job_id)
        return self.batch(batch)

    # -- reading -----------------------------------------------------------------------------------

    def batch(self, batch_id: str, holders: Iterable[str] | None = None) -> Batch:
        """A batch's progress; ``holders`` limits it to theirs. UnknownBatch when there is none."""
        stmt = select(RegistrationJob).where(RegistrationJob.batch == batch_id.strip()[:32])
        if holders is not None:
            stmt = stmt.where(RegistrationJob.holder.in_(list(holders)))
        with self.db.session() as s:
            rows = s.execute(stmt.order_by(RegistrationJob.id)).scalars().all()
            jobs = [Registration.of(r) for r in rows]
        if not jobs:
            raise UnknownBatch(
                f"no registration batch {batch_id.strip()[:32]!r} (`hutong works jobs` lists them; finished "
                f"batches are kept {KEEP_FINISHED.days} day)"
            )
        counts: dict[str, int] = {}
        for j in jobs:
            counts[j.state] = counts.get(j.state, 0) + 1
        return Batch(batch_id.strip(), counts, jobs, min(j.started_at for j in jobs))

    def batches(self, limit: int = 50) -> list[Batch]:
        """The latest batches, newest first, with their counts (not their files)."""
        with self.db.session() as s:
            rows = s.execute(
                select(RegistrationJob.batch, RegistrationJob.state, func.count(), func.min(RegistrationJob.created_at))
                .group_by(RegistrationJob.batch, RegistrationJob.state)
            ).all()  # fmt: skip
        found: dict[str, Batch] = {}
        for batch, state, n, started in rows:
            b = found.setdefault(batch, Batch(batch, {}, started_at=started))
            b.counts[state] = n
            b.started_at = min(b.started_at, started)
        return sorted(found.values(), key=lambda b: b.started_at, reverse=True)[:limit]

    def get(self, job_id: str, holders: Iterable[str]) -> Registration:
        """One job, if it is one of these holders' (another holder's is not found, the same answer)."""
        key = job_id.strip()
        if key.isdigit() and 0 < int(key) < 2**63:
            with self.db.session() as s:
                row = s.get(RegistrationJob, int(key))
                if row is not None and row.holder in set(holders):
                    return Registration.of(row)
        raise UnknownBatch("no registration with that id (finished registrations are kept a day)")

    # -- the worker's part -------------------------------------------------------------------------

    def _claim(self, job_id: int) -> RegistrationJob | None:
        now = utcnow()
        with self.db.session() as s:
            if not take(s, RegistrationJob, job_id, [RegistrationJob.state == "queued"],
                        {"state": "fingerprinting", "claimed_by": self.worker_name[:200], "claimed_at": now,
                         "attempts": RegistrationJob.attempts + 1, "updated_at": now}):  # fmt: skip
                return None
            row = s.get(RegistrationJob, job_id)
            s.expunge(row)
            return row

    def run(self, job_id: int) -> str | None:
        """Register the job's file (the queue's task); its final state, or None when another worker has it
        or it is no longer queued (a repeated queue message changes nothing)."""
        job = self._claim(job_id)
        if job is None:
            return None
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job_id, stop), name="hutong-register-beat",
                                daemon=True)  # fmt: skip
        beat.start()
        try:
            work_id, duration, error = self._register(job)
        finally:
            stop.set()
            beat.join()
        state = "failed" if error else "done"
        with self.db.session() as s:
            s.execute(update(RegistrationJob).where(RegistrationJob.id == job_id,
                                                    RegistrationJob.claimed_by == job.claimed_by)
                      .values(state=state, work_id=work_id, duration=duration, error=error[:5000],
                              finished_at=utcnow(), updated_at=utcnow(), claimed_at=None))  # fmt: skip
        log.info("registration.done", job=job_id, state=state, work=work_id)
        return state

    def _register(self, job: RegistrationJob) -> tuple[int | None, float, str]:
        """(work id, media seconds, "") or (None, 0, why not)."""
        path = Path(job.path)
        try:
            if job.attempts > 1 and (own := self._stored_before(job)) is not None:
                return own.id, own.duration, ""  # an earlier run stored it, then its worker died
            work = self.catalogue.add_one(path, title=job.title, holder=job.holder,
                                          check_duplicates=job.check_duplicates)  # fmt: skip
            return work.work_id, work.duration, ""
        except HutongError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 — a decoder crash must still end the job (and the page's wait)
            log.exception("registration.crashed", job=job.id)
            error = f"{path}: could not be registered ({exc.__class__.__name__})"
        if job.upload:
            path.unlink(missing_ok=True)  # the catalogue refused our upload: keep nothing of it
            error = error.replace(str(path), f"“{job.filename}”")
        return None, 0.0, error

    def _stored_before(self, job: RegistrationJob) -> Work | None:
        """The live work an earlier run of this job stored: the same file (path and content), same holder."""
        try:
            digest = sha256_file(Path(job.path))
        except OSError:
            return None
        with self.db.session() as s:
            w = s.execute(select(Work).where(Work.removed_at.is_(None), Work.sha256 == digest,
                                             Work.source_path == job.path, Work.holder == job.holder,
                                             Work.created_at >= job.created_at)).scalars().first()  # fmt: skip
            if w is not None:
                s.expunge(w)
            return w

    def _heartbeat(self, job_id: int, stop: threading.Event) -> None:
        """Sign the job every third of the lease while it runs, so housekeeping leaves it alone."""
        while not stop.wait(self.lease.total_seconds() / 3):
            try:
                with self.db.session() as s:
                    s.execute(update(RegistrationJob).where(RegistrationJob.id == job_id,
                                                            RegistrationJob.state == "fingerprinting")
                              .values(claimed_at=utcnow()))  # fmt: skip
            except Exception:  # noqa: BLE001 — a busy database: the next beat tries again
                log.exception("registration.heartbeat_failed", job=job_id)

    def recover(self, *, all_in_flight: bool = False, stale_only: bool = False) -> list[int]:
        """Queue again what a worker should be doing (the same contract as the publishing jobs' recover):
        jobs whose worker stopped signing (killed mid-job; every one being fingerprinted when
        ``all_in_flight``: no other worker can be running), and queued jobs — all of them, or with
        ``stale_only`` only those waiting a whole lease (their queue message lost with a worker). A job
        whose worker died :data:`MAX_ATTEMPTS` times is failed instead."""
        now = utcnow()
        stale = now - self.lease
        dead = RegistrationJob.state == "fingerprinting"
        if not all_in_flight:
            dead = dead & or_(RegistrationJob.claimed_at.is_(None), RegistrationJob.claimed_at < stale)
        waiting = RegistrationJob.state == "queued"
        if stale_only:
            waiting = waiting & (RegistrationJob.updated_at < stale)
        with self.db.session() as s:
            self._forget_old(s, now)
            rows = s.execute(select(RegistrationJob).where(or_(dead, waiting))).scalars().all()
            again = []
            for j in rows:
                if j.state == "fingerprinting" and j.attempts >= MAX_ATTEMPTS:
                    j.state, j.finished_at, j.claimed_at = "failed", now, None
                    j.error = f"“{j.filename}”: its worker stopped {j.attempts} times while fingerprinting it"
                    if j.upload:
                        Path(j.path).unlink(missing_ok=True)
                else:
                    j.state, j.claimed_at, j.claimed_by = "queued", None, ""
                    again.append(j.id)
                j.updated_at = now
        for job_id in again:
            self._enqueue(job_id)
        if again:
            log.info("registration.recovered", jobs=again)
        return again

    @staticmethod
    def _forget_old(s, now: datetime) -> None:
        s.execute(delete(RegistrationJob).where(RegistrationJob.finished_at < now - KEEP_FINISHED))
