"""Tables. The database is the source of truth; match indexes are derived from ``work_fingerprints``."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite drops the zone of ``DateTime(timezone=True)``)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


_LIVE = text("removed_at IS NULL")


class Work(Base):
    """A registered work. Removal is soft (``removed_at``): licences and certificates keep naming it, and
    AUTOINCREMENT keeps SQLite from giving its id to another work."""

    __tablename__ = "works"
    __table_args__ = (
        # the same file is registered once among live works; after a removal it may be registered again
        Index("ix_works_sha256", "sha256", unique=True, sqlite_where=_LIVE, postgresql_where=_LIVE),
        # a holder's catalogue in the console, sorted by each column it offers, without sorting the table
        Index("ix_works_holder_title", "holder", "title", sqlite_where=_LIVE, postgresql_where=_LIVE),
        Index("ix_works_holder_duration", "holder", "duration", sqlite_where=_LIVE, postgresql_where=_LIVE),
        Index("ix_works_holder_created", "holder", "created_at", sqlite_where=_LIVE, postgresql_where=_LIVE),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    holder: Mapped[str] = mapped_column(String(500), default="")
    source_path: Mapped[str] = mapped_column(String(4096))
    sha256: Mapped[str] = mapped_column(String(64))
    duration: Mapped[float]
    width: Mapped[int] = mapped_column(default=0)
    height: Mapped[int] = mapped_column(default=0)
    fps: Mapped[float] = mapped_column(default=0.0)
    has_audio: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    fingerprints: Mapped[list[WorkFingerprint]] = relationship(
        back_populates="work", cascade="all, delete-orphan", passive_deletes=True
    )


class WorkFingerprint(Base):
    __tablename__ = "work_fingerprints"
    __table_args__ = (UniqueConstraint("work_id", "signal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id", ondelete="CASCADE"), index=True)
    signal: Mapped[str] = mapped_column(String(64), index=True)
    count: Mapped[int]
    times: Mapped[bytes] = mapped_column(LargeBinary)
    vectors: Mapped[bytes] = mapped_column(LargeBinary)

    work: Mapped[Work] = relationship(back_populates="fingerprints")


class CatalogueState(Base):
    """One row: bumped on every catalogue change, so a saved index knows whether it is stale."""

    __tablename__ = "catalogue_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(default=0)


class Creator(Base):
    """Someone who makes 二创: an individual or an organisation (an MCN, a studio); members point to theirs."""

    __tablename__ = "creators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(16))  # "individual" | "organisation"
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("creators.id", ondelete="RESTRICT"))
    verified: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Creator | None] = relationship(remote_side=[id])


class Licence(Base):
    """A grant of derivative use. ``terms`` is the current version; every version is kept in ``events``."""

    __tablename__ = "licences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    holder: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="active")  # "active" | "revoked"
    version: Mapped[int] = mapped_column(default=1)
    terms: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str] = mapped_column(Text, default="")

    works: Mapped[list[LicenceWork]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    events: Mapped[list[LicenceEvent]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="LicenceEvent.id"
    )


class LicenceWork(Base):
    """Which works a licence covers: a real foreign key, so a licensed work cannot vanish underneath it."""

    __tablename__ = "licence_works"

    licence_id: Mapped[int] = mapped_column(ForeignKey("licences.id", ondelete="CASCADE"), primary_key=True)
    work_id: Mapped[int] = mapped_column(
        ForeignKey("works.id", ondelete="RESTRICT"), primary_key=True, index=True
    )


class LicenceEvent(Base):
    """History: created / amended / revoked, with the terms as they stood after the event."""

    __tablename__ = "licence_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("licences.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    action: Mapped[str] = mapped_column(String(16))
    terms: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Certificate(Base):
    """An issued certificate (the signed token itself is kept, so it can be served again)."""

    __tablename__ = "certificates"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the token's jti
    clip_sha256: Mapped[str] = mapped_column(String(64), index=True)
    creator: Mapped[str] = mapped_column(String(64))
    platforms: Mapped[list] = mapped_column(JSON)
    kid: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="valid")  # "valid" | "revoked"
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str] = mapped_column(Text, default="")
    token: Mapped[str] = mapped_column(Text)

    licences: Mapped[list[CertificateLicence]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class CertificateLicence(Base):
    """Which licences a certificate rests on: revoking one revokes the certificates built on it."""

    __tablename__ = "certificate_licences"

    certificate_id: Mapped[str] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), primary_key=True
    )
    licence_id: Mapped[int] = mapped_column(
        ForeignKey("licences.id", ondelete="RESTRICT"), primary_key=True, index=True
    )


# -- open platform: accounts, developers, review, apps, OAuth ----------------------------------------


class Account(Base):
    """A user of this platform (logs in here; can authorise apps; can become a developer)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    is_staff: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """First-party bearer token for the platform's own JSON API (stored as a SHA-256 hash)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Developer(Base):
    """An account that builds apps. Enterprise legal-representative data is stored only encrypted, with a
    memory-hard keyed tag for duplicate detection (kept only while the enterprise counts for the rule) and
    masked copies for display; it can be deleted after review."""

    __tablename__ = "developers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # individual | enterprise
    display_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | verified | rejected
    company_name: Mapped[str] = mapped_column(String(300), default="")
    uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    route: Mapped[str] = mapped_column(String(32), default="")  # resident_id | attestation | micro_deposit
    legal_rep_name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    legal_rep_id_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    legal_rep_key_id: Mapped[str] = mapped_column(String(32), default="")
    legal_rep_tag: Mapped[str | None] = mapped_column(String(64), index=True)  # Vault.legal_rep_tag
    legal_rep_id_masked: Mapped[str] = mapped_column(String(32), default="")
    legal_rep_name_masked: Mapped[str] = mapped_column(String(200), default="")
    legal_rep_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)  # attestation claims / micro-deposit state
    deposit_attempts: Mapped[int] = mapped_column(default=0)  # amounts tried; counted by one atomic UPDATE
    policy_version: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship()


class ReviewDecision(Base):
    """Every review decision, automatic or by staff, with the policy version and the rule that made it."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(64))  # "developer" or "app:<client_id>:<scope>"
    outcome: Mapped[str] = mapped_column(String(16))  # approved | rejected | pending
    rule: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    policy_version: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str] = mapped_column(String(64), default="policy")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    appeal_text: Mapped[str] = mapped_column(Text, default="")
    appeal_status: Mapped[str] = mapped_column(String(16), default="")  # "" | open | upheld | overturned
    appeal_resolution: Mapped[str] = mapped_column(Text, default="")


class App(Base):
    """A developer's OAuth client."""

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    client_secret_hash: Mapped[str] = mapped_column(String(200), default="")
    developer_id: Mapped[int] = mapped_column(ForeignKey("developers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    client_type: Mapped[str] = mapped_column(String(16))  # confidential | public
    redirect_uris: Mapped[list] = mapped_column(JSON)
    scopes_requested: Mapped[list] = mapped_column(JSON)
    scopes_granted: Mapped[list] = mapped_column(JSON)
    privacy_policy_url: Mapped[str] = mapped_column(String(2000), default="")
    webhook_url: Mapped[str] = mapped_column(String(2000), default="")
    webhook_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # AES-GCM: needed in clear to sign
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | suspended
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    developer: Mapped[Developer] = relationship()


class OAuthCode(Base):
    __tablename__ = "oauth_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str] = mapped_column(String(500), default="")
    code_challenge: Mapped[str] = mapped_column(String(200))
    code_challenge_method: Mapped[str] = mapped_column(String(16))
    auth_time: Mapped[int]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    family: Mapped[str] = mapped_column(String(64))


class OAuthToken(Base):
    """Access + refresh token pair, stored as SHA-256 hashes. ``family`` links every token descended from
    one authorisation, so a replayed refresh token or code revokes them all (RFC 9700 §4.14)."""

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    grant_type: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    access_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str] = mapped_column(String(200), default="")


# -- interconnection: trusted issuers, federated login, ingest, webhooks, shares, links ---------------


class TrustedIssuer(Base):
    """Another platform whose licence certificates this platform accepts."""

    __tablename__ = "trusted_issuers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500), unique=True)
    jwks_url: Mapped[str] = mapped_column(String(2000))
    note: Mapped[str] = mapped_column(Text, default="")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdentityProvider(Base):
    """Another platform whose users may log in here ("log in with A"); this platform is an app there."""

    __tablename__ = "identity_providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FederatedIdentity(Base):
    __tablename__ = "federated_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Upload(Base):
    """A resumable chunked upload in progress (parts on disk, one checksum per part)."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(
        String(300), default=""
    )  # the client's name: metadata, never a path
    size: Mapped[int] = mapped_column(BigInteger)
    part_size: Mapped[int]
    part_count: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # set by the one completion that claimed the upload (with the video id it will make); a claim older than
    # the clean-up's deadline is a crashed completion and is released
    completing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    video_id: Mapped[str | None] = mapped_column(String(64))


class UploadPart(Base):
    """One received part of an upload: a row per part, so parts sent in parallel never overwrite each other."""

    __tablename__ = "upload_parts"

    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sha256: Mapped[str] = mapped_column(String(64))


class Video(Base):
    """An uploaded, complete and decodable video file."""

    __tablename__ = "videos"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(4096))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)  # uploads reach 2 GiB: over a 32-bit INTEGER on PostgreSQL
    duration: Mapped[float]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Post(Base):
    """A video published (or held, or refused) on this platform, with the certificate it came with."""

    __tablename__ = "posts"
    __table_args__ = (UniqueConstraint("client_id", "idempotency_key"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="RESTRICT"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))  # published | held | rejected | taken_down
    reason: Mapped[str] = mapped_column(Text, default="")
    certificate: Mapped[str] = mapped_column(Text, default="")
    certificate_id: Mapped[str] = mapped_column(String(64), default="")
    certificate_issuer: Mapped[str] = mapped_column(String(500), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(64))  # SHA-256 of the client's key
    request_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """Outbox of webhook calls: retried with backoff, then given up on, every attempt recorded."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(
        String(16), default="pending", index=True
    )  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    log: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ShareIntent(Base):
    """An app's request to share a clip, waiting for the user to confirm it on the platform's page."""

    __tablename__ = "share_intents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text, default="")
    certificate: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending | confirmed | cancelled | expired
    post_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LinkRestriction(Base):
    """Every link the safety policy restricted, with why: shown to the user who posted it."""

    __tablename__ = "link_restrictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64), default="")
    url: Mapped[str] = mapped_column(String(4000))
    rule: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccountRole(Base):
    """What a platform account may do in the console beyond its own: speak for a rights holder (the
    ``holder`` name on works and licences) or act as a creator (a ``creators.handle``). Staff are
    ``accounts.is_staff``; developers have a ``developers`` row."""

    __tablename__ = "account_roles"
    __table_args__ = (UniqueConstraint("account_id", "role", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # holder | creator
    subject: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# -- distribution: connected accounts on other platforms, publishing jobs -------------------------------


class DistributionAccount(Base):
    """A creator's account on another platform, connected by OAuth. Tokens and the client secret are
    Vault ciphertext bound to the row; reconnecting updates the row, so jobs and ``history`` stay."""

    __tablename__ = "distribution_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)  # what `--to` names
    creator: Mapped[str] = mapped_column(String(64), default="")  # the creator's handle here
    adapter: Mapped[str] = mapped_column(String(50))  # PlatformAdapter.name
    platform_url: Mapped[str] = mapped_column(String(500))
    platform_name: Mapped[str] = mapped_column(String(100))  # what certificates must cover
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret_enc: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(String(500), default="")
    access_token_enc: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    refresh_token_enc: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|connected|needs_reconnect
    status_reason: Mapped[str] = mapped_column(Text, default="")
    pending_state: Mapped[str] = mapped_column(String(100), default="")
    pending_verifier_enc: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    history: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PublishJob(Base):
    """Publishing one clip version to one account: one row per (clip SHA-256, account), whatever happens."""

    __tablename__ = "publish_jobs"
    __table_args__ = (UniqueConstraint("clip_sha256", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_sha256: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(
        ForeignKey("distribution_accounts.id", ondelete="RESTRICT"), index=True
    )
    clip_path: Mapped[str] = mapped_column(String(4096))
    certificate: Mapped[str] = mapped_column(Text)
    certificate_id: Mapped[str] = mapped_column(String(64), default="")
    caption: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(24), default="queued", index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    idempotency_key: Mapped[str] = mapped_column(String(100))
    remote_upload_id: Mapped[str] = mapped_column(String(200), default="")
    remote_part_size: Mapped[int] = mapped_column(default=0)
    remote_parts_done: Mapped[int] = mapped_column(default=0)  # a resumed upload starts after these
    remote_video_id: Mapped[str] = mapped_column(String(200), default="")
    remote_post_id: Mapped[str] = mapped_column(String(200), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    rate_waits: Mapped[int] = mapped_column(
        default=0, server_default="0"
    )  # slowed down by the platform or us
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PublishEvent(Base):
    """The timeline of a job, one row per step: what the creator reads in `hutong jobs show`."""

    __tablename__ = "publish_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("publish_jobs.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(24))
    message: Mapped[str] = mapped_column(Text, default="")


# -- console: a creator's checks -------------------------------------------------------------------------


class ClipCheck(Base):
    """A clip a creator uploaded in the console and what checking it found: the recognition report (kept,
    so another platform or a certificate needs no second recognition), the decision and the timeline."""

    __tablename__ = "clip_checks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    creator: Mapped[str] = mapped_column(String(64), index=True)  # the creator handle it was checked for
    account_id: Mapped[int] = mapped_column(Integer)  # the platform account that uploaded it
    name: Mapped[str] = mapped_column(String(255))  # the file name as uploaded
    clip_path: Mapped[str] = mapped_column(String(4096))
    clip_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    duration: Mapped[float] = mapped_column(default=0.0)
    platform: Mapped[str] = mapped_column(String(100))
    monetised: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16), default="checking")  # checking | done | failed
    reason: Mapped[str] = mapped_column(Text, default="")
    compliant: Mapped[bool | None] = mapped_column()
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    decision: Mapped[dict] = mapped_column(JSON, default=dict)
    timeline: Mapped[str] = mapped_column(Text, default="")  # the SVG picture
    certificate_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # on the job queue: the worker recognising it signs claimed_at while it runs (0013_registration)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    claimed_by: Mapped[str] = mapped_column(String(200), default="", server_default="")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# -- claims: title lists, match policies, claims, disputes, revenue ledger ------------------------------


class TitleList(Base):
    """A holder's title list (片单): works licensed together, with the creators allowed to use them."""

    __tablename__ = "title_lists"
    __table_args__ = (UniqueConstraint("holder", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(String(200))
    works: Mapped[list] = mapped_column(JSON)
    creators: Mapped[list] = mapped_column(
        JSON
    )  # the allowlist (授权白名单); empty: the licence's scope decides
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CertificateWork(Base):
    """Which works a certificate covers (its token's ``works``): where a rights holder's works are used."""

    __tablename__ = "certificate_works"

    certificate_id: Mapped[str] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), primary_key=True
    )
    work_id: Mapped[int] = mapped_column(
        ForeignKey("works.id", ondelete="RESTRICT"), primary_key=True, index=True
    )


class MatchPolicy(Base):
    """What a holder wants done with unlicensed use of its works (track, monetise, block, review), for the
    holder, one title list or one work. ``rules`` is the current version; ``events`` keeps every version."""

    __tablename__ = "match_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    holder: Mapped[str] = mapped_column(String(500), index=True)
    scope: Mapped[str] = mapped_column(String(16))  # holder | title_list | work
    target: Mapped[str] = mapped_column(String(200), default="")  # the title list's name or the work's id
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | retired
    version: Mapped[int] = mapped_column(default=1)
    rules: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    events: Mapped[list[MatchPolicyEvent]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="MatchPolicyEvent.id"
    )


class MatchPolicyEvent(Base):
    __tablename__ = "match_policy_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("match_policies.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    action: Mapped[str] = mapped_column(String(16))
    rules: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Claim(Base):
    """A holder's claim on a clip: the segments (with timestamps), the evidence and the policy rule that
    applied. Never deleted: a released claim keeps its row and its timeline."""

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    holder: Mapped[str] = mapped_column(String(500), index=True)
    creator: Mapped[str] = mapped_column(String(64), index=True)
    clip_sha256: Mapped[str] = mapped_column(String(64), index=True)
    work_id: Mapped[int | None] = mapped_column(ForeignKey("works.id", ondelete="RESTRICT"), index=True)
    clip_duration: Mapped[float] = mapped_column(default=0.0)
    platform: Mapped[str] = mapped_column(String(100), default="")
    territory: Mapped[str] = mapped_column(String(8), default="")
    post_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    source: Mapped[str] = mapped_column(String(16))  # check | ingest | manual
    action: Mapped[str] = mapped_column(String(16))  # monetise | block | review
    policy: Mapped[str] = mapped_column(String(64), default="")  # "MP-1@v2"
    rule: Mapped[str] = mapped_column(Text, default="")
    segments: Mapped[list] = mapped_column(JSON)
    evidence: Mapped[dict] = mapped_column(JSON)
    fix: Mapped[list] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    review_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    release_reason: Mapped[str] = mapped_column(Text, default="")

    events: Mapped[list[ClaimEvent]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ClaimEvent.id"
    )


class ClaimEvent(Base):
    """One step of a claim or its dispute, visible to both the holder and the creator."""

    __tablename__ = "claim_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(600))
    action: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")


class Dispute(Base):
    """The creator's dispute of a claim (one per claim), and the appeal after a reinstatement."""

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="RESTRICT"), unique=True)
    creator: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(
        String(32)
    )  # licence | fair-use | public-domain | own-footage | not-a-match
    text: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(
        String(16), index=True
    )  # open | reinstated | appealed | released | upheld
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # the deadline of the current step
    appeal_text: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RevenueReport(Base):
    """Revenue a platform reported for one post; ``(reporter, report_id)`` makes a report idempotent."""

    __tablename__ = "revenue_reports"
    __table_args__ = (UniqueConstraint("reporter", "report_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reporter: Mapped[str] = mapped_column(String(200))
    report_id: Mapped[str] = mapped_column(String(200))
    post_id: Mapped[str] = mapped_column(String(64), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    request_hash: Mapped[str] = mapped_column(String(64))


class LedgerEntry(Base):
    """One leg of a balanced movement (every ``txn`` sums to zero per currency). Rows are only ever added."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    txn: Mapped[str] = mapped_column(String(64), index=True)
    account: Mapped[str] = mapped_column(String(600), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    memo: Mapped[str] = mapped_column(Text, default="")
    report_id: Mapped[int | None] = mapped_column(ForeignKey("revenue_reports.id", ondelete="RESTRICT"))
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id", ondelete="RESTRICT"), index=True)


class ReferenceExclusion(Base):
    """A range of a work its holder does not own exclusively (trailer, public domain, licensed-in)."""

    __tablename__ = "reference_exclusions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str] = mapped_column(String(500))
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id", ondelete="RESTRICT"), index=True)
    start: Mapped[float]
    end: Mapped[float]
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MatchSuppression(Base):
    """A reviewer's "not a copy": the same clip never again claimed for that work."""

    __tablename__ = "match_suppressions"
    __table_args__ = (UniqueConstraint("clip_sha256", "work_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_sha256: Mapped[str] = mapped_column(String(64))
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id", ondelete="RESTRICT"), index=True)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class OwnershipConflict(Base):
    """Two holders' references match each other: no claims on either range until it is resolved."""

    __tablename__ = "ownership_conflicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_a: Mapped[int] = mapped_column(ForeignKey("works.id", ondelete="RESTRICT"), index=True)
    start_a: Mapped[float]
    end_a: Mapped[float]
    work_b: Mapped[int] = mapped_column(ForeignKey("works.id", ondelete="RESTRICT"), index=True)
    start_b: Mapped[float]
    end_b: Mapped[float]
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    owner: Mapped[str] = mapped_column(String(500), default="")  # the holder found to own the footage
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReferenceQuarantine(Base):
    """A reference that suddenly matched a large share of new clips: its new claims are only tracked until
    its holder (or staff) lifts the quarantine."""

    __tablename__ = "reference_quarantines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id", ondelete="RESTRICT"), index=True)
    share: Mapped[float]
    clips: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | lifted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# -- registration jobs: works registered through the job queue ------------------------------------------


class RegistrationJob(Base):
    """One file to register as a work, run by whichever worker claims it: queued → fingerprinting → done
    (with the work) or failed (with the catalogue's reason). A batch is the files of one `works add` or one
    console upload; ``claimed_at`` is the worker's heartbeat while it fingerprints."""

    __tablename__ = "registration_jobs"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused: a page left open names one

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch: Mapped[str] = mapped_column(String(32), index=True)
    path: Mapped[str] = mapped_column(String(4096))  # on the media store every worker shares
    filename: Mapped[str] = mapped_column(String(300))  # as the person named it (an upload's own name)
    upload: Mapped[bool] = mapped_column(default=False)  # an upload of ours: removed when refused
    title: Mapped[str] = mapped_column(String(600))
    holder: Mapped[str] = mapped_column(String(500), index=True)
    check_duplicates: Mapped[bool] = mapped_column(default=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    work_id: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default="")
    duration: Mapped[float] = mapped_column(default=0.0)  # of the registered work (media seconds)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str] = mapped_column(String(200), default="")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
