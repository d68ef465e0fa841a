"""Platforms opening to each other: trusted certificate issuers (their JWKS fetched and cached, status
checked), identity providers for "log in with <platform>", and the signed interconnection manifest."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import select

from hutong.compliance.certificate import (
    Verification,
    peek,
    sign,
    verify_certificate,
    verify_signed,
    verify_status,
)
from hutong.config import Settings
from hutong.errors import CertificateError, PlatformError
from hutong.keys import KeyRing
from hutong.platform.outbound import Outbound
from hutong.platform.vault import Vault
from hutong.store import Database, IdentityProvider, TrustedIssuer, utcnow

log = structlog.get_logger("hutong.interconnect")
MANIFEST_TYPE = "hutong-interconnect+jwt"
JWKS_TTL = 300.0  # seconds a fetched JWKS is trusted before asking again
STATUS_TTL = 60.0


def _check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PlatformError(f"{what}: {url!r} is not an http(s) URL", 422)
    return url.rstrip("/")


class Directory:
    """Who this platform trusts, and cached copies of their published keys."""

    def __init__(
        self, db: Database, vault: Vault, settings: Settings, own_jwks, http: httpx.Client, outbound: Outbound
    ) -> None:
        """``outbound``: the address policy a manifest URL given by staff must pass before it is fetched."""
        self.db, self.vault, self.settings, self._own_jwks, self.http = db, vault, settings, own_jwks, http
        self.outbound = outbound
        self._jwks: dict[str, tuple[float, dict]] = {}
        self._status: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    # -- trusted certificate issuers -------------------------------------------------------------

    def trust(self, issuer: str, jwks_url: str | None = None, note: str = "") -> dict:
        issuer = _check_url(issuer, "issuer")
        jwks_url = _check_url(jwks_url or f"{issuer}/.well-known/jwks.json", "jwks_url")
        with self.db.session() as s:
            if s.execute(select(TrustedIssuer.id).where(TrustedIssuer.issuer == issuer)).first():
                raise PlatformError(f"{issuer} is already trusted", 409)
            s.add(TrustedIssuer(issuer=issuer, jwks_url=jwks_url, note=note))
        return {"issuer": issuer, "jwks_url": jwks_url}

    def trust_manifest(self, url: str, note: str = "") -> dict:
        """Trust the certificate issuer of the platform at ``url`` as its signed interconnection manifest
        describes it (issuer and keys), after checking that the manifest is signed by the keys that platform
        publishes and names that platform itself as issuer."""
        base = _check_url(url.strip(), "manifest URL")
        self.outbound.check(base, "manifest URL")  # staff typed it: the same address policy as webhooks
        body = fetch_manifest(self.http, base)
        issuer = str(body.get("issuer", "")).rstrip("/")
        if issuer != base:
            raise PlatformError(
                f"the manifest at {base} names {issuer!r} as its issuer: trust a platform at its own address",
                422,
            )
        jwks = (body.get("certificate_issuer") or {}).get("jwks") or f"{issuer}/.well-known/jwks.json"
        if not isinstance(jwks, str) or not jwks.startswith(issuer + "/"):
            raise PlatformError(
                f"the manifest's certificate keys ({str(jwks)[:200]!r}) are not at {issuer}", 422
            )
        return self.trust(issuer, jwks, note)

    def distrust(self, issuer: str) -> None:
        with self.db.session() as s:
            row = s.execute(
                select(TrustedIssuer).where(TrustedIssuer.issuer == issuer.rstrip("/"))
            ).scalar_one_or_none()
            if row is None:
                raise PlatformError(f"{issuer} is not a trusted issuer", 404)
            s.delete(row)
        self._jwks.pop(issuer.rstrip("/"), None)

    def trusted(self) -> list[dict]:
        with self.db.session() as s:
            rows = s.execute(select(TrustedIssuer).order_by(TrustedIssuer.id)).scalars()
            return [{"issuer": r.issuer, "jwks_url": r.jwks_url, "note": r.note} for r in rows]

    def jwks(self, issuer: str) -> dict:
        """The issuer's JWKS: our own from the key ring, others' fetched over HTTP and cached."""
        if issuer == self.settings.issuer:
            return self._own_jwks()
        with self._lock:
            hit = self._jwks.get(issuer)
            if hit and time.monotonic() - hit[0] < JWKS_TTL:
                return hit[1]
        with self.db.session() as s:
            row = s.execute(select(TrustedIssuer).where(TrustedIssuer.issuer == issuer)).scalar_one_or_none()
        if row is None:
            raise CertificateError(f"{issuer!r} is not among this platform's trusted certificate issuers")
        try:
            r = self.http.get(row.jwks_url, timeout=5, follow_redirects=False)
            r.raise_for_status()
            doc = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            if hit:  # keep working on the last good copy while the issuer is unreachable
                log.warning("jwks.stale", issuer=issuer, error=str(exc)[:200])
                return hit[1]
            raise CertificateError(f"cannot fetch the keys of {issuer} ({exc.__class__.__name__})") from None
        if doc.get("issuer", issuer) != issuer or not isinstance(doc.get("keys"), list):
            raise CertificateError(f"the JWKS at {row.jwks_url} is not {issuer}'s")
        with self._lock:
            self._jwks[issuer] = (time.monotonic(), doc)
        return doc

    def status(self, issuer: str, jti: str, jwks: dict) -> dict | None:
        """The issuer's signed status of one certificate (cached briefly); None if it cannot be had."""
        if issuer == self.settings.issuer:
            return None  # our own certificates: the caller checks the database
        key = f"{issuer} {jti}"
        hit = self._status.get(key)
        if hit and time.monotonic() - hit[0] < STATUS_TTL:
            return hit[1]
        try:
            r = self.http.get(f"{issuer}/certificates/{jti}/status", timeout=5, follow_redirects=False)
            r.raise_for_status()
            claims = verify_status(r.text.strip(), jwks, now=utcnow(), issuer=issuer)
        except (httpx.HTTPError, CertificateError) as exc:
            log.warning("status.unavailable", issuer=issuer, error=str(exc)[:200])
            return None
        self._status[key] = (time.monotonic(), claims)
        return claims

    def verify(
        self, token: str, clip: Path, *, platform_name: str, own_status=None, clip_sha256: str | None = None
    ) -> Verification:
        """Full check of a certificate presented with an upload: trusted issuer, signature, times,
        revocation, the bytes, and that the licence covers this platform."""
        try:
            _, claims = peek(token)
        except ValueError as exc:
            return Verification("malformed", f"not a certificate: {exc}")
        issuer = str(claims.get("iss", ""))
        try:
            jwks = self.jwks(issuer)
        except CertificateError as exc:
            return Verification("unknown-issuer", str(exc), claims)
        status = (
            own_status(claims.get("jti", ""))
            if issuer == self.settings.issuer and own_status
            else self.status(issuer, str(claims.get("jti", "")), jwks)
        )
        v = verify_certificate(
            token, {**jwks, "issuer": issuer}, now=utcnow(), clip=clip, clip_sha256=clip_sha256, status=status
        )
        if not v.valid:
            return v
        platforms = [p.lower() for p in v.claims.get("platforms", [])]
        if "*" not in platforms and platform_name.lower() not in platforms:
            return Verification(
                "wrong-platform",
                f"the licence covers {', '.join(platforms)}, not {platform_name}: this platform cannot accept it",
                v.claims,
            )
        if status is None and issuer != self.settings.issuer:
            v.notes.append("the issuer's status could not be fetched: revocation not checked")
        return v

    # -- identity providers ----------------------------------------------------------------------

    def add_idp(self, issuer: str, name: str, client_id: str, client_secret: str) -> dict:
        issuer = _check_url(issuer, "issuer")
        if not name.strip() or not client_id or not client_secret:
            raise PlatformError("name, client id and client secret are required", 422)
        with self.db.session() as s:
            if s.execute(select(IdentityProvider.id).where(IdentityProvider.issuer == issuer)).first():
                raise PlatformError(f"{issuer} is already an identity provider", 409)
            row = IdentityProvider(
                issuer=issuer, name=name.strip(), client_id=client_id, client_secret_enc=b""
            )
            s.add(row)
            s.flush()
            row.client_secret_enc = self.vault.encrypt(client_secret, context=f"idp:{row.id}")
            return {"id": row.id, "issuer": issuer, "name": row.name}

    def idps(self) -> list[dict]:
        with self.db.session() as s:
            return [
                {"id": r.id, "issuer": r.issuer, "name": r.name}
                for r in s.execute(select(IdentityProvider).order_by(IdentityProvider.id)).scalars()
            ]

    def idp(self, idp_id: int) -> tuple[dict, str]:
        with self.db.session() as s:
            r = s.get(IdentityProvider, idp_id)
            if r is None:
                raise PlatformError(f"no identity provider {idp_id}", 404)
            return {
                "id": r.id,
                "issuer": r.issuer,
                "name": r.name,
                "client_id": r.client_id,
            }, self.vault.decrypt(r.client_secret_enc, context=f"idp:{r.id}")


# -- the manifest ------------------------------------------------------------------------------------


def manifest(settings: Settings, directory: Directory, policy_version: str) -> dict:
    i = settings.issuer
    return {
        "iss": i,  # so the signed form verifies like every other hutong JWS
        "issuer": i,
        "name": settings.platform_name,
        "version": 1,
        "issued_at": int(utcnow().timestamp()),
        "opens": {
            "login": {
                "openid_configuration": f"{i}/.well-known/openid-configuration",
                "developers": "any developer verified under the published review policy",
            },
            "share": {
                "endpoint": f"{i}/open/share/create",
                "scope": "share.create",
                "confirmation": "the user confirms on this platform",
            },
            "ingest": {
                "endpoints": {
                    "init": f"{i}/open/video/init_video_part_upload",
                    "part": f"{i}/open/video/upload_video_part",
                    "complete": f"{i}/open/video/complete_video_part_upload",
                    "create": f"{i}/open/video/create_video",
                },
                "scope": "video.create",
                "max_bytes": settings.ingest_max_bytes,
                "max_seconds": settings.ingest_max_seconds,
                "part_bytes": settings.ingest_part_bytes,
                "uncertified": settings.uncertified,
                "accepts_certificates_from": sorted({i} | {t["issuer"] for t in directory.trusted()}),
            },
            "link_cards": {
                "endpoint": f"{i}/links/card",
                "policy": "safety only: a blocklist of malicious domains; links are never blocked for belonging to another platform",
                "rollout_percent": settings.link_rollout_percent,
            },
            "federated_login": {"accepts_users_of": [p["issuer"] for p in directory.idps()]},
        },
        "certificate_issuer": {"jwks": f"{i}/.well-known/jwks.json", "status": f"{i}/certificates/status"},
        "terms_url": settings.terms_url or None,
        "policy_urls": {"review": f"{i}/policy/review", "review_version": policy_version},
    }


def signed_manifest(settings: Settings, directory: Directory, keys: KeyRing, policy_version: str) -> dict:
    body = manifest(settings, directory, policy_version)
    return {"manifest": body, "signature": sign(keys, body, MANIFEST_TYPE)}


def fetch_manifest(http: httpx.Client, url: str) -> dict:
    """A platform's manifest, verified against its own published keys; PlatformError says why not."""
    base = url.rstrip("/")
    try:
        doc = http.get(f"{base}/.well-known/hutong-interconnect", timeout=10).json()
        jwks = http.get(f"{base}/.well-known/jwks.json", timeout=10).json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PlatformError(f"{base}: no interconnection manifest ({exc.__class__.__name__})", 502) from None
    body = doc.get("manifest") if isinstance(doc, dict) else None
    if not isinstance(body, dict):
        raise PlatformError(f"{base}: the manifest document has no 'manifest'", 502)
    claims, failure = verify_signed(
        str(doc.get("signature", "")), jwks, typ=MANIFEST_TYPE, issuer=body.get("issuer")
    )
    if failure or claims != body:
        raise PlatformError(
            f"{base}: the manifest's signature does not hold ({failure.reason if failure else 'contents differ'})",
            502,
        )
    return body


def reciprocity(a: dict, b: dict) -> list[dict]:
    """For each capability, what A opens to B and what B opens to A."""

    def opens(x: dict, y: dict) -> dict[str, tuple[bool, str]]:
        o = x["opens"]
        ingest = o.get("ingest", {})
        trusts = y["issuer"] in ingest.get("accepts_certificates_from", [])
        fed = y["issuer"] in o.get("federated_login", {}).get("accepts_users_of", [])
        links = "never blocked for belonging to another platform" in o.get("link_cards", {}).get("policy", "")
        return {
            "login (apps of the other's developers)": (
                bool(o.get("login")),
                "OIDC provider open to verified developers" if o.get("login") else "closed",
            ),
            "users of the other log in here": (fed, "yes" if fed else "not configured"),
            "ingest of the other's certified clips": (
                trusts,
                f"accepts certificates from {y['issuer']}"
                if trusts
                else f"does not trust {y['issuer']}'s certificates",
            ),
            "share intents": (bool(o.get("share")), "open" if o.get("share") else "closed"),
            "link cards for the other's links": (
                links,
                "safety-only policy" if links else "may block other platforms",
            ),
        }

    ab, ba = opens(a, b), opens(b, a)
    return [
        {"capability": k, "a_to_b": ab[k][0], "a_to_b_detail": ab[k][1], "b_to_a": ba[k][0], "b_to_a_detail": ba[k][1],
         "reciprocal": ab[k][0] == ba[k][0]}
        for k in ab
    ]  # fmt: skip
