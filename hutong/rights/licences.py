"""Licences: grant, amend, revoke, with history. Revoking a licence revokes the certificates built on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hutong.errors import RightsError
from hutong.rights.creators import find_creator
from hutong.rights.terms import ANY_PLATFORM, LicenceTerms, clock
from hutong.store import (
    Certificate,
    CertificateLicence,
    Database,
    Licence,
    LicenceEvent,
    LicenceWork,
    Work,
    utcnow,
)


@dataclass(frozen=True)
class LicenceRecord:
    code: str
    holder: str
    status: str
    version: int
    terms: LicenceTerms
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None = None
    revoke_reason: str = ""
    work_titles: dict[int, str] = field(default_factory=dict)
    work_durations: dict[int, float] = field(default_factory=dict)

    @classmethod
    def of(cls, lic: Licence, works: dict[int, Work]) -> LicenceRecord:
        terms = LicenceTerms.model_validate(lic.terms)
        return cls(
            lic.code,
            lic.holder,
            lic.status,
            lic.version,
            terms,
            lic.created_at,
            lic.updated_at,
            lic.revoked_at,
            lic.revoke_reason,
            {i: works[i].title for i in terms.works if i in works},
            {i: works[i].duration for i in terms.works if i in works},
        )

    @property
    def ref(self) -> str:
        """Code and version, e.g. ``L-7@v2``: what a certificate names, so amendments stay traceable."""
        return f"{self.code}@v{self.version}"

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "holder": self.holder,
            "status": self.status,
            "version": self.version,
            "terms": self.terms.to_json(),
            "works": {str(k): v for k, v in self.work_titles.items()},
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoke_reason": self.revoke_reason,
        }


@dataclass(frozen=True)
class LicenceEventRecord:
    version: int
    action: str
    at: datetime
    reason: str
    terms: dict

    def as_dict(self) -> dict:
        return {
            "version": self.version,
            "action": self.action,
            "at": self.at.isoformat(),
            "reason": self.reason,
            "terms": self.terms,
        }


def _scopes_intersect(a: LicenceTerms, b: LicenceTerms) -> bool:
    # 'verified' reaches anyone verified, so it meets every other scope; otherwise compare the named parties
    if "verified" in (a.scope.kind, b.scope.kind):
        return True
    if a.scope.kind == b.scope.kind == "creators":
        return bool(set(a.scope.creators) & set(b.scope.creators))
    if a.scope.kind == b.scope.kind == "organisation":
        return a.scope.organisation == b.scope.organisation
    return True  # named creators vs an organisation: they may be members; treat as overlapping


def _platforms_intersect(a: LicenceTerms, b: LicenceTerms) -> bool:
    return (
        ANY_PLATFORM in a.platforms
        or ANY_PLATFORM in b.platforms
        or bool(set(a.platforms) & set(b.platforms))
    )


class Licences:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writing ---------------------------------------------------------------------------------

    def grant(self, holder: str, terms: LicenceTerms, *, allow_overlap: bool = False) -> LicenceRecord:
        holder = holder.strip()
        if not holder:
            raise RightsError("a licence needs the rights holder granting it")
        with self.db.session() as s:
            terms = self._resolve(s, holder, terms)
            works = self._check(s, holder, terms, exclude=None, allow_overlap=allow_overlap)
            n = s.execute(select(func.count(Licence.id))).scalar_one()
            now = utcnow()
            lic = Licence(
                code=f"L-{n + 1}", holder=holder, status="active", version=1, terms=terms.to_json(),
                created_at=now, updated_at=now, revoke_reason="",
            )  # fmt: skip
            lic.works = [LicenceWork(work_id=w) for w in terms.works]
            lic.events = [LicenceEvent(version=1, action="created", terms=lic.terms, reason="", at=now)]
            s.add(lic)
            s.flush()
            return LicenceRecord.of(lic, works)

    def amend(
        self, code: str, terms: LicenceTerms, *, reason: str = "", allow_overlap: bool = False
    ) -> LicenceRecord:
        with self.db.session() as s:
            lic = self._find(s, code)
            if lic.status == "revoked":
                raise RightsError(
                    f"licence {lic.code} was revoked on {lic.revoked_at:%Y-%m-%d}; grant a new one"
                )
            terms = self._resolve(s, lic.holder, terms)
            works = self._check(s, lic.holder, terms, exclude=lic.id, allow_overlap=allow_overlap)
            now = utcnow()
            lic.version += 1
            lic.terms = terms.to_json()
            lic.updated_at = now
            lic.works = [LicenceWork(work_id=w) for w in terms.works]
            lic.events.append(
                LicenceEvent(version=lic.version, action="amended", terms=lic.terms, reason=reason, at=now)
            )
            s.flush()
            return LicenceRecord.of(lic, works)

    def revoke(self, code: str, *, reason: str) -> tuple[LicenceRecord, int]:
        """Revoke a licence and every still-valid certificate that rests on it; returns how many."""
        if not reason.strip():
            raise RightsError("say why the licence is revoked (--reason): creators and platforms will see it")
        with self.db.session() as s:
            lic = self._find(s, code)
            if lic.status == "revoked":
                raise RightsError(f"licence {lic.code} is already revoked (since {lic.revoked_at:%Y-%m-%d})")
            now = utcnow()
            lic.status, lic.revoked_at, lic.revoke_reason, lic.updated_at = "revoked", now, reason, now
            lic.events.append(
                LicenceEvent(version=lic.version, action="revoked", terms=lic.terms, reason=reason, at=now)
            )
            certs = s.execute(
                select(Certificate)
                .join(CertificateLicence, CertificateLicence.certificate_id == Certificate.id)
                .where(CertificateLicence.licence_id == lic.id, Certificate.status == "valid")
            ).scalars()
            n = 0
            for cert in certs:
                cert.status, cert.revoked_at = "revoked", now
                cert.revoke_reason = f"licence {lic.code} revoked: {reason}"
                n += 1
            return LicenceRecord.of(lic, self._works(s, lic.terms["works"])), n

    # -- reading ---------------------------------------------------------------------------------

    def get(self, code: str) -> LicenceRecord:
        with self.db.session() as s:
            lic = self._find(s, code)
            return LicenceRecord.of(lic, self._works(s, lic.terms["works"]))

    def list(self, *, include_revoked: bool = True) -> list[LicenceRecord]:
        with self.db.session() as s:
            q = select(Licence).order_by(Licence.id)
            if not include_revoked:
                q = q.where(Licence.status == "active")
            lics = list(s.execute(q).scalars())
            works = self._works(s, {w for lic in lics for w in lic.terms["works"]})
            return [LicenceRecord.of(lic, works) for lic in lics]

    def covering(self, work_ids: set[int]) -> list[LicenceRecord]:
        """Every licence (active or revoked) that names one of these works."""
        if not work_ids:
            return []
        with self.db.session() as s:
            ids = select(LicenceWork.licence_id).where(LicenceWork.work_id.in_(work_ids))
            lics = list(s.execute(select(Licence).where(Licence.id.in_(ids)).order_by(Licence.id)).scalars())
            works = self._works(s, {w for lic in lics for w in lic.terms["works"]})
            return [LicenceRecord.of(lic, works) for lic in lics]

    def history(self, code: str) -> list[LicenceEventRecord]:
        with self.db.session() as s:
            lic = self._find(s, code)
            return [LicenceEventRecord(e.version, e.action, e.at, e.reason, e.terms) for e in lic.events]

    def ids(self, codes: list[str]) -> dict[str, int]:
        with self.db.session() as s:
            return {c: self._find(s, c).id for c in codes}

    # -- checks ----------------------------------------------------------------------------------

    @staticmethod
    def _find(s: Session, code: str) -> Licence:
        code = code.strip().upper()
        lic = s.execute(select(Licence).where(Licence.code == code)).scalar_one_or_none()
        if lic is None:
            raise RightsError(f"no licence {code}")
        return lic

    @staticmethod
    def _works(s: Session, ids) -> dict[int, Work]:
        return {w.id: w for w in s.execute(select(Work).where(Work.id.in_(list(ids)))).scalars()}

    @staticmethod
    def _resolve(s: Session, holder: str, terms: LicenceTerms) -> LicenceTerms:
        """Terms granted over a title list take its works and its allowlist as they stand now."""
        if not terms.title_list:
            return terms
        from hutong.rights.title_lists import find_title_list  # the lists module builds on this one

        tl = find_title_list(s, holder, terms.title_list)
        data = terms.to_json()
        data["works"] = sorted(set(terms.works) | set(tl.works))
        data["allowlist"] = list(tl.creators)
        return LicenceTerms.parse(data)

    def _check(
        self, s: Session, holder: str, terms: LicenceTerms, *, exclude: int | None, allow_overlap: bool
    ) -> dict[int, Work]:
        works = {
            i: w for i, w in self._works(s, [i for i in terms.works if 0 < i <= 2**63 - 1]).items()
            if w.removed_at is None
        }  # fmt: skip
        missing = [w for w in terms.works if w not in works]
        if missing:
            raise RightsError(
                f"the licence names unknown work{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(str, missing))} (see `hutong works list`)"
            )
        for w in works.values():
            if w.holder and w.holder != holder:
                raise RightsError(f"work {w.id} 《{w.title}》 is held by {w.holder!r}, not {holder!r}")
        for r in terms.forbidden:
            w = works[r.work_id]
            if r.start >= w.duration:
                raise RightsError(
                    f"forbidden range {clock(r.start)}–{clock(r.end)} starts after the end of "
                    f"《{w.title}》 ({clock(w.duration)})"
                )
        for w in works.values():
            covered = sorted(
                (r.start, r.end) for r in terms.forbidden if r.work_id == w.id and r.until is None
            )
            reach = 0.0
            for a, b in covered:
                if a > reach:
                    break
                reach = max(reach, b)
            if covered and reach >= w.duration:
                raise RightsError(
                    f"the forbidden ranges cover all of 《{w.title}》: the licence would grant nothing for it"
                )
        if terms.scope.kind == "creators":
            for h in terms.scope.creators:
                find_creator(s, h)
        if terms.scope.kind == "organisation":
            org = find_creator(s, terms.scope.organisation or "")
            if org.kind != "organisation":
                raise RightsError(f"@{org.handle} is an individual, not an organisation")
        if not allow_overlap:
            q = select(Licence).where(Licence.status == "active", Licence.holder == holder)
            if exclude is not None:
                q = q.where(Licence.id != exclude)
            for other in s.execute(q).scalars():
                o = LicenceTerms.model_validate(other.terms)
                shared = set(o.works) & set(terms.works)
                if (
                    shared
                    and _scopes_intersect(o, terms)
                    and _platforms_intersect(o, terms)
                    and o.valid_from < terms.valid_until
                    and terms.valid_from < o.valid_until
                ):
                    title = works[min(shared)].title
                    raise RightsError(
                        f"overlaps licence {other.code} (same holder, work 《{title}》, overlapping creators, "
                        f"platforms and dates): amend {other.code} instead, narrow this one, or pass "
                        "--allow-overlap to keep both (the more permissive one then decides)"
                    )
        return works
