"""Accounts, session tokens, the user's grants, and developers' apps."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from hutong.api import schemas
from hutong.api.deps import Caller, PlatformDep, errors
from hutong.errors import PlatformError

router = APIRouter()
ClientId = Annotated[str, Path(max_length=64)]


@router.post("/api/accounts", status_code=201, tags=["accounts"], responses=errors(409))
def register(body: schemas.AccountIn, platform: PlatformDep) -> schemas.AccountOut:
    account = platform.accounts.register(body.username, body.password, display_name=body.display_name,
                                         email=body.email)  # fmt: skip
    return schemas.AccountOut(**account.as_dict())


@router.post("/api/session", tags=["accounts"], responses=errors(401))
def session(body: schemas.SessionIn, platform: PlatformDep) -> schemas.SessionOut:
    account = platform.accounts.authenticate(body.username, body.password)
    if account is None:
        raise PlatformError("wrong username or password", 401)
    token, ttl = platform.accounts.issue_api_token(account.id)
    return schemas.SessionOut(token=token, expires_in=ttl)


@router.get("/api/me", tags=["accounts"], responses=errors(401))
def me(me: Caller) -> schemas.AccountOut:
    return schemas.AccountOut(**me.as_dict())


@router.get("/api/grants", tags=["accounts"], responses=errors(401))
def grants(me: Caller, platform: PlatformDep) -> schemas.GrantsOut:
    """Apps that can use your account, and what they may do."""
    return schemas.GrantsOut(grants=platform.oauth.grants_of(me.id))


@router.delete("/api/grants/{client_id}", tags=["accounts"], responses=errors(401))
def revoke_grant(client_id: ClientId, me: Caller, platform: PlatformDep) -> schemas.RevokedOut:
    return schemas.RevokedOut(revoked_tokens=platform.oauth.revoke_grant(me.id, client_id))


@router.post("/api/apps", status_code=201, tags=["apps"], responses=errors(401, 403, 404))
def register_app(body: schemas.AppIn, me: Caller, platform: PlatformDep) -> schemas.AppCreatedOut:
    """Register an app. The client secret is shown once; each scope is reviewed under the policy."""
    dev_id = platform.developers.verified_developer_id(me.id)
    view, secret = platform.apps.register(
        dev_id, name=body.name, client_type=body.client_type, redirect_uris=body.redirect_uris, scopes=body.scopes,
        privacy_policy_url=body.privacy_policy_url, webhook_url=body.webhook_url,
    )  # fmt: skip
    return schemas.AppCreatedOut(**view, client_secret=secret)


@router.get("/api/apps", tags=["apps"], responses=errors(401, 404))
def apps(me: Caller, platform: PlatformDep) -> schemas.AppsOut:
    return schemas.AppsOut(apps=platform.apps.of_account(me.id))


@router.get("/api/apps/{client_id}/webhooks", tags=["apps"], responses=errors(401, 404))
def webhook_log(client_id: ClientId, me: Caller, platform: PlatformDep) -> schemas.DeliveriesOut:
    """The delivery log of an app's webhooks: every attempt and its outcome."""
    platform.apps.require_owned(me.id, client_id)
    return schemas.DeliveriesOut(deliveries=platform.webhooks.deliveries(client_id))
