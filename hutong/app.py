"""Application factory: one object wiring settings, database and services (built at run time, not import)."""

from __future__ import annotations

from dataclasses import dataclass

from hutong.config import Settings, get_settings
from hutong.fingerprint import default_signals
from hutong.match import Recognizer
from hutong.rights import Catalogue
from hutong.store import Database


@dataclass
class Hutong:
    settings: Settings
    db: Database
    recognizer: Recognizer
    catalogue: Catalogue

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
        return cls(settings, db, recognizer, catalogue)

    def close(self) -> None:
        self.db.dispose()
