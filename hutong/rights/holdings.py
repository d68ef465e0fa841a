"""What a rights holder's team works with in the console: its own works and licences (another holder's are
"not found", never shown), works added by upload and registered in the background, thumbnails along a work's
timeline, licence terms from a form, and what revoking a licence would bring down."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from hutong.errors import CatalogueError, HutongError, RightsError
from hutong.media import frame_png
from hutong.rights.catalogue import MAX_ID, MEDIA_SUFFIXES, Catalogue, WorkRecord, clean_title
from hutong.rights.licences import LicenceRecord, Licences
from hutong.rights.registration import Registration, RegistrationJobs, UnknownBatch
from hutong.rights.terms import LicenceTerms, parse_range
from hutong.store import (
    Certificate,
    CertificateLicence,
    Database,
    Licence,
    LicenceWork,
    Post,
    PublishJob,
    utcnow,
)
from hutong.store.paging import ListQuery, Page, contains, page_of

THUMBNAILS = 6  # frames shown along a work's timeline
THUMB_WIDTH = 240
LIVE_POST_STATES = ("published", "queued", "uploading", "processing")  # as distribute.jobs.take_down_revoked


class NotYours(RightsError):
    """Another holder's work or licence, or none at all: the console answers the same for both (404)."""


# -- upload and background registration ------------------------------------------------------------


class UploadWriter:
    """One upload on its way to disk: written as it arrives to a hidden file, never held in memory, removed
    again if anything goes wrong (too large, connection lost), so nothing partial is left behind."""

    def __init__(self, folder: Path, max_bytes: int, suffix: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        name = secrets.token_hex(12)
        self.tmp = folder / f".upload-{name}"
        self.path = folder / f"{name}{suffix}"
        self._f = self.tmp.open("wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            self.abort()
            raise CatalogueError(
                f"the file is over {self.max_bytes:,} bytes, the largest this installation takes"
            )
        self._f.write(data)

    def finish(self) -> Path:
        self._f.close()
        if self.size == 0:
            self.abort()
            raise CatalogueError("the file is empty: choose a video or audio file")
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        if not self._f.closed:
            self._f.close()
        self.tmp.unlink(missing_ok=True)


class Registrations:
    """Uploaded works registered as queue jobs (:mod:`hutong.rights.registration`): the upload lands on the
    shared media store, its registration is a row in the database run by whichever worker claims it, so the
    page that polls it works whichever API process answers (fingerprinting a film takes a while)."""

    def __init__(self, jobs: RegistrationJobs, folder: Path, *, max_bytes: int) -> None:
        self.jobs, self.folder, self.max_bytes = jobs, folder, max_bytes

    def writer(self, filename: str) -> UploadWriter:
        suffix = Path(filename).suffix.lower()
        return UploadWriter(self.folder, self.max_bytes, suffix if suffix in MEDIA_SUFFIXES else ".media")

    def start(self, path: Path, *, title: str, holder: str, filename: str) -> Registration:
        try:
            name = clean_title(title or Path(filename).stem)
            batch = self.jobs.submit([path], holder=holder, title=name, upload=True, filename=filename[:300])
        except HutongError:
            path.unlink(missing_ok=True)
            raise
        return batch.jobs[0]

    def get(self, job_id: str, holders: Iterable[str]) -> Registration:
        try:
            return self.jobs.get(job_id, holders)
        except UnknownBatch as exc:
            raise NotYours(str(exc)) from None

    def sweep(self, *, idle_seconds: float = 900) -> int:
        """Remove uploads a crash left half-written (hidden files) that nothing has written to for
        ``idle_seconds``: another API process sharing the folder may be receiving one right now. Returns
        how many."""
        if not self.folder.is_dir():
            return 0
        n, cutoff = 0, time.time() - idle_seconds
        for f in self.folder.glob(".upload-*"):
            try:
                if f.stat().st_mtime < cutoff:
                    f.unlink()
                    n += 1
            except FileNotFoundError:  # finished (renamed) or swept by another process meanwhile
                continue
        return n


# -- licence terms from a form ---------------------------------------------------------------------


def _number(value: str, name: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise RightsError(f"{name}: {value!r} is not a number") from None


def _list(value: str) -> list[str]:
    return [w for w in value.replace(",", " ").replace("，", " ").replace("、", " ").split() if w]


@dataclass
class LicenceForm:
    """What the grant and amend forms send, as text (shown again as typed when the terms are refused)."""

    works: list[str] = field(default_factory=list)
    scope: str = "verified"
    creators: str = ""
    organisation: str = ""
    platforms: str = "*"
    valid_from: str = ""
    valid_until: str = ""
    max_segment: str = ""
    max_total: str = ""
    max_share: str = ""
    forbid: str = ""
    embargo: str = ""
    attribution: str = ""
    monetisation: bool = False
    allow_overlap: bool = False
    reason: str = ""

    @classmethod
    def of(cls, lic: LicenceRecord) -> LicenceForm:
        t = lic.terms

        def rng(r) -> str:
            until = f" {r.until:%Y-%m-%d}" if r.until else ""
            return f"{r.work_id} {r.start:g}-{r.end:g}{until} {r.label}".strip()

        return cls(
            works=[str(w) for w in t.works], scope=t.scope.kind, creators=" ".join(f"@{c}" for c in t.scope.creators),
            organisation=t.scope.organisation or "", platforms=" ".join(t.platforms),
            valid_from=f"{t.valid_from:%Y-%m-%d}", valid_until=f"{t.valid_until:%Y-%m-%d}",
            max_segment=f"{t.max_segment_seconds:g}" if t.max_segment_seconds else "",
            max_total=f"{t.max_total_seconds:g}" if t.max_total_seconds else "",
            max_share=f"{t.max_share:g}" if t.max_share else "",
            forbid="\n".join(rng(r) for r in t.forbidden if not r.until),
            embargo="\n".join(rng(r) for r in t.forbidden if r.until),
            attribution=t.attribution, monetisation=t.monetisation,
        )  # fmt: skip

    def terms(self) -> LicenceTerms:
        """The terms, validated by the same model as the CLI's, with the same readable errors."""
        try:
            works = [int(w) for w in self.works]
        except ValueError:
            raise RightsError("works: choose works from your catalogue") from None
        if not works:
            raise RightsError("works: choose at least one work the licence covers")
        t: dict = {"works": works, "platforms": _list(self.platforms)}
        if self.scope == "creators":
            t["scope"] = {"kind": "creators", "creators": _list(self.creators)}
        elif self.scope == "organisation":
            t["scope"] = {"kind": "organisation", "organisation": self.organisation.strip()}
        else:
            t["scope"] = {"kind": "verified"}
        if not t["platforms"]:
            raise RightsError("platforms: name at least one platform, or '*' for any platform")
        if not self.valid_until.strip():
            raise RightsError("valid_until: say until when the licence is valid")
        t["valid_from"] = self.valid_from.strip() or utcnow().isoformat()
        t["valid_until"] = self.valid_until.strip()
        for key, value in (("max_segment_seconds", self.max_segment), ("max_total_seconds", self.max_total),
                           ("max_share", self.max_share)):  # fmt: skip
            n = _number(value, key)
            if n is not None:
                t[key] = n
        t["forbidden"] = [
            parse_range(line, embargo=False) for line in self.forbid.splitlines() if line.strip()
        ]
        t["forbidden"] += [
            parse_range(line, embargo=True) for line in self.embargo.splitlines() if line.strip()
        ]
        t["attribution"] = self.attribution.strip()
        t["monetisation"] = self.monetisation
        return LicenceTerms.parse(t)


# -- the holder's view -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Consequences:
    """What revoking a licence brings down, counted before the holder confirms."""

    certificates: int  # still-valid certificates that rest on it: revoked with it
    take_downs: int  # posts published through distribution under them: taken down by the worker
    platform_posts: int  # posts on this platform carrying them: they stay, and show a revoked certificate


class Holdings:
    """A holder's works and licences, checked against the holders the person may act for."""

    def __init__(self, db: Database, catalogue: Catalogue, licences: Licences, thumbs: Path) -> None:
        self.db, self.catalogue, self.licences, self.thumbs = db, catalogue, licences, thumbs

    # works

    def work(self, holders: Iterable[str], work_id: int) -> WorkRecord:
        try:
            w = self.catalogue.get(work_id)
        except CatalogueError:
            w = None
        if w is None or w.holder not in set(holders):
            raise NotYours(f"no work with id {work_id} in your catalogue")
        return w

    def works(self, holders: Iterable[str]) -> list[WorkRecord]:
        """Every live work of these holders (for the licence form's choice of works)."""
        held = set(holders)
        return [w for w in self.catalogue.list() if w.holder in held]

    @staticmethod
    def positions(w: WorkRecord) -> list[float]:
        """Where along the work the thumbnails are taken: the middle of each of :data:`THUMBNAILS` parts."""
        return [round(w.duration * (i + 0.5) / THUMBNAILS, 2) for i in range(THUMBNAILS)]

    def thumbnail(self, w: WorkRecord, n: int) -> Path:
        """A frame of the work as a small PNG, decoded once and kept on disk (named by the media's digest)."""
        if not 0 <= n < THUMBNAILS:
            raise NotYours(f"no thumbnail {n}")
        path = self.thumbs / f"{w.sha256[:24]}-{n}.png"
        if not path.exists():
            data = frame_png(w.source_path, self.positions(w)[n], width=THUMB_WIDTH)
            self.thumbs.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return path

    def licences_naming(self, holders: Iterable[str], work_id: int) -> list[LicenceRecord]:
        held = set(holders)
        return [lic for lic in self.licences.covering({work_id}) if lic.holder in held]

    # licences

    def licence(self, holders: Iterable[str], code: str) -> LicenceRecord:
        shown = code.strip().upper()[:32]
        try:
            lic = self.licences.get(code[:64])
        except RightsError:
            lic = None
        if lic is None or lic.holder not in set(holders):
            raise NotYours(f"no licence {shown} among your licences")
        return lic

    def licence_page(self, holders: Iterable[str], query: ListQuery) -> Page[LicenceRecord]:
        """One page of these holders' licences; filters: ``status`` (active, revoked), ``work`` (an id)."""
        stmt = select(Licence).where(Licence.holder.in_(list(holders)))
        if query.text:
            stmt = stmt.where(contains(Licence.code, query.text))
        status = query.filters.get("status", "")
        if status in ("active", "revoked"):
            stmt = stmt.where(Licence.status == status)
        work = query.filters.get("work", "")
        if work.isdigit() and 0 < int(work) <= MAX_ID:
            stmt = stmt.where(
                Licence.id.in_(select(LicenceWork.licence_id).where(LicenceWork.work_id == int(work)))
            )
        columns = {"code": Licence.id, "status": Licence.status, "version": Licence.version,
                   "updated": Licence.updated_at, "created": Licence.created_at}  # fmt: skip
        with self.db.session() as s:
            page = page_of(
                s, stmt, query, columns=columns, default="code", row=lambda x: x, tiebreak=Licence.id
            )
            works = self.licences._works(s, {w for lic in page.items for w in lic.terms["works"]})
            items = [LicenceRecord.of(lic, works) for lic in page.items]
        return Page(items, page.total, page.query, page.sort)

    def consequences(self, holders: Iterable[str], code: str) -> Consequences:
        lic = self.licence(holders, code)
        with self.db.session() as s:
            lid = s.execute(select(Licence.id).where(Licence.code == lic.code)).scalar_one()
            certs = (
                select(Certificate.id)
                .join(CertificateLicence, CertificateLicence.certificate_id == Certificate.id)
                .where(CertificateLicence.licence_id == lid, Certificate.status == "valid")
            )
            n_certs = s.execute(select(func.count()).select_from(certs.subquery())).scalar_one()
            take_downs = s.execute(
                select(func.count(PublishJob.id)).where(
                    PublishJob.certificate_id.in_(certs),
                    PublishJob.remote_post_id != "",
                    PublishJob.state.in_(LIVE_POST_STATES),
                )  # fmt: skip
            ).scalar_one()
            posts = s.execute(
                select(func.count(Post.id)).where(Post.certificate_id.in_(certs), Post.status == "published")
            ).scalar_one()
        return Consequences(n_certs, take_downs, posts)
