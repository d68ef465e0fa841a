"""Durable publishing jobs: one per (clip SHA-256, connected account), kept in the database, which is the
source of truth; the queue (Huey) only carries job ids, so a lost or repeated queue message changes
nothing, and a worker that died mid-job is recovered from the job's state (:meth:`Jobs.recover`).

States: queued → uploading → processing → published | needs_confirmation | rejected (the platform's reason)
| failed (the platform's error text) | cancelled. A 429 or a 5xx puts the job back to ``queued`` with a
``not_before`` (Retry-After when given); an irreversible call that got no answer is resolved by replaying it
with the same Idempotency-Key where the platform supports one, and otherwise waits for the creator
(``needs_confirmation``) — never a blind second post. Every step is a row of the job's timeline."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import func, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from hutong.compliance.certificate import peek, verify_certificate
from hutong.distribute.accounts import AccountError, ConnectedAccounts, unusable
from hutong.distribute.adapters import AdapterError, Outcome, UploadState
from hutong.errors import HutongError
from hutong.platform.ports import CertificateAuthority
from hutong.rights.creators import Creators
from hutong.store import Database, DistributionAccount, PublishEvent, PublishJob, utcnow
from hutong.store.leases import take
from hutong.store.paging import ListQuery, Page, contains, page_of

log = structlog.get_logger("hutong.distribute")
IN_FLIGHT = ("uploading", "processing")
FINAL = ("published", "needs_confirmation", "rejected", "failed", "cancelled", "taken_down", "flagged")
TAKE_DOWN = (
    "take_down"  # a published post whose certificate was revoked, waiting for the worker to take it down
)
LEASE = timedelta(minutes=5)  # a worker holds a job this long without a sign of life before others take it
MAX_ATTEMPTS = 8
RECOVER_SECONDS = 60.0  # how often a running worker looks for jobs a dead worker left (leases run out)
POLL_SECONDS = 30.0  # a post the platform holds for its own check is read again after this long


class PublishError(HutongError):
    """A publish request was refused as a whole (bad certificate, edited clip): nothing was queued."""


class UnknownJob(HutongError):
    """No such job, or not one of this creator's (the same answer, so ids reveal nothing)."""


class NotYourCertificate(PublishError):
    """The certificate was issued to another creator: a creator publishes only their own certified clips."""


class JobStateError(HutongError):
    """The job is not in a state that allows this (retrying a published job, cancelling a running one)."""


def parse_when(text: str, *, now: datetime | None = None, name: str = "--at") -> datetime:
    """A publish time with an explicit time zone (``2026-12-01T20:00+08:00``), in UTC; a naive time or one
    in the past is refused, with what to write instead."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PublishError(
            f"{name} {text!r} is not a time: write it like 2026-12-01T20:00+08:00 (ISO 8601 with its time zone)"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise PublishError(
            f"{name} {text!r} has no time zone: say which, e.g. {when.isoformat(timespec='minutes')}+08:00 "
            "or …Z for UTC"
        )
    when = when.astimezone(UTC)
    if when <= (now or utcnow()):
        raise PublishError(f"{name} {text!r} is in the past ({when:%Y-%m-%d %H:%M} UTC): give a later time")
    return when


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def backoff(attempts: int) -> float:
    return min(600.0, 2.0 * 2 ** max(0, attempts - 1))


def caption_with_attribution(text: str, attribution: list[str], limit: int) -> str:
    """The creator's text, then the licence's attribution; the attribution always fits, the text is cut."""
    credit = " · ".join(dict.fromkeys(a.strip() for a in attribution if a.strip()))
    if len(credit) > limit:
        raise PublishError(
            f"the licence's attribution ({len(credit)} characters) exceeds the platform's caption limit ({limit})"
        )
    if not credit:
        return text[:limit]
    room = limit - len(credit) - 1
    body = text.strip()
    if len(body) > room:
        body = body[: max(0, room - 1)].rstrip() + "…" if room > 1 else ""
    return f"{body}\n{credit}" if body else credit


@dataclass
class Target:
    account: str
    ok: bool
    message: str
    job_id: int | None = None
    state: str | None = None
    duplicate: bool = False
    caption: str = ""
    not_before: str | None = None  # scheduled: not published before this time (UTC, ISO 8601)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class JobView:
    id: int
    account: str
    platform_url: str
    platform_name: str
    clip: str
    clip_sha256: str
    certificate_id: str
    state: str
    reason: str
    remote_post_id: str
    attempts: int
    not_before: str | None
    created_at: str
    updated_at: str
    timeline: list[dict] = field(default_factory=list)
    parts_done: int = 0  # upload progress: parts the platform accepted (of part_size bytes each)
    part_size: int = 0
    uploaded: bool = False  # the platform has the whole file

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Jobs:
    def __init__(
        self,
        db: Database,
        accounts: ConnectedAccounts,
        certificates: CertificateAuthority,
        creators: Creators,
        *,
        enqueue: Callable[[int, float | None], None] | None = None,
        lease: timedelta = LEASE,
        poll_seconds: float = POLL_SECONDS,
        per_minute: int = 0,
    ) -> None:
        """``creators`` says whom a signed-in user or an account's creator acts for (a certificate names its
        creator); ``lease`` is how long a worker holds a job without a sign of life; ``poll_seconds`` how soon
        a post the platform holds is read again; ``per_minute`` the posts one account starts in any minute
        (0: no limit of ours)."""
        self.db, self.accounts, self.certificates, self.creators = db, accounts, certificates, creators
        self.enqueue = enqueue or (lambda job_id, delay: None)
        self.lease, self.poll_seconds, self.per_minute = lease, poll_seconds, per_minute

    # -- submitting ------------------------------------------------------------------------------

    def check_certificate(self, clip: Path, certificate: str) -> tuple[dict, str]:
        """The certificate's claims and the clip's SHA-256, or PublishError saying why not."""
        if not clip.is_file():
            raise PublishError(f"{clip}: no such file")
        token = certificate.strip()
        try:
            _, claims = peek(token)
        except ValueError as exc:
            raise PublishError(f"the certificate is not a certificate ({exc})") from None
        jwks = self.certificates.jwks()
        issuer = str(claims.get("iss", ""))
        if jwks.get("issuer") and issuer != jwks["issuer"]:
            raise PublishError(
                f"the certificate was issued by {issuer}, not by this installation ({jwks['issuer']})"
            )
        status = self.certificates.status_of(str(claims.get("jti", "")))
        if status is None:
            raise PublishError(f"certificate {claims.get('jti')} is not one this installation issued")
        digest = sha256_file(clip)
        v = verify_certificate(token, jwks, now=utcnow(), clip=clip, clip_sha256=digest, status=status)
        if not v.valid:
            raise PublishError(f"the certificate does not hold for {clip.name}: {v.code}: {v.reason}")
        return v.claims or {}, digest

    def submit(
        self,
        clip: Path,
        certificate: str,
        to: list[str],
        *,
        caption: str = "",
        dry_run: bool = False,
        at: datetime | None = None,
        creator: str | None = None,
    ) -> list[Target]:
        """Check everything, then make one job per target (an existing one is returned, not doubled). ``at``
        (aware, in the future) holds the jobs until then; ``creator`` limits the targets to that creator's
        accounts (None: the operator, every account)."""
        if at is not None and (at.tzinfo is None or at <= utcnow()):
            raise PublishError("the publish time must carry a time zone and be in the future")
        if not to:
            raise PublishError("name at least one connected account (--to)")
        clip = clip.expanduser().resolve()
        claims, digest = self.check_certificate(clip, certificate)
        owner = str((claims.get("creator") or {}).get("handle") or "")
        if creator is not None and creator.startswith("user:") and owner not in self._acting_for(creator):
            raise NotYourCertificate(
                f"certificate {claims.get('jti')} was issued to @{owner}, whom you do not publish for: a creator "
                "publishes only their own certified clips (or, as an organisation, its members')"
            )
        platforms = [p.lower() for p in claims.get("platforms", [])]
        attribution = list((claims.get("attribution") or {}).values())
        duration = float((claims.get("clip") or {}).get("duration") or 0)
        size = clip.stat().st_size
        results: list[Target] = []
        for name in dict.fromkeys(to):
            try:
                acc = self.accounts.get(name, creator=creator)
            except AccountError as exc:
                results.append(Target(name, False, str(exc)))
                continue
            if acc.status != "connected":
                results.append(Target(name, False, unusable(acc.name, acc.status, acc.status_reason)))
                continue
            if acc.creator and owner not in self._acting_for(acc.creator):
                results.append(Target(name, False, f"certificate {claims.get('jti')} was issued to @{owner}, but "
                                      f"{name!r} is {acc.creator}'s account: a creator publishes only their own "
                                      "certified clips"))  # fmt: skip
                continue
            if "*" not in platforms and acc.platform_name.lower() not in platforms:
                results.append(Target(name, False, f"the certificate covers {', '.join(platforms) or 'no platform'}, "
                                      f"not {acc.platform_name} (where {name!r} is): not published there"))  # fmt: skip
                continue
            try:
                caps = self.accounts.adapter(acc.adapter).capabilities(acc.platform_url)
            except AdapterError as exc:
                if dry_run:
                    results.append(Target(name, False, f"{acc.platform_url} cannot be read now: {exc}"))
                    continue
                caps = None  # the platform is down now: queue anyway (its own limits still apply: 413 → rejected)
            if caps is not None:
                if caps.max_bytes and size > caps.max_bytes:
                    results.append(
                        Target(
                            name,
                            False,
                            f"{size} bytes is more than {acc.platform_name} takes ({caps.max_bytes})",
                        )
                    )
                    continue
                if caps.max_seconds and duration > caps.max_seconds:
                    results.append(
                        Target(
                            name,
                            False,
                            f"{duration:.0f} s is longer than {acc.platform_name} takes ({caps.max_seconds:.0f} s)",
                        )
                    )
                    continue
            limit = caps.caption_max_chars if caps else 5000
            try:
                text = caption_with_attribution(caption, attribution, limit)
            except PublishError as exc:
                results.append(Target(name, False, str(exc)))
                continue
            when = f" at {at.isoformat(timespec='minutes')}" if at else ""
            if dry_run:
                results.append(
                    Target(
                        name,
                        True,
                        f"would publish to {acc.platform_name} ({acc.platform_url}){when}",
                        caption=text,
                        not_before=at.isoformat() if at else None,
                    )  # fmt: skip
                )
                continue
            results.append(
                self._create(
                    acc.id, name, clip, digest, certificate.strip(), str(claims.get("jti", "")), text, at
                )
            )
        return results

    def _acting_for(self, creator: str) -> set[str]:
        """The creators an account's owner may publish for: a signed-in user (``user:<id>``) those linked to
        their platform account; a creator handle that creator (an organisation: and its members)."""
        if creator.startswith("user:"):
            return self.creators.acting_for(int(creator.removeprefix("user:")))
        return self.creators.acting_for_handle(creator)

    def _create(
        self,
        account_id: int,
        name: str,
        clip: Path,
        digest: str,
        token: str,
        jti: str,
        text: str,
        at: datetime | None = None,
    ) -> Target:
        when = f", scheduled for {at.isoformat(timespec='minutes')}" if at else ""
        try:
            with self.db.session() as s:
                job = PublishJob(clip_sha256=digest, account_id=account_id, clip_path=str(clip), certificate=token,
                                 certificate_id=jti, caption=text, state="queued", reason="", not_before=at,
                                 idempotency_key=f"hutong-{secrets.token_hex(16)}")  # fmt: skip
                s.add(job)
                s.flush()
                s.add(PublishEvent(job_id=job.id, state="queued", message=f"queued for {name}{when}"))
                job_id = job.id
        except IntegrityError:  # the same clip version to the same account: one job, whatever was asked
            with self.db.session() as s:
                job = s.execute(select(PublishJob).where(PublishJob.clip_sha256 == digest,
                                                         PublishJob.account_id == account_id)).scalar_one()  # fmt: skip
                return Target(
                    name, True, f"already submitted as job {job.id} ({job.state})", job.id, job.state, True
                )
        delay = (at - utcnow()).total_seconds() if at else None
        self.enqueue(job_id, delay)
        return Target(name, True, f"queued as job {job_id}{when}", job_id, "queued", caption=text,
                      not_before=at.isoformat() if at else None)  # fmt: skip

    # -- reading and steering -------------------------------------------------------------------

    def list(
        self, state: str | None = None, *, creator: str | None = None, account: str | None = None
    ) -> list[JobView]:
        """Jobs, oldest first; ``creator`` keeps that creator's (None: every job), ``account`` one account's."""
        with self.db.session() as s:
            q = select(PublishJob, DistributionAccount).join(DistributionAccount).order_by(PublishJob.id)
            if state:
                q = q.where(PublishJob.state == state)
            if creator is not None:
                q = q.where(DistributionAccount.creator == creator)
            if account:
                q = q.where(DistributionAccount.name == account)
            return [self._view(j, a) for j, a in s.execute(q).all()]

    def page(self, creators: Iterable[str], query: ListQuery) -> Page[JobView]:
        """One page of the jobs on ``creators``' accounts (the console), filtered by account or caption text
        and by ``state``, ``account`` and ``clip`` (a clip's SHA-256)."""
        stmt = (
            select(PublishJob, DistributionAccount)
            .join(DistributionAccount)
            .where(DistributionAccount.creator.in_(list(creators)))
        )
        if query.text:
            stmt = stmt.where(
                or_(contains(DistributionAccount.name, query.text), contains(PublishJob.caption, query.text))
            )
        f = query.filters
        if f.get("state"):
            stmt = stmt.where(PublishJob.state == f["state"])
        if f.get("account"):
            stmt = stmt.where(DistributionAccount.name == f["account"])
        if f.get("clip"):
            stmt = stmt.where(PublishJob.clip_sha256 == f["clip"])
        columns = {"id": PublishJob.id, "state": PublishJob.state, "account": DistributionAccount.name,
                   "platform": DistributionAccount.platform_name, "updated": PublishJob.updated_at}  # fmt: skip
        with self.db.session() as s:
            return page_of(s, stmt, query, columns=columns, default="id", row=lambda r: self._view(r[0], r[1]),
                           tiebreak=PublishJob.id)  # fmt: skip

    @staticmethod
    def _owned(s, job_id: int, creator: str | None) -> PublishJob:
        j = s.get(PublishJob, job_id)
        if j is None or (creator is not None and s.get(DistributionAccount, j.account_id).creator != creator):
            raise UnknownJob(f"no publishing job {job_id} (see `hutong jobs list`)")
        return j

    def show(self, job_id: int, *, creator: str | None = None) -> JobView:
        with self.db.session() as s:
            j = self._owned(s, job_id, creator)
            view = self._view(j, s.get(DistributionAccount, j.account_id))
            events = s.execute(
                select(PublishEvent).where(PublishEvent.job_id == job_id).order_by(PublishEvent.id)
            ).scalars()
            view.timeline = [{"at": e.at.isoformat(), "state": e.state, "message": e.message} for e in events]
            return view

    def retry(self, job_id: int, *, creator: str | None = None) -> JobView:
        with self.db.session() as s:
            j = self._owned(s, job_id, creator)
            if j.state not in ("failed", "cancelled", "needs_confirmation"):
                raise JobStateError(
                    f"job {job_id} is {j.state}: only failed, cancelled or unconfirmed jobs are retried"
                )
            self._set(s, j, "queued", "retried by the creator", reason="")
            j.attempts, j.rate_waits, j.not_before, j.lease_until = 0, 0, None, None
        self.enqueue(job_id, None)
        return self.show(job_id)

    def cancel(self, job_id: int, *, creator: str | None = None) -> JobView:
        with self.db.session() as s:
            j = self._owned(s, job_id, creator)
            if j.state != "queued":
                raise JobStateError(f"job {job_id} is {j.state}: only a queued job can be cancelled")
            self._set(s, j, "cancelled", "cancelled by the creator", reason="cancelled by the creator")
            j.not_before = None
        return self.show(job_id)

    def clips_in_use(self, folder: str) -> tuple[set[str], set[str]]:
        """Of the clip files under ``folder``: (those some job may still need — not settled for good — and
        those that only settled jobs name)."""
        settled = ("published", "rejected", "taken_down", "flagged")
        with self.db.session() as s:
            rows = s.execute(
                select(PublishJob.clip_path, PublishJob.state).where(PublishJob.clip_path.startswith(folder))
            ).all()
        needed = {p for p, st in rows if st not in settled}
        return needed, {p for p, _ in rows} - needed

    # -- take-down propagation ------------------------------------------------------------------

    def take_down_revoked(self) -> list[int]:
        """Every post made under a certificate that has since been revoked (directly, or with the licence it
        rests on) gets a take-down job: the job moves to ``take_down`` with the revocation's reason on its
        timeline, durably, and is queued; the worker asks the platform to take the post down. Revocation
        itself knows nothing of distribution: whoever revokes calls this after (the CLI does), and the
        worker calls it whenever it (re)starts. Safe to repeat: a job is marked once."""
        with self.db.session() as s:
            rows = s.execute(
                select(PublishJob.certificate_id).where(
                    PublishJob.remote_post_id != "", PublishJob.state.in_(("published", "queued", *IN_FLIGHT))
                ).distinct()
            ).scalars().all()  # fmt: skip
        revoked = {}
        for jti in rows:
            st = self.certificates.status_of(jti)
            if st is not None and st.get("status") == "revoked":
                revoked[jti] = str(st.get("reason") or "no reason given")
        marked: list[int] = []
        if not revoked:
            return marked
        with self.db.session() as s:
            jobs = s.execute(select(PublishJob).where(
                PublishJob.certificate_id.in_(revoked), PublishJob.remote_post_id != "",
                PublishJob.state.in_(("published", "queued", *IN_FLIGHT)))).scalars().all()  # fmt: skip
            for j in jobs:
                why = f"certificate {j.certificate_id} was revoked: {revoked[j.certificate_id]}"
                self._set(s, j, TAKE_DOWN, f"{why}; taking post {j.remote_post_id} down", reason=why)
                j.attempts, j.rate_waits, j.not_before, j.lease_until = 0, 0, None, None
                marked.append(j.id)
        for job_id in marked:
            self.enqueue(job_id, None)
        return marked

    def _take_down(self, job: PublishJob) -> str:
        with self.db.session() as s:
            account = s.get(DistributionAccount, job.account_id)
            adapter_name, account_name = account.adapter, account.name
        adapter = self.accounts.adapter(adapter_name)
        try:
            conn = self.accounts.connection(job.account_id)
            result = adapter.take_down(conn, job.remote_post_id, job.reason)
        except (AdapterError, AccountError) as exc:
            err = exc if isinstance(exc, AdapterError) else AdapterError(Outcome.AUTH, str(exc))
            if (
                err.outcome is Outcome.RETRY_LATER or err.outcome is Outcome.UNKNOWN
            ):  # taking down is safe to repeat
                return self._retry_take_down(job.id, str(err), err.retry_after)
            return self._final(
                job.id, "failed",
                f"the post {job.remote_post_id} on {account_name} could not be taken down ({err}); {job.reason}. "
                f"Take it down on the platform, or `hutong jobs retry {job.id}` after reconnecting",
            )  # fmt: skip
        if result.status == "taken_down":
            return self._final(job.id, "taken_down", f"post {result.post_id} taken down: {job.reason}",
                               keep_reason=True)  # fmt: skip
        return self._final(job.id, "flagged", f"post {result.post_id} flagged on the platform (it does not let "
                           f"apps take posts down): {job.reason}", keep_reason=True)  # fmt: skip

    def _retry_take_down(self, job_id: int, message: str, retry_after: float | None) -> str:
        with self.db.session() as s:
            j = s.get(PublishJob, job_id)
            if j.attempts >= MAX_ATTEMPTS:
                self._set(
                    s, j, "failed", f"gave up taking the post down after {j.attempts} attempts: {message}"
                )
                j.lease_until = None
                return "failed"
            delay = retry_after if retry_after is not None else backoff(j.attempts)
            self._set(s, j, TAKE_DOWN, f"{message}: trying the take-down again in {delay:.0f} s")
            j.not_before, j.lease_until = utcnow() + timedelta(seconds=delay), None
        self.enqueue(job_id, delay)
        return TAKE_DOWN

    def recover(self, *, all_in_flight: bool = False, stale_only: bool = False) -> list[int]:
        """Queue again every job a worker should be doing: queued ones (their queue message may be lost) and
        in-flight ones whose worker died (lease expired; ``all_in_flight`` when no other worker can be running,
        as at the start of the embedded worker). Safe to repeat: a job is claimed before it runs.

        ``stale_only`` is the running workers' periodic pass (:data:`RECOVER_SECONDS`): only jobs that nobody
        is doing — a lease that ran out, or a queued job past its time for a whole lease (its message lost
        with a killed worker) — so that jobs waiting their turn do not gather queue messages."""
        now = utcnow()
        with self.db.session() as s:
            stale = or_(PublishJob.lease_until.is_(None), PublishJob.lease_until < now)
            where = true() if all_in_flight else stale
            if stale_only:
                lapsed = PublishJob.lease_until < now
                forgotten = PublishJob.state.in_(("queued", TAKE_DOWN)) & PublishJob.lease_until.is_(None) & (
                    PublishJob.updated_at < now - self.lease) & or_(PublishJob.not_before.is_(None),
                                                               PublishJob.not_before < now - self.lease)  # fmt: skip
                where = or_(lapsed, forgotten)
            rows = s.execute(select(PublishJob).where(PublishJob.state.in_(("queued", TAKE_DOWN, *IN_FLIGHT)),
                                                      where)).scalars().all()  # fmt: skip
            plan = []
            for j in rows:
                if j.state in IN_FLIGHT:
                    self._set(s, j, "queued", f"recovered: the worker stopped while the job was {j.state}")
                j.lease_until = None
                delay = (j.not_before - now).total_seconds() if j.not_before and j.not_before > now else None
                plan.append((j.id, delay))
        for job_id, delay in plan:
            self.enqueue(job_id, delay)
        return [p[0] for p in plan]

    # -- the worker's part ----------------------------------------------------------------------

    def _claim(self, job_id: int) -> PublishJob | None:
        """Take the job for this worker (:func:`take`: SKIP LOCKED on PostgreSQL, one conditional UPDATE): two
        messages for one job run it once."""
        now = utcnow()
        with self.db.session() as s:
            if not take(
                s,
                PublishJob,
                job_id,
                [
                    PublishJob.state.in_(("queued", TAKE_DOWN)),
                    or_(PublishJob.lease_until.is_(None), PublishJob.lease_until < now),  # nobody holds it
                    or_(PublishJob.not_before.is_(None), PublishJob.not_before <= now + timedelta(seconds=1)),
                ],
                {"lease_until": now + self.lease, "attempts": PublishJob.attempts + 1, "updated_at": now},
            ):
                return None
            return s.get(PublishJob, job_id)

    def run(self, job_id: int) -> str | None:
        """Take the job one step as far as it goes; returns its state (None if another worker has it)."""
        job = self._claim(job_id)
        if job is None:
            return None
        try:
            return self._take_down(job) if job.state == TAKE_DOWN else self._run(job)
        except Exception as exc:  # a bug must not leave the job claimed forever
            log.exception("job.crashed", job=job_id)
            with self.db.session() as s:
                j = s.get(PublishJob, job_id)
                self._set(
                    s,
                    j,
                    "failed",
                    f"internal error: {exc.__class__.__name__}: {exc}",
                    reason=f"internal error: {exc}",
                )
                j.lease_until = None
            return "failed"

    def _run(self, job: PublishJob) -> str:
        with self.db.session() as s:
            account = s.get(DistributionAccount, job.account_id)
            adapter_name, account_name = account.adapter, account.name
        adapter = self.accounts.adapter(adapter_name)
        try:
            conn = self.accounts.connection(job.account_id)  # refreshed first if it expires soon
        except (AdapterError, AccountError) as exc:
            err = exc if isinstance(exc, AdapterError) else AdapterError(Outcome.AUTH, str(exc))
            return self._on_error(job.id, adapter_name, account_name, err)
        refreshed = False
        while True:
            try:
                return self._steps(job, conn, adapter, account_name)
            except AdapterError as exc:
                if exc.outcome is not Outcome.AUTH:
                    return self._on_error(job.id, adapter_name, account_name, exc)
                if refreshed:  # refused with a fresh token too: a recognised auth error
                    self.accounts.needs_reconnect(job.account_id, str(exc))
                    return self._on_error(job.id, adapter_name, account_name, exc)
                refreshed = True
                try:
                    conn = self.accounts.refresh(job.account_id)
                except AdapterError as again:  # invalid_grant marks the account; a 5xx leaves it as it is
                    return self._on_error(job.id, adapter_name, account_name, again)
                self._event(job.id, "queued", f"the platform refused the access token ({exc}); refreshed it")

    def _steps(self, job: PublishJob, conn, adapter, account_name: str) -> str:
        if not job.remote_post_id and (why := self._certificate_fails(job)):
            return self._final(job.id, "rejected", f"not published: the certificate no longer holds ({why})")
        if (
            not job.remote_upload_id
            and not job.remote_post_id
            and (wait := self._over_account_limit(job.account_id))
        ):
            return self._slow_down(job.id, f"{account_name} started {self.per_minute} posts in the last minute "
                                   f"(HUTONG_DISTRIBUTION_ACCOUNT_PER_MINUTE): waiting {wait:.0f} s", wait)  # fmt: skip
        if not job.remote_video_id:
            resumed = f" (resuming after part {job.remote_parts_done})" if job.remote_parts_done else ""
            self._step(job.id, "uploading", f"uploading to {account_name}{resumed}")
            if sha256_file(Path(job.clip_path)) != job.clip_sha256:
                return self._final(job.id, "rejected", "the clip changed on disk after it was submitted: "
                                   "it is no longer the certified file")  # fmt: skip

            def checkpoint(st: UploadState) -> None:
                job.remote_upload_id, job.remote_part_size, job.remote_parts_done = (
                    st.upload_id,
                    st.part_size,
                    st.parts_done,
                )
                self._save(job.id, remote_upload_id=st.upload_id, remote_part_size=st.part_size,
                           remote_parts_done=st.parts_done, lease_until=utcnow() + self.lease)  # fmt: skip

            resume = UploadState(job.remote_upload_id, "", job.remote_part_size, job.remote_parts_done)
            up = adapter.upload(conn, Path(job.clip_path), resume=resume if job.remote_upload_id else None,
                                checkpoint=checkpoint)  # fmt: skip
            job.remote_video_id = up.video_id
            self._save(job.id, remote_upload_id=up.upload_id, remote_video_id=up.video_id)
        if job.remote_post_id:
            result = adapter.post_status(conn, job.remote_post_id)
        else:
            self._step(job.id, "processing", f"creating the post (Idempotency-Key {job.idempotency_key})")
            result = adapter.create_post(
                conn, UploadState(job.remote_upload_id, job.remote_video_id),
                caption=job.caption, certificate=job.certificate, idempotency_key=job.idempotency_key,
            )  # fmt: skip
            self._save(job.id, remote_post_id=result.post_id)
            if result.replay:
                self._event(job.id, "processing",
                            f"the platform answered the replay with post {result.post_id}: no second post")  # fmt: skip
        return self._result(job.id, result)

    def _over_account_limit(self, account_id: int) -> float | None:
        """Seconds until this account may start another post under ``per_minute`` (None: now). Counted from
        the timelines: every job's first ``uploading`` step is one post started."""
        if not self.per_minute:
            return None
        now = utcnow()
        with self.db.session() as s:
            started = s.execute(
                select(func.min(PublishEvent.at)).join(PublishJob, PublishJob.id == PublishEvent.job_id)
                .where(PublishJob.account_id == account_id, PublishEvent.state == "uploading")
                .group_by(PublishEvent.job_id).having(func.min(PublishEvent.at) >= now - timedelta(seconds=60))
            ).scalars().all()  # fmt: skip
        if len(started) < self.per_minute:
            return None
        oldest = sorted(started)[len(started) - self.per_minute]  # when it leaves the window, one is free
        return max(1.0, (oldest + timedelta(seconds=60) - now).total_seconds())

    def _slow_down(self, job_id: int, message: str, delay: float) -> str:
        """Re-queue without counting a failed attempt: the platform (429, a quota) or our per-account limit
        asked us to wait."""
        with self.db.session() as s:
            j = s.get(PublishJob, job_id)
            j.rate_waits += 1
            self._set(s, j, "queued", message, reason=message)
            j.not_before, j.lease_until = utcnow() + timedelta(seconds=delay), None
        self.enqueue(job_id, delay)
        return "queued"

    def _certificate_fails(self, job: PublishJob) -> str | None:
        """Certificate first, at run time too: a job may run hours after it was queued (retries), and the
        certificate may have been revoked or have expired meanwhile."""
        status = self.certificates.status_of(job.certificate_id)
        if status is None:
            return f"certificate {job.certificate_id} is unknown to this installation"
        v = verify_certificate(job.certificate, self.certificates.jwks(), now=utcnow(), status=status)
        return None if v.valid else f"{v.code}: {v.reason}"

    def _result(self, job_id: int, result) -> str:
        if result.status == "published":
            return self._final(
                job_id, "published", f"published as {result.post_id}: {result.reason}".rstrip(": ")
            )
        if result.status == "rejected":
            return self._final(
                job_id, "rejected", result.reason or "rejected by the platform (no reason given)"
            )
        if result.status == "needs_confirmation":  # a webhook may already have settled it: that stays
            return self._final(
                job_id,
                "needs_confirmation",
                result.reason or "waiting for the user to confirm on the platform",
                only_from=("queued", *IN_FLIGHT),
            )
        if result.status == "taken_down":
            return self._final(job_id, "failed", f"the post {result.post_id} was taken down: {result.reason}")
        # held for the platform's own check: read it again later
        with self.db.session() as s:
            j = s.get(PublishJob, job_id)
            self._set(
                s,
                j,
                "queued",
                f"post {result.post_id} is processing on the platform: {result.reason}".rstrip(": "),
            )
            j.not_before, j.lease_until = utcnow() + timedelta(seconds=self.poll_seconds), None
        self.enqueue(job_id, self.poll_seconds)
        return "queued"

    def _on_error(self, job_id: int, adapter_name: str, account_name: str, exc: AdapterError) -> str:
        if exc.outcome is Outcome.AUTH:
            said = (
                str(exc)
                if str(exc).startswith(f"account {account_name!r}")
                else (f"account {account_name!r} needs reconnecting: {exc}")
            )
            return self._final(job_id, "failed", f"{said}. After reconnecting, `hutong jobs retry {job_id}`")  # fmt: skip
        if exc.outcome is Outcome.REJECTED:
            return self._final(job_id, "rejected", str(exc))
        if exc.outcome is Outcome.FAILED:
            return self._final(job_id, "failed", str(exc))
        if exc.outcome is Outcome.UNKNOWN:
            if not self._idempotent(adapter_name, job_id):
                return self._final(job_id, "needs_confirmation", f"{exc}. Check the platform; if nothing was posted, "
                                   "`hutong jobs retry`")  # fmt: skip
            message = f"{exc}: replaying the same request with the same Idempotency-Key"
            return self._requeue(job_id, message, 1.0)
        with self.db.session() as s:
            j = s.get(PublishJob, job_id)
            attempts, waits = j.attempts, j.rate_waits
        if exc.rate_limited:  # slowed down, not failing: re-queued however often it happens
            delay = exc.retry_after if exc.retry_after is not None else backoff(waits + 1)
            return self._slow_down(job_id, f"{exc}: trying again in {delay:.0f} s", delay)
        if attempts - waits >= MAX_ATTEMPTS:
            return self._final(job_id, "failed", f"gave up after {attempts - waits} attempts: {exc}")
        delay = exc.retry_after if exc.retry_after is not None else backoff(attempts - waits)
        return self._requeue(job_id, f"{exc}: trying again in {delay:.0f} s", delay)

    def _idempotent(self, adapter_name: str, job_id: int) -> bool:
        with self.db.session() as s:
            acc = s.get(DistributionAccount, s.get(PublishJob, job_id).account_id)
            url = acc.platform_url
        try:
            return self.accounts.adapter(adapter_name).capabilities(url).idempotent_create
        except AdapterError:
            return False

    def _requeue(self, job_id: int, message: str, delay: float) -> str:
        with self.db.session() as s:
            j = s.get(PublishJob, job_id)
            self._set(s, j, "queued", message, reason=message)
            j.not_before, j.lease_until = utcnow() + timedelta(seconds=delay), None
        self.enqueue(job_id, delay)
        return "queued"

    def _final(
        self,
        job_id: int,
        state: str,
        message: str,
        *,
        keep_reason: bool = False,
        only_from: tuple[str, ...] = (),
    ) -> str:
        """``keep_reason``: the job's reason stays (a take-down keeps why); ``only_from``: change nothing unless
        the job is still in one of these states (a platform's webhook may have settled it first)."""
        with self.db.session() as s:
            j = s.get(PublishJob, job_id)
            if only_from and j.state not in only_from:
                j.lease_until = None
                return j.state
            reason = None if keep_reason else "" if state == "published" else message
            self._set(s, j, state, message, reason=reason)
            j.lease_until, j.not_before = None, None
        log.info("job.done", job=job_id, state=state)
        return state

    def _step(self, job_id: int, state: str, message: str) -> None:
        with self.db.session() as s:
            j = s.get(PublishJob, job_id)
            self._set(s, j, state, message)
            j.lease_until = utcnow() + self.lease

    def _event(self, job_id: int, state: str, message: str) -> None:
        with self.db.session() as s:
            s.add(PublishEvent(job_id=job_id, state=state, message=message[:5000]))

    def _save(self, job_id: int, **values) -> None:
        with self.db.session() as s:
            s.execute(update(PublishJob).where(PublishJob.id == job_id).values(**values, updated_at=utcnow()))

    @staticmethod
    def _set(s, j: PublishJob, state: str, message: str, *, reason: str | None = None) -> None:
        j.state, j.updated_at = state, utcnow()
        if reason is not None:
            j.reason = reason[:5000]
        s.add(PublishEvent(job_id=j.id, state=state, message=message[:5000]))

    @staticmethod
    def _view(j: PublishJob, a: DistributionAccount) -> JobView:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return JobView(j.id, a.name, a.platform_url, a.platform_name, j.clip_path, j.clip_sha256, j.certificate_id,
                       j.state, j.reason, j.remote_post_id, j.attempts, iso(j.not_before), j.created_at.isoformat(),
                       j.updated_at.isoformat(), parts_done=j.remote_parts_done, part_size=j.remote_part_size,
                       uploaded=bool(j.remote_video_id))  # fmt: skip
