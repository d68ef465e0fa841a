"""Claims: what a check or an ingest found unlicensed, decided by the holder's match policy; manual claims;
the review queue; release, fix and re-check; reference exclusions; "not a copy" suppressions.

Every use found is stored (a ``tracked`` claim takes nothing), so a policy change can re-decide all of a
holder's clips from their stored matches without recognising anything again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hutong.claims.ledger import HOLDING, Ledger
from hutong.claims.policies import ACTIONS, ClaimError, Policies, PolicyResolver
from hutong.compliance.policy import TOLERANCE
from hutong.rights.terms import clock
from hutong.store import (
    Account,
    Claim,
    ClaimEvent,
    Database,
    Dispute,
    MatchSuppression,
    OwnershipConflict,
    ReferenceExclusion,
    ReferenceQuarantine,
    Work,
)

REVIEW_DAYS = 30  # a claim sent to review and left unreviewed this long is released
# a reference whose claims reach this share of the clips seen in the window (and at least this many clips)
# is quarantined: a bad reference (a common intro, silence, a logo) must not flood creators with claims
QUARANTINE_SHARE, QUARANTINE_MIN_CLIPS, QUARANTINE_WINDOW = 0.5, 20, timedelta(days=1)
OPEN = ("tracked", "review", "active")  # states a policy change may re-decide (no dispute under way)
STATUS_OF = {"track": "tracked", "review": "review", "monetise": "active", "block": "active"}


@dataclass(frozen=True)
class Finding:
    """One matched segment no licence covers: the times in the clip and in the work, and why."""

    work_id: int
    query_start: float
    query_end: float
    ref_start: float
    ref_end: float
    verdict: str = "unlicensed"
    rule: str = "no-licence"
    reason: str = ""
    score: float = 0.0
    signals: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"work_id": self.work_id, "query_start": round(self.query_start, 2),
                "query_end": round(self.query_end, 2), "ref_start": round(self.ref_start, 2),
                "ref_end": round(self.ref_end, 2), "verdict": self.verdict, "rule": self.rule,
                "reason": self.reason, "score": round(self.score, 3), "signals": list(self.signals)}  # fmt: skip


@dataclass
class ClipUse:
    """A clip, who published it where, and what in it no licence covers."""

    clip_sha256: str
    clip_duration: float
    creator: str
    platform: str
    findings: list[Finding] = field(default_factory=list)
    territory: str = ""
    post_id: str = ""
    source: str = "check"  # check | ingest | manual
    checked_at: datetime | None = None

    @classmethod
    def of_check(cls, result, *, territory: str = "", post_id: str = "", source: str = "check") -> ClipUse:
        """From a :class:`hutong.compliance.CheckResult`: its unlicensed and forbidden segments."""
        extra = {(round(s.query_start, 2), s.work_id): s for s in result.report.segments}
        findings = []
        for d in result.decision.segments:
            if d.verdict == "licensed":
                continue
            g = d.segment
            m = extra.get((round(g.query_start, 2), g.work_id))
            findings.append(Finding(g.work_id, g.query_start, g.query_end, g.ref_start, g.ref_end, d.verdict, d.rule,
                                    d.reason, float(m.score) if m else 0.0,
                                    tuple(m.signals) if m else ()))  # fmt: skip
        return cls(result.sha256, result.report.duration, result.creator.handle, result.decision.platform,
                   findings, territory.upper(), post_id, source, result.decision.at)  # fmt: skip


def _union(ranges: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for a, b in sorted(ranges):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def _outside(a: float, b: float, excluded: list[tuple[float, float]]) -> float:
    """Seconds of [a, b] outside every excluded range."""
    inside = _union([(max(a, x), min(b, y)) for x, y in excluded if min(b, y) > max(a, x)])
    return (b - a) - inside


def view(c: Claim, dispute: Dispute | None = None, *, events: bool = False) -> dict:
    out = {"code": c.code, "holder": c.holder, "creator": c.creator, "clip_sha256": c.clip_sha256,
           "clip_duration": round(c.clip_duration, 2), "platform": c.platform, "territory": c.territory,
           "post_id": c.post_id, "source": c.source, "action": c.action, "policy": c.policy, "rule": c.rule,
           "status": c.status, "segments": c.segments, "fix": c.fix, "evidence": c.evidence,
           "review_due_at": c.review_due_at.isoformat() if c.review_due_at else None,
           "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat(),
           "released_at": c.released_at.isoformat() if c.released_at else None,
           "release_reason": c.release_reason,
           "dispute": None if dispute is None else {
               "reason": dispute.reason, "text": dispute.text, "state": dispute.state,
               "opened_at": dispute.opened_at.isoformat(), "due_at": dispute.due_at.isoformat(),
               "appeal_text": dispute.appeal_text,
               "closed_at": dispute.closed_at.isoformat() if dispute.closed_at else None}}  # fmt: skip
    if events:
        out["events"] = [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "note": e.note}
                         for e in c.events]  # fmt: skip
    return out


def holders_work(s, holder: str, work_id: int) -> Work:
    """The work ``work_id`` if ``holder`` holds it: 404 for no such work, 403 for another holder's."""
    work = s.get(Work, work_id) if 0 < work_id <= 2**63 - 1 else None
    if work is None:
        raise ClaimError(f"no work {work_id}", 404)
    if work.holder != holder:
        raise ClaimError(f"work {work.id} 《{work.title}》 is held by {work.holder!r}, not {holder!r}", 403)
    return work


class Claims:
    def __init__(
        self, db: Database, policies: Policies, ledger: Ledger, clock: Callable[[], datetime]
    ) -> None:
        self.db, self.policies, self.ledger, self.clock = db, policies, ledger, clock

    # -- state changes (one place, so the timeline and the ledger always follow) ----------------------

    def log(self, s: Session, c: Claim, actor: str, action: str, note: str = "") -> None:
        c.events.append(ClaimEvent(at=self.clock(), actor=actor, action=action, note=note))

    def move(self, s: Session, c: Claim, status: str, actor: str, action: str, note: str = "") -> None:
        now = self.clock()
        c.status, c.updated_at = status, now
        if status == "released":
            c.released_at, c.release_reason = now, note
        self.log(s, c, actor, action, note)
        s.flush()
        self.ledger.settle(s, c)

    def close_dispute(self, s: Session, c: Claim) -> Dispute | None:
        """A claim released another way (by its holder, a fix, an exclusion) ends its dispute too."""
        d = s.scalar(select(Dispute).where(Dispute.claim_id == c.id))
        if d is not None and d.state in ("open", "reinstated", "appealed"):
            d.state, d.closed_at = "released", self.clock()
        return d

    # -- creating ------------------------------------------------------------------------------------

    def record(self, use: ClipUse) -> list[dict]:
        """Decide a clip's findings under each holder's policy and store them, one claim per holder and
        work (``tracked`` when the policy only tracks). A finding already claimed keeps its claim."""
        with self.db.session() as s:
            resolver = self.policies.resolver(s)
            made = [
                self._record(s, resolver, use, work_id)
                for work_id in sorted({f.work_id for f in use.findings})
            ]
            return [view(c) for c in made if c is not None]

    def _record(self, s: Session, resolver: PolicyResolver, use: ClipUse, work_id: int) -> Claim | None:
        work = s.get(Work, work_id)
        if work is None or not work.holder:
            return None  # a work without a holder has nobody to claim it
        existing = s.execute(
            select(Claim).where(Claim.clip_sha256 == use.clip_sha256, Claim.holder == work.holder,
                                Claim.status != "released")
        ).scalars()  # fmt: skip
        for c in existing:
            if any(int(x["work_id"]) == work_id for x in c.segments):
                return c
        if s.execute(
            select(MatchSuppression.id).where(MatchSuppression.clip_sha256 == use.clip_sha256,
                                              MatchSuppression.work_id == work_id)
        ).first():  # fmt: skip
            return None  # a reviewer said "not a copy" for this clip and work
        excluded = self._blocked(s, work_id)
        findings = [
            f for f in use.findings
            if f.work_id == work_id and _outside(f.ref_start, f.ref_end, excluded) > TOLERANCE
        ]  # fmt: skip
        if not findings:
            return None
        policy = resolver.for_work(work_id, work.holder)
        action, rule, ref = self._decide(policy, findings, use, work)
        if action is None:
            return None  # shorter than the work's minimum match length
        quarantined = s.scalar(select(ReferenceQuarantine).where(ReferenceQuarantine.work_id == work_id,
                                                                 ReferenceQuarantine.status == "open"))  # fmt: skip
        if quarantined is not None and action != "track":
            action, rule = "track", f"reference quarantined since {quarantined.created_at:%Y-%m-%d} ({rule})"
        now = self.clock()
        n = s.execute(select(func.count(Claim.id))).scalar_one()
        c = Claim(code=f"C-{n + 1}", holder=work.holder, creator=use.creator, clip_sha256=use.clip_sha256, work_id=work.id,
                  clip_duration=use.clip_duration, platform=use.platform, territory=use.territory,
                  post_id=use.post_id, source=use.source, action=action, policy=ref, rule=rule,
                  segments=[f.as_dict() for f in findings], fix=self._fix(findings),
                  evidence={"checked_at": (use.checked_at or now).isoformat(), "clip_sha256": use.clip_sha256,
                            "work": {"id": work.id, "title": work.title},
                            "reasons": [f.reason for f in findings if f.reason]},
                  status=STATUS_OF[action], created_at=now, updated_at=now, release_reason="",
                  review_due_at=now + timedelta(days=REVIEW_DAYS) if action == "review" else None)  # fmt: skip
        s.add(c)
        self.log(s, c, "hutong", "created", f"{use.source}: {action} by {ref or 'no policy'} ({rule})")
        s.flush()
        if action != "track":
            self._watch(s, work)
        return c

    @staticmethod
    def _blocked(s: Session, work_id: int) -> list[tuple[float, float]]:
        """Ranges of the work never claimed: its exclusions, and its side of every open ownership conflict."""
        out = [
            (e.start, e.end)
            for e in s.scalars(select(ReferenceExclusion).where(ReferenceExclusion.work_id == work_id))
        ]
        for c in s.scalars(select(OwnershipConflict).where(OwnershipConflict.status == "open",
                                                           (OwnershipConflict.work_a == work_id) | (OwnershipConflict.work_b == work_id))):  # fmt: skip
            out.append((c.start_a, c.end_a) if c.work_a == work_id else (c.start_b, c.end_b))
        return out

    def _watch(self, s: Session, work: Work) -> None:
        """Quarantine a reference that suddenly claims a large share of the clips seen lately."""
        since = self.clock() - QUARANTINE_WINDOW
        seen = s.execute(
            select(func.count(func.distinct(Claim.clip_sha256))).where(Claim.created_at >= since)
        ).scalar_one()
        mine = s.execute(select(func.count(func.distinct(Claim.clip_sha256))).where(
            Claim.created_at >= since, Claim.work_id == work.id, Claim.status != "tracked")).scalar_one()  # fmt: skip
        if mine < QUARANTINE_MIN_CLIPS or mine / max(seen, 1) < QUARANTINE_SHARE:
            return
        if s.scalar(select(ReferenceQuarantine.id).where(ReferenceQuarantine.work_id == work.id,
                                                         ReferenceQuarantine.status == "open")):  # fmt: skip
            return
        s.add(
            ReferenceQuarantine(
                work_id=work.id, share=mine / seen, clips=mine, status="open", created_at=self.clock()
            )
        )

    @staticmethod
    def _decide(policy, findings: list[Finding], use: ClipUse, work: Work) -> tuple[str | None, str, str]:
        seconds = _union([(f.ref_start, f.ref_end) for f in findings])
        clip_share = _union([(f.query_start, f.query_end) for f in findings]) / max(use.clip_duration, 1e-9)
        work_share = seconds / max(work.duration, 1e-9)
        if policy is None:
            return "track", "no policy: tracked", ""
        if seconds + TOLERANCE < policy.rules.min_match_seconds:
            return None, "", policy.ref
        action, rule = policy.rules.decide(seconds, min(clip_share, 1.0), min(work_share, 1.0), use.platform,
                                           use.territory)  # fmt: skip
        return action, rule, policy.ref

    @staticmethod
    def _fix(findings: list[Finding]) -> list[dict]:
        """What the creator can cut: each claimed stretch of the clip, muted when only its sound matched."""
        out = []
        for f in sorted(findings, key=lambda f: f.query_start):
            only_sound = bool(f.signals) and all(sig.startswith("audio") for sig in f.signals)
            out.append({"from": round(f.query_start, 2), "to": round(f.query_end, 2),
                        "do": "mute" if only_sound else "trim",
                        "text": f"{'mute' if only_sound else 'cut'} {clock(f.query_start)}–{clock(f.query_end)} "
                                "of the clip"})  # fmt: skip
        return out

    def poster(self, account_id: int) -> str:
        """The creator of a post: the platform user who made it (their username is their handle)."""
        with self.db.session() as s:
            account = s.get(Account, account_id)
            return account.username if account else f"account-{account_id}"

    def record_post(self, post_id: str, sha256: str, creator: str, report, platform: str) -> list[dict]:
        """A post held by ingest whose poster is not a registered creator: every matched segment is
        unlicensed (no licence can be theirs), decided by each holder's policy."""
        findings = [Finding(g.work_id, g.query_start, g.query_end, g.ref_start, g.ref_end, "unlicensed",
                            "no-certificate", "posted without a licence certificate", float(g.score),
                            tuple(g.signals)) for g in report.segments]  # fmt: skip
        return self.record(
            ClipUse(sha256, report.duration, creator, platform, findings, "", post_id, "ingest")
        )

    def manual(self, holder: str, *, creator: str, clip_sha256: str, work_id: int, segments: list[dict],
               action: str, platform: str = "", post_id: str = "", clip_duration: float = 0.0,
               note: str = "") -> dict:  # fmt: skip
        """A holder's own claim: every segment with its times in the clip and in the work."""
        if action not in ("monetise", "block", "review"):
            raise ClaimError(f"action {action!r}: monetise, block or review")
        if not segments:
            raise ClaimError(
                "a manual claim names its segments, each with query_start, query_end, ref_start, ref_end"
            )
        if not (
            isinstance(clip_sha256, str)
            and len(clip_sha256) == 64
            and all(c in "0123456789abcdef" for c in clip_sha256.lower())
        ):
            raise ClaimError("clip_sha256: the clip's SHA-256, 64 hex characters")
        with self.db.session() as s:
            work = holders_work(s, holder, work_id)
            findings = []
            for i, seg in enumerate(segments, 1):
                try:
                    q0, q1, r0, r1 = (
                        float(seg[k]) for k in ("query_start", "query_end", "ref_start", "ref_end")
                    )
                except (KeyError, TypeError, ValueError):
                    raise ClaimError(
                        f"segment {i}: timestamps are mandatory (query_start, query_end, ref_start, ref_end in seconds)"
                    ) from None
                if not (0 <= q0 < q1 and 0 <= r0 < r1):
                    raise ClaimError(
                        f"segment {i}: each range must start at 0 or later and end after it starts"
                    )
                if r1 > work.duration + TOLERANCE:
                    raise ClaimError(
                        f"segment {i}: {clock(r1)} is past the end of 《{work.title}》 ({clock(work.duration)})"
                    )
                if clip_duration and q1 > clip_duration + TOLERANCE:
                    raise ClaimError(
                        f"segment {i}: {clock(q1)} is past the end of the clip ({clock(clip_duration)})"
                    )
                findings.append(Finding(work.id, q0, q1, r0, r1, "unlicensed", "manual", note))
            now = self.clock()
            n = s.execute(select(func.count(Claim.id))).scalar_one()
            c = Claim(code=f"C-{n + 1}", holder=holder, creator=creator.strip().lstrip("@").lower(), work_id=work.id,
                      clip_sha256=clip_sha256.lower(), clip_duration=clip_duration, platform=platform,
                      territory="", post_id=post_id, source="manual", action=action, policy="",
                      rule=f"manual claim by {holder}", segments=[f.as_dict() for f in findings],
                      fix=self._fix(findings), evidence={"note": note, "work": {"id": work.id, "title": work.title}},
                      status=STATUS_OF[action], created_at=now, updated_at=now, release_reason="",
                      review_due_at=now + timedelta(days=REVIEW_DAYS) if action == "review" else None)  # fmt: skip
            s.add(c)
            self.log(s, c, f"holder:{holder}", "created", f"manual claim: {action}. {note}".strip())
            s.flush()
            return view(c)

    # -- reading -------------------------------------------------------------------------------------

    def get(self, code: str) -> dict:
        with self.db.session() as s:
            c = self.find(s, code)
            return view(c, s.scalar(select(Dispute).where(Dispute.claim_id == c.id)), events=True)

    def get_for(self, code: str, *, creator: str, staff: bool = False) -> dict:
        """A claim as its creator (or platform staff) sees it; anyone else's is not found."""
        c = self.get(code)
        if not staff and c["creator"] != creator.strip().lstrip("@").lower():
            raise ClaimError(f"no claim {str(code).strip()[:40]} on your clips", 404)
        return c

    def list(self, *, holder: str | None = None, creator: str | None = None, status: str | None = None,
             include_tracked: bool = False) -> list[dict]:  # fmt: skip
        with self.db.session() as s:
            q = select(Claim).order_by(Claim.id)
            if holder:
                q = q.where(Claim.holder == holder)
            if creator:
                q = q.where(Claim.creator == creator.strip().lstrip("@").lower())
            if status:
                q = q.where(Claim.status == status)
            elif not include_tracked:
                q = q.where(Claim.status != "tracked")
            disputes = {d.claim_id: d for d in s.scalars(select(Dispute))}
            return [view(c, disputes.get(c.id)) for c in s.scalars(q)]

    def queue(self, holder: str) -> list[dict]:
        """The holder's review queue: claims waiting for a decision, oldest first."""
        return self.list(holder=holder, status="review")

    @staticmethod
    def find(s: Session, code: str) -> Claim:
        c = s.execute(select(Claim).where(Claim.code == str(code).strip().upper())).scalar_one_or_none()
        if c is None:
            raise ClaimError(f"no claim {str(code).strip()[:40]}", 404)
        return c

    @staticmethod
    def find_by_id(s: Session, claim_id: int) -> Claim:
        return s.get(Claim, claim_id)

    @staticmethod
    def owned(c: Claim, holder: str) -> None:
        if c.holder != holder:
            raise ClaimError(
                f"claim {c.code} is {c.holder!r}'s, not {holder!r}'s: only its holder may act on it", 403
            )

    # -- holder decisions ----------------------------------------------------------------------------

    def review(self, code: str, holder: str, decision: str, note: str = "") -> dict:
        """Decide a claim in review: ``monetise`` or ``block`` (the claim stands), ``release``, or
        ``not-a-copy`` (released, and this clip is never claimed for that work again)."""
        if decision not in ("monetise", "block", "release", "not-a-copy"):
            raise ClaimError(f"decision {decision!r}: monetise, block, release or not-a-copy")
        with self.db.session() as s:
            c = self.find(s, code)
            self.owned(c, holder)
            if c.status != "review":
                raise ClaimError(f"claim {c.code} is {c.status}, not in review", 409)
            actor = f"holder:{holder}"
            if decision in ("monetise", "block"):
                c.action = decision
                self.move(s, c, "active", actor, "reviewed", f"claim stands: {decision}. {note}".strip())
            else:
                if decision == "not-a-copy":
                    for w in {int(x["work_id"]) for x in c.segments}:
                        s.add(
                            MatchSuppression(
                                clip_sha256=c.clip_sha256, work_id=w, claim_id=c.id, at=self.clock()
                            )
                        )
                self.move(s, c, "released", actor, "reviewed", f"{decision}. {note}".strip())
            return view(c, events=True)

    def release(self, code: str, holder: str, reason: str) -> dict:
        if not reason.strip():
            raise ClaimError("say why the claim is released (the creator sees it)")
        with self.db.session() as s:
            c = self.find(s, code)
            self.owned(c, holder)
            if c.status == "released":
                raise ClaimError(f"claim {c.code} is already released ({c.release_reason})", 409)
            dispute = self.close_dispute(s, c)
            self.move(s, c, "released", f"holder:{holder}", "released", reason.strip())
            return view(c, dispute, events=True)

    def expire(self, now: datetime) -> int:
        """Release every claim left in review past its deadline."""
        with self.db.session() as s:
            due = list(s.scalars(select(Claim).where(Claim.status == "review", Claim.review_due_at <= now)))
            for c in due:
                self.move(s, c, "released", "hutong", "expired", f"not reviewed within {REVIEW_DAYS} days")
            return len(due)

    # -- fix and re-check ----------------------------------------------------------------------------

    def recheck(self, code: str, creator: str, fixed: ClipUse) -> dict:
        """The creator's fixed clip, checked again: when none of the claim's work is found unlicensed in
        it, the claim is released and the fixed clip may be certified."""
        with self.db.session() as s:
            c = self.find(s, code)
            if c.creator != creator.strip().lstrip("@").lower():
                raise ClaimError(f"claim {c.code} is on @{c.creator}'s clip, not @{creator}'s", 403)
            if c.status in ("released", "tracked"):
                raise ClaimError(f"claim {c.code} is {c.status}: nothing to fix", 409)
            works = {int(x["work_id"]) for x in c.segments}
            still = [f for f in fixed.findings if f.work_id in works]
            actor = f"creator:{c.creator}"
            if still:
                where = ", ".join(f"{clock(f.query_start)}–{clock(f.query_end)}" for f in still)
                self.log(
                    s,
                    c,
                    actor,
                    "recheck-failed",
                    f"fixed clip {fixed.clip_sha256[:12]}… still uses the work at {where}",
                )
                return {**view(c, events=True), "fixed": False}
            self.close_dispute(s, c)
            self.move(s, c, "released", actor, "fixed",
                      f"fixed clip {fixed.clip_sha256} re-checked: the claimed segments are gone")  # fmt: skip
            return {**view(c, events=True), "fixed": True}

    # -- policy changes ------------------------------------------------------------------------------

    def redecide(self, holder: str) -> dict:
        """After a policy change: every open claim of the holder decided again from its stored matches."""
        changed = kept = 0
        with self.db.session() as s:
            resolver = self.policies.resolver(s)
            works = {w.id: w for w in s.scalars(select(Work).where(Work.holder == holder))}
            for c in s.scalars(select(Claim).where(Claim.holder == holder, Claim.status.in_(OPEN))):
                if c.source == "manual":
                    continue
                findings = [Finding(int(x["work_id"]), x["query_start"], x["query_end"], x["ref_start"], x["ref_end"])
                            for x in c.segments]  # fmt: skip
                work = works.get(findings[0].work_id)
                if work is None:
                    continue
                use = ClipUse(c.clip_sha256, c.clip_duration, c.creator, c.platform, findings, c.territory)
                action, rule, ref = self._decide(resolver.for_work(work.id, holder), findings, use, work)
                action = action or "track"
                if action == c.action:  # the same outcome: note which policy version decided it, quietly
                    c.policy, c.rule = ref, rule
                    kept += 1
                    continue
                c.action, c.policy, c.rule = action, ref, rule
                status = STATUS_OF[action]
                if status == "review" and c.review_due_at is None:
                    c.review_due_at = self.clock() + timedelta(days=REVIEW_DAYS)
                self.move(s, c, status, "hutong", "redecided", f"{action} by {ref or 'no policy'} ({rule})")
                changed += 1
        return {"holder": holder, "changed": changed, "unchanged": kept}

    # -- exclusions ----------------------------------------------------------------------------------

    def exclude(self, holder: str, work_id: int, start: float, end: float, reason: str) -> dict:
        """A range of a work the holder does not own exclusively: no claims there from now on, and the
        claims standing only on it are released."""
        if not reason.strip():
            raise ClaimError("say why the range is excluded (trailer, public domain, licensed-in…)")
        with self.db.session() as s:
            work = holders_work(s, holder, work_id)
            if not 0 <= start < end:
                raise ClaimError(f"the range {start:g}–{end:g} s ends before it starts (or starts below 0)")
            if end > work.duration + TOLERANCE:
                raise ClaimError(
                    f"the range ends at {clock(end)}, past the end of 《{work.title}》 ({clock(work.duration)})"
                )
            s.add(ReferenceExclusion(holder=holder, work_id=work.id, start=start, end=end, reason=reason.strip(),
                                     created_at=self.clock()))  # fmt: skip
            s.flush()
            excluded = [
                (e.start, e.end)
                for e in s.scalars(select(ReferenceExclusion).where(ReferenceExclusion.work_id == work.id))
            ]
            released = []
            for c in s.scalars(select(Claim).where(Claim.holder == holder, Claim.status != "released")):
                mine = [x for x in c.segments if int(x["work_id"]) == work.id]
                if mine and all(_outside(x["ref_start"], x["ref_end"], excluded) <= TOLERANCE for x in mine):
                    self.close_dispute(s, c)
                    self.move(s, c, "released", f"holder:{holder}", "excluded",
                              f"{clock(start)}–{clock(end)} of 《{work.title}》 excluded: {reason.strip()}")  # fmt: skip
                    released.append(c.code)
            return {"holder": holder, "work_id": work.id, "start": start, "end": end, "reason": reason.strip(),
                    "released": released}  # fmt: skip

    def exclusions(self, holder: str | None = None) -> list[dict]:
        with self.db.session() as s:
            q = select(ReferenceExclusion).order_by(ReferenceExclusion.id)
            if holder:
                q = q.where(ReferenceExclusion.holder == holder)
            return [{"holder": e.holder, "work_id": e.work_id, "start": e.start, "end": e.end, "reason": e.reason,
                     "created_at": e.created_at.isoformat()} for e in s.scalars(q)]  # fmt: skip

    # -- ownership conflicts and quarantined references ---------------------------------------------

    def conflict(self, work_a: int, range_a: tuple[float, float], work_b: int, range_b: tuple[float, float],
                 note: str = "") -> dict:  # fmt: skip
        """Two holders' references match each other: both see the conflict; neither range is claimed."""
        with self.db.session() as s:
            a, b = s.get(Work, work_a), s.get(Work, work_b)
            if a is None or b is None:
                raise ClaimError(f"no work {work_a if a is None else work_b}", 404)
            if a.holder == b.holder:
                return {}  # one holder's own works matching each other is no conflict
            open_ = s.scalar(select(OwnershipConflict).where(
                OwnershipConflict.status == "open", OwnershipConflict.work_a.in_((a.id, b.id)),
                OwnershipConflict.work_b.in_((a.id, b.id))))  # fmt: skip
            if open_ is None:
                open_ = OwnershipConflict(work_a=a.id, start_a=range_a[0], end_a=range_a[1], work_b=b.id,
                                          start_b=range_b[0], end_b=range_b[1], status="open", owner="",
                                          note=note, created_at=self.clock())  # fmt: skip
                s.add(open_)
                s.flush()
            return self._conflict_view(s, open_)

    def scan_references(self, work_id: int, report) -> list[dict]:
        """The matches of one work's own reference against the catalogue (a recognition ``report``): every
        other holder's work found in it is an ownership conflict."""
        return [c for seg in report.segments if seg.work_id != work_id
                and (c := self.conflict(work_id, (seg.query_start, seg.query_end), seg.work_id,
                                        (seg.ref_start, seg.ref_end), "the references match each other"))]  # fmt: skip

    def conflicts(self, holder: str | None = None) -> list[dict]:
        with self.db.session() as s:
            rows = [
                self._conflict_view(s, c)
                for c in s.scalars(select(OwnershipConflict).order_by(OwnershipConflict.id))
            ]
        return [c for c in rows if holder is None or holder in (c["holder_a"], c["holder_b"])]

    def resolve(self, conflict_id: int, owner: str, note: str = "") -> dict:
        """The conflict is settled in ``owner``'s favour: the other holder's range becomes an exclusion."""
        with self.db.session() as s:
            c = s.get(OwnershipConflict, conflict_id) if 0 < conflict_id <= 2**63 - 1 else None
            if c is None:
                raise ClaimError(f"no ownership conflict {conflict_id}", 404)
            view_ = self._conflict_view(s, c)
            if c.status != "open":
                raise ClaimError(f"ownership conflict {conflict_id} was resolved for {c.owner!r}", 409)
            if owner not in (view_["holder_a"], view_["holder_b"]):
                raise ClaimError(f"ownership conflict {conflict_id} is between {view_['holder_a']!r} and "
                                 f"{view_['holder_b']!r}, not {owner!r}", 403)  # fmt: skip
            c.status, c.owner, c.resolved_at, c.note = "resolved", owner, self.clock(), note or c.note
            loser_a = view_["holder_a"] != owner
            work, start, end = (c.work_a, c.start_a, c.end_a) if loser_a else (c.work_b, c.start_b, c.end_b)
            loser = view_["holder_a"] if loser_a else view_["holder_b"]
        done = self.exclude(loser, work, start, end, f"ownership conflict {conflict_id} resolved for {owner}")
        with self.db.session() as s:
            return {
                **self._conflict_view(s, s.get(OwnershipConflict, conflict_id)),
                "released": done["released"],
            }

    @staticmethod
    def _conflict_view(s: Session, c: OwnershipConflict) -> dict:
        a, b = s.get(Work, c.work_a), s.get(Work, c.work_b)
        return {"id": c.id, "status": c.status, "owner": c.owner, "note": c.note,
                "work_a": c.work_a, "holder_a": a.holder if a else "", "range_a": [c.start_a, c.end_a],
                "work_b": c.work_b, "holder_b": b.holder if b else "", "range_b": [c.start_b, c.end_b],
                "created_at": c.created_at.isoformat()}  # fmt: skip

    def quarantined(self) -> list[dict]:
        with self.db.session() as s:
            return [{"work_id": q.work_id, "share": round(q.share, 4), "clips": q.clips, "status": q.status,
                     "created_at": q.created_at.isoformat()}
                    for q in s.scalars(select(ReferenceQuarantine).order_by(ReferenceQuarantine.id))]  # fmt: skip

    def lift(self, work_id: int, holder: str) -> int:
        """The holder checked its reference: lift its quarantine (claims are made again from now on)."""
        with self.db.session() as s:
            holders_work(s, holder, work_id)  # refuses another holder's work
            rows = list(s.scalars(select(ReferenceQuarantine).where(ReferenceQuarantine.work_id == work_id,
                                                                    ReferenceQuarantine.status == "open")))  # fmt: skip
            if not rows:
                raise ClaimError(f"work {work_id} is not quarantined", 409)
            for q in rows:
                q.status, q.lifted_at = "lifted", self.clock()
            return len(rows)

    # -- platform staff ------------------------------------------------------------------------------

    def accuracy(self) -> list[dict]:
        """Per holder: claims disputed, and the share of those released (the higher, the less accurate)."""
        with self.db.session() as s:
            rows = s.execute(
                select(Claim.holder, Claim.status, func.count(Claim.id))
                .join(Dispute, Dispute.claim_id == Claim.id)
                .group_by(Claim.holder, Claim.status)
            ).all()
            totals = dict(s.execute(select(Claim.holder, func.count(Claim.id)).where(Claim.status != "tracked")
                                    .group_by(Claim.holder)).all())  # fmt: skip
        out: dict[str, dict] = {}
        for holder, status, n in rows:
            d = out.setdefault(
                holder, {"holder": holder, "claims": totals.get(holder, 0), "disputed": 0, "released": 0}
            )
            d["disputed"] += n
            d["released"] += n if status == "released" else 0
        for d in out.values():
            d["released_share"] = round(d["released"] / d["disputed"], 4) if d["disputed"] else 0.0
        return sorted(out.values(), key=lambda d: d["holder"])


__all__ = ["ACTIONS", "HOLDING", "REVIEW_DAYS", "Claims", "ClipUse", "Finding"]
