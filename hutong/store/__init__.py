"""Storage: SQLAlchemy models, engine/session handling and Alembic migrations."""

from hutong.store.db import Database
from hutong.store.models import Base, CatalogueState, UTCDateTime, Work, WorkFingerprint, utcnow

__all__ = ["Base", "CatalogueState", "Database", "UTCDateTime", "Work", "WorkFingerprint", "utcnow"]
