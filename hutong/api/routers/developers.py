"""Developer onboarding and review: registration by one published policy, decisions, appeals."""

from __future__ import annotations

from fastapi import APIRouter

from hutong.api import schemas
from hutong.api.deps import Caller, HutongDep, PlatformDep, RowId, errors
from hutong.errors import PlatformError

router = APIRouter(tags=["developers"])


@router.post("/api/developers", status_code=201, responses=errors(401, 409))
def register(body: schemas.DeveloperIn, me: Caller, platform: PlatformDep) -> schemas.DeveloperOut:
    """Register as a developer. Enterprise data is checked, encrypted and reviewed under /policy/review."""
    if body.kind == "individual":
        return platform.developers.register_individual(me.id, body.display_name)
    if body.route is None:
        raise PlatformError(
            "route: required for an enterprise (resident_id, attestation or micro_deposit)", 422
        )
    return platform.developers.register_enterprise(
        me.id, display_name=body.display_name, company_name=body.company_name, uscc=body.uscc, route=body.route,
        legal_rep_name=body.legal_rep_name, legal_rep_id=body.legal_rep_id, attestation=body.attestation,
        bank_account=body.bank_account,
    )  # fmt: skip


@router.get("/api/developers/me", responses=errors(401, 404))
def mine(me: Caller, platform: PlatformDep) -> schemas.DeveloperOut:
    return platform.developers.mine(me.id)


@router.get("/api/developers/me/decisions", responses=errors(401, 404))
def decisions(me: Caller, h: HutongDep) -> schemas.DecisionsOut:
    """Every review decision about you and your apps, with the policy version and rule."""
    found = [d.as_dict() for d in h.platform.developers.decisions(me.id)]
    return schemas.DecisionsOut(policy=f"{h.settings.issuer}/policy/review", decisions=found)


@router.post("/api/developers/me/decisions/{decision_id}/appeal", responses=errors(401, 404, 409))
def appeal(
    decision_id: RowId, body: schemas.AppealIn, me: Caller, platform: PlatformDep
) -> schemas.DecisionOut:
    return platform.developers.appeal(me.id, decision_id, body.text).as_dict()


@router.post("/api/developers/me/deposit", responses=errors(401, 409))
def deposit(body: schemas.DepositIn, me: Caller, platform: PlatformDep) -> schemas.DeveloperOut:
    """Confirm the micro-deposit's amount (in fen)."""
    return platform.developers.confirm_deposit(me.id, body.amount_cents)


@router.delete("/api/developers/me/legal-representative", responses=errors(401, 404, 409))
def erase(me: Caller, platform: PlatformDep) -> schemas.DeveloperOut:
    """Delete the legal representative's name and ID number once the review is finished (verified or
    rejected); 409 while it is pending."""
    return platform.developers.erase_legal_rep(me.id)
