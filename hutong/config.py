"""Typed settings, read from the environment (``HUTONG_*``) or a ``.env`` file.

Settings are built by :func:`get_settings` at run time, never at import time, so tests can point
``HUTONG_HOME`` at a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


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
    keys_path: Path | None = Field(
        default=None, description="Where keys live (default HUTONG_HOME/keys); point it at provisioned keys."
    )
    platform_name: str = Field(default="hutong", max_length=100, description="Shown on the platform's pages.")
    review_policy: Path | None = Field(
        default=None, description="The review policy file (TOML); default: the one shipped with hutong."
    )
    max_body_bytes: int = Field(default=1024 * 1024, gt=0, description="Larger API request bodies get 413.")
    terms_url: str = Field(default="", description="This platform's terms of service (in its manifest).")
    # ingest
    ingest_max_bytes: int = Field(default=2 * 1024**3, gt=0, description="Largest video an app may upload.")
    ingest_max_seconds: float = Field(default=15 * 60, gt=0, description="Longest video an app may upload.")
    ingest_part_bytes: int = Field(
        default=5 * 1024**2,
        ge=64 * 1024,
        le=64 * 1024**2,
        description="Size of upload parts (the last is smaller).",
    )
    upload_hours: float = Field(default=24, gt=0, description="Uploads not completed by then are deleted.")
    uncertified: Literal["hold", "reject", "accept"] = Field(
        default="hold",
        description="Posts without a licence certificate: hold them for the platform's own recognition check "
        "(published when no registered work is found), reject them, or accept them.",
    )
    # webhooks
    webhook_attempts: int = Field(default=6, ge=1, le=20, description="Tries per webhook before giving up.")
    webhook_backoff: float = Field(
        default=2.0, gt=0, description="First retry delay in seconds; doubles each try."
    )
    webhook_timeout: float = Field(
        default=10.0, gt=0, le=120, description="Seconds one delivery attempt may take in all."
    )
    webhook_workers: int = Field(
        default=4, ge=1, le=64, description="Deliveries in flight at once (at most one per app)."
    )
    # outbound HTTP (link cards and webhooks)
    outbound_allow_networks: list[str] = Field(
        default_factory=list,
        description="CIDR networks that link cards and webhooks may reach although not public "
        '(e.g. ["127.0.0.0/8", "::1/128"] for tests); by default only global addresses are reached.',
    )
    # link cards
    link_blocklist: list[str] = Field(
        default_factory=list, description="Malicious domains (and their subdomains)."
    )
    link_rollout_percent: int = Field(
        default=100, ge=0, le=100, description="Share of accounts with link cards."
    )
    link_max_bytes: int = Field(default=1024 * 1024, gt=0, description="Largest page a link card reads.")
    link_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds a link card may take in all (redirects, every read)."
    )
    link_max_fetches: int = Field(
        default=8, ge=1, le=32, description="Link cards fetched at once per server process; more get 429."
    )
    link_max_fetches_per_account: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Link cards fetched at once for one account (or app); more get 429.",
    )

    @field_validator("outbound_allow_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress

        for net in v:
            ipaddress.ip_network(net, strict=False)  # a ValueError names the bad entry
        return v

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
        return self.keys_path or self.home / "keys"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # precedence: arguments, environment, .env, then the TOML file named by HUTONG_CONFIG
        sources = [init_settings, env_settings, dotenv_settings]
        config = os.environ.get("HUTONG_CONFIG")
        if config:
            if not Path(config).is_file():
                from hutong.errors import HutongError

                raise HutongError(f"HUTONG_CONFIG={config}: no such file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config)))
        return tuple(sources)


def get_settings(**overrides: object) -> Settings:
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.home.mkdir(parents=True, exist_ok=True)
    return settings
