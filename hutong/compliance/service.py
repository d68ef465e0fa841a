"""Check a clip against the licences, certify compliant clips, revoke, publish keys and status."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from hutong.compliance.certificate import (
    CERT_TYPE,
    STATUS_TYPE,
    VERSION,
    Verification,
    sign,
    verify_certificate,
)
from hutong.compliance.policy import ClipDecision, MatchedSegment, decide
from hutong.config import Settings
from hutong.errors import CertificateError
from hutong.keys import KeyRing
from hutong.match import MatchReport, Recognizer
from hutong.media import probe, sha256_file, streams_digest
from hutong.rights.creators import CreatorRecord, Creators
from hutong.rights.licences import LicenceRecord, Licences
from hutong.rights.terms import ANY_PLATFORM, USE_FORMS
from hutong.store import Certificate, CertificateLicence, Database, Work, utcnow
from hutong.store.models import CertificateWork

STATUS_LIFETIME = timedelta(days=1)  # how long a status document may be relied on before fetching anew
SAME_LENGTH = 1.0  # a re-encoded copy keeps the certified clip's length to within this many seconds


@dataclass
class CheckResult:
    clip: Path
    sha256: str
    size: int
    report: MatchReport
    creator: CreatorRecord
    licences: list[LicenceRecord]
    decision: ClipDecision

    def as_dict(self) -> dict:
        return {
            "clip": str(self.clip),
            "sha256": self.sha256,
            "duration": round(self.report.duration, 2),
            **self.decision.as_dict(),
            "match": self.report.as_dict()["segments"],
        }


@dataclass
class IssuedCertificate:
    token: str
    claims: dict

    def as_dict(self) -> dict:
        return {"certificate": self.token, "claims": self.claims}


class Compliance:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        recognizer: Recognizer,
        creators: Creators,
        licences: Licences,
        keyring: KeyRing,
    ) -> None:
        self.settings, self.db, self.recognizer = settings, db, recognizer
        self.creators, self.licences, self.keyring = creators, licences, keyring

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    # -- checking --------------------------------------------------------------------------------

    def check(
        self,
        clip: Path,
        creator: str,
        platform: str,
        *,
        monetised: bool = False,
        at: datetime | None = None,
        report: MatchReport | None = None,
        use_form: str | None = None,
        source_tag: str = "",
    ) -> CheckResult:
        who = self.creators.get(creator)  # unknown creator: refuse before the costly recognition
        if not platform.strip():
            raise CertificateError("name the target platform (--platform)")
        clip = Path(clip)
        report = report or self.recognizer.match(clip)
        segments = [MatchedSegment.of(s.as_dict()) for s in report.segments]
        licences = self.licences.covering({s.work_id for s in segments})
        if use_form is not None and use_form not in USE_FORMS:
            raise CertificateError(f"use form {use_form!r}: one of {', '.join(USE_FORMS)}")
        decision = decide(segments, licences, who, platform, at=at or utcnow(), monetised=monetised,
                          use_form=use_form, source_tag=source_tag, clip_seconds=report.duration)  # fmt: skip
        return CheckResult(clip, sha256_file(clip), clip.stat().st_size, report, who, licences, decision)

    def allowed_platforms(self, result: CheckResult) -> list[str]:
        """Every platform for which the same clip, creator and moment would also be compliant."""
        d = result.decision
        # only licences that can still license something are asked; a revoked one offers no platform
        named = sorted({p for lic in result.licences if lic.status != "revoked" for p in lic.terms.platforms})
        segments = [s.segment for s in d.segments]
        allowed = [
            p
            for p in named
            if decide(
                segments,
                result.licences,
                result.creator,
                p,
                at=d.at,
                monetised=d.monetised,
                use_form=d.use_form,
                source_tag=d.source_tag,
                clip_seconds=d.clip_seconds,
            ).compliant  # fmt: skip
        ]
        if ANY_PLATFORM in allowed:  # compliant on any platform: '*' says it all, named ones add nothing
            return [ANY_PLATFORM]
        return allowed or [d.platform]

    # -- certificates ----------------------------------------------------------------------------

    def certify(self, result: CheckResult) -> IssuedCertificate:
        d = result.decision
        if not d.segments:
            raise CertificateError(
                f"{result.clip}: no registered work recognised, so there is nothing to certify"
            )
        if not d.compliant:
            first = next(s for s in d.segments if s.verdict != "licensed")
            raise CertificateError(f"{result.clip}: not compliant, no certificate issued: {first.reason}")
        used = {lic.ref: lic for lic in result.licences if lic.ref in d.licences}
        now = utcnow().replace(microsecond=0)
        expires = min(
            [now + timedelta(days=self.settings.certificate_days)]
            + [lic.terms.valid_until for lic in used.values()]
        )
        jti = uuid.uuid4().hex
        with self.db.session() as s:
            works = {
                w.id: w
                for w in s.execute(
                    select(Work).where(Work.id.in_({x.segment.work_id for x in d.segments}))
                ).scalars()
            }
        claims = {
            "iss": self.issuer,
            "sub": f"sha256:{result.sha256}",
            "jti": jti,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "ver": VERSION,
            "clip": {
                "sha256": result.sha256,
                "streams_sha256": streams_digest(result.clip),
                "bytes": result.size,
                "duration": round(result.report.duration, 3),
            },
            "creator": {
                "handle": result.creator.handle,
                "name": result.creator.name,
                "verified": result.creator.verified,
                "organisation": result.creator.organisation,
            },
            "platforms": self.allowed_platforms(result),
            "monetised": d.monetised,
            "works": [
                {"id": w.id, "title": w.title, "holder": w.holder}
                for w in sorted(works.values(), key=lambda w: w.id)
            ],
            "segments": [
                {
                    "work": x.segment.work_id,
                    "clip": [round(x.segment.query_start, 2), round(x.segment.query_end, 2)],
                    "work_range": [round(x.segment.ref_start, 2), round(x.segment.ref_end, 2)],
                    "licence": x.licence,
                }
                for x in d.segments
            ],
            "licences": sorted(used),
            "attribution": d.attribution,
            "status": f"{self.issuer}/certificates/{jti}/status",
        }
        token = sign(self.keyring, claims, CERT_TYPE)
        ids = self.licences.ids([lic.code for lic in used.values()])
        with self.db.session() as s:
            cert = Certificate(
                id=jti, clip_sha256=result.sha256, creator=result.creator.handle, platforms=claims["platforms"],
                kid=self.keyring.active_kid(), issued_at=now, expires_at=expires, status="valid",
                revoke_reason="", token=token,
            )  # fmt: skip
            cert.licences = [CertificateLicence(licence_id=i) for i in sorted(set(ids.values()))]
            s.add(cert)
            s.flush()  # the certificate's row first: the works it covers point at it
            s.add_all(CertificateWork(certificate_id=jti, work_id=w) for w in sorted(works))
        return IssuedCertificate(token, claims)

    def get(self, jti: str) -> Certificate:
        with self.db.session() as s:
            cert = s.get(Certificate, jti.strip())
            if cert is None:
                raise CertificateError(f"no certificate {jti}")
            return cert

    def list(self) -> list[Certificate]:
        with self.db.session() as s:
            return list(s.execute(select(Certificate).order_by(Certificate.issued_at)).scalars())

    def revoke(self, jti: str, reason: str) -> Certificate:
        if not reason.strip():
            raise CertificateError("say why the certificate is revoked (--reason)")
        with self.db.session() as s:
            cert = s.get(Certificate, jti.strip())
            if cert is None:
                raise CertificateError(f"no certificate {jti}")
            if cert.status == "revoked":
                raise CertificateError(f"certificate {jti} is already revoked ({cert.revoke_reason})")
            cert.status, cert.revoked_at, cert.revoke_reason = "revoked", utcnow(), reason
            return cert

    # -- publishing ------------------------------------------------------------------------------

    def jwks(self) -> dict:
        return self.keyring.jwks(issuer=self.issuer)

    def status_claims(self, jti: str | None = None) -> dict:
        """Status of one certificate, or the list of every revoked one (what offline verifiers need)."""
        now = utcnow().replace(microsecond=0)
        claims: dict = {
            "iss": self.issuer,
            "iat": int(now.timestamp()),
            "exp": int((now + STATUS_LIFETIME).timestamp()),
        }
        if jti is not None:
            cert = self.get(jti)
            claims.update(sub=cert.id, status=cert.status, reason=cert.revoke_reason)
            if cert.revoked_at:
                claims["at"] = cert.revoked_at.isoformat()
        with self.db.session() as s:
            revoked = s.execute(select(Certificate).where(Certificate.status == "revoked")).scalars()
            claims["revoked"] = {
                c.id: {"at": c.revoked_at.isoformat() if c.revoked_at else "", "reason": c.revoke_reason}
                for c in revoked
                if jti is None or c.id == jti
            }
        return claims

    def status_document(self, jti: str | None = None) -> str:
        return sign(self.keyring, self.status_claims(jti), STATUS_TYPE)

    # -- verification with the issuer's catalogue ------------------------------------------------

    def recheck(self, clip: Path, token: str, *, now: datetime | None = None) -> Verification:
        """A copy whose bytes differ (re-encoded): verify the certificate, then recognise the copy and
        decide again under the certificate's creator and platforms."""
        now = now or utcnow()
        status = self.status_claims()
        first = verify_certificate(token, self.jwks(), now=now, clip=None, status=status)
        if not first.valid:
            return first
        claims = first.claims or {}
        if sha256_file(clip) == claims["clip"]["sha256"]:
            return verify_certificate(token, self.jwks(), now=now, clip=clip, status=status)
        info = probe(clip)
        certified = float(claims["clip"]["duration"])
        if abs(info.duration - certified) > SAME_LENGTH:
            return Verification(
                "clip-mismatch",
                f"the file is {info.duration:.1f} s long, the certified clip {certified:.1f} s: it was cut or extended",
                claims,
            )
        report = self.recognizer.match(clip, info=info)
        works = {w["id"] for w in claims.get("works", [])}
        found = {s.work_id for s in report.segments}
        if not found:
            return Verification(
                "clip-mismatch", "recognition finds none of the certified works in this file", claims
            )
        if not found <= works:
            extra = sorted(found - works)
            return Verification(
                "clip-mismatch",
                f"this file also uses work(s) {extra} that the certificate does not cover",
                claims,
            )
        creator = claims["creator"]["handle"]
        for platform in claims.get("platforms", []) or [ANY_PLATFORM]:
            result = self.check(
                clip, creator, platform, monetised=bool(claims.get("monetised")), at=now, report=report
            )
            if not result.decision.compliant:
                bad = next(s for s in result.decision.segments if s.verdict != "licensed")
                return Verification(
                    "clip-mismatch", f"the copy is not covered on {platform}: {bad.reason}", claims
                )
        licences = sorted({s.licence for s in result.decision.segments if s.licence})
        return Verification(
            "valid-copy",
            f"a re-encoded copy of the certified clip: recognition finds the same works, and {', '.join(licences)} "
            f"still cover it for @{creator} on {', '.join(claims.get('platforms', []))}",
            claims,
            [f"file SHA-256 differs from the certified {claims['clip']['sha256'][:16]}…"],
        )
