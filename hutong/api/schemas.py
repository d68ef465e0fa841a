"""Request and response bodies of the JSON API (their limits are part of the contract, see /docs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountIn(_Body):
    username: str = Field(
        min_length=3, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]+$", examples=["alice"]
    )
    password: str = Field(min_length=10, max_length=1024)
    display_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320, pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SessionIn(_Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class DeveloperIn(_Body):
    """An individual needs only ``display_name``; an enterprise names its route and what that route needs."""

    kind: Literal["individual", "enterprise"]
    display_name: str = Field(min_length=1, max_length=200)
    company_name: str = Field(default="", max_length=300)
    uscc: str = Field(default="", max_length=40, description="Unified social credit code (18 characters).")
    route: Literal["resident_id", "attestation", "micro_deposit"] | None = None
    legal_rep_name: str = Field(default="", max_length=200)
    legal_rep_id: str = Field(default="", max_length=40, description="Never returned: only a masked form is.")
    attestation: str = Field(default="", max_length=20000, description="Compact JWS from a trusted verifier.")
    bank_account: str = Field(default="", max_length=40)


class DepositIn(_Body):
    amount_cents: int = Field(ge=1, le=99)


class AppealIn(_Body):
    text: str = Field(min_length=10, max_length=5000)


class AppIn(_Body):
    name: str = Field(min_length=1, max_length=200)
    client_type: Literal["confidential", "public"]
    redirect_uris: list[str] = Field(default_factory=list, max_length=10)
    scopes: list[str] = Field(min_length=1, max_length=20)
    privacy_policy_url: str = Field(default="", max_length=2000)
    webhook_url: str = Field(default="", max_length=2000)


class ErrorOut(BaseModel):
    error: str
    detail: str


class InitUploadIn(_Body):
    size: int = Field(gt=0, description="The whole video's size in bytes.")
    filename: str = Field(default="", max_length=300)


class CreateVideoIn(_Body):
    video_id: str = Field(min_length=1, max_length=64)
    text: str = Field(default="", max_length=5000)
    certificate: str = Field(
        default="", max_length=100_000, description="The clip's licence certificate (compact JWS)."
    )


class DeletePostIn(_Body):
    reason: str = Field(
        min_length=1, max_length=5000, description="Why the post is taken down (shown with it)."
    )


class ShareIn(CreateVideoIn):
    pass


class LinkIn(_Body):
    url: str = Field(
        min_length=1, max_length=4000, description="An http(s) URL.", examples=["https://example.com/"]
    )


# -- responses: every JSON route names its model, so /openapi.json is the contract --------------------


class _Out(BaseModel):
    pass


class AccountOut(_Out):
    id: int
    username: str
    display_name: str
    email: str


class LegalRepresentativeOut(_Out):
    """Only masked forms ever leave the platform."""

    name: str
    id_number: str
    deleted: bool


class DeveloperOut(_Out):
    id: int
    kind: Literal["individual", "enterprise"]
    display_name: str
    status: str = Field(description="pending, verified or rejected")
    company_name: str | None
    uscc: str | None
    route: str | None
    legal_representative: LegalRepresentativeOut | None
    policy_version: str
    created_at: str
    verified_at: str | None


class DecisionOut(_Out):
    id: int
    subject: str
    outcome: str
    rule: str
    rule_text: str
    reason: str
    policy_version: str
    decided_by: str
    at: str
    appeal_status: str
    appeal_resolution: str


class DecisionsOut(_Out):
    policy: str = Field(description="The published review policy the decisions cite.")
    decisions: list[DecisionOut]


class AppOut(_Out):
    client_id: str
    name: str
    client_type: Literal["confidential", "public"]
    redirect_uris: list[str]
    scopes_requested: list[str]
    scopes_granted: list[str]
    privacy_policy_url: str
    webhook_url: str
    status: str
    created_at: str


class AppCreatedOut(AppOut):
    client_secret: str | None = Field(description="Shown once; null for a public client.")
    webhook_secret: str | None = Field(default=None, description="Shown once, when a webhook URL was given.")


class AppsOut(_Out):
    apps: list[AppOut]


class GrantOut(_Out):
    client_id: str
    app: str
    scopes: list[str]
    since: str


class GrantsOut(_Out):
    grants: list[GrantOut]


class RevokedOut(_Out):
    revoked_tokens: int


class UploadOut(_Out):
    upload_id: str
    part_size: int
    part_count: int
    expires_at: str


class PartOut(_Out):
    part_number: int
    received: int
    part_count: int
    duplicate: bool


class VideoOut(_Out):
    video_id: str
    sha256: str
    size: int
    duration: float


class PostOut(_Out):
    post_id: str
    video_id: str
    client_id: str
    status: Literal["published", "held", "rejected", "taken_down"]
    reason: str
    certificate_id: str | None
    certificate_issuer: str | None
    text: str
    created_at: str
    idempotent_replay: bool | None = Field(
        default=None, description="True when this answers a replayed request."
    )


class ShareOut(_Out):
    share_id: str
    share_url: str
    expires_at: str


class CardOut(_Out):
    url: str
    status: Literal["card", "plain", "restricted"]
    title: str
    description: str
    image: str
    site_name: str
    reason: str
    redirects: list[str]


class RestrictionOut(_Out):
    url: str
    rule: str
    reason: str
    at: str


class RestrictionsOut(_Out):
    restrictions: list[RestrictionOut]


class DeliveryAttemptOut(_Out):
    at: str
    attempt: int
    outcome: str


class DeliveryOut(_Out):
    id: int
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_error: str
    log: list[DeliveryAttemptOut]
    data: dict
    created_at: str
    delivered_at: str | None


class DeliveriesOut(_Out):
    deliveries: list[DeliveryOut]


class JWKSOut(_Out):
    model_config = ConfigDict(extra="allow")
    issuer: str
    keys: list[dict]


class ManifestOut(_Out):
    manifest: dict = Field(description="What this platform opens to others (see docs/interconnect.md).")
    signature: str = Field(description="The manifest as a compact JWS signed with the certificate keys.")


class DiscoveryOut(_Out):
    """OpenID Provider Metadata (OpenID Connect Discovery 1.0, RFC 8414)."""

    model_config = ConfigDict(extra="allow")
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    revocation_endpoint: str
    introspection_endpoint: str
    scopes_supported: list[str]
    response_types_supported: list[str]
    grant_types_supported: list[str]
    code_challenge_methods_supported: list[str]


class TokenOut(_Out):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str = ""
    refresh_token: str | None = None
    id_token: str | None = None


class OAuthErrorOut(_Out):
    """RFC 6749 section 5.2."""

    error: str
    error_description: str | None = None


class IntrospectionOut(_Out):
    """RFC 7662; only ``active`` when the token is not usable."""

    model_config = ConfigDict(extra="allow")
    active: bool


class UserInfoOut(_Out):
    model_config = ConfigDict(extra="allow")
    sub: str


# -- distribution: a creator's connected accounts on other platforms and publishing jobs -----------------

AccountName = Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$", description="What `to` names.")
JobState = Literal["queued", "uploading", "processing", "published", "needs_confirmation", "rejected", "failed",
                   "cancelled", "take_down", "taken_down", "flagged"]  # fmt: skip


class ConnectIn(_Body):
    """Connect an account on another platform with this service's app there (OAuth 2.0 code + PKCE)."""

    name: str = AccountName
    platform_url: str = Field(min_length=8, max_length=500, pattern=r"^https?://[^\s/?#@]+(/[^\s?#]*)?$")
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: str = Field(default="", max_length=500, description="Stored encrypted; never returned.")
    redirect_uri: str = Field(min_length=8, max_length=2000, pattern=r"^https?://\S+$")
    adapter: str = Field(default="hutong", min_length=1, max_length=50, pattern=r"^[a-z0-9_-]+$")


class FinishIn(_Body):
    redirected_url: str = Field(
        min_length=1, max_length=4000, description="The whole URL the platform redirected the browser to."
    )


class PublishIn(_Body):
    clip_id: str = Field(pattern=r"^[0-9a-f]{64}$", description="What POST /api/distribution/clips returned.")
    certificate: str = Field(
        min_length=1, max_length=100_000, description="The clip's certificate (compact JWS)."
    )
    to: list[str] = Field(min_length=1, max_length=20, description="Names of your connected accounts.")
    caption: str = Field(default="", max_length=5000, description="The licence's attribution is added.")
    at: str | None = Field(
        default=None,
        max_length=64,
        description="Publish at this time, with its time zone: 2026-12-01T20:00+08:00.",
    )
    dry_run: bool = Field(default=False, description="Check everything, publish nothing.")


class ConnectOut(_Out):
    account: str
    authorization_url: str = Field(description="Open it, allow, then send the URL you are sent to (finish).")
    state: str
    platform_name: str


class ConnectedAccountOut(_Out):
    name: str
    adapter: str
    platform_url: str
    platform_name: str
    status: Literal["pending", "connected", "needs_reconnect", "removed"]
    status_reason: str
    scope: str
    expires_at: str | None
    history: list[dict]


class ConnectedAccountsOut(_Out):
    accounts: list[ConnectedAccountOut]


class RemovedAccountOut(_Out):
    removed: str


class ClipOut(_Out):
    clip_id: str = Field(description="The clip's SHA-256: what publish names.")
    size: int


class TargetOut(_Out):
    account: str
    ok: bool
    message: str
    job_id: int | None
    state: str | None
    duplicate: bool
    caption: str
    not_before: str | None


class PublishOut(_Out):
    dry_run: bool
    at: str | None
    targets: list[TargetOut]


class TimelineEventOut(_Out):
    at: str
    state: str
    message: str


class JobOut(_Out):
    id: int
    account: str
    platform_url: str
    platform_name: str
    clip_sha256: str
    certificate_id: str
    state: JobState
    reason: str
    remote_post_id: str
    attempts: int
    not_before: str | None
    created_at: str
    updated_at: str
    timeline: list[TimelineEventOut] = Field(description="Empty in lists; every step in GET /jobs/{id}.")
    parts_done: int = Field(0, description="Upload progress: parts the platform has accepted.")
    part_size: int = Field(0, description="Bytes per part (0 until the platform has said).")
    uploaded: bool = Field(False, description="The platform has the whole clip.")


class JobsOut(_Out):
    jobs: list[JobOut]


# -- claims: revenue reports from apps, claims and disputes for creators, holder accuracy for staff -------


class RevenueIn(_Body):
    report_id: str = Field(
        min_length=1, max_length=200, description="Your id of this report: sending it again is harmless."
    )
    post_id: str = Field(min_length=1, max_length=64)
    amount_minor: int = Field(description="Revenue in minor units of the currency (fen, cents); more than 0.")
    currency: str = Field(min_length=1, max_length=16, examples=["CNY"], description="ISO 4217 code.")


class LedgerLegOut(_Out):
    account: str
    amount_minor: int


class RevenueOut(_Out):
    report_id: str
    post_id: str
    amount_minor: int
    currency: str
    earned_at: str
    legs: list[LedgerLegOut]
    replay: bool = Field(description="True when this report was already recorded (nothing was added).")


class ClaimSegmentOut(_Out):
    work_id: int
    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    verdict: str
    rule: str
    reason: str
    score: float
    signals: list[str]


class ClaimFixOut(_Out):
    from_: float = Field(alias="from", serialization_alias="from")
    to: float
    do: Literal["trim", "mute"]
    text: str


class ClaimEventOut(_Out):
    at: str
    actor: str
    action: str
    note: str


class DisputeOut(_Out):
    reason: str
    text: str
    state: Literal["open", "reinstated", "appealed", "released", "upheld"]
    opened_at: str
    due_at: str
    appeal_text: str
    closed_at: str | None


class ClaimOut(_Out):
    code: str
    holder: str
    creator: str
    clip_sha256: str
    clip_duration: float
    platform: str
    territory: str
    post_id: str
    source: str
    action: Literal["track", "monetise", "block", "review"]
    policy: str
    rule: str
    status: Literal["tracked", "review", "active", "disputed", "reinstated", "appealed", "upheld", "released"]
    segments: list[ClaimSegmentOut]
    fix: list[ClaimFixOut]
    review_due_at: str | None
    created_at: str
    updated_at: str
    released_at: str | None
    release_reason: str
    dispute: DisputeOut | None
    events: list[ClaimEventOut] = Field(default_factory=list, description="Every step; empty in lists.")


class ClaimsOut(_Out):
    claims: list[ClaimOut]


class ClaimRecheckIn(_Body):
    check_id: str = Field(
        min_length=1, max_length=32, description="Your check of the fixed clip (made in the console, done)."
    )


class ClaimRecheckOut(ClaimOut):
    fixed: bool = Field(description="True: none of the claimed works is found unlicensed any more; released.")


class DisputeIn(_Body):
    reason: Literal["licence", "fair-use", "public-domain", "own-footage", "not-a-match"]
    text: str = Field(default="", max_length=5000)


class ClaimAppealIn(_Body):
    text: str = Field(min_length=1, max_length=5000)


class StatementLineOut(_Out):
    at: str
    txn: str
    kind: str
    post_id: str
    claim: str
    amount_minor: int
    currency: str
    amount: str
    memo: str


class StatementOut(_Out):
    account: str
    start: str | None
    end: str | None
    lines: list[StatementLineOut]
    totals: dict[str, int]
    totals_text: dict[str, str]
    held: dict[str, int] = Field(
        description="Revenue held on your disputed or unreviewed claims, per currency."
    )


class HolderAccuracyOut(_Out):
    holder: str
    claims: int
    disputed: int
    released: int
    released_share: float


class AccuracyOut(_Out):
    holders: list[HolderAccuracyOut]
