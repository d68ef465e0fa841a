"""Request and response bodies of the JSON API (their limits are part of the contract, see /docs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountIn(_Body):
    username: str = Field(min_length=3, max_length=32, examples=["alice"])
    password: str = Field(min_length=10, max_length=1024)
    display_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)


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


class ShareIn(CreateVideoIn):
    pass


class LinkIn(_Body):
    url: str = Field(min_length=1, max_length=4000)
