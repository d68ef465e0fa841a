"""Typed settings, read from the environment (``HUTONG_*``) or a ``.env`` file.

Settings are built by :func:`get_settings` at run time, never at import time, so tests can point
``HUTONG_HOME`` at a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
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
    hold_certified: bool = Field(
        default=False,
        description="Hold posts that come with a valid licence certificate too, for this platform's own check, "
        "until staff release or reject them (`hutong platform release|reject POST_ID`).",
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
    # distribution
    redis_url: str | None = Field(
        default=None,
        description="The job queue (publishing, registration, console checks, deadlines) on Redis (e.g. "
        "redis://host:6379/0), run by `hutong worker` processes; by default an embedded SQLite queue in "
        "HUTONG_HOME. With it set, `hutong works add` queues per-file jobs (--here: in process).",
    )
    distribution_workers: int = Field(
        default=2, ge=1, le=64, description="Publishing jobs run at once per worker."
    )
    distribution_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A post the platform holds for its own check is read again after this many seconds.",
    )
    distribution_lease_seconds: float = Field(
        default=300.0,
        ge=2,
        le=86400,
        description="How long a worker holds a job without a sign of life "
        "before other workers take it over (a dead worker's job waits this long on Redis).",
    )
    distribution_account_per_minute: int = Field(
        default=30,
        ge=0,
        le=100_000,
        description="Posts created per connected account in any minute; "
        "more wait in the queue (re-queued, not failed). 0: no limit of ours (the platform's 429 still holds).",
    )
    distribution_in_serve: bool = Field(
        default=True,
        description="`hutong serve` runs the publishing jobs itself on the embedded queue (no "
        "separate `hutong worker` needed); with Redis, workers run them.",
    )
    console_uses_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="How long the console reuses a holder's uses (the list and its charts) while a person "
        "pages and sorts the same filtered list (0: read every time); a new use shows at most this late.",
    )
    # Milvus (index backend "milvus"; pip install 'hutong[milvus]')
    milvus_uri: str | None = Field(
        default=None,
        description="Milvus to hold the match index when HUTONG_INDEX_BACKEND=milvus, e.g. "
        "http://127.0.0.1:19530 (standalone) or a cluster's proxy.",
    )
    milvus_token: SecretStr = Field(
        default=SecretStr(""), description="Milvus credentials: 'user:password' or an API key; empty: none."
    )
    milvus_db: str = Field(default="default", description="Milvus database holding hutong's collections.")
    milvus_collection_prefix: str = Field(
        default="hutong",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="Names of this installation's collections start with it; installations sharing a "
        "Milvus use different prefixes (collections of the prefix that no checkpoint names are dropped).",
    )
    milvus_timeout: float = Field(
        default=10.0, gt=0, le=600, description="Seconds one Milvus request may take."
    )
    milvus_nprobe: int = Field(
        default=0,
        ge=0,
        le=1024,
        description="Lists of each segment a query vector scans (0: min(nlist, 32)); fewer answer sooner and "
        "find less (at 1,000 h, 16 halved the query time at recall@1 0.968 against 0.994: docs/deploy.md).",
    )
    # `hutong cluster up` (a trial cluster on loopback; see docs/deploy.md)
    behind_proxy: bool = Field(
        default=False,
        description="`hutong serve` listens on a port of its own behind a load balancer that answers at the "
        "issuer's URL (several API processes), even when the issuer is a loopback URL.",
    )
    cluster_api_processes: int = Field(default=2, ge=1, le=16, description="`hutong serve` processes.")
    cluster_workers: int = Field(default=2, ge=0, le=16, description="`hutong worker` processes.")
    cluster_postgres_bin: Path = Field(
        default=Path("/usr/lib/postgresql/15/bin"), description="Folder with initdb and pg_ctl."
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
    # recognition
    signals: str = Field(
        default="auto",
        description="Recognition signals, comma-separated (video.dct, video.motion, audio.bands, video.sscd); "
        "'auto': audio.bands and the learned video.sscd where its optional extra is installed, else the classical "
        "three (video.dct, video.motion, audio.bands).",
    )
    # several API processes
    media_path: Path | None = Field(
        default=None,
        description="Folder for uploaded media (ingest uploads and videos, console uploads, thumbnails, "
        "distribution clips); default HUTONG_HOME. Put it on storage every API process and worker reaches "
        "(one filesystem mounted on every machine) when they run on several machines.",
    )

    # registration jobs (works added through the queue: the console's uploads, `hutong works add --queue`)
    registration_lease_seconds: float = Field(
        default=120.0,
        ge=2,
        le=86400,
        description="How long a worker holds a registration without a sign of life (it signs every third of "
        "this while fingerprinting) before housekeeping queues it again for another worker.",
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

    @property
    def media_dir(self) -> Path:
        return (self.media_path or self.home).expanduser()

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


# -- the installation's issuer identity ----------------------------------------------------------
# Certificates and tokens name their issuer (`iss`), and verifiers look its keys up by that name, so an
# installation has ONE issuer, chosen once and kept in HUTONG_HOME/issuer: from HUTONG_ISSUER (or the
# config file) on first use, otherwise the default. `hutong issuer set URL` is the only way to change it.
ISSUER_FILE = "issuer"
DEFAULT_ISSUER = "http://127.0.0.1:8000"


def check_issuer_url(url: str) -> str:
    """A usable issuer: an http(s) URL with a host and nothing after the path; no trailing slash."""
    from urllib.parse import urlsplit

    from hutong.errors import HutongError

    text = url.strip().rstrip("/")
    try:
        u = urlsplit(text)
        port = u.port
    except ValueError as exc:
        raise HutongError(f"issuer {url!r} is not a URL ({exc})") from None
    if u.scheme not in ("http", "https") or not u.hostname or u.query or u.fragment or u.username:
        raise HutongError(
            f"issuer {url!r} must be an http(s) URL with a host and no query, e.g. https://hutong.example.org"
        )
    del port
    return text


def stored_issuer(home: Path) -> str | None:
    path = home / ISSUER_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def _store_issuer(home: Path, issuer: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".{ISSUER_FILE}.{os.getpid()}.tmp"
    tmp.write_text(issuer + "\n", encoding="utf-8")
    tmp.replace(home / ISSUER_FILE)


def resolve_issuer(settings: Settings, *, first: str | None = None) -> Settings:
    """``settings`` with this installation's issuer. The first call stores it (an explicitly configured
    issuer, else ``first``, else the default); later calls use the stored one, and an explicitly configured
    issuer that differs from it is an error rather than a second identity."""
    from hutong.errors import HutongError

    stored = stored_issuer(settings.home)
    explicit = "issuer" in settings.model_fields_set
    if stored is None:
        issuer = check_issuer_url(settings.issuer if explicit else (first or settings.issuer))
        _store_issuer(settings.home, issuer)
        return settings.model_copy(update={"issuer": issuer})
    if explicit and settings.issuer != stored:
        raise HutongError(
            f"this installation's issuer is {stored} (kept in {settings.home / ISSUER_FILE}), but "
            f"HUTONG_ISSUER or the config file says {settings.issuer}: certificates must name one issuer. "
            f"Unset it, or change the installation's issuer with `hutong issuer set {settings.issuer}`"
        )
    return settings.model_copy(update={"issuer": stored})


def set_issuer(home: Path, url: str) -> tuple[str | None, str]:
    """Change the installation's issuer; returns (old, new). Earlier certificates keep naming the old one."""
    new = check_issuer_url(url)
    old = stored_issuer(home)
    _store_issuer(home, new)
    return old, new


def installation_settings(**overrides: object) -> Settings:
    """Settings for a command on this installation: :func:`get_settings` with the one stored issuer."""
    return resolve_issuer(get_settings(**overrides))


def shared_database(settings: Settings) -> str:
    """The database URL of an installation served by several processes: any database they all open, so
    not SQLite in memory (each process would have its own, empty). A SQLite file is shared by processes on
    one machine (WAL; writes take turns); processes on several machines need PostgreSQL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from hutong.errors import HutongError

    try:
        url = make_url(settings.db_url)
    except ArgumentError:
        raise HutongError(f"HUTONG_DATABASE_URL {settings.db_url!r} is not a database URL") from None
    memory = url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or "mode=memory" in str(url)
    )
    if memory:
        raise HutongError(
            "several API processes need one database they all open, not SQLite in memory: set "
            "HUTONG_DATABASE_URL to a file (one machine) or to PostgreSQL (postgresql+psycopg://…), or serve "
            "with --workers 1"
        )
    return settings.db_url


def serve_port(issuer: str, port: int | None, *, behind_proxy: bool = False) -> int:
    """The port ``hutong serve`` listens on: the issuer's own port when the issuer is a loopback URL (where
    certificates' status URLs and keys point), and a different explicit port there is refused, unless a load
    balancer answers at the issuer (``behind_proxy``)."""
    from urllib.parse import urlsplit

    from hutong.errors import HutongError

    u = urlsplit(issuer)
    if behind_proxy or u.hostname not in ("127.0.0.1", "localhost", "::1"):
        return port or 8000  # a public URL: a proxy in front maps it to whatever port we listen on
    own = u.port or (443 if u.scheme == "https" else 80)
    if port is not None and port != own:
        raise HutongError(
            f"this installation's issuer is {issuer}: certificates, tokens and status URLs name it, so serving "
            f"on port {port} would publish under another identity. Run `hutong serve` (port {own}), or change "
            f"the issuer with `hutong issuer set {u.scheme}://{u.hostname}:{port}` (certificates issued "
            f"before keep naming {issuer})"
        )
    return own
