"""The composition root: settings → database → every service, each given its collaborators explicitly.

Built at run time (never at import), once per process or test. The CLI, ``hutong serve``, the demo and the
tests all build hutong here, so no two entry points wire it differently.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path

import httpx

from hutong.claims import Claims, ClipUse, DeadlineJob, Disputes, Ledger, Policies
from hutong.compliance.checks import TASK as CHECK_TASK
from hutong.compliance.checks import ClipChecks
from hutong.compliance.service import Compliance
from hutong.compliance.uses import Uses
from hutong.config import Settings, get_settings
from hutong.distribute import Distribution, policy_client
from hutong.errors import HutongError
from hutong.fingerprint import default_signals
from hutong.keys import KeyRing
from hutong.match import MatchReport, Recognizer
from hutong.platform import Platform
from hutong.platform.outbound import Outbound
from hutong.rights import Catalogue, Creators, Licences, TitleLists
from hutong.rights.holdings import Holdings, Registrations
from hutong.rights.registration import TASK as REGISTER_TASK
from hutong.rights.registration import RegistrationJobs
from hutong.store import Database, utcnow


class OwnCertificates:
    """This installation's certificate authority as the platform sees it (:class:`CertificateAuthority`)."""

    def __init__(self, compliance: Compliance) -> None:
        self.compliance = compliance

    def jwks(self) -> dict:
        return self.compliance.jwks()

    def status_of(self, jti: str) -> dict | None:
        try:
            return self.compliance.status_claims(jti)
        except HutongError:
            return None  # not one of ours: the caller reports it as unknown


class CatalogueRecogniser:
    """Recognition against this installation's catalogue (:class:`Recogniser`); a held post's claims."""

    def __init__(
        self, recognizer: Recognizer, compliance: Compliance, claims: Claims, platform_name: str
    ) -> None:
        self.recognizer, self.compliance, self.claims = recognizer, compliance, claims
        self.platform_name = platform_name
        self._last: tuple[Path, MatchReport] | None = None  # a held post is recognised once, not twice

    def works_in(self, path: Path) -> list[str]:
        report = self.recognizer.match(path)
        self._last = (path, report)
        return sorted({f"《{seg.work_title}》" for seg in report.segments})

    def held(self, post_id: str, path: Path, sha256: str, account_id: int) -> None:
        last = self._last
        report = last[1] if last and last[0] == path else self.recognizer.match(path)
        creator = self.claims.poster(account_id)
        try:  # a poster who is a registered creator keeps what their licences cover on this platform
            result = self.compliance.check(path, creator, self.platform_name, report=report)
        except HutongError:  # not a registered creator: no licence can be theirs, every match counts
            self.claims.record_post(post_id, sha256, creator, report, self.platform_name)
            return
        self.claims.record(ClipUse.of_check(result, post_id=post_id, source="ingest"))


class Hutong:
    def __init__(
        self, settings: Settings, db: Database, http: httpx.Client, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.settings, self.db, self.http = settings, db, http
        signals = default_signals(settings.signals)
        self.recognizer = Recognizer(settings, db, signals)
        self.catalogue = Catalogue(
            db,
            signals,
            max_bytes=settings.max_media_bytes,
            max_seconds=settings.max_media_seconds,
            recognizer=self.recognizer,
        )
        self.creators, self.licences = Creators(db), Licences(db)
        self.title_lists = TitleLists(db, self.licences)
        keyring = KeyRing(settings.keys_dir / "certificates")
        self.compliance = Compliance(settings, db, self.recognizer, self.creators, self.licences, keyring)
        self.checks = ClipChecks(
            db,
            self.compliance,
            lease=timedelta(seconds=settings.registration_lease_seconds),
            connect=lambda: self.distribution,
        )  # the console's checks, on the job queue
        # the rights holder's console: uploads registered in the background, thumbnails, uses of works
        # registration as queue jobs (folders from the CLI, uploads from the console): the queue is built
        # with distribution's, on first use
        self.registration_jobs = RegistrationJobs(
            db, self.catalogue, lease=timedelta(seconds=settings.registration_lease_seconds),
            connect=lambda: self.distribution,
        )  # fmt: skip
        self.registrations = Registrations(
            self.registration_jobs, settings.media_dir / "works", max_bytes=settings.max_media_bytes
        )
        self.holdings = Holdings(db, self.catalogue, self.licences, settings.media_dir / "thumbnails")
        self.uses = Uses(db, platform_name=settings.platform_name, issuer=settings.issuer,
                         cache_ttl=settings.console_uses_seconds)  # fmt: skip
        # claims: ``clock`` decides deadlines (tests pass a controlled one)
        self.policies, self.ledger = Policies(db, clock), Ledger(db, clock)
        self.claims = Claims(db, self.policies, self.ledger, clock)
        self.disputes = Disputes(db, self.claims, clock)

    @classmethod
    def create(
        cls,
        settings: Settings | None = None,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> Hutong:
        """``http`` carries every outbound request (other platforms' keys, manifests, identity providers);
        tests may pass a client with their own transport."""
        settings = settings or get_settings()
        return cls(
            settings,
            Database(settings.db_url),
            http or httpx.Client(timeout=10, follow_redirects=False),
            clock,
        )

    @cached_property
    def platform(self) -> Platform:
        """The open platform (built on first use: most CLI commands never need it)."""
        return Platform.create(
            self.settings,
            self.db,
            certificates=OwnCertificates(self.compliance),
            recogniser=CatalogueRecogniser(
                self.recognizer, self.compliance, self.claims, self.settings.platform_name
            ),
            http=self.http,
        )

    @cached_property
    def distribution(self) -> Distribution:
        """Connected accounts and publishing jobs (built on first use)."""
        distribution = Distribution.create(
            self.settings,
            self.db,
            certificates=OwnCertificates(self.compliance),
            creators=self.creators,
            vault=self.platform.vault,
            http=policy_client(
                Outbound.from_settings(self.settings)
            ),  # its own: the policy on every connection
        )
        # registration jobs travel on the same queue: every consumer of it (serve's, `hutong worker`) runs
        # them, and its housekeeping takes over those a dead worker left
        jobs = self.registration_jobs
        jobs.attach(distribution.queue.add(REGISTER_TASK, jobs.run))
        distribution.add_kind(jobs, lease=jobs.lease)
        self.checks.attach(
            distribution.queue.add(CHECK_TASK, self.checks.run)
        )  # the console's clip checks too
        distribution.add_kind(self.checks, lease=self.checks.lease)
        return distribution

    @cached_property
    def deadlines(self) -> DeadlineJob:
        """Dispute, appeal and review deadlines: a job on the distribution queue."""
        return DeadlineJob(self.distribution.queue.huey, self.disputes.run_deadlines)

    def close(self) -> None:
        if "distribution" in self.__dict__:
            self.distribution.http.close()
        self.http.close()
        self.db.dispose()
