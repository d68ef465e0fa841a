"""The licence decision: for each matched segment, licensed (by which licence), unlicensed or forbidden.

The engine is a pure function of the match, the creator, the target platform, the time and the licences,
so the same inputs always give the same verdict and the reason can be shown to a creator as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hutong.rights.creators import CreatorRecord
from hutong.rights.licences import LicenceRecord
from hutong.rights.terms import clock

# Recognition places segment boundaries to about a second, so seconds limits and forbidden ranges are
# checked with this much slack in the creator's favour: a 15.4 s match does not break a 15 s limit.
TOLERANCE = 1.0

LICENSED, UNLICENSED, FORBIDDEN = "licensed", "unlicensed", "forbidden"
# Rules in the order they are tried; a refusal further down the list is the more useful explanation.
RULES = (
    "no-licence",
    "licence-revoked",
    "licence-not-yet-valid",
    "licence-expired",
    "creator-scope",
    "allowlist",
    "platform",
    "use-form",
    "monetisation",
    "forbidden-range",
    "embargo",
    "source-tag",
    "max-clip",
    "max-segment",
    "max-total",
    "max-share",
    "licensed",
)
FORBIDDING = {"forbidden-range", "embargo"}


@dataclass(frozen=True)
class MatchedSegment:
    """The part of ``hutong match --json`` the decision needs."""

    work_id: int
    work_title: str
    query_start: float
    query_end: float
    ref_start: float
    ref_end: float

    @classmethod
    def of(cls, d: dict) -> MatchedSegment:
        return cls(
            int(d["work_id"]), str(d.get("work_title", "")), float(d["query_start"]), float(d["query_end"]),
            float(d["ref_start"]), float(d["ref_end"]),
        )  # fmt: skip

    @property
    def work_seconds(self) -> float:
        return max(0.0, self.ref_end - self.ref_start)

    def where(self) -> str:
        return (
            f"segment {clock(self.query_start)}–{clock(self.query_end)} of the clip "
            f"(《{self.work_title}》 {clock(self.ref_start)}–{clock(self.ref_end)})"
        )


@dataclass
class SegmentDecision:
    segment: MatchedSegment
    verdict: str
    rule: str
    reason: str
    licence: str | None = None  # "L-7@v2" when licensed, or the licence whose rule refused it

    def as_dict(self) -> dict:
        s = self.segment
        return {
            "work_id": s.work_id,
            "work_title": s.work_title,
            "query_start": round(s.query_start, 2),
            "query_end": round(s.query_end, 2),
            "ref_start": round(s.ref_start, 2),
            "ref_end": round(s.ref_end, 2),
            "verdict": self.verdict,
            "rule": self.rule,
            "licence": self.licence,
            "reason": self.reason,
        }


@dataclass
class ClipDecision:
    creator: str
    platform: str
    monetised: bool
    at: datetime
    use_form: str | None = None
    source_tag: str = ""
    clip_seconds: float | None = None
    segments: list[SegmentDecision] = field(default_factory=list)
    attribution: dict[str, str] = field(default_factory=dict)  # licence ref -> text the clip must credit

    @property
    def compliant(self) -> bool:
        return all(d.verdict == LICENSED for d in self.segments)

    @property
    def licences(self) -> list[str]:
        return sorted({d.licence for d in self.segments if d.verdict == LICENSED and d.licence})

    def summary(self) -> str:
        if not self.segments:
            return "no registered work recognised: nothing to license"
        bad = [d for d in self.segments if d.verdict != LICENSED]
        if not bad:
            return f"compliant: every matched segment is licensed for @{self.creator} on {self.platform}"
        return (
            f"not compliant: {len(bad)} of {len(self.segments)} matched segments are not licensed for "
            f"@{self.creator} on {self.platform}"
        )

    def as_dict(self) -> dict:
        return {
            "creator": self.creator,
            "platform": self.platform,
            "monetised": self.monetised,
            "use_form": self.use_form,
            "at": self.at.isoformat(),
            "compliant": self.compliant,
            "summary": self.summary(),
            "licences": self.licences,
            "attribution": self.attribution,
            "segments": [d.as_dict() for d in self.segments],
        }


@dataclass
class _Refusal:
    rule: str
    reason: str
    licence: str

    @property
    def rank(self) -> int:
        return RULES.index(self.rule)


def _in_scope(lic: LicenceRecord, creator: CreatorRecord) -> str | None:
    scope = lic.terms.scope
    if scope.kind == "verified":
        if creator.verified:
            return None
        return f"licence {lic.code} is for verified creators; @{creator.handle} is not verified"
    if scope.kind == "creators":
        if creator.handle in scope.creators:
            return None
        return f"licence {lic.code} is granted to {scope.describe()}, not @{creator.handle}"
    if scope.organisation in (creator.handle, creator.organisation):
        return None
    return f"licence {lic.code} is for members of @{scope.organisation}; @{creator.handle} is not one"


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _union_length(intervals: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def _tagged(tag: str, seg: MatchedSegment) -> bool:
    """A source tag links back to the work when it names its title or its id (``work:7``)."""
    t = tag.casefold()
    return bool(t) and (
        (bool(seg.work_title) and seg.work_title.casefold() in t)
        or f"work:{seg.work_id}" in t.replace(" ", "")
    )


def _try(
    lic: LicenceRecord,
    seg: MatchedSegment,
    same_work: list[MatchedSegment],
    creator: CreatorRecord,
    platform: str,
    monetised: bool,
    at: datetime,
    use: ClipDecision,
) -> _Refusal | None:
    """None when ``lic`` licenses ``seg``; otherwise the first rule that refuses it."""
    t, code, where = lic.terms, lic.code, seg.where()

    def no(rule: str, why: str) -> _Refusal:
        # "segment … uses …" reads as one sentence; other reasons follow the segment after a colon
        return _Refusal(rule, f"{where} {why}" if why.startswith("uses ") else f"{where}: {why}", code)

    if lic.status == "revoked":
        why = f" ({lic.revoke_reason})" if lic.revoke_reason else ""
        return no("licence-revoked", f"licence {code} was revoked on {lic.revoked_at:%Y-%m-%d}{why}")
    if at < t.valid_from:
        return no(
            "licence-not-yet-valid", f"licence {code} is valid only from {t.valid_from:%Y-%m-%d %H:%M} UTC"
        )
    if at >= t.valid_until:
        return no("licence-expired", f"licence {code} expired on {t.valid_until:%Y-%m-%d %H:%M} UTC")
    if (why := _in_scope(lic, creator)) is not None:
        return no("creator-scope", why)
    if t.allowlist and creator.handle not in t.allowlist:
        listed = f"title list {t.title_list!r}" if t.title_list else f"licence {code}"
        return no("allowlist", f"@{creator.handle} is not on the allowlist of {listed}")
    if not t.covers_platform(platform):
        return no("platform", f"licence {code} covers {', '.join(t.platforms)}, not {platform}")
    if t.use_forms and use.use_form not in t.use_forms:
        given = f"a {use.use_form}" if use.use_form else "of no declared form (--use-form)"
        return no("use-form", f"licence {code} allows {', '.join(t.use_forms)} only; the clip is {given}")
    if monetised and not t.monetisation:
        return no("monetisation", f"licence {code} does not allow monetised clips")
    for r in t.forbidden:
        if r.work_id != seg.work_id or _overlap(seg.ref_start, seg.ref_end, r.start, r.end) <= TOLERANCE:
            continue
        if r.until is None:
            return no("forbidden-range", f"uses {r.describe(seg.work_title)}, which licence {code} forbids")
        if at < r.until:
            return no(
                "embargo",
                f"uses {r.describe(seg.work_title)}, which licence {code} embargoes until "
                f"{r.until:%Y-%m-%d %H:%M} UTC",
            )
    if t.source_tag and not _tagged(use.source_tag, seg):
        return no(
            "source-tag",
            f"licence {code} requires a source tag naming 《{seg.work_title}》 (or work:{seg.work_id}); "
            + (f"the tag {use.source_tag!r} does not" if use.source_tag else "the clip has none"),
        )
    if (
        t.max_clip_seconds is not None
        and use.clip_seconds is not None
        and use.clip_seconds > t.max_clip_seconds + TOLERANCE
    ):
        return no(
            "max-clip",
            f"the clip is {use.clip_seconds:.0f} s long, over the {t.max_clip_seconds:g} s per clip "
            f"allowed by licence {code}",
        )
    if t.max_segment_seconds is not None and seg.work_seconds > t.max_segment_seconds + TOLERANCE:
        return no(
            "max-segment",
            f"uses {seg.work_seconds:.1f} s of the work, over the {t.max_segment_seconds:g} s "
            f"per-segment limit of licence {code}",
        )
    # a stretch of the work shown twice (or reported twice by recognition) counts once: totals and shares
    # are the union of the work's time used, never a sum of overlapping segments
    if t.max_total_seconds is not None:
        total = _union_length([(s.ref_start, s.ref_end) for s in same_work])
        if total > t.max_total_seconds + TOLERANCE:
            n = len(same_work)
            return no(
                "max-total",
                f"the clip uses {total:.1f} s of 《{seg.work_title}》 in {n} segment{'s' if n > 1 else ''}, "
                f"over the {t.max_total_seconds:g} s per clip allowed by licence {code}",
            )
    if t.max_share is not None:
        duration = lic.work_durations.get(seg.work_id, 0.0)
        shown = _union_length([(s.ref_start, s.ref_end) for s in same_work])
        if duration > 0 and shown - TOLERANCE > t.max_share * duration:
            return no(
                "max-share",
                f"the clip shows {shown / duration:.0%} of 《{seg.work_title}》, over the "
                f"{t.max_share:.0%} allowed by licence {code}",
            )
    return None


def decide(
    segments: list[MatchedSegment],
    licences: list[LicenceRecord],
    creator: CreatorRecord,
    platform: str,
    *,
    at: datetime,
    monetised: bool = False,
    use_form: str | None = None,
    source_tag: str = "",
    clip_seconds: float | None = None,
) -> ClipDecision:
    """``use_form`` (commentary, mashup, clip-cutting, talk), ``source_tag`` (the clip's tag linking back to
    the work) and ``clip_seconds`` (its length) answer the terms that name them."""
    platform = platform.strip().lower()
    decision = ClipDecision(creator.handle, platform, monetised, at, use_form, source_tag, clip_seconds)
    for seg in segments:
        same_work = [s for s in segments if s.work_id == seg.work_id]
        refusals: list[_Refusal] = []
        chosen = None
        for lic in (x for x in licences if seg.work_id in x.terms.works):  # oldest licence first
            refusal = _try(lic, seg, same_work, creator, platform, monetised, at, decision)
            if refusal is None:
                chosen = lic
                break
            refusals.append(refusal)
        if chosen is not None:
            reason = f"{seg.where()}: licensed by {chosen.code}"
            decision.segments.append(SegmentDecision(seg, LICENSED, "licensed", reason, chosen.ref))
            if chosen.terms.attribution:
                decision.attribution[chosen.ref] = chosen.terms.attribution
        elif not refusals:
            reason = f"{seg.where()}: no licence covers 《{seg.work_title}》"
            decision.segments.append(SegmentDecision(seg, UNLICENSED, "no-licence", reason))
        else:
            best = max(refusals, key=lambda r: r.rank)
            verdict = FORBIDDEN if best.rule in FORBIDDING else UNLICENSED
            decision.segments.append(SegmentDecision(seg, verdict, best.rule, best.reason, best.licence))
    return decision
