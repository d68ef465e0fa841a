"""Match policies: what a holder wants done with a use of its works that no licence covers.

A policy applies to the holder's works, to one of its title lists or to one work (the most specific one
decides); its rules are tried in order, the first whose conditions hold gives the action, and ``default``
answers when none does. Without any policy a use is only tracked. Policies are versioned like licences."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from babel import Locale
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hutong.errors import PlatformError
from hutong.rights.terms import explain
from hutong.store import Database, MatchPolicy, MatchPolicyEvent, TitleList, Work

Action = Literal["track", "monetise", "block", "review"]
ACTIONS = ("track", "monetise", "block", "review")
SCOPES = ("work", "title_list", "holder")  # most specific first
_TERRITORIES = frozenset(k for k in Locale("en").territories if k.isalpha() and len(k) == 2)


class ClaimError(PlatformError):
    """A claims, policy, dispute or ledger request refused; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message, status)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Conditions(_Strict):
    """When a rule applies. Seconds are of the work; shares are from 0 to 1; empty lists mean any."""

    min_seconds: float | None = Field(
        default=None, ge=0, description="Matched length at least (work seconds)."
    )
    max_seconds: float | None = Field(default=None, gt=0, description="Matched length at most.")
    min_clip_share: float | None = Field(default=None, ge=0, le=1, description="Share of the clip at least.")
    max_clip_share: float | None = Field(default=None, gt=0, le=1, description="Share of the clip at most.")
    min_work_share: float | None = Field(default=None, ge=0, le=1, description="Share of the work at least.")
    max_work_share: float | None = Field(default=None, gt=0, le=1, description="Share of the work at most.")
    platforms: list[str] = Field(default_factory=list, description="Only on these platforms.")
    territories: list[str] = Field(default_factory=list, description="Only in these territories (ISO 3166).")

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, v: list[str]) -> list[str]:
        return sorted({p.strip().lower() for p in v if p.strip()})

    @field_validator("territories")
    @classmethod
    def _territories(cls, v: list[str]) -> list[str]:
        out = sorted({t.strip().upper() for t in v})
        unknown = [t for t in out if t not in _TERRITORIES]
        if unknown:
            raise ValueError(f"unknown territory {', '.join(unknown)} (ISO 3166 alpha-2, e.g. CN, HK, US)")
        return out

    @model_validator(mode="after")
    def _ranges(self) -> Conditions:
        for low, high, what in (
            (self.min_seconds, self.max_seconds, "seconds"),
            (self.min_clip_share, self.max_clip_share, "clip_share"),
            (self.min_work_share, self.max_work_share, "work_share"),
        ):
            if low is not None and high is not None and low > high:
                raise ValueError(
                    f"min_{what} ({low:g}) is more than max_{what} ({high:g}): the conditions contradict "
                    "each other, so the rule could never apply"
                )
        return self

    def holds(
        self, seconds: float, clip_share: float, work_share: float, platform: str, territory: str
    ) -> bool:
        def within(v: float, low: float | None, high: float | None) -> bool:
            return (low is None or v >= low) and (high is None or v <= high)

        return (
            within(seconds, self.min_seconds, self.max_seconds)
            and within(clip_share, self.min_clip_share, self.max_clip_share)
            and within(work_share, self.min_work_share, self.max_work_share)
            and (not self.platforms or platform.lower() in self.platforms)
            and (not self.territories or territory.upper() in self.territories)
        )

    def describe(self) -> str:
        bits = []
        if self.min_seconds is not None:
            bits.append(f"matched ≥ {self.min_seconds:g} s")
        if self.max_seconds is not None:
            bits.append(f"matched ≤ {self.max_seconds:g} s")
        if self.min_clip_share is not None:
            bits.append(f"≥ {self.min_clip_share:.0%} of the clip")
        if self.max_clip_share is not None:
            bits.append(f"≤ {self.max_clip_share:.0%} of the clip")
        if self.min_work_share is not None:
            bits.append(f"≥ {self.min_work_share:.0%} of the work")
        if self.max_work_share is not None:
            bits.append(f"≤ {self.max_work_share:.0%} of the work")
        if self.platforms:
            bits.append("on " + ", ".join(self.platforms))
        if self.territories:
            bits.append("in " + ", ".join(self.territories))
        return " and ".join(bits) or "always"


class Rule(_Strict):
    action: Action
    when: Conditions = Field(default_factory=Conditions)


class PolicyRules(_Strict):
    """A policy's document (JSON or TOML): ordered rules, the default, the minimum match length."""

    rules: list[Rule] = Field(default_factory=list)
    default: Action = "track"
    min_match_seconds: float = Field(
        default=0.0, ge=0, description="Matches of the work shorter than this are ignored (false positives)."
    )

    @model_validator(mode="after")
    def _reachable(self) -> PolicyRules:
        for i, rule in enumerate(self.rules):
            for j, earlier in enumerate(self.rules[:i]):
                if earlier.when == Conditions():
                    raise ValueError(
                        f"rule {j + 1} applies always, so rule {i + 1} ({rule.action}) could never apply"
                    )
                if earlier.when == rule.when and earlier.action != rule.action:
                    raise ValueError(
                        f"rules {j + 1} and {i + 1} have the same conditions ({rule.when.describe()}) but "
                        f"different actions ({earlier.action}, {rule.action}): they contradict each other"
                    )
        return self

    def decide(
        self, seconds: float, clip_share: float, work_share: float, platform: str, territory: str
    ) -> tuple[str, str]:
        """The action and the rule that gave it, in words."""
        for i, rule in enumerate(self.rules):
            if rule.when.holds(seconds, clip_share, work_share, platform, territory):
                return rule.action, f"rule {i + 1}: {rule.action} when {rule.when.describe()}"
        return self.default, f"default: {self.default}"

    def to_json(self) -> dict:
        return json.loads(self.model_dump_json())

    @classmethod
    def parse(cls, data: object) -> PolicyRules:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ClaimError(f"the policy is not valid: {explain(exc)}") from None

    @classmethod
    def load(cls, path: Path) -> PolicyRules:
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ClaimError(f"{path}: cannot read the policy ({exc})") from None
        return cls.parse(data)


TRACK_ONLY = PolicyRules()


@dataclass(frozen=True)
class PolicyRecord:
    code: str
    holder: str
    scope: str
    target: str
    status: str
    version: int
    rules: PolicyRules
    updated_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.code}@v{self.version}"

    @classmethod
    def of(cls, p: MatchPolicy) -> PolicyRecord:
        return cls(p.code, p.holder, p.scope, p.target, p.status, p.version, PolicyRules.model_validate(p.rules),
                   p.updated_at)  # fmt: skip

    def as_dict(self) -> dict:
        return {"code": self.code, "ref": self.ref, "holder": self.holder, "scope": self.scope,
                "target": self.target, "status": self.status, "version": self.version,
                "rules": self.rules.to_json(), "updated_at": self.updated_at.isoformat()}  # fmt: skip


class Policies:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db, self.clock = db, clock
        self._resolver: tuple[tuple, PolicyResolver] | None = None

    def set(self, holder: str, rules: PolicyRules, *, work: int | None = None, title_list: str | None = None,
            reason: str = "") -> PolicyRecord:  # fmt: skip
        """The holder's policy for one work, one title list or (neither given) all its works: a new policy,
        or a new version of the one already there."""
        holder = holder.strip()
        if not holder:
            raise ClaimError("a policy needs the rights holder setting it")
        if work is not None and title_list:
            raise ClaimError("a policy is for one work or one title list, not both")
        with self.db.session() as s:
            scope, target = "holder", ""
            if work is not None:
                w = s.get(Work, work) if 0 < work <= 2**63 - 1 else None
                if w is None or w.removed_at is not None:
                    raise ClaimError(f"no work {work} (see `hutong works list`)", 404)
                if w.holder != holder:
                    raise ClaimError(
                        f"work {w.id} 《{w.title}》 is held by {w.holder!r}, not {holder!r}", 403
                    )
                scope, target = "work", str(w.id)
            elif title_list:
                found = s.execute(
                    select(TitleList).where(TitleList.holder == holder, TitleList.name == title_list.strip())
                ).scalar_one_or_none()
                if found is None:
                    raise ClaimError(f"{holder!r} has no title list {title_list.strip()!r}", 404)
                scope, target = "title_list", found.name
            now = self.clock()
            row = s.execute(
                select(MatchPolicy).where(MatchPolicy.holder == holder, MatchPolicy.scope == scope,
                                          MatchPolicy.target == target, MatchPolicy.status == "active")
            ).scalar_one_or_none()  # fmt: skip
            if row is None:
                n = s.execute(select(func.count(MatchPolicy.id))).scalar_one()
                row = MatchPolicy(code=f"MP-{n + 1}", holder=holder, scope=scope, target=target, status="active",
                                  version=1, rules=rules.to_json(), created_at=now, updated_at=now)  # fmt: skip
                row.events = [
                    MatchPolicyEvent(version=1, action="created", rules=row.rules, reason=reason, at=now)
                ]
                s.add(row)
            else:
                row.version += 1
                row.rules, row.updated_at = rules.to_json(), now
                row.events.append(
                    MatchPolicyEvent(
                        version=row.version, action="amended", rules=row.rules, reason=reason, at=now
                    )
                )
            s.flush()
            return PolicyRecord.of(row)

    def get(self, code: str) -> PolicyRecord:
        with self.db.session() as s:
            return PolicyRecord.of(self._find(s, code))

    def list(self, holder: str | None = None) -> list[PolicyRecord]:
        with self.db.session() as s:
            q = select(MatchPolicy).order_by(MatchPolicy.id)
            if holder:
                q = q.where(MatchPolicy.holder == holder)
            return [PolicyRecord.of(p) for p in s.scalars(q)]

    def history(self, code: str) -> list[dict]:
        with self.db.session() as s:
            return [{"version": e.version, "action": e.action, "at": e.at.isoformat(), "reason": e.reason,
                     "rules": e.rules} for e in self._find(s, code).events]  # fmt: skip

    @staticmethod
    def _find(s: Session, code: str) -> MatchPolicy:
        row = s.execute(
            select(MatchPolicy).where(MatchPolicy.code == code.strip().upper())
        ).scalar_one_or_none()
        if row is None:
            raise ClaimError(f"no policy {code.strip()}", 404)
        return row

    def resolver(self, s: Session) -> PolicyResolver:
        """The policies as they stand, parsed once and kept while no policy or title list changes (one
        small query tells; another process's change is seen too)."""
        stamp = (
            *s.execute(
                select(
                    func.count(MatchPolicy.id),
                    func.sum(MatchPolicy.version),
                    func.max(MatchPolicy.updated_at),
                )
            ).one(),
            *s.execute(select(func.count(TitleList.id), func.max(TitleList.updated_at))).one(),
        )
        if self._resolver is None or self._resolver[0] != stamp:
            self._resolver = (stamp, PolicyResolver(s))
        return self._resolver[1]


class PolicyResolver:
    """The policy deciding each work, loaded once per pass (re-deciding thousands of clips asks it often)."""

    def __init__(self, s: Session) -> None:
        self.by_scope: dict[tuple[str, str, str], PolicyRecord] = {
            (p.holder, p.scope, p.target): PolicyRecord.of(p)
            for p in s.scalars(select(MatchPolicy).where(MatchPolicy.status == "active"))
        }
        self.lists: dict[int, list[tuple[str, str]]] = {}
        for tl in s.scalars(select(TitleList).order_by(TitleList.id)):
            for w in tl.works:
                self.lists.setdefault(int(w), []).append((tl.holder, tl.name))

    def for_work(self, work_id: int, holder: str) -> PolicyRecord | None:
        found = self.by_scope.get((holder, "work", str(work_id)))
        if found:
            return found
        for list_holder, name in self.lists.get(work_id, []):
            if list_holder == holder and (found := self.by_scope.get((holder, "title_list", name))):
                return found
        return self.by_scope.get((holder, "holder", ""))
