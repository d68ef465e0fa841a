"""Storage: SQLAlchemy models, engine/session handling and Alembic migrations."""

from hutong.store.db import Database
from hutong.store.models import (
    Base,
    CatalogueState,
    Certificate,
    CertificateLicence,
    Creator,
    Licence,
    LicenceEvent,
    LicenceWork,
    UTCDateTime,
    Work,
    WorkFingerprint,
    utcnow,
)

__all__ = [
    "Base",
    "CatalogueState",
    "Certificate",
    "CertificateLicence",
    "Creator",
    "Database",
    "Licence",
    "LicenceEvent",
    "LicenceWork",
    "UTCDateTime",
    "Work",
    "WorkFingerprint",
    "utcnow",
]
