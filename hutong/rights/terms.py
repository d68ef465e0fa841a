"""The terms of a licence: a validated, versioned document (JSON or TOML on disk, JSON in the database).

Times inside a work are seconds from the work's start. Dates are ISO 8601; a date or time without an
offset is read as UTC (write ``+08:00`` for China Standard Time). A date without a time means the whole
day: as a start (``valid_from``) its first moment, as an end (``valid_until``, an embargo's ``until``) its
last, so ``valid_until = 2027-12-31`` still licenses clips on 31 December.
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hutong.errors import RightsError

ANY_PLATFORM = "*"
# the forms of 二创 a licence may name: 解说 commentary, 混剪 mashup, 拆条 clip-cutting, and talk shows
USE_FORMS = ("commentary", "mashup", "clip-cutting", "talk")
UseForm = Literal["commentary", "mashup", "clip-cutting", "talk"]


def clock(seconds: float) -> str:
    """0:07, 1:02:05 — how creators read times in a video."""
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _utc(v: datetime) -> datetime:
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def _as_date(v: object) -> date | None:
    """The date when ``v`` is a date without a time of day (a TOML date, or '2027-12-31'), else None."""
    if isinstance(v, date) and not isinstance(v, datetime):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v.strip())
        except ValueError:
            return None
    return None


def end_of_day(v: object) -> object:
    """A date given as an end means through that whole day (UTC); anything else is left to validation."""
    d = _as_date(v)
    return datetime.combine(d, time.max, tzinfo=UTC) if d is not None else v


def start_of_day(v: object) -> object:
    d = _as_date(v)
    return datetime.combine(d, time.min, tzinfo=UTC) if d is not None else v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scope(_Strict):
    """Who may use the licence."""

    kind: Literal["verified", "creators", "organisation"] = Field(
        description="verified: any verified creator; creators: the named ones; organisation: its members"
    )
    creators: list[str] = Field(default_factory=list, description="Creator handles (kind 'creators').")
    organisation: str | None = Field(default=None, description="Organisation handle (kind 'organisation').")

    @field_validator("creators")
    @classmethod
    def _handles(cls, v: list[str]) -> list[str]:
        return sorted({h.strip().lstrip("@").lower() for h in v})

    @field_validator("organisation")
    @classmethod
    def _org(cls, v: str | None) -> str | None:
        return v.strip().lstrip("@").lower() if v else v

    @model_validator(mode="after")
    def _consistent(self) -> Scope:
        if self.kind == "creators" and not self.creators:
            raise ValueError("scope 'creators' needs at least one creator handle")
        if self.kind == "organisation" and not self.organisation:
            raise ValueError("scope 'organisation' needs the organisation's handle")
        if self.kind != "creators" and self.creators:
            raise ValueError(f"scope {self.kind!r} takes no creator list")
        if self.kind != "organisation" and self.organisation:
            raise ValueError(f"scope {self.kind!r} takes no organisation")
        return self

    def describe(self) -> str:
        if self.kind == "verified":
            return "any verified creator"
        if self.kind == "creators":
            return ", ".join(f"@{h}" for h in self.creators)
        return f"members of @{self.organisation}"


class ForbiddenRange(_Strict):
    """A stretch of a work the licence excludes; with ``until`` it is an embargo that lifts at that time."""

    work_id: int
    start: float = Field(ge=0)
    end: float = Field(gt=0)
    label: str = ""
    until: datetime | None = None

    @field_validator("until", mode="before")
    @classmethod
    def _until_day(cls, v: object) -> object:
        return end_of_day(v)

    @field_validator("until")
    @classmethod
    def _until_utc(cls, v: datetime | None) -> datetime | None:
        return _utc(v) if v else v

    @model_validator(mode="after")
    def _order(self) -> ForbiddenRange:
        if self.end <= self.start:
            raise ValueError(
                f"forbidden range of work {self.work_id} ends ({self.end} s) before it starts ({self.start} s)"
            )
        return self

    def describe(self, title: str) -> str:
        name = f" ({self.label})" if self.label else ""
        return f"《{title}》 {clock(self.start)}–{clock(self.end)}{name}"


class LicenceTerms(_Strict):
    works: list[int] = Field(
        default_factory=list, description="Ids of the works licensed (with a title list: filled from it)."
    )
    scope: Scope
    platforms: list[str] = Field(min_length=1, description="Target platforms; '*' for any platform.")
    valid_from: datetime
    valid_until: datetime
    max_segment_seconds: float | None = Field(default=None, gt=0, description="Per segment, in work seconds.")
    max_total_seconds: float | None = Field(
        default=None, gt=0, description="Per work per clip, in work seconds."
    )
    max_share: float | None = Field(
        default=None, gt=0, le=1, description="Share of the work one clip may show."
    )
    forbidden: list[ForbiddenRange] = Field(default_factory=list)
    attribution: str = Field(default="", max_length=500, description="Text the clip must credit.")
    monetisation: bool = Field(default=False, description="Whether monetised clips are allowed.")
    title_list: str | None = Field(
        default=None,
        max_length=200,
        description="The holder's title list (片单) the licence is granted over.",
    )
    allowlist: list[str] = Field(
        default_factory=list,
        description="Creators allowed (授权白名单): the title list's, when one is named.",
    )
    use_forms: list[UseForm] = Field(
        default_factory=list,
        description="Allowed forms of use (commentary, mashup, clip-cutting, talk); empty: any.",
    )
    max_clip_seconds: float | None = Field(
        default=None, gt=0, description="Longest clip allowed, in seconds."
    )
    source_tag: bool = Field(default=False, description="Whether the clip must carry a tag naming the work.")

    @field_validator("allowlist")
    @classmethod
    def _allowlist(cls, v: list[str]) -> list[str]:
        return sorted({h.strip().lstrip("@").lower() for h in v if h.strip()})

    @field_validator("use_forms")
    @classmethod
    def _forms(cls, v: list[str]) -> list[str]:
        return sorted(set(v))

    @field_validator("works")
    @classmethod
    def _unique_works(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("a work is listed twice")
        return sorted(v)

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, v: list[str]) -> list[str]:
        out = sorted({p.strip().lower() for p in v})
        if "" in out:
            raise ValueError("empty platform name")
        if ANY_PLATFORM in out and len(out) > 1:
            raise ValueError("'*' (any platform) cannot be combined with named platforms")
        return out

    @field_validator("valid_from", mode="before")
    @classmethod
    def _from_day(cls, v: object) -> object:
        return start_of_day(v)

    @field_validator("valid_until", mode="before")
    @classmethod
    def _until_day(cls, v: object) -> object:
        return end_of_day(v)

    @field_validator("valid_from", "valid_until")
    @classmethod
    def _dates(cls, v: datetime) -> datetime:
        return _utc(v)

    @model_validator(mode="after")
    def _consistent(self) -> LicenceTerms:
        if not self.works and not self.title_list:
            raise ValueError("name the works licensed (works) or a title list (title_list)")
        if self.valid_until <= self.valid_from:
            raise ValueError(
                f"valid_until ({self.valid_until:%Y-%m-%d %H:%M}) is not after valid_from "
                f"({self.valid_from:%Y-%m-%d %H:%M}): the dates are in the wrong order"
            )
        for r in self.forbidden:
            if self.works and r.work_id not in self.works:  # with a title list: checked once it is resolved
                raise ValueError(f"forbidden range names work {r.work_id}, which the licence does not cover")
        if (
            self.max_segment_seconds is not None
            and self.max_total_seconds is not None
            and self.max_segment_seconds > self.max_total_seconds
        ):
            raise ValueError(
                f"max_segment_seconds ({self.max_segment_seconds:g}) is larger than max_total_seconds "
                f"({self.max_total_seconds:g}): the two limits contradict each other"
            )
        return self

    def covers_platform(self, platform: str) -> bool:
        return self.platforms == [ANY_PLATFORM] or platform.lower() in self.platforms

    def to_json(self) -> dict:
        return json.loads(self.model_dump_json(exclude_none=False))

    @classmethod
    def parse(cls, data: dict) -> LicenceTerms:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise RightsError(f"licence terms are not valid: {explain(exc)}") from None

    @classmethod
    def load(cls, path: Path) -> LicenceTerms:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RightsError(f"{path}: cannot read licence terms ({exc.__class__.__name__})") from None
        try:
            data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise RightsError(
                f"{path}: not valid {path.suffix.lstrip('.').upper() or 'JSON'} ({exc})"
            ) from None
        if not isinstance(data, dict):
            raise RightsError(f"{path}: licence terms must be an object")
        return cls.parse(data)


def explain(exc: ValidationError) -> str:
    """pydantic's errors as one line: 'scope.kind: Input should be ...; valid_until: ...'."""
    parts = []
    for e in exc.errors()[:4]:
        where = ".".join(str(x) for x in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    more = len(exc.errors()) - 4
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _seconds(text: str) -> float:
    parts = [float(p) for p in text.strip().split(":")]
    if not parts or len(parts) > 3:
        raise ValueError(text)
    value = 0.0
    for p in parts:
        value = value * 60 + p
    return value


def parse_range(text: str, *, embargo: bool) -> dict:
    """'WORK START-END [LABEL]', or for an embargo 'WORK START-END UNTIL [LABEL]' (as the CLI's --forbid and
    --embargo); times in seconds or m:ss."""
    hint = "'WORK START-END UNTIL [LABEL]'" if embargo else "'WORK START-END [LABEL]'"
    words = text.split()
    try:
        work, rng, rest = int(words[0]), words[1], words[2:]
        until = rest.pop(0) if embargo else None
        start, end = rng.split("-")
        return {"work_id": work, "start": _seconds(start), "end": _seconds(end), "label": " ".join(rest),
                "until": until}  # fmt: skip
    except (ValueError, IndexError):
        raise RightsError(f"{text!r}: write the range as {hint}, e.g. '3 2:40-3:10 finale'") from None
