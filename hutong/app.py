"""Application factory: one object wiring settings, database and services (built at run time, not import)."""

from __future__ import annotations

from dataclasses import dataclass

from hutong.compliance.service import Compliance
from hutong.config import Settings, get_settings
from hutong.fingerprint import default_signals
from hutong.match import Recognizer
from hutong.rights import Catalogue, Creators, Licences
from hutong.store import Database
from hutong.store.keys import KeyRing


@dataclass
class Hutong:
    settings: Settings
    db: Database
    recognizer: Recognizer
    catalogue: Catalogue
    creators: Creators
    licences: Licences
    compliance: Compliance

    @classmethod
    def create(cls, settings: Settings | None = None) -> Hutong:
        settings = settings or get_settings()
        db = Database(settings.db_url)
        signals = default_signals()
        recognizer = Recognizer(settings, db, signals)
        catalogue = Catalogue(
            db,
            signals,
            max_bytes=settings.max_media_bytes,
            max_seconds=settings.max_media_seconds,
            recognizer=recognizer,
        )
        creators, licences = Creators(db), Licences(db)
        keyring = KeyRing(settings.keys_dir / "certificates")
        compliance = Compliance(settings, db, recognizer, creators, licences, keyring)
        return cls(settings, db, recognizer, catalogue, creators, licences, compliance)

    def close(self) -> None:
        self.db.dispose()
