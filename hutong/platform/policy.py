"""The published review policy: one versioned file, the same for every applicant."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hutong.errors import HutongError
from hutong.rights.terms import explain

DEFAULT_POLICY = Path(__file__).with_name("review_policy.toml")
ROUTES = ("resident_id", "attestation", "micro_deposit")
Requirement = Literal["verified", "enterprise", "privacy_policy", "confidential"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeveloperRules(_Strict):
    accepted_routes: list[Literal["resident_id", "attestation", "micro_deposit"]]
    individuals_allowed: bool = True
    delete_legal_rep_data_after_days: int = Field(default=0, ge=-1)
    max_enterprises_per_legal_rep: int = Field(default=5, ge=1)
    attestation_max_age_days: int = Field(default=365, ge=1)
    micro_deposit_attempts: int = Field(default=3, ge=1, le=10)


class TrustedAttester(_Strict):
    issuer: str
    jwks: str


class ScopeRule(_Strict):
    description: str
    requires: list[Requirement] = Field(default_factory=lambda: ["verified"])


class ReviewPolicy(_Strict):
    version: str
    title: str
    effective: date
    developers: DeveloperRules
    trusted_attesters: list[TrustedAttester] = Field(default_factory=list)
    rules: dict[str, str]
    scopes: dict[str, ScopeRule]

    @classmethod
    def load(cls, path: Path | None = None) -> tuple[ReviewPolicy, str]:
        """The policy and its text (served as published, byte for byte)."""
        path = path or DEFAULT_POLICY
        try:
            text = path.read_text(encoding="utf-8")
            return cls.model_validate(tomllib.loads(text)), text
        except OSError as exc:
            raise HutongError(f"{path}: cannot read the review policy ({exc.__class__.__name__})") from None
        except tomllib.TOMLDecodeError as exc:
            raise HutongError(f"{path}: the review policy is not valid TOML ({exc})") from None
        except ValidationError as exc:
            raise HutongError(f"{path}: the review policy is not valid: {explain(exc)}") from None

    def rule(self, rule_id: str) -> str:
        return self.rules.get(rule_id, rule_id)
