"""A creator's checks in the console: a clip uploaded once, recognised by a worker of the job queue,
decided for a platform, shown as a timeline with frames, certified when compliant. The recognition report is kept with
the check, so deciding again for another platform or issuing the certificate needs no second recognition.

Every read names the creator handles the caller acts for: another creator's check is "no such check"."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import or_, select, update

from hutong.compliance.policy import FORBIDDEN, LICENSED
from hutong.compliance.report import timeline_svg
from hutong.compliance.service import CheckResult, Compliance, IssuedCertificate
from hutong.errors import CertificateError, HutongError, MediaError
from hutong.match.service import MatchReport, Segment
from hutong.media import frame_png, probe, sha256_file
from hutong.store import Certificate, ClipCheck, Database, Work, utcnow
from hutong.store.leases import take
from hutong.store.paging import ListQuery, Page, contains, page_of

log = structlog.get_logger("hutong.checks")
TASK = "hutong.check"  # a check on the job queue: recognised by whichever worker takes it
MAX_ATTEMPTS = 3  # a check whose worker died this often is failed, not tried again
STALE = timedelta(
    minutes=30
)  # a check "checking" for longer was cut off (recognition takes seconds to minutes)


def _named(exc: Exception, clip: Path, name: str) -> str:
    """A reason as the creator reads it: the file named as uploaded, never its path on the server."""
    return str(exc).replace(str(clip), name)


class CheckError(HutongError):
    """A check could not be started or done as asked (not a video, unknown creator, no platform)."""


class UnknownCheck(CheckError):
    """No such check among the caller's (another creator's is the same as none)."""


@dataclass(frozen=True)
class Fix:
    """What to change so a segment no longer stands in the way: ``action`` is cut, mute, trim, or licence
    (nothing in the clip can fix it); ``start``/``end`` are clip seconds; ``keep`` the seconds a trim may keep."""

    segment: int
    action: str
    start: float
    end: float
    work_title: str
    rule: str
    keep: float | None = None


@dataclass(frozen=True)
class CheckView:
    id: str
    creator: str
    name: str
    clip_path: str
    clip_sha256: str
    size: int
    duration: float
    platform: str
    monetised: bool
    state: str
    reason: str
    compliant: bool | None
    decision: dict
    report: dict
    certificate_id: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: ClipCheck) -> CheckView:
        return cls(c.id, c.creator, c.name, c.clip_path, c.clip_sha256, c.size, c.duration, c.platform,
                   c.monetised, c.state, c.reason, c.compliant, c.decision or {}, c.report or {},
                   c.certificate_id, c.created_at, c.updated_at)  # fmt: skip

    @property
    def segments(self) -> list[dict]:
        """Each matched segment's decision, with what recognition saw (signals, score) beside it."""
        matched = (self.report or {}).get("segments", [])
        out = []
        for i, d in enumerate(self.decision.get("segments", [])):
            m = matched[i] if i < len(matched) else {}
            out.append({**d, "n": i, "signals": m.get("signals", []), "score": m.get("score")})
        return out

    @property
    def problems(self) -> int:
        return sum(1 for s in self.decision.get("segments", []) if s["verdict"] != LICENSED)


class ClipChecks:
    def __init__(
        self, db: Database, compliance: Compliance, *, lease: timedelta, connect: Callable[[], object]
    ) -> None:
        """``connect`` builds the job queue on first use (it calls :meth:`attach`); ``lease`` is how long a
        worker may go without signing a check it runs before another takes it over."""
        self.db, self.compliance, self.lease, self._connect = db, compliance, lease, connect
        self._moments: dict[tuple[str, int], float] = {}  # which moment of a segment its frames show
        self._send: Callable[[str], None] | None = None
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"

    # -- on the job queue ------------------------------------------------------------------------------

    def attach(self, send: Callable[[str], None]) -> None:
        """The queue's enqueue for checks (the queue registers :meth:`run` as its task)."""
        self._send = send

    def enqueue(self, check_id: str) -> None:
        """Hand the check to whichever worker takes it (`hutong serve`'s consumer or a `hutong worker`)."""
        if self._send is None:
            self._connect()  # builds the queue, which attaches us
        assert self._send is not None, "the queue did not attach the checks"
        self._send(check_id)

    def _claim(self, check_id: str) -> bool:
        now = utcnow()
        with self.db.session() as s:
            return take(s, ClipCheck, check_id, [ClipCheck.state == "checking", ClipCheck.claimed_at.is_(None)],
                        {"claimed_at": now, "claimed_by": self.worker_name[:200],
                         "attempts": ClipCheck.attempts + 1})  # fmt: skip

    def _heartbeat(self, check_id: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease.total_seconds() / 3):
            try:
                with self.db.session() as s:
                    s.execute(update(ClipCheck).where(ClipCheck.id == check_id, ClipCheck.state == "checking")
                              .values(claimed_at=utcnow()))  # fmt: skip
            except Exception:  # noqa: BLE001 — a busy database: the next beat tries again
                log.exception("check.heartbeat_failed", check=check_id)

    def recover(self, *, all_in_flight: bool = False, stale_only: bool = False) -> list[str]:
        """Queue again the checks a worker should be doing (the publishing jobs' contract): those whose
        worker stopped signing (every one taken, when ``all_in_flight``), and those never taken — all, or with
        ``stale_only`` those waiting a whole lease (their message lost). A check whose worker died
        :data:`MAX_ATTEMPTS` times is failed, saying so."""
        now = utcnow()
        stale = now - self.lease
        taken = ClipCheck.claimed_at.is_not(None)
        if not all_in_flight:
            taken = taken & (ClipCheck.claimed_at < stale)
        waiting = ClipCheck.claimed_at.is_(None)
        if stale_only:
            waiting = waiting & (ClipCheck.updated_at < stale)
        again = []
        with self.db.session() as s:
            for c in s.execute(
                select(ClipCheck).where(ClipCheck.state == "checking", or_(taken, waiting))
            ).scalars():
                if c.attempts >= MAX_ATTEMPTS:
                    c.state, c.reason = "failed", (f"recognition stopped {c.attempts} times on this clip; "
                                                   "upload it again, or a shorter cut")  # fmt: skip
                else:
                    again.append(c.id)
                c.claimed_at, c.updated_at = None, now
        for check_id in again:
            self.enqueue(check_id)
        return again

    # -- starting and running ------------------------------------------------------------------------

    def start(self, clip: Path, *, name: str, creator: str, platform: str, monetised: bool,
              account_id: int) -> CheckView:  # fmt: skip
        """Record a check of ``clip`` (already stored) and answer at once: :meth:`run` recognises it. A file
        that is not a video is refused here, before anything is recorded."""
        who = self.compliance.creators.get(creator)
        platform = platform.strip().lower()
        if not platform:
            raise CheckError("choose the platform the clip is for")
        try:
            info = probe(clip)
        except MediaError as exc:
            raise CheckError(
                f"{name} is not a video hutong can read: {str(exc).split(': ', 1)[-1]}"
            ) from None
        if not info.has_video:
            raise CheckError(f"{name} has no picture: upload a video clip")
        row = ClipCheck(id=uuid.uuid4().hex, creator=who.handle, account_id=account_id, name=name[:255],
                        clip_path=str(clip), clip_sha256=sha256_file(clip), size=clip.stat().st_size,
                        duration=info.duration, platform=platform, monetised=monetised, state="checking",
                        reason="", compliant=None, report={}, decision={}, timeline="", certificate_id="")  # fmt: skip
        with self.db.session() as s:
            s.add(row)
            s.flush()
            return CheckView.of(row)

    def run(self, check_id: str) -> None:
        """Recognise the clip and decide (the queue's task: the page polls until the state changes). A
        check another worker has, or that is no longer being checked, is left alone."""
        if not self._claim(check_id):
            return
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(check_id, stop), name="hutong-check-beat",
                                daemon=True)  # fmt: skip
        beat.start()
        try:
            self._run(check_id)
        finally:
            stop.set()
            beat.join()

    def _run(self, check_id: str) -> None:
        with self.db.session() as s:
            c = s.get(ClipCheck, check_id)
            if c is None or c.state != "checking":
                return
            clip, name, creator, platform, monetised = (
                Path(c.clip_path),
                c.name,
                c.creator,
                c.platform,
                c.monetised,
            )
        try:
            result = self.compliance.check(clip, creator, platform, monetised=monetised)
        except HutongError as exc:
            self._save(check_id, state="failed", reason=_named(exc, clip, name))
            return
        except Exception:  # a fault, not the clip's: the page must not poll "checking" for ever
            log.exception("check.failed", check=check_id)
            self._save(check_id, state="failed", reason="recognition failed on this server; try again later")
            return
        self._save_result(check_id, result, name)

    def again(self, check_id: str, creators: Iterable[str], platform: str, *, account_id: int) -> CheckView:
        """The same clip decided for another platform, from the recognition already made."""
        c = self.get(check_id, creators)
        if c.state != "done":
            raise CheckError("the clip is still being checked: wait for the result first")
        platform = platform.strip().lower()
        if not platform:
            raise CheckError("choose the platform the clip is for")
        new = ClipCheck(id=uuid.uuid4().hex, creator=c.creator, account_id=account_id, name=c.name,
                        clip_path=c.clip_path, clip_sha256=c.clip_sha256, size=c.size, duration=c.duration,
                        platform=platform, monetised=c.monetised, state="checking", reason="", compliant=None,
                        report={}, decision={}, timeline="", certificate_id="")  # fmt: skip
        with self.db.session() as s:
            s.add(new)
        self._save_result(new.id, self._result(c, platform), c.name)
        return self.get(new.id, creators)

    def result(self, check_id: str, creators: Iterable[str]) -> CheckResult:
        """The decision of a finished check, from its stored recognition (a claim's fix is re-checked with
        it: the recognition ran on the job queue, nothing is decoded again here)."""
        c = self.get(check_id, creators)
        if c.state == "checking":
            raise CheckError(f"check {c.id} is still running: wait for its result")
        if c.state != "done":
            raise CheckError(f"check {c.id} failed ({c.reason}): check the clip again")
        return self._result(c)

    def _result(self, c: CheckView, platform: str | None = None) -> CheckResult:
        report = MatchReport(c.report.get("clip", c.clip_path), float(c.report.get("duration", c.duration)),
                             [Segment(**s) for s in c.report.get("segments", [])])  # fmt: skip
        return self.compliance.check(Path(c.clip_path), c.creator, platform or c.platform,
                                     monetised=c.monetised, report=report)  # fmt: skip

    def _save_result(self, check_id: str, result: CheckResult, name: str) -> None:
        d = result.decision
        named = replace(result, clip=Path(name))  # the picture names the file as the creator knows it
        self._save(check_id, state="done", reason="", compliant=bool(d.segments) and d.compliant,
                   duration=result.report.duration, report=result.report.as_dict(), decision=d.as_dict(),
                   timeline=timeline_svg(named, self.db))  # fmt: skip

    def _save(self, check_id: str, **values) -> None:
        with self.db.session() as s:
            c = s.get(ClipCheck, check_id)
            if c is not None:
                for k, v in values.items():
                    setattr(c, k, v)
                c.updated_at = utcnow()

    # -- reading ---------------------------------------------------------------------------------------

    def get(self, check_id: str, creators: Iterable[str]) -> CheckView:
        with self.db.session() as s:
            c = s.get(ClipCheck, check_id.strip()[:32])
            if c is None or c.creator not in set(creators):
                raise UnknownCheck(f"no check {check_id} among yours")
            if c.state == "checking" and utcnow() - c.updated_at > STALE:  # its server stopped mid-way
                c.state, c.reason = (
                    "failed",
                    "the check was interrupted (the server stopped): upload the clip again",
                )
            return CheckView.of(c)

    def timeline(self, check_id: str, creators: Iterable[str]) -> str:
        self.get(check_id, creators)
        with self.db.session() as s:
            return s.get(ClipCheck, check_id).timeline

    def page(self, creators: Iterable[str], query: ListQuery) -> Page[CheckView]:
        """One page of the checks made for ``creators``, filtered by file name and by state, platform,
        verdict (``compliant=yes|no``) and certificate (``certified=yes``)."""
        stmt = select(ClipCheck).where(ClipCheck.creator.in_(list(creators)))
        if query.text:
            stmt = stmt.where(contains(ClipCheck.name, query.text))
        f = query.filters
        if f.get("state"):
            stmt = stmt.where(ClipCheck.state == f["state"])
        if f.get("platform"):
            stmt = stmt.where(ClipCheck.platform == f["platform"].lower())
        if f.get("compliant") in ("yes", "no"):
            stmt = stmt.where(ClipCheck.compliant.is_(f["compliant"] == "yes"))
        if f.get("certified") == "yes":
            stmt = stmt.where(ClipCheck.certificate_id != "")
        columns = {"checked": ClipCheck.created_at, "name": ClipCheck.name, "platform": ClipCheck.platform,
                   "state": ClipCheck.state, "length": ClipCheck.duration}  # fmt: skip
        with self.db.session() as s:
            return page_of(s, stmt, query, columns=columns, default="checked", row=CheckView.of,
                           tiebreak=ClipCheck.id)  # fmt: skip

    def frame(self, check_id: str, creators: Iterable[str], n: int, side: str) -> bytes:
        """A frame of segment ``n``: of the clip, or of the registered work at the matching moment."""
        c = self.get(check_id, creators)
        segments = c.decision.get("segments", [])
        if not 0 <= n < len(segments) or side not in ("clip", "work"):
            raise UnknownCheck(f"check {check_id} has no segment {n} {side} frame")
        seg = segments[n]
        with self.db.session() as s:
            w = s.get(Work, seg["work_id"])
            source = w.source_path if w else ""
        if not source or not Path(source).is_file():
            if side == "work":
                raise UnknownCheck(f"the file of work {seg['work_id']} is not on this machine")
            source = ""
        frac = self._moment(check_id, n, seg, source)
        if side == "clip":
            return frame_png(c.clip_path, seg["query_start"] + frac * (seg["query_end"] - seg["query_start"]))
        return frame_png(source, seg["ref_start"] + frac * (seg["ref_end"] - seg["ref_start"]))

    def _moment(self, check_id: str, n: int, seg: dict, source: str) -> float:
        """Where in the segment to show (as a fraction): the middle, unless the work is (nearly) black
        there (a fade or a cut: its PNG is small), then the first of a few other moments that is not."""
        key = (check_id, n)
        if key not in self._moments:
            if not source:
                return 0.5
            candidates = (0.5, 0.35, 0.65, 0.2, 0.8)
            sizes = [len(frame_png(source, seg["ref_start"] + f * (seg["ref_end"] - seg["ref_start"]), width=96))
                     for f in candidates]  # fmt: skip
            if len(self._moments) > 4096:
                self._moments.clear()
            self._moments[key] = next(
                f for f, size in zip(candidates, sizes, strict=True) if size >= 0.6 * max(sizes)
            )
        return self._moments[key]

    def fixes(self, c: CheckView) -> list[Fix]:
        """What to change, segment by segment: cut what only a licence could allow, mute where recognition
        heard the work but did not see it, trim a segment over a per-segment limit to what it may keep."""
        out = []
        limits = self._segment_limits(c)
        for s in c.segments:
            if s["verdict"] == LICENSED:
                continue
            a, b = s["query_start"], s["query_end"]
            args = dict(segment=s["n"], start=a, end=b, work_title=s["work_title"], rule=s["rule"])
            if s["rule"] == "max-segment" and s.get("licence") in limits:
                out.append(Fix(action="trim", keep=limits[s["licence"]], **args))
            elif s["rule"] in ("platform", "monetisation", "creator-scope", "licence-revoked", "licence-expired",
                               "licence-not-yet-valid") and s["verdict"] != FORBIDDEN:  # fmt: skip
                out.append(Fix(action="licence", **args))
            elif s["signals"] and set(s["signals"]) <= {"audio"}:
                out.append(Fix(action="mute", **args))
            else:
                out.append(Fix(action="cut", **args))
        return out

    def _segment_limits(self, c: CheckView) -> dict[str, float]:
        refs = {s.get("licence") for s in c.segments if s["rule"] == "max-segment"}
        if not refs:
            return {}
        works = {s["work_id"] for s in c.segments}
        return {lic.code: lic.terms.max_segment_seconds for lic in self.compliance.licences.covering(works)
                if lic.code in refs and lic.terms.max_segment_seconds is not None}  # fmt: skip

    # -- certificates ------------------------------------------------------------------------------------

    def certify(self, check_id: str, creators: Iterable[str]) -> IssuedCertificate:
        """Issue the certificate of a compliant check, deciding again now (a licence revoked since the
        check refuses it). A check already certified answers its certificate."""
        c = self.get(check_id, creators)
        if c.state != "done":
            raise CheckError("the clip is still being checked: wait for the result first")
        if c.certificate_id:
            cert = self.compliance.get(c.certificate_id)
            return IssuedCertificate(cert.token, {"jti": cert.id})
        try:
            issued = self.compliance.certify(self._result(c))
        except CertificateError as exc:
            raise CheckError(_named(exc, Path(c.clip_path), c.name)) from None
        self._save(check_id, certificate_id=issued.claims["jti"])
        return issued

    def certificate(self, jti: str, creators: Iterable[str]) -> Certificate:
        with self.db.session() as s:
            cert = s.get(Certificate, jti.strip()[:64])
            if cert is None or cert.creator not in set(creators):
                raise UnknownCheck(f"no certificate {jti} among yours")
            return cert

    def embedded_copy(self, jti: str, creators: Iterable[str], folder: Path) -> Path:
        """The certified clip with its certificate inside as a C2PA manifest (made once, then kept)."""
        from hutong.compliance import c2pa_manifest

        cert = self.certificate(jti, creators)
        with self.db.session() as s:
            c = s.execute(select(ClipCheck).where(ClipCheck.certificate_id == cert.id)).scalars().first()
            if c is None:
                raise UnknownCheck(f"certificate {jti} was not issued from a console check")
            clip, suffix = Path(c.clip_path), Path(c.name).suffix.lower()
        if suffix not in c2pa_manifest.MIME:
            raise CheckError(
                f"a C2PA copy can be made of {', '.join(sorted(c2pa_manifest.MIME))} files, not {c.name}"
            )
        out = folder / f"{cert.id}.c2pa{suffix}"
        if not out.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            named = (
                folder / f"{cert.id}.clip{suffix}"
            )  # the stored clip is named by its hash: C2PA wants a type
            shutil.copyfile(clip, named)
            try:
                settings = self.compliance.settings
                c2pa_manifest.embed(named, cert.token, out, keys_dir=settings.keys_dir / "c2pa",
                                    issuer=settings.issuer)  # fmt: skip
            finally:
                named.unlink(missing_ok=True)
        return out
