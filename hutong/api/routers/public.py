"""Public documents: the review policy, this issuer's keys and certificate status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import PlainTextResponse, Response

from hutong.api import schemas
from hutong.api.deps import HutongDep, PlatformDep, errors
from hutong.errors import HutongError, PlatformError
from hutong.platform.policy import ReviewPolicy

router = APIRouter(tags=["public"])
JWT = {"description": "a compact JWS (RFC 7515)", "content": {"application/jwt": {}}}


@router.get("/policy/review", response_class=PlainTextResponse)
def review_policy(platform: PlatformDep) -> PlainTextResponse:
    """The review policy applied to every developer and app, as published (TOML)."""
    return PlainTextResponse(platform.policy_text, headers={"X-Policy-Version": platform.policy.version})


@router.get("/policy/review.json")
def review_policy_json(platform: PlatformDep) -> ReviewPolicy:
    return platform.policy


@router.get("/.well-known/jwks.json")
def jwks(h: HutongDep) -> schemas.JWKSOut:
    """Every public key of this issuer: RS256 for ID tokens, Ed25519 for licence certificates."""
    oidc = h.platform.oauth.id_keys.jwks()["keys"]
    return schemas.JWKSOut(issuer=h.settings.issuer, keys=oidc + h.compliance.jwks()["keys"])


@router.get("/certificates/status", tags=["certificates"], response_class=Response, responses={200: JWT})
def certificates_status(h: HutongDep) -> Response:
    """Signed list of revoked licence certificates (valid for a day)."""
    return Response(h.compliance.status_document(), media_type="application/jwt")


@router.get(
    "/certificates/{jti}/status",
    tags=["certificates"],
    response_class=Response,
    responses={200: JWT, **errors(404)},
)
def certificate_status(h: HutongDep, jti: Annotated[str, Path(max_length=64)]) -> Response:
    """Signed status of one certificate."""
    try:
        return Response(h.compliance.status_document(jti), media_type="application/jwt")
    except HutongError:
        raise PlatformError(f"no certificate {jti}", 404) from None
