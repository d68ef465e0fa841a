"""Certificates: a JWS (Ed25519) saying which licences cover a clip, and its offline verification.

Format (docs/certificates.md has it field by field): protected header ``{"alg": "Ed25519", "kid", "typ":
"hutong-cert+jwt"}``, JSON claims with ``iss``, ``sub`` (``sha256:`` + the clip's digest), ``jti``, ``iat``,
``nbf``, ``exp``, ``ver`` and the clip, creator, platforms, works, segments and licences. Verification needs
only the issuer's JWKS (and, to see revocations, a signed status document from the issuer).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from hutong.errors import CertificateError
from hutong.keys import ALG, KeyRing
from hutong.media import sha256_file, streams_digest

CERT_TYPE = "hutong-cert+jwt"
STATUS_TYPE = "hutong-status+jwt"
VERSION = 1
CLOCK_SKEW = 300  # seconds two honest clocks may disagree by


def sign(keyring: KeyRing, claims: dict, typ: str) -> str:
    kid = keyring.active_kid()
    header = {"alg": ALG, "kid": kid, "typ": typ}
    payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    return jws.serialize_compact(header, payload, keyring.private_key(kid), algorithms=[ALG])


def _b64json(part: str) -> dict:
    raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def peek(token: str) -> tuple[dict, dict]:
    """Header and claims *without* checking the signature (to choose the key and name the issuer)."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise ValueError(f"a compact JWS has 3 dot-separated parts, this has {len(parts)}")
    try:
        return _b64json(parts[0]), _b64json(parts[1])
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"header or claims are not base64url JSON ({exc.__class__.__name__})") from None


def load_jwks(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CertificateError(f"{path}: not a readable JWKS file ({exc.__class__.__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise CertificateError(f"{path}: not a JWKS document (no 'keys' list)")
    return data


def load_token(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CertificateError(f"{path}: cannot read the certificate ({exc.__class__.__name__})") from None
    if text.startswith("{"):  # the JSON form `hutong check --certificate` also writes
        try:
            text = json.loads(text)["certificate"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise CertificateError(f"{path}: JSON without a 'certificate' member") from None
    return text


@dataclass
class Verification:
    """The verdict on one certificate. ``code`` is stable for programs; ``reason`` is for people."""

    code: str
    reason: str
    claims: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.code in ("valid", "valid-copy")

    def as_dict(self) -> dict:
        return {
            "valid": self.valid,
            "code": self.code,
            "reason": self.reason,
            "notes": self.notes,
            "claims": self.claims,
        }


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@functools.lru_cache(maxsize=256)
def _key_set(published: str) -> KeySet:
    # importing a JWK builds a cryptography key object; verifiers see the same few keys over and over
    return KeySet.import_key_set({"keys": json.loads(published)})


def verify_signed(
    token: str, jwks: dict, *, typ: str, issuer: str | None = None
) -> tuple[dict | None, Verification | None]:
    """Check structure, issuer, key and signature. Returns (claims, None) or (None, failure)."""
    try:
        header, unverified = peek(token)
    except ValueError as exc:
        return None, Verification("malformed", f"not a certificate: {exc}")
    if header.get("typ") != typ:
        return None, Verification("malformed", f"token type is {header.get('typ')!r}, expected {typ!r}")
    if header.get("alg") != ALG:
        return None, Verification("malformed", f"signature algorithm {header.get('alg')!r} is not {ALG}")
    expected = issuer or jwks.get("issuer")
    if expected and unverified.get("iss") != expected:
        return None, Verification(
            "unknown-issuer",
            f"issued by {unverified.get('iss')!r}, but the keys given are those of {expected!r}",
            unverified,
        )
    kid = header.get("kid")
    published = [k for k in jwks["keys"] if isinstance(k, dict) and k.get("kid") == kid]
    if not published:
        return None, Verification(
            "unknown-key", f"signed with key {kid!r}, which is not among the issuer's published keys (JWKS)"
        )
    try:
        keys = _key_set(json.dumps(published, sort_keys=True))
    except (JoseError, ValueError, TypeError) as exc:
        return None, Verification("unknown-key", f"the issuer's key {kid!r} is unusable ({exc})")
    try:
        obj = jws.deserialize_compact(token.strip(), keys, algorithms=[ALG])
    except JoseError:
        return None, Verification(
            "bad-signature",
            "the signature does not match the contents: the certificate was altered or forged",
        )
    return json.loads(obj.payload), None


def verify_certificate(
    token: str,
    jwks: dict,
    *,
    now: datetime,
    clip: Path | None = None,
    clip_sha256: str | None = None,
    status: dict | None = None,
    issuer: str | None = None,
    skew: float = CLOCK_SKEW,
) -> Verification:
    """Verify offline. ``status`` is the claims of an already verified status document, if any;
    ``clip_sha256``, when the caller already hashed ``clip`` (an upload hashed as it arrived)."""
    claims, failure = verify_signed(token, jwks, typ=CERT_TYPE, issuer=issuer)
    if failure:
        return failure
    assert claims is not None
    if claims.get("ver") != VERSION:
        return Verification(
            "malformed", f"certificate format version {claims.get('ver')!r} is not {VERSION}", claims
        )
    try:
        iat, nbf, exp = float(claims["iat"]), float(claims.get("nbf", claims["iat"])), float(claims["exp"])
        jti, clip_claim = str(claims["jti"]), claims["clip"]
        sha = str(clip_claim["sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        return Verification("malformed", f"a required claim is missing or mistyped ({exc})", claims)
    t = now.timestamp()
    if max(iat, nbf) > t + skew:
        return Verification(
            "not-yet-valid",
            f"issued for {_ts(max(iat, nbf))}, {max(iat, nbf) - t:.0f} s ahead of this clock "
            f"({_ts(t)}): beyond the {skew:.0f} s clock-skew tolerance",
            claims,
        )
    if exp <= t - skew:
        return Verification("expired", f"expired on {_ts(exp)}", claims)
    notes: list[str] = []
    if status is None:
        notes.append("revocation not checked: no status document given (fetch one from the issuer)")
    else:
        entry = status.get("revoked", {}).get(jti)
        if entry is None and status.get("sub") == jti and status.get("status") == "revoked":
            entry = status
        if entry is not None:
            return Verification(
                "revoked",
                f"revoked on {entry.get('at', '?')[:10]}: {entry.get('reason') or 'no reason given'}",
                claims,
            )
        covers = "sub" not in status or status.get("sub") == jti
        notes.append(
            f"not revoked as of {_ts(float(status['iat']))}"
            if covers
            else "the status document is for another certificate"
        )
    if clip is not None:
        if (clip_sha256 or sha256_file(clip)) != sha:
            if (
                claims["clip"].get("streams_sha256")
                and streams_digest(clip) == claims["clip"]["streams_sha256"]
            ):
                notes.append(
                    "same audio/video streams as the certified clip in a different container (e.g. with a C2PA manifest)"
                )
            else:
                return Verification(
                    "clip-mismatch",
                    "this file is not the certified clip: its SHA-256 and media streams differ. If it is a re-encoded "
                    "copy, re-check it by fingerprint with the issuer (hutong certificate verify --recheck)",
                    claims,
                    notes,
                )
    else:
        notes.append("clip not checked: no file given")
    works = ", ".join(f"《{w['title']}》" for w in claims.get("works", []))
    platforms = [p for p in claims.get("platforms", []) if p != "*"]
    where = "any platform" if "*" in claims.get("platforms", []) or not platforms else ", ".join(platforms)
    return Verification(
        "valid",
        f"valid until {_ts(exp)}: @{claims.get('creator', {}).get('handle')} may publish it on "
        f"{where} under {', '.join(claims.get('licences', []))} ({works})",
        claims,
        notes,
    )


def verify_status(token: str, jwks: dict, *, now: datetime, issuer: str | None = None) -> dict:
    """Claims of a signed status document, or :class:`CertificateError` saying why it cannot be used."""
    claims, failure = verify_signed(token, jwks, typ=STATUS_TYPE, issuer=issuer)
    if failure:
        raise CertificateError(f"status document rejected: {failure.reason}")
    assert claims is not None
    if float(claims.get("exp", 0)) <= now.timestamp() - CLOCK_SKEW:
        raise CertificateError(
            f"status document expired on {_ts(float(claims.get('exp', 0)))}: fetch a fresh one"
        )
    return claims
