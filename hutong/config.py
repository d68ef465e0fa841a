"""Typed settings, read from the environment (``HUTONG_*``) or a ``.env`` file.

Settings are built by :func:`get_settings` at run time, never at import time, so tests can point
``HUTONG_HOME`` at a temporary folder.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".hutong"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUTONG_", env_file=".env", extra="ignore")

    home: Path = Field(
        default_factory=_default_home, description="Folder holding the database, index and keys."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; defaults to SQLite in HUTONG_HOME (PostgreSQL by URL)."
    )
    index_backend: str = Field(default="faiss-flat", description="Match index backend (see `hutong.index`).")
    max_media_bytes: int = Field(default=8 * 1024**3, gt=0, description="Larger files are refused.")
    max_media_seconds: float = Field(default=6 * 3600, gt=0, description="Longer media is refused.")
    issuer: str = Field(
        default="http://127.0.0.1:8000",
        description="This instance's public URL: the `iss` of its certificates and tokens.",
    )
    certificate_days: int = Field(default=365, gt=0, le=3650, description="Longest certificate lifetime.")

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, v: str) -> str:
        return v.rstrip("/")

    @field_validator("home")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'hutong.db'}"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"


def get_settings(**overrides: object) -> Settings:
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.home.mkdir(parents=True, exist_ok=True)
    return settings
