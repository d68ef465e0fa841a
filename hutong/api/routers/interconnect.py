"""Between platforms: the signed interconnection manifest and "log in with <another platform>"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse

from hutong.api import schemas
from hutong.api.deps import MAX_ID, HutongDep, PlatformDep
from hutong.api.web import error_page, local_next, sign_in
from hutong.errors import PlatformError
from hutong.platform.interconnect import signed_manifest

router = APIRouter()


@router.get("/.well-known/hutong-interconnect", tags=["public"])
def manifest(h: HutongDep) -> schemas.ManifestOut:
    """What this platform opens to others, signed with its certificate keys."""
    p = h.platform
    return schemas.ManifestOut(
        **signed_manifest(h.settings, p.directory, h.compliance.keyring, p.policy.version)
    )


@router.get("/login/federated/callback", include_in_schema=False)
def federated_callback(request: Request, platform: PlatformDep, state: str = "", code: str = "", iss: str = "",
                       error: str = ""):  # fmt: skip
    pending = request.session.pop("federated", None)
    try:
        account = platform.federation.finish(pending, state=state, code=code, iss=iss, error=error)
    except PlatformError as exc:
        return error_page(request, exc)
    sign_in(request, account.id)
    return RedirectResponse(pending["next"], status_code=303)


@router.get("/login/federated/{idp_id}", include_in_schema=False)
def federated_start(request: Request, platform: PlatformDep, idp_id: Annotated[int, Path(ge=1, le=MAX_ID)],
                    next: str = "/"):  # fmt: skip
    try:
        target, pending = platform.federation.start(idp_id, local_next(next))
    except PlatformError as exc:
        return error_page(request, exc)
    request.session["federated"] = pending
    return RedirectResponse(target, status_code=303)
