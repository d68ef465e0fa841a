"""The composition root: settings → database → every service, each given its collaborators explicitly.

Built at run time (never at import), once per process or test. The CLI, ``hutong serve``, the demo and the
tests all build hutong here, so no two entry points wire it differently.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import httpx

from hutong.compliance.service import Compliance
from hutong.config import Settings, get_settings
from hutong.distribute import Distribution
from hutong.errors import HutongError
from hutong.fingerprint import default_signals
from hutong.keys import KeyRing
from hutong.match import Recognizer
from hutong.platform import Platform
from hutong.rights import Catalogue, Creators, Licences
from hutong.store import Database


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
    """Recognition against this installation's catalogue (:class:`Recogniser`)."""

    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer

    def works_in(self, path: Path) -> list[str]:
        return sorted({f"《{seg.work_title}》" for seg in self.recognizer.match(path).segments})


class Hutong:
    def __init__(self, settings: Settings, db: Database, http: httpx.Client) -> None:
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
        keyring = KeyRing(settings.keys_dir / "certificates")
        self.compliance = Compliance(settings, db, self.recognizer, self.creators, self.licences, keyring)

    @classmethod
    def create(cls, settings: Settings | None = None, *, http: httpx.Client | None = None) -> Hutong:
        """``http`` carries every outbound request (other platforms' keys, manifests, identity providers);
        tests may pass a client with their own transport."""
        settings = settings or get_settings()
        return cls(
            settings, Database(settings.db_url), http or httpx.Client(timeout=10, follow_redirects=False)
        )

    @cached_property
    def platform(self) -> Platform:
        """The open platform (built on first use: most CLI commands never need it)."""
        return Platform.create(
            self.settings,
            self.db,
            certificates=OwnCertificates(self.compliance),
            recogniser=CatalogueRecogniser(self.recognizer),
            http=self.http,
        )

    @cached_property
    def distribution(self) -> Distribution:
        """Connected accounts and publishing jobs (built on first use)."""
        return Distribution.create(
            self.settings,
            self.db,
            certificates=OwnCertificates(self.compliance),
            vault=self.platform.vault,
            http=self.http,
        )

    def close(self) -> None:
        self.http.close()
        self.db.dispose()
