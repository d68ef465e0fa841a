"""Claims over HTTP. Creators (session token; their handle is their username) see the claims on their
clips with every step, dispute and appeal them, re-check them with the check of a fixed clip, and read their
statement; platform staff see each holder's accuracy; apps report revenue for the posts they made, with
their OAuth access token (client credentials) and an idempotent ``report_id``. Holders act from the command
line (docs/claims.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import Response

from hutong.api import schemas
from hutong.api.deps import Caller, HutongDep, PlatformDep, bearer_token, errors
from hutong.errors import PlatformError

router = APIRouter(prefix="/api/claims", tags=["claims"])
Code = Annotated[str, Path(min_length=1, max_length=32)]
Month = Annotated[str, Query(pattern=r"^$|^\d{4}-\d{2}$", description="YYYY-MM; empty: everything.")]


def reporting_app(platform: PlatformDep, authorization: Annotated[str | None, Header()] = None) -> str:
    """The app behind an OAuth access token of this platform (any grant): its client id."""
    token = bearer_token(authorization)
    found = platform.oauth.bearer(token) if token else None
    if found is None:
        raise PlatformError(
            "send 'Authorization: Bearer <access token>' from this platform's OAuth server", 401
        )
    return found[0].client_id


ReportingApp = Annotated[str, Depends(reporting_app)]


def _month(month: str):
    from hutong.cli.claims import parse_month

    return parse_month(month) if month else (None, None)


@router.post("/revenue", responses=errors(401, 404, 409))
def revenue(body: schemas.RevenueIn, app: ReportingApp, h: HutongDep) -> schemas.RevenueOut:
    """Revenue of one of your app's posts, in minor units of an ISO 4217 currency. A claimed post's revenue
    goes to the holders (split by matched seconds), held while a claim is disputed. The same ``report_id``
    again answers the first report (``replay``); with other figures it is refused (409)."""
    return schemas.RevenueOut(
        **h.ledger.report(app, body.report_id, body.post_id, body.amount_minor, body.currency, app=app)
    )


@router.get("", responses=errors(401))
def mine(me: Caller, h: HutongDep) -> schemas.ClaimsOut:
    """The claims on your clips (tracked uses left out)."""
    return schemas.ClaimsOut(claims=h.claims.list(creator=me.username))


@router.get("/statement", responses=errors(401))
def statement(me: Caller, h: HutongDep, month: Month = "") -> schemas.StatementOut:
    """Your revenue: every movement of your account, totals per currency, and what is held on disputes."""
    start, end = _month(month)
    return schemas.StatementOut(**h.ledger.statement(creator=me.username, start=start, end=end))


@router.get("/statement.csv", responses={**errors(401), 200: {"content": {"text/csv": {}}}})
def statement_csv(me: Caller, h: HutongDep, month: Month = "") -> Response:
    start, end = _month(month)
    st = h.ledger.statement(creator=me.username, start=start, end=end)
    return Response(h.ledger.csv(st), media_type="text/csv; charset=utf-8")


@router.get("/accuracy", responses=errors(401, 403))
def accuracy(me: Caller, h: HutongDep) -> schemas.AccuracyOut:
    """For platform staff: per holder, claims disputed and the share of them released."""
    if not me.is_staff:
        raise PlatformError("holder accuracy is for platform staff", 403)
    return schemas.AccuracyOut(holders=h.claims.accuracy())


@router.get("/{code}", responses=errors(401, 404))
def claim(code: Code, me: Caller, h: HutongDep) -> schemas.ClaimOut:
    """One claim on your clip: segments with times, evidence, what to fix, its dispute and every step."""
    return schemas.ClaimOut(**h.claims.get_for(code, creator=me.username, staff=me.is_staff))


@router.post("/{code}/dispute", responses=errors(401, 403, 404, 409))
def dispute(code: Code, body: schemas.DisputeIn, me: Caller, h: HutongDep) -> schemas.ClaimOut:
    """Dispute a claim on your clip (within 30 days); the holder answers within 30 days or it is released."""
    h.claims.get_for(code, creator=me.username)
    return schemas.ClaimOut(**h.disputes.open(code, me.username, body.reason, body.text))


@router.post("/{code}/recheck", responses=errors(401, 403, 404, 409))
def recheck(code: Code, body: schemas.ClaimRecheckIn, me: Caller, h: HutongDep) -> schemas.ClaimRecheckOut:
    """Re-check a claim on your clip with the fixed clip: check the fixed clip first (a worker of the job
    queue recognises it), then name that check here. When none of the claimed works is found unlicensed in
    it any more, the claim is released; else it stays, with a ``recheck-failed`` step."""
    from hutong.claims import ClipUse
    from hutong.compliance.checks import CheckError, UnknownCheck

    h.claims.get_for(code, creator=me.username)
    try:
        result = h.checks.result(body.check_id, [me.username])
    except UnknownCheck as exc:
        raise PlatformError(str(exc), 404) from None
    except CheckError as exc:
        raise PlatformError(str(exc), 409) from None
    return schemas.ClaimRecheckOut(**h.claims.recheck(code, me.username, ClipUse.of_check(result)))


@router.post("/{code}/appeal", responses=errors(401, 403, 404, 409))
def appeal(code: Code, body: schemas.ClaimAppealIn, me: Caller, h: HutongDep) -> schemas.ClaimOut:
    """Appeal a reinstated claim (within 7 days); the holder answers within 7 days or it is released."""
    h.claims.get_for(code, creator=me.username)
    return schemas.ClaimOut(**h.disputes.appeal(code, me.username, body.text))
