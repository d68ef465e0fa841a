"""The catalogue of registered works: add (fingerprint + store), list, show, remove."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from hutong.errors import CatalogueError, HutongError
from hutong.fingerprint import SignalType, extract
from hutong.media import MediaInfo, probe, sha256_file
from hutong.store import CatalogueState, Database, Licence, LicenceWork, Work, WorkFingerprint, utcnow
from hutong.store.paging import ListQuery, Page, contains, page_of

if TYPE_CHECKING:
    from hutong.match import Recognizer

MEDIA_SUFFIXES = {
    ".mp4",
    ".mkv",
    ".webm",
    ".mov",
    ".avi",
    ".ts",
    ".m4v",
    ".flv",
    ".mpg",
    ".mpeg",
    ".m4a",
    ".mp3",
    ".wav",
    ".ogg",
    ".opus",
    ".aac",
    ".flac",
}
MAX_ID = 2**63 - 1  # database integers: a larger id names nothing (and must not reach the driver)
LIVE = Work.removed_at.is_(None)
DUPLICATE_COVERAGE = 0.8  # a new file whose picture is this much one existing work is the same media again


@dataclass(frozen=True)
class WorkRecord:
    work_id: int
    title: str
    holder: str
    source_path: str
    sha256: str
    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool
    created_at: str
    signals: dict[str, int]

    @classmethod
    def of(cls, w: Work) -> WorkRecord:
        return cls(
            w.id, w.title, w.holder, w.source_path, w.sha256, round(w.duration, 3), w.width, w.height,
            round(w.fps, 3), w.has_audio, w.created_at.isoformat(), {f.signal: f.count for f in w.fingerprints},
        )  # fmt: skip

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class WorkSummary:
    """A work as a list shows it (no fingerprint counts: a page of them is one query)."""

    work_id: int
    title: str
    holder: str
    duration: float
    created_at: datetime


@dataclass(frozen=True)
class AddFailure:
    path: str
    reason: str


def clean_title(title: str) -> str:
    """A title as stored: without surrounding book-title marks (displays write 《title》 themselves)."""
    bare = " ".join(title.split())
    while len(bare) > 2 and bare.startswith("《") and bare.endswith("》"):
        bare = bare[1:-1].strip()
    if not bare or bare == "《》":
        raise CatalogueError(f"title {title!r} is empty")
    if len(bare) > 500:
        raise CatalogueError(f"title is {len(bare)} characters long; at most 500")
    return bare


def scan_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """(files to add, files skipped): files as given; folders walked (sorted) for media by suffix, and
    what a folder holds that is not media is returned as skipped, so a command can say so."""
    files: list[Path] = []
    skipped: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(f for f in p.rglob("*") if f.is_file()):
                (files if f.suffix.lower() in MEDIA_SUFFIXES else skipped).append(f)
        else:
            files.append(p)
    return files, skipped


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders walked (sorted) for media by suffix."""
    return scan_paths(paths)[0]


class Catalogue:
    def __init__(
        self,
        db: Database,
        signals: list[SignalType],
        *,
        max_bytes: int,
        max_seconds: float,
        recognizer: Recognizer | None = None,
    ) -> None:
        self.db = db
        self.signals = signals
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.recognizer = recognizer  # used to spot the same media re-encoded

    def add(
        self,
        paths: Iterable[str | Path],
        *,
        title: str | None = None,
        holder: str = "",
        check_duplicates: bool = True,
        progress: Callable[[Path], None] | None = None,
    ) -> tuple[list[WorkRecord], list[AddFailure]]:
        files = expand_paths(paths)
        if title is not None and len(files) != 1:
            raise CatalogueError("--title names one work: give exactly one file with it")
        added: list[WorkRecord] = []
        failed: list[AddFailure] = []
        for f in files:
            try:
                added.append(self.add_one(f, title=title, holder=holder, check_duplicates=check_duplicates))
            except HutongError as exc:
                failed.append(AddFailure(str(f), str(exc)))
            if progress:
                progress(f)
        return added, failed

    def add_one(
        self, path: Path, *, title: str | None, holder: str, check_duplicates: bool = True
    ) -> WorkRecord:
        name = clean_title(title if title is not None else path.stem)
        info = probe(path, max_bytes=self.max_bytes, max_seconds=self.max_seconds)
        digest = sha256_file(path)
        with self.db.session() as s:
            same = s.execute(select(Work).where(LIVE, Work.sha256 == digest)).scalar_one_or_none()
            if same is not None:
                raise CatalogueError(f"{path}: already registered as work {same.id} ({same.title})")
        frames: dict[float, list] = {}  # one decode serves the duplicate check and the fingerprints
        if check_duplicates and self.recognizer is not None:
            self._refuse_near_duplicate(path, info, frames)
        fingerprints = extract(self.signals, str(path), info, query=False, frames=frames)
        with self.db.session() as s:
            work = Work(
                title=name,
                holder=holder,
                source_path=str(path.resolve()),
                sha256=digest,
                duration=info.duration,
                width=info.width,
                height=info.height,
                fps=info.fps,
                has_audio=info.has_audio,
            )
            for name, fp in fingerprints.items():
                times, vectors = fp.pack()
                work.fingerprints.append(
                    WorkFingerprint(signal=name, count=len(fp), times=times, vectors=vectors)
                )
            s.add(work)
            self._bump(s)
            s.flush()
            return WorkRecord.of(work)

    def _refuse_near_duplicate(self, path: Path, info: MediaInfo, frames: dict[float, list]) -> None:
        report = self.recognizer.match(path, info, frames)
        covered: dict[int, float] = {}
        for seg in report.segments:
            covered[seg.work_id] = covered.get(seg.work_id, 0.0) + seg.query_end - seg.query_start
        for work_id, secs in covered.items():
            if secs >= DUPLICATE_COVERAGE * info.duration:
                title = next(s.work_title for s in report.segments if s.work_id == work_id)
                raise CatalogueError(
                    f"{path}: same media as work {work_id} ({title}), {secs:.0f} s of {info.duration:.0f} s match"
                )

    def list(self) -> list[WorkRecord]:
        with self.db.session() as s:
            return [WorkRecord.of(w) for w in s.execute(select(Work).where(LIVE).order_by(Work.id)).scalars()]

    def page(self, holders: Iterable[str], query: ListQuery) -> Page[WorkSummary]:
        """One page of the live works of ``holders`` (the console's catalogue), filtered by title."""
        stmt = select(Work.id, Work.title, Work.holder, Work.duration, Work.created_at).where(
            LIVE, Work.holder.in_(list(holders))
        )
        if query.text:
            stmt = stmt.where(contains(Work.title, query.text))
        columns = {"id": Work.id, "title": Work.title, "duration": Work.duration, "added": Work.created_at}
        with self.db.session() as s:
            return page_of(
                s, stmt, query, columns=columns, default="id", row=lambda r: WorkSummary(*r), tiebreak=Work.id
            )

    def get(self, work_id: int) -> WorkRecord:
        with self.db.session() as s:
            return WorkRecord.of(self._live(s, work_id))

    def remove(self, work_id: int) -> WorkRecord:
        """Remove a work from recognition. The row stays (marked removed, fingerprints dropped) so the
        licences that named it keep their history and its id is never given to another work."""
        with self.db.session() as s:
            w = self._live(s, work_id)
            active = (
                s.execute(
                    select(Licence.code)
                    .join(LicenceWork)
                    .where(LicenceWork.work_id == work_id, Licence.status != "revoked")
                    .order_by(Licence.id)
                )
                .scalars()
                .all()
            )
            if active:
                raise CatalogueError(
                    f"work {work_id} 《{w.title}》 is named by licence {', '.join(active)}: licences and the "
                    "certificates built on them keep their works (revoke or amend the licence instead)"
                )
            record = WorkRecord.of(w)
            w.fingerprints.clear()
            w.removed_at = utcnow()
            self._bump(s)
            return record

    @staticmethod
    def _live(s, work_id: int) -> Work:
        w = s.get(Work, work_id) if 0 < work_id <= MAX_ID else None
        if w is None or w.removed_at is not None:
            raise CatalogueError(f"no work with id {work_id}")
        return w

    def count(self) -> int:
        with self.db.session() as s:
            return s.execute(select(func.count(Work.id)).where(LIVE)).scalar_one()

    @staticmethod
    def _bump(s) -> None:
        state = s.get(CatalogueState, 1)
        if state is None:
            s.add(CatalogueState(id=1, generation=1))
        else:
            state.generation += 1
